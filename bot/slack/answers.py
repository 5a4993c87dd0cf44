"""The check-and-answer path, below the listeners: journal, check, deliver, record.

A listener parses what Slack sent, acks, and hands the paste to `AnswerService`. From there a
paste reads top-down:

1. `check_and_answer` journals the check as accepted (`bot.db.journal`) beside the check,
   not in front of it, and runs the check (`bot.engine.check.ConnectionChecker`); 👀 goes on the
   thread root once the journal has it, and the modal's ladder follows the rungs
   (`bot.slack.ladder`).
2. `_deliver` posts the answer (`bot.slack.posting`) while the journal takes it, then marks the
   journal entry done, swaps 👀 for ✅ or ⚠️ and shows the result in the modal.
3. Then, and only then, the history records the check (`bot.db.recorder`).

Answer first, bookkeeping after: only the check and the post stand before the answer. A process
killed on the way leaves its journal entry to the next one, which `resume`s it. Slack's rate
limits and bad minutes are waited out; only a bug is told in the thread as a failure, with a
reference to the log.

Over 400 lines, yet one thing: the path of one paste, from the journal to the thread, read
top-down in one file.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.db.journal import Answer, CheckJournal, JournalEntry
from bot.db.recorder import CheckRecorder, UnwrittenCheck, new_check_id
from bot.destination import Destination, EntryPoint
from bot.engine.check import ConnectionChecker
from bot.engine.intake import Paste
from bot.engine.report import CheckReport
from bot.slack.delivery import DeliveryExpired
from bot.slack.exactly_once import MessageMark
from bot.slack.ladder import LiveLadder, after_ack
from bot.slack.layouts import AnswerLayouts, Blocks
from bot.slack.posting import CHECKING, CONNECTED, PROBLEM, Poster, Recipient, tell_privately
from bot.slack.steps import WorkflowSteps

logger = logging.getLogger(__name__)

# A check that was already re-run once and interrupted again is not run a third time: it may
# be what brings the process down.
MAX_RERUNS = 1
# How long an escalation looks for a check it cannot find yet (another process's answer whose
# journal entry is still on its way), and how often.
FIND_PATIENCE_S = 5.0
FIND_EVERY_S = 0.1
# The longest an answer waits for its journal ID (for its mark) when the journal is slower than
# the check.
JOURNAL_ID_WAIT_S = 0.1

FailureNotice = Callable[[str], Awaitable[None]]
"""What `TaskSupervisor.spawn` calls when background work fails, with the log's reference."""
AnswerNote = Callable[[Destination, UnwrittenCheck], Awaitable[Blocks]]
"""What an answer adds below its report (the follow-up's offer): `AnswerLayouts.note`, bound
to the process's services."""


class AnswerService:
    """Every check a person asks for in Slack, from the accepted paste to the recorded answer."""

    def __init__(
        self,
        *,
        checker: ConnectionChecker,
        journal: CheckJournal,
        recorder: CheckRecorder,
        poster: Poster,
        layouts: AnswerLayouts,
        note: AnswerNote,
        steps: WorkflowSteps,
        escalation: bool,
        watch: bool,
    ) -> None:
        """`note` adds to an answer as it is built (the follow-up's offer); `steps` completes a
        Workflow Builder step whose check this is; `escalation`: whether answers offer
        "Escalate to support" (a support channel is set); `watch`, whether they offer a watch
        until migration day (follow-ups are available)."""
        self._watch = watch
        self._note = note
        self.checker = checker
        self.journal = journal
        self.recorder = recorder
        self.steps = steps
        self.poster = poster
        self.layouts = layouts
        self._escalation = escalation

    # Talking in a conversation, for the listeners too.

    def poster_for(self, destination: Destination) -> Poster:
        """Who posts to `destination`: the bot, or, for a workflow step's check, the bot with
        the step's execution token (Slack wants every call of the execution to carry it)."""
        if destination.step is None:
            return self.poster
        return self.poster.with_client(self.steps.client_for(self.poster.client, destination.step))

    async def post(
        self, destination: Destination, text: str, blocks: Blocks | None = None
    ) -> str | None:
        """`Poster.post`: in the destination's thread, with the fallbacks."""
        return await self.poster_for(destination).post(destination, text, blocks)

    async def react(self, destination: Destination, add: str, *remove: str) -> None:
        """`Poster.react`: a reaction on the thread root, as decoration."""
        await self.poster_for(destination).react(destination, add, *remove)

    def failure_notice(self, recipient: Recipient) -> FailureNotice:
        """What to call when background work for `recipient` fails: they are told, privately,
        with the reference that finds the log lines."""

        async def tell(reference: str) -> None:
            text = self.layouts.failure(reference)[0]
            await tell_privately(self.poster.client, recipient, text)

        return tell

    async def answer_failure(
        self, destination: Destination, view_id: str | None, what: str
    ) -> None:
        """A bug stopped `what`: the thread (and the modal) say so, with a reference to the
        log, and ⚠️ replaces 👀. Called from an `except` block: the traceback is logged."""
        reference = uuid.uuid4().hex[:10]
        logger.exception("%s in %s (reference %s)", what, destination.channel, reference)
        text, blocks = self.layouts.failure(reference)
        poster = self.poster_for(destination)
        try:
            await poster.post(destination, text, blocks)
            await poster.react(destination, PROBLEM, CHECKING)
            if view_id is not None:
                await poster.update_view(view_id, self.layouts.failure_view(reference))
        except Exception:
            logger.exception("could not tell the user about reference %s either", reference)

    # The path of a paste.

    async def check_in_new_thread(
        self,
        destination: Destination,
        paste: Paste,
        *,
        accepted: asyncio.Future[str] | None = None,
        rerun: bool = False,
    ) -> None:
        """`/ecwid-connect <paste>`: a thread root without the paste, then the check's answer in
        it. The check is journaled while the root is posted (`accepted` when it already is;
        `rerun`: by a process that died, see `check_and_answer`)."""
        if accepted is None:
            accepted = self._accept(destination, paste)
        text, blocks = self.layouts.thread_root(destination.requester)
        try:
            root_ts = await self.post(destination, text, blocks)
        except DeliveryExpired:
            journal_id = await accepted
            logger.error("Slack kept failing: the check %s is left for a later attempt", journal_id)
            await self.journal.later(journal_id)
            return
        except Exception:
            await self.answer_failure(destination, None, "could not start the thread")
            await self.journal.done(await accepted)
            return
        if root_ts is not None:
            destination = destination.in_thread(root_ts)
            accepted = self._then_moved(accepted, destination)
        await self.check_and_answer(destination, paste, accepted=accepted, rerun=rerun)

    async def check_and_answer(
        self,
        destination: Destination,
        paste: Paste,
        view_id: str | None = None,
        *,
        accepted: asyncio.Future[str] | None = None,
        unique: Awaitable[bool] | None = None,
        rerun: bool = False,
    ) -> CheckReport | None:
        """Run the check, then answer in the thread (and in the modal, if it is still open).

        Once `unique` (the de-duplication of a submission) agrees, the check starts at once;
        journaling it as accepted (`accepted` when a caller already did) and then the 👀 happen
        beside it. `rerun`: the check is run again after its process died, which may have posted
        its answer before the journal learnt it (looked for first, by the journal ID both
        answers carry). None when there is no answer to build on (a failure, or a duplicate).
        """
        acked_at = asyncio.get_running_loop().time()
        if unique is not None and not await unique:
            return None  # the same submission again: the first one answers
        if accepted is None:
            accepted = self._accept(destination, paste, view_id)
        reacting = asyncio.ensure_future(self._react_once_journaled(destination, accepted))
        ladder = (
            LiveLadder(self.poster_for(destination), view_id, acked_at, self.layouts.progress_view)
            if view_id is not None
            else None
        )
        try:
            try:
                report = await self.checker.check(paste, ladder.on_step if ladder else None)
            finally:
                if ladder is not None:
                    await ladder.close()
            checked = UnwrittenCheck(new_check_id(), report, destination, paste)
            escalable = checked.check_id if self._escalation else None
            note = await self._note(destination, checked)
            watched = checked.check_id if self._watch else None
            text, blocks = self.layouts.result(report, destination, escalable, note, watched)
            self.recorder.expect(checked)  # found by its ID from now on, before it is written
        except Exception:
            journal_id = await accepted
            await reacting
            await self.answer_failure(destination, view_id, "checking failed")
            await self.journal.done(journal_id)
            return None
        # A workflow step's check: its outputs are kept before the answer goes, so that whoever
        # delivers the answer (this process, or the one that takes it over) completes the step.
        await self.steps.check_ended(destination, report, checked.check_id)
        answer = Answer(
            text,
            blocks,
            view=self.layouts.result_view(report) if view_id is not None else None,
            reaction=CONNECTED if report.ok else PROBLEM,
            check_id=checked.check_id,
        )
        delivered = await self._deliver(
            accepted,
            destination,
            answer,
            view_id,
            check=checked,
            acked_at=acked_at,
            answer_journaled=False,
            reacting=reacting,
            rerun=rerun,
        )
        return report if delivered else None

    async def find_check(
        self, check_id: str, patience_s: float = FIND_PATIENCE_S
    ) -> UnwrittenCheck | None:
        """The answered check `check_id`, wherever it is now: among this process's answers not
        yet written, in the history, or in the journal (another process answered it). An answer
        is visible before its bookkeeping is done, and another process's journal entry may still
        be on its way: what is found nowhere is looked for again for `patience_s`."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + patience_s
        while True:
            found = await self.recorder.find(check_id) or await self.journal.find_check(check_id)
            if found is not None or loop.time() >= give_up_at:
                return found
            await asyncio.sleep(FIND_EVERY_S)

    # Finishing what another process left.

    async def resume(self, entry: JournalEntry) -> None:
        """Finish `entry`, taken over from a process that is gone: an answer that was ready is
        delivered; a check whose paste is in the vault (CREDENTIALS_KEY) is run again, once; any
        other is answered in its thread: it was interrupted, with a button to check again."""
        destination = entry.destination
        known = _known(entry.id)
        check = None
        if entry.check_id is not None and entry.report is not None:
            check = UnwrittenCheck(entry.check_id, entry.report, destination, None)
            self.recorder.expect(check)
        if entry.posted and check is not None:
            logger.info("recording interrupted check %s, whose answer is in Slack", entry.id)
            await self._bookkeeping(entry.id, check)
            return
        if entry.answer is not None:
            logger.info("delivering the answer of interrupted check %s", entry.id)
            await self._deliver(known, destination, entry.answer, entry.view_id, check=check)
            return
        if entry.paste is not None and entry.attempts <= MAX_RERUNS:
            logger.info("running interrupted check %s again", entry.id)
            if destination.thread_ts is None and destination.entry == EntryPoint.COMMAND:
                await self.check_in_new_thread(destination, entry.paste, accepted=known, rerun=True)
            else:
                await self.check_and_answer(
                    destination, entry.paste, entry.view_id, accepted=known, rerun=True
                )
            return
        logger.info("telling the requester of check %s that it was interrupted", entry.id)
        text, blocks = self.layouts.interrupted(destination.requester)
        answer = Answer(
            text,
            blocks,
            view=self.layouts.interrupted_view(destination.requester) if entry.view_id else None,
            reaction=PROBLEM,
        )
        await self._deliver(known, destination, answer, entry.view_id, answer_journaled=False)

    # The journaled answer protocol.

    def _accept(
        self, destination: Destination, paste: Paste, view_id: str | None = None
    ) -> asyncio.Future[str]:
        """Journal a check just accepted, beside the check rather than in front of it; its
        journal ID. A journal write never raises for the database (it falls back to memory)."""
        return asyncio.ensure_future(self.journal.accept(destination, paste, view_id=view_id))

    def _then_moved(
        self, accepted: Awaitable[str], destination: Destination
    ) -> asyncio.Future[str]:
        async def move() -> str:
            journal_id = await accepted
            await self.journal.moved(journal_id, destination)
            return journal_id

        return asyncio.ensure_future(move())

    async def _react_once_journaled(
        self, destination: Destination, accepted: Awaitable[str]
    ) -> None:
        """👀 on the thread root says the bot has the check: it survives a restart from then on."""
        await accepted
        await self.react(destination, CHECKING)

    async def _deliver(
        self,
        accepted: Awaitable[str],
        destination: Destination,
        answer: Answer,
        view_id: str | None,
        *,
        check: UnwrittenCheck | None = None,
        acked_at: float | None = None,
        answer_journaled: bool = True,
        reacting: Awaitable[None] | None = None,
        rerun: bool = False,
    ) -> bool:
        """Post an answer in its thread, then mark its journal entry done; True once it is there.

        `accepted` gives the entry's ID once the journal has it: the post does not wait for it.
        Unless `answer_journaled`, the journal learns the answer while it is posted (a restart
        redelivers it rather than run the check again). `reacting` is the 👀 still on its way,
        awaited before the reaction changes. When Slack keeps failing past the delivery's
        patience, the entry is left for a later attempt (by this process or another), never
        replaced by an error message. `rerun`: see `check_and_answer`.
        """

        async def journal_answer() -> str:
            journal_id = await accepted
            if not answer_journaled:
                await self.journal.answered(
                    journal_id,
                    answer,
                    check_id=check.check_id if check else None,
                    report=check.report if check else None,
                )
            return journal_id

        # Both run to the end whatever the other does: the entry's row is never changed twice at
        # once, and what follows (`later`, `done`) comes after both. An answer taken from the
        # journal may have been posted by the process that journaled it: looked for first.
        mark = None
        if answer.check_id:
            mark = MessageMark.answer(answer.check_id, await _journal_id_soon(accepted))
        poster = self.poster_for(destination)
        posted, journal_id = await asyncio.gather(
            poster.post(
                destination,
                answer.text,
                answer.blocks,
                mark=mark,
                look_first=answer_journaled or rerun,
            ),
            journal_answer(),
            return_exceptions=True,
        )
        if isinstance(journal_id, BaseException):  # a bug: the journal never raises for its DB
            logger.error("the journal could not take a check's answer", exc_info=journal_id)
            return not isinstance(posted, BaseException)
        if isinstance(posted, DeliveryExpired):
            logger.error("Slack kept failing: the answer of %s will be delivered later", journal_id)
            await self.journal.later(journal_id)
            return False
        if isinstance(posted, BaseException):
            try:
                raise posted
            except Exception:
                if reacting is not None:
                    await reacting  # its 👀 on first, so that the ⚠️ replaces it
                await self.answer_failure(destination, view_id, "posting a check's answer failed")
            if check is not None:  # the check ran: the history has it, even unanswered
                await self.recorder.keep(check)
            await self.journal.done(journal_id)
            return False
        # The answer is in the thread: the bookkeeping goes on beside what follows.
        bookkeeping = asyncio.ensure_future(self._bookkeeping(journal_id, check))
        await self.steps.answer_delivered(poster.client, destination, posted)
        # The answer is in the thread: what follows is decoration, and never a reason to say
        # something went wrong. The 👀 still on its way goes on before the verdict replaces it.
        if reacting is not None:
            await reacting
        if answer.reaction is not None:
            await poster.react(destination, answer.reaction, CHECKING)
        if view_id is not None and answer.view is not None:
            if acked_at is not None:
                await after_ack(acked_at)
            try:
                await poster.update_view(view_id, answer.view)
            except Exception:
                logger.exception("the modal could not show the result (it is in the thread)")
        await bookkeeping
        return True

    async def _bookkeeping(self, journal_id: str, check: UnwrittenCheck | None) -> None:
        """After the answer is in Slack: its history row, then its journal entry done. Until
        the row is written, the entry says `posted`: a process killed meanwhile leaves it to the
        next, which writes the row and posts nothing; while the database is away, the row waits
        in the recorder's backlog, which closes the entry once it is written."""
        if check is None:
            await self.journal.done(journal_id)
            return
        _, recorded = await asyncio.gather(
            self.journal.posted(journal_id),
            self.recorder.keep(replace(check, journal_id=journal_id)),
        )
        if recorded:
            await self.journal.done(journal_id)


async def _journal_id_soon(accepted: Awaitable[str]) -> str | None:
    """The journal ID for the answer's mark, if the journal gives it within
    `JOURNAL_ID_WAIT_S` (it was asked as the check began, so it nearly always has): the answer
    does not wait on a slow database for longer. Without it, a re-run may post twice."""
    if not isinstance(accepted, asyncio.Future):
        return None
    await asyncio.wait({accepted}, timeout=JOURNAL_ID_WAIT_S)
    if not accepted.done() or accepted.cancelled() or accepted.exception() is not None:
        return None
    return str(accepted.result())


def _known(journal_id: str) -> asyncio.Future[str]:
    """The journal ID of a check taken over from the journal (a recovered one)."""
    known: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    known.set_result(journal_id)
    return known
