"""The background work after an ack: when it starts, and what it lets go first."""

from __future__ import annotations

import asyncio

from bot.slack.tasks import TaskSupervisor


async def test_work_starts_once_its_own_requests_answer_has_left() -> None:
    tasks = TaskSupervisor(max_yield_s=60)
    order: list[str] = []

    async def work() -> None:
        order.append("work started")

    with tasks.acknowledging():  # the listener acks and spawns; Bolt answers as it returns
        spawned = tasks.spawn(work(), name="check")
        for _ in range(20):
            await asyncio.sleep(0)
        order.append("answer sent")
    await asyncio.wait_for(spawned, 10)

    assert order == ["answer sent", "work started"]


async def test_work_waits_while_another_request_is_being_answered() -> None:
    tasks = TaskSupervisor(max_yield_s=60)
    started = asyncio.Event()
    other_request_answered = asyncio.Event()
    order: list[str] = []

    async def other_request() -> None:
        with tasks.acknowledging():
            await other_request_answered.wait()
            order.append("other request answered")

    async def work() -> None:
        order.append("work started")
        started.set()

    answering = asyncio.create_task(other_request())
    await asyncio.sleep(0)  # the other request is in progress
    tasks.spawn(work(), name="check")
    for _ in range(20):
        await asyncio.sleep(0)
    assert not started.is_set()

    other_request_answered.set()
    await asyncio.wait_for(started.wait(), 10)
    await answering
    assert order == ["other request answered", "work started"]


async def test_a_stream_of_requests_holds_work_back_no_longer_than_max_yield() -> None:
    tasks = TaskSupervisor(max_yield_s=0.01)
    started = asyncio.Event()
    never = asyncio.Event()

    async def endless_request() -> None:
        with tasks.acknowledging():
            await never.wait()

    async def work() -> None:
        started.set()

    answering = asyncio.create_task(endless_request())
    await asyncio.sleep(0)
    tasks.spawn(work(), name="check")
    await asyncio.wait_for(started.wait(), 10)
    answering.cancel()


async def test_work_waits_out_a_burst_of_requests_one_after_the_other() -> None:
    tasks = TaskSupervisor(max_yield_s=60)
    order: list[str] = []

    async def work() -> None:
        order.append("work started")

    with tasks.acknowledging():
        spawned = tasks.spawn(work(), name="check")
    for number in range(5):  # the burst's next requests, each the moment the last one left
        await asyncio.sleep(0)
        with tasks.acknowledging():
            await asyncio.sleep(0)
            order.append(f"request {number} answered")
    await asyncio.wait_for(spawned, 10)

    assert order[-1] == "work started"
