"""Wall-clock time for the events domain: converting between an IANA zone and UTC, and expanding an
RFC 5545 RRULE (with its exceptions) inside a window.

A rule is expanded by ``dateutil.rrule`` in the event's *local, naive* time from the event's
local start, and each occurrence is then placed in the zone and converted to UTC: so "10:00
every Tuesday in Europe/London" is 09:00 UTC in summer and 10:00 UTC in winter, as a person
expects. Durations are wall-clock too (an all-day event spanning the October change still
ends at midnight). Nothing is expanded outside the window asked for.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, timedelta
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import YEARLY, rrule, rrulestr

from shared.contracts.errors import InvalidEvent
from shared.infrastructure import inputs

# Rules that repeat more often than daily would flood a month view; none of ours needs them.
ALLOWED_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# A finite rule is walked once on save to find its last occurrence: keep that bounded.
MAX_OCCURRENCES = 2000
# What one event may put on the calendar: a rule that makes more is refused when it is saved
# (FREQ=DAILY;BYHOUR=0,...,23;BYMINUTE=0,...,59 is 1,440 a day and made the pages take seconds).
MAX_PER_DAY = 4
MAX_PER_WINDOW = 62  # in any WINDOW: twice a day on average, a month view stays readable
WINDOW = timedelta(days=31)
# A rule must start occurring within this many years of the event's start (every 29 February
# does, across the 2100 gap too); later than that is taken for a rule that never occurs.
HORIZON_YEARS = 10
# The Gregorian calendar repeats itself exactly every 400 years (146,097 days, whole weeks).
_CYCLE_YEARS = 400
_UNTIL_RE = re.compile(r"UNTIL=(\d{8}(?:T\d{6}Z?)?)", re.IGNORECASE)
_RULE_RE = re.compile(r"^[A-Z0-9=;,+\-]+$")


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or a clear refusal."""
    if name not in _zone_names():
        raise InvalidEvent("invalid_timezone", "Choose a time zone from the list.", "timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:  # pragma: no cover - listed zones load
        raise InvalidEvent("invalid_timezone", "Unknown time zone.", "timezone") from err


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def timezone_names() -> list[str]:
    return sorted(_zone_names())


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall-clock time in ``tz`` as an aware UTC datetime (an ambiguous time during
    the autumn change is its first, summer-time reading: ``fold=0``)."""
    return local.replace(tzinfo=tz).astimezone(UTC)


def to_local(moment: datetime, tz: ZoneInfo) -> datetime:
    """An aware datetime as naive wall-clock time in ``tz``."""
    return moment.astimezone(tz).replace(tzinfo=None)


def normalise_rule(value: str) -> str:
    """The RRULE value uppercased and without a ``RRULE:`` prefix; refuses what we do not
    expand (sub-daily frequencies, DTSTART inside the rule, anything unparsable)."""
    rule = value.strip().upper()
    if rule.startswith("RRULE:"):
        rule = rule[len("RRULE:") :]
    if not rule:
        return ""
    if len(rule) > 500 or not _RULE_RE.match(rule):
        raise InvalidEvent("invalid_rrule", "That repeat rule is not valid.", "rrule")
    parts = dict(part.partition("=")[::2] for part in rule.split(";"))
    if parts.get("FREQ") not in ALLOWED_FREQUENCIES:
        raise InvalidEvent(
            "invalid_rrule", "Repeat daily, weekly, monthly or yearly (FREQ=...).", "rrule"
        )
    if "DTSTART" in parts:
        raise InvalidEvent("invalid_rrule", "The start is the event's, not the rule's.", "rrule")
    if "COUNT" in parts and inputs.parse_int(parts["COUNT"], maximum=1000) is None:
        raise InvalidEvent("invalid_rrule", "COUNT must be between 1 and 1000.", "rrule")
    build_rule(rule, datetime(2026, 1, 1, 10, 0), ZoneInfo("UTC"))
    return rule


def build_rule(rule: str, local_start: datetime, tz: ZoneInfo) -> rrule:
    """The dateutil rule for ``rule`` starting at the naive local ``local_start``.

    RFC 5545 gives UNTIL in UTC when the start has a zone; dateutil wants it in the same
    (naive, local) terms as the start, so it is converted first.
    """

    def local_until(match: re.Match[str]) -> str:
        raw = match.group(1).upper()
        if raw.endswith("Z"):
            moment = datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return "UNTIL=" + to_local(moment, tz).strftime("%Y%m%dT%H%M%S")
        if "T" not in raw:  # a date: the whole of that day
            return f"UNTIL={raw}T235959"
        return f"UNTIL={raw}"

    try:
        parsed = rrulestr(_UNTIL_RE.sub(local_until, rule), dtstart=local_start)
    except (ValueError, TypeError, KeyError, OverflowError) as err:
        raise InvalidEvent("invalid_rrule", "That repeat rule is not valid.", "rrule") from err
    if not isinstance(parsed, rrule):
        raise InvalidEvent("invalid_rrule", "Give one repeat rule.", "rrule")
    return parsed


def check_rule(rule: str, local_start: datetime, tz: ZoneInfo) -> None:
    """Refuse a rule that never occurs, or that makes more than ``MAX_PER_DAY`` occurrences
    on a day or ``MAX_PER_WINDOW`` in ``WINDOW``, within its first ``HORIZON_YEARS``.

    dateutil looks for the next occurrence of a rule until the year 9999, which takes it many
    seconds when there is none (``BYMONTH=2;BYMONTHDAY=30``). So the rule is walked as it will
    be a multiple of 400 years later, in a calendar identical day for day and weekday for
    weekday, close enough to 9999 that a rule with no occurrence ends within a few hundred years.
    """
    parsed = build_rule(rule, local_start, tz)
    shift = _CYCLE_YEARS * ((MAXYEAR - HORIZON_YEARS - local_start.year) // _CYCLE_YEARS)

    def moved(moment: datetime) -> datetime:
        return moment.replace(year=moment.year + shift)

    until: datetime | None = getattr(parsed, "_until", None)  # dateutil keeps it private
    probe = parsed.replace(dtstart=moved(local_start), until=moved(until) if until else None)
    horizon = moved(local_start).replace(year=moved(local_start).year + HORIZON_YEARS)
    # A daily or weekly rule with no occurrence is still walked day by day or week by week,
    # which is long even for 400 years: the same filters read yearly hold every day the rule
    # could take, and find none in a few hundred steps.
    freq = dict(part.partition("=")[::2] for part in rule.split(";")).get("FREQ")
    if freq in ("DAILY", "WEEKLY"):
        coarse = probe.replace(freq=YEARLY, interval=1)
        if next((o for o in coarse if o < horizon), None) is None:
            _never()
    per_day: Counter[date] = Counter()
    recent: deque[datetime] = deque()
    for occurrence in probe:
        if occurrence >= horizon:
            break
        per_day[occurrence.date()] += 1
        if per_day[occurrence.date()] > MAX_PER_DAY:
            raise InvalidEvent(
                "rrule_too_frequent",
                f"That rule repeats more than {MAX_PER_DAY} times on one day.",
                "rrule",
            )
        recent.append(occurrence)
        while recent[0] <= occurrence - WINDOW:
            recent.popleft()
        if len(recent) > MAX_PER_WINDOW:
            raise InvalidEvent(
                "rrule_too_frequent",
                f"That rule repeats more than {MAX_PER_WINDOW} times in {WINDOW.days} days.",
                "rrule",
            )
    if not per_day:
        _never()


def _never() -> NoReturn:
    raise InvalidEvent(
        "rrule_never",
        f"That rule has no occurrence in the {HORIZON_YEARS} years from the event's start.",
        "rrule",
    )


def last_start(rule: str, local_start: datetime, tz: ZoneInfo) -> datetime | None:
    """The UTC start of the rule's last occurrence, or None when it repeats for ever."""
    parts = dict(part.partition("=")[::2] for part in rule.split(";"))
    if "COUNT" not in parts and "UNTIL" not in parts:
        return None
    last: datetime | None = None
    for n, occurrence in enumerate(build_rule(rule, local_start, tz)):
        if n >= MAX_OCCURRENCES:
            raise InvalidEvent(
                "invalid_rrule",
                f"That rule makes more than {MAX_OCCURRENCES} occurrences: end it sooner.",
                "rrule",
            )
        last = occurrence
    if last is None:
        raise InvalidEvent("invalid_rrule", "That rule has no occurrence at all.", "rrule")
    return to_utc(last, tz)


@dataclass(frozen=True)
class Slot:
    """One expanded occurrence in UTC: ``key`` names it (its RECURRENCE-ID)."""

    key: datetime
    start: datetime
    end: datetime
    moved: bool = False


@dataclass(frozen=True)
class Moved:
    new_start: datetime | None  # None: cancelled
    new_end: datetime | None


def expand(
    *,
    start: datetime,
    end: datetime,
    timezone: str,
    rule: str | None,
    window_start: datetime,
    window_end: datetime,
    exceptions: Mapping[datetime, Moved] | None = None,
) -> list[Slot]:
    """The occurrences that overlap ``[window_start, window_end)`` (all UTC), in order.

    A single event is its one slot. A recurring one is expanded in local time; an exception
    either drops an occurrence (cancelled) or moves it (it then appears where it was moved to,
    even if its original time is outside the window).
    """
    exceptions = exceptions or {}
    if not rule:
        slots = [Slot(start, start, end)]
    else:
        tz = ZoneInfo(timezone)
        local_start = to_local(start, tz)
        duration = to_local(end, tz) - local_start
        parsed = build_rule(rule, local_start, tz)
        # A day of slack either side: the window is UTC, the rule is local.
        after = to_local(window_start, tz) - duration - timedelta(days=1)
        before = to_local(window_end, tz) + timedelta(days=1)
        slots = []
        for local in parsed.between(after, before, inc=True):
            key = to_utc(local, tz)
            slots.append(Slot(key, key, to_utc(local + duration, tz)))
        seen = {slot.key for slot in slots}
        for key, change in exceptions.items():
            # Moved here from outside the window: only if the rule really has that occurrence.
            if key not in seen and change.new_start is not None:
                local = to_local(key, tz)
                if parsed.between(local, local, inc=True):
                    slots.append(Slot(key, key, key))
    result = []
    for slot in slots:
        moved = exceptions.get(slot.key)
        if moved is not None:
            if moved.new_start is None or moved.new_end is None:
                continue
            slot = Slot(slot.key, moved.new_start, moved.new_end, moved=True)
        if slot.end > window_start and slot.start < window_end:
            result.append(slot)
    result.sort(key=lambda s: (s.start, s.key))
    return result


def is_occurrence(
    *, start: datetime, end: datetime, timezone: str, rule: str | None, key: datetime
) -> bool:
    """Whether ``key`` (UTC) is an occurrence the event's rule gives (before exceptions)."""
    if not rule:
        return key == start
    tz = ZoneInfo(timezone)
    local = to_local(key, tz)
    parsed = build_rule(rule, to_local(start, tz), tz)
    return any(to_utc(found, tz) == key for found in parsed.between(local, local, inc=True))


def month_weeks(year: int, month: int, first_weekday: int = 0) -> list[list[datetime]]:
    """The weeks (Monday first) that cover a month, as naive midnights."""
    first = datetime(year, month, 1)
    start = first - timedelta(days=(first.weekday() - first_weekday) % 7)
    weeks: list[list[datetime]] = []
    day = start
    while True:
        week = [day + timedelta(days=i) for i in range(7)]
        weeks.append(week)
        day = week[-1] + timedelta(days=1)
        if day.month != month:
            break
    return weeks


def parse_key(raw: str) -> datetime | None:
    """An occurrence key from a URL (``YYYYMMDDTHHMMSSZ``), or None when malformed or outside
    the dates a page may be asked about (inputs.EARLIEST … LATEST)."""
    return inputs.parse_utc_stamp(raw)


def dedupe(values: Iterable[str]) -> tuple[str, ...]:
    """Each value once, in the order given."""
    return tuple(dict.fromkeys(values))
