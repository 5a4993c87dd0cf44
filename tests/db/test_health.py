"""The database's state as the process's operations find it: one line when an outage starts,
one when it ends, and no end declared by an operation that began before it."""

from __future__ import annotations

import logging

import pytest

from bot.db.health import DatabaseHealth


class Refused(Exception):
    pass


def test_an_outage_is_told_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = DatabaseHealth()
    with caplog.at_level(logging.WARNING):
        health.failed("journaling a check", Refused())
        health.failed("recording a check", Refused())
        health.succeeded(health.attempt())
        health.succeeded(health.attempt())

    assert caplog.text.count("database unreachable (Refused while journaling a check)") == 1
    assert caplog.text.count("database reachable again") == 1
    assert (health.available, health.outages) == (True, 1)


def test_an_operation_begun_before_the_outage_does_not_end_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = DatabaseHealth()
    in_flight = health.attempt()  # a query on a connection that was open
    health.failed("recording a check", Refused())  # new connections are refused
    with caplog.at_level(logging.WARNING):
        health.succeeded(in_flight)  # the old one still got its answer

    assert health.available is False
    assert "reachable again" not in caplog.text
    health.succeeded(health.attempt())  # begun during the outage: the database is back
    assert health.available is True


def test_an_operation_begun_during_an_outage_that_fails_after_it_ended_starts_no_new_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = DatabaseHealth()
    health.failed("renewing the journal's leases", Refused())
    on_a_dead_connection = health.attempt()  # begun while the server was away
    health.succeeded(health.attempt())  # a fresh connection: the database is back
    with caplog.at_level(logging.WARNING):
        health.failed("recording a check", Refused(), on_a_dead_connection)

    assert (health.available, health.outages) == (True, 1)
    assert caplog.text.count("unreachable") == 1
    health.failed("recording a check", Refused(), health.attempt())  # begun now: a new outage
    assert (health.available, health.outages) == (False, 2)
