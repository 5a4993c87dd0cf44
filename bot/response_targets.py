"""Response targets: how long an escalation may wait, counted on the support team's clock.

Parses `ESCALATION_RESPONSE_TARGETS` (`blocking=30m,normal=4h,low=24h`) and `SUPPORT_HOURS`
(`Mon-Fri 09:00-18:00 Europe/Berlin`), and does the arithmetic the reminders and the team's
numbers need: the moment a target falls due when the clock runs only within support hours, and
how much support time lay between two moments. Imports nothing of the project: the settings
import it, and every layer may.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Urgency(StrEnum):
    """How badly the person who escalated is stuck, as they said it in the escalation modal;
    members in rising order."""

    LOW = "low"
    NORMAL = "normal"
    BLOCKING = "blocking"


_MOST_URGENT_FIRST = (Urgency.BLOCKING, Urgency.NORMAL, Urgency.LOW)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
DEFAULT_TARGETS = "blocking=30m,normal=4h,low=24h"


def parse_duration(text: str) -> float:
    """Seconds in `30m`, `4h`, `1.5h`, `2d` or `45s`; ValueError for anything else or zero."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise ValueError(f"{text.strip()!r} is not a duration: write a number and s, m, h or d")
    seconds = float(found[1]) * _UNITS[found[2]]
    if not 0 < seconds < math.inf:
        raise ValueError(f"{text.strip()!r}: a response target must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """`seconds` as a person says it: `45 s`, `30 min`, `4 h`, `1 h 30 min`, `2 d 3 h`."""
    whole = max(0, round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


@dataclass(frozen=True, slots=True)
class ResponseTargets:
    """Seconds of support time each urgency may wait for a first response."""

    seconds: Mapping[Urgency, float]

    @classmethod
    def parse(cls, text: str) -> ResponseTargets:
        """`blocking=30m,normal=4h,low=24h`; urgencies left out keep their defaults."""
        targets = dict(cls.default().seconds)
        known = ", ".join(u.value for u in _MOST_URGENT_FIRST)
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            name, sign, value = entry.partition("=")
            if not sign:
                raise ValueError(f"{entry!r}: write urgency=duration, e.g. blocking=30m")
            try:
                urgency = Urgency(name.strip().lower())
            except ValueError:
                raise ValueError(f"{name.strip()!r} is not an urgency ({known})") from None
            targets[urgency] = parse_duration(value)
        return cls(targets)

    @classmethod
    def default(cls) -> ResponseTargets:
        return cls({Urgency.BLOCKING: 30 * 60, Urgency.NORMAL: 4 * 3600, Urgency.LOW: 24 * 3600})

    def __getitem__(self, urgency: Urgency) -> float:
        return self.seconds[urgency]

    def __str__(self) -> str:
        return ",".join(f"{u.value}={format_duration(s).replace(' ', '')}" for u, s in self.items())

    def items(self) -> Iterator[tuple[Urgency, float]]:
        """Each urgency and its target, most urgent first."""
        return ((u, self.seconds[u]) for u in _MOST_URGENT_FIRST)


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")


def _day(name: str) -> int:
    try:
        return _DAYS.index(name.strip().lower()[:3])
    except ValueError:
        raise ValueError(f"{name.strip()!r} is not a day: use Mon, Tue, … Sun") from None


def _days(text: str) -> frozenset[int]:
    """`Mon-Fri`, `Mon,Wed,Fri`, `Sat-Sun`, `Fri-Mon` (a range may wrap past Sunday)."""
    days: set[int] = set()
    for item in (part for part in text.split(",") if part.strip()):
        first, dash, last = item.partition("-")
        start = _day(first)
        end = _day(last) if dash else start
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    if not days:
        raise ValueError("name at least one day")
    return frozenset(days)


def _clock(text: str) -> int:
    """Minutes after midnight in `09:00`; `24:00` is the end of the day."""
    found = _CLOCK.fullmatch(text.strip())
    if found is None or (found[1] == "24" and found[2] != "00"):
        raise ValueError(f"{text.strip()!r} is not a time of day such as 09:00")
    return int(found[1]) * 60 + int(found[2])


@dataclass(frozen=True, slots=True)
class _Rule:
    days: frozenset[int]
    opens: int  # minutes after local midnight
    closes: int


@dataclass(frozen=True, slots=True)
class SupportHours:
    """When the support team works: weekly opening hours in one IANA time zone.

    `Mon-Fri 09:00-18:00 Europe/Berlin`; several rules share the zone: `Mon-Thu 09:00-18:00;
    Fri 09:00-15:00 Europe/Berlin`. Holidays are not modelled. Daylight-saving changes follow the
    zone: 09:00 is 09:00 local time on both sides of them.
    """

    rules: tuple[_Rule, ...]
    zone: ZoneInfo
    text: str = field(compare=False)

    @classmethod
    def parse(cls, text: str) -> SupportHours:
        words = text.split()
        if len(words) < 3:
            raise ValueError(
                "write days, hours and a time zone, e.g. Mon-Fri 09:00-18:00 Europe/Berlin"
            )
        zone_name = words[-1]
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{zone_name!r} is not a time zone: use an IANA name such as Europe/Berlin"
            ) from None
        rules: list[_Rule] = []
        for part in " ".join(words[:-1]).split(";"):
            pieces = part.split()
            if len(pieces) != 2:
                raise ValueError(
                    f"{part.strip()!r}: write days and hours, e.g. Mon-Fri 09:00-18:00"
                )
            opens, dash, closes = pieces[1].partition("-")
            if not dash:
                raise ValueError(f"{pieces[1]!r}: write opening and closing time, e.g. 09:00-18:00")
            rule = _Rule(_days(pieces[0]), _clock(opens), _clock(closes))
            if rule.closes <= rule.opens:
                raise ValueError(f"{pieces[1]!r}: closing time must come after opening time")
            rules.append(rule)
        return cls(tuple(rules), zone, " ".join(words))

    def __str__(self) -> str:
        return self.text

    def _windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's opening hours as UTC intervals, merged and in order."""
        spans = sorted(
            (rule.opens, rule.closes) for rule in self.rules if day.weekday() in rule.days
        )
        merged: list[list[int]] = []
        for opens, closes in spans:
            if merged and opens <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], closes)
            else:
                merged.append([opens, closes])
        return [(self._at(day, opens), self._at(day, closes)) for opens, closes in merged]

    def _at(self, day: date, minutes: int) -> datetime:
        # Wall-clock time: 09:00 stays 09:00 local across a daylight-saving change.
        wall = datetime.combine(
            day + timedelta(days=minutes // 1440),
            time(hour=(minutes % 1440) // 60, minute=minutes % 60),
            tzinfo=self.zone,
        )
        return wall.astimezone(UTC)

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Every opening window that ends after `moment`, in order, for ten years at most."""
        day = moment.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(3660):
            for opens, closes in self._windows(day):
                if closes > moment:
                    yield opens, closes
            day += timedelta(days=1)

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` lies within support hours."""
        opens, _closes = next(self._windows_from(moment))
        return opens <= moment

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of support time after `start` have passed."""
        left = timedelta(seconds=seconds)
        for opens, closes in self._windows_from(start):
            begin = max(opens, start)
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
        raise ValueError("support hours leave no time within ten years")

    def between(self, start: datetime, end: datetime) -> float:
        """Seconds of support time from `start` to `end` (0 when `end` is not later)."""
        total = timedelta()
        if end <= start:
            return 0.0
        for opens, closes in self._windows_from(start):
            if opens >= end:
                break
            total += min(closes, end) - max(opens, start)
        return total.total_seconds()


@dataclass(frozen=True, slots=True)
class SupportClock:
    """The clock response targets run on: support hours when set, else every hour of the week."""

    hours: SupportHours | None = None

    def add(self, start: datetime, seconds: float) -> datetime:
        """When `seconds` of support time after `start` have passed."""
        if self.hours is None:
            return start + timedelta(seconds=seconds)
        return self.hours.add(start, seconds)

    def between(self, start: datetime, end: datetime) -> float:
        """Seconds of support time between `start` and `end`."""
        if self.hours is None:
            return max(0.0, (end - start).total_seconds())
        return self.hours.between(start, end)

    def is_open(self, moment: datetime) -> bool:
        return self.hours is None or self.hours.is_open(moment)
