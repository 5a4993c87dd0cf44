"""Response targets and the support-hours clock they run on (pure arithmetic, no Slack)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.response_targets import (
    DEFAULT_TARGETS,
    ResponseTargets,
    SupportClock,
    SupportHours,
    Urgency,
    format_duration,
    parse_duration,
)

BERLIN_WEEKDAYS = SupportHours.parse("Mon-Fri 09:00-18:00 Europe/Berlin")


def at(text: str) -> datetime:
    """A UTC moment from `2026-03-27 16:00`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("30m", 1800), ("4h", 14400), ("1.5h", 5400), ("2d", 172800), (" 10 M ", 600)],
)
def test_durations_take_seconds_minutes_hours_and_days(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "4 hours", "-5m", "0m", "1w", "1e3s"])
def test_a_duration_without_a_known_unit_or_above_zero_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration(text)


def test_the_default_targets_are_the_documented_ones() -> None:
    targets = ResponseTargets.parse(DEFAULT_TARGETS)
    assert targets == ResponseTargets.default()
    assert [seconds for _, seconds in targets.items()] == [1800, 14400, 86400]
    assert str(targets) == "blocking=30min,normal=4h,low=1d"


def test_targets_left_out_keep_their_defaults() -> None:
    targets = ResponseTargets.parse("blocking=5s")
    assert targets[Urgency.BLOCKING] == 5
    assert targets[Urgency.LOW] == 86400


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("urgent=5m", "'urgent' is not an urgency (blocking, normal, low)"),
        ("blocking", "write urgency=duration"),
        ("normal=soon", "not a duration"),
    ],
)
def test_a_bad_target_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        ResponseTargets.parse(text)


def test_durations_read_as_a_person_says_them() -> None:
    assert [format_duration(s) for s in (12, 1800, 5400, 14400, 90000, 172800)] == [
        "12 s",
        "30 min",
        "1 h 30 min",
        "4 h",
        "1 d 1 h",
        "2 d",
    ]


def test_without_support_hours_the_clock_always_runs() -> None:
    clock = SupportClock()
    start = at("2026-03-28 23:00")  # a Saturday night
    assert clock.add(start, 1800) == start + timedelta(minutes=30)
    assert clock.between(start, start + timedelta(hours=2)) == 7200
    assert clock.is_open(start)


def test_the_clock_pauses_at_closing_time_and_over_the_weekend() -> None:
    # Friday 17:45 in Berlin (CET, UTC+1): 15 minutes left that day, the rest on Monday.
    friday = at("2026-03-20 16:45")
    due = BERLIN_WEEKDAYS.add(friday, 1800)
    assert due == at("2026-03-23 08:15")  # Monday 09:15 CET
    assert BERLIN_WEEKDAYS.between(friday, due) == 1800
    assert not BERLIN_WEEKDAYS.is_open(at("2026-03-21 10:00"))


def test_an_escalation_at_night_is_due_after_opening() -> None:
    night = at("2026-06-02 01:00")  # Tuesday 03:00 CEST
    assert BERLIN_WEEKDAYS.add(night, 3600) == at("2026-06-02 08:00")  # 10:00 CEST


def test_opening_hours_stay_local_across_daylight_saving() -> None:
    # Berlin moves to summer time on Sunday 2026-03-29: Monday opens at 07:00 UTC, not 08:00.
    friday_evening = at("2026-03-27 17:00")  # 18:00 CET, closed
    assert BERLIN_WEEKDAYS.add(friday_evening, 60) == at("2026-03-30 07:01")


def test_several_rules_share_one_zone() -> None:
    hours = SupportHours.parse("Mon-Thu 09:00-18:00; Fri 09:00-15:00 UTC")
    friday = at("2026-03-20 14:30")
    assert hours.add(friday, 3600) == at("2026-03-23 09:30")
    assert str(hours) == "Mon-Thu 09:00-18:00; Fri 09:00-15:00 UTC"


def test_a_day_range_may_wrap_past_sunday() -> None:
    hours = SupportHours.parse("Sat-Mon 00:00-24:00 UTC")
    assert hours.is_open(at("2026-03-22 12:00"))  # Sunday
    assert not hours.is_open(at("2026-03-24 12:00"))  # Tuesday


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon-Fri 09:00-18:00", "write days, hours and a time zone"),
        ("Mon-Fri 09:00-18:00 Mars/Olympus", "'Mars/Olympus' is not a time zone"),
        ("Mon-Fir 09:00-18:00 UTC", "'Fir' is not a day"),
        ("Mon-Fri 18:00-09:00 UTC", "closing time must come after opening time"),
        ("Mon-Fri 9-18 UTC", "not a time of day"),
        ("Mon-Fri 09:00 UTC", "write opening and closing time"),
    ],
)
def test_bad_support_hours_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        SupportHours.parse(text)


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@given(start=moments, seconds=st.floats(min_value=1, max_value=14 * 86400))
def test_the_support_time_until_a_due_moment_is_the_target(start: datetime, seconds: float) -> None:
    due = BERLIN_WEEKDAYS.add(start, seconds)
    assert due > start
    assert BERLIN_WEEKDAYS.between(start, due) == pytest.approx(seconds, abs=1e-3)
    assert BERLIN_WEEKDAYS.is_open(due - timedelta(microseconds=1))


@given(start=moments, first=st.floats(0, 86400), second=st.floats(0, 86400))
def test_support_time_adds_up(start: datetime, first: float, second: float) -> None:
    middle = start + timedelta(seconds=first)
    end = middle + timedelta(seconds=second)
    whole = BERLIN_WEEKDAYS.between(start, end)
    parts = BERLIN_WEEKDAYS.between(start, middle) + BERLIN_WEEKDAYS.between(middle, end)
    assert whole == pytest.approx(parts, abs=1e-3)
