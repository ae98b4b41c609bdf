"""Time zones, daylight saving and recurrence: occurrences expanded in a window, in the
event's wall-clock time, with exceptions; and the staff input that is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import OccurrenceException
from shared.contracts.errors import InvalidEvent
from tests.events import factories
from tests.events.factories import events


async def test_a_weekly_10am_london_event_stays_at_10_local_across_the_october_change(
    db: AsyncSession,
) -> None:
    # Tuesdays at 10:00 in London from 6 October 2026; the clocks go back on 25 October.
    ev = await factories.event(
        db, start=datetime(2026, 10, 6, 10), end=datetime(2026, 10, 6, 12), rrule="FREQ=WEEKLY"
    )
    found = await events.occurrences(
        db, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC), event_id=ev.id
    )
    assert [o.local_start for o in found] == [
        datetime(2026, 10, d, 10) for d in (6, 13, 20, 27)
    ] + [datetime(2026, 11, d, 10) for d in (3, 10)]
    # In UTC the summer ones are at 09:00 and the winter ones at 10:00.
    assert [o.start.hour for o in found] == [9, 9, 9, 10, 10, 10]
    assert all(o.local_end.hour == 12 for o in found)
    assert found[3].start == datetime(2026, 10, 27, 10, tzinfo=UTC)


async def test_the_second_tuesday_monthly_with_a_count_ends_and_is_stored_so(
    db: AsyncSession,
) -> None:
    ev = await factories.event(
        db,
        start=datetime(2026, 1, 13, 19, 30),
        end=datetime(2026, 1, 13, 21),
        rrule="RRULE:freq=monthly;byday=2TU;count=4",
    )
    assert ev.rrule == "FREQ=MONTHLY;BYDAY=2TU;COUNT=4"
    found = await events.occurrences(
        db, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), event_id=ev.id
    )
    assert [o.local_start.date().isoformat() for o in found] == [
        "2026-01-13",
        "2026-02-10",
        "2026-03-10",
        "2026-04-14",
    ]


async def test_exceptions_cancel_and_move_single_occurrences(db: AsyncSession) -> None:
    ev = await factories.event(
        db,
        start=datetime(2026, 3, 2, 18),
        end=datetime(2026, 3, 2, 19),
        rrule="FREQ=WEEKLY;UNTIL=20260330T235959Z",
    )
    assert ev.rrule == "FREQ=WEEKLY;UNTIL=20260330T235959Z"
    occurrences = await events.occurrences(
        db, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC), event_id=ev.id
    )
    assert len(occurrences) == 5  # 2, 9, 16, 23, 30 March
    second, third = occurrences[1], occurrences[2]
    await events.set_exception(db, ev.id, OccurrenceException(second.occurrence_start, True))
    await events.set_exception(
        db,
        ev.id,
        OccurrenceException(
            third.occurrence_start,
            False,
            datetime(2026, 3, 17, 19, tzinfo=UTC),
            datetime(2026, 3, 17, 20, tzinfo=UTC),
        ),
    )
    after = await events.occurrences(
        db, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC), event_id=ev.id
    )
    assert [o.local_start.day for o in after] == [2, 17, 23, 30]
    moved = after[1]
    assert moved.moved
    assert moved.occurrence_start == third.occurrence_start
    # The moved occurrence is still reachable by its original key; the cancelled one is not.
    fresh = await events.get_event(db, ev.id)
    assert fresh is not None
    assert fresh.sequence == 2
    assert await events.occurrence(db, fresh, second.occurrence_start) is None
    again = await events.occurrence(db, fresh, third.occurrence_start)
    assert again is not None
    assert again.start == datetime(2026, 3, 17, 19, tzinfo=UTC)
    # A date the rule does not give cannot be changed.
    with pytest.raises(InvalidEvent) as refused:
        await events.set_exception(
            db, ev.id, OccurrenceException(datetime(2026, 3, 3, 18, tzinfo=UTC), True)
        )
    assert refused.value.code == "not_an_occurrence"


async def test_a_rule_that_repeats_for_ever_is_only_expanded_in_the_window(
    db: AsyncSession,
) -> None:
    ev = await factories.event(
        db, start=datetime(2020, 1, 1, 9), end=datetime(2020, 1, 1, 10), rrule="FREQ=DAILY"
    )
    found = await events.occurrences(
        db, datetime(2031, 5, 1, tzinfo=UTC), datetime(2031, 5, 8, tzinfo=UTC), event_id=ev.id
    )
    assert len(found) == 7


async def test_an_all_day_event_covers_whole_local_days(db: AsyncSession) -> None:
    ev = await factories.event(
        db,
        start=datetime(2026, 10, 24),
        end=datetime(2026, 10, 25),
        all_day=True,
        title="Harvest weekend",
    )
    assert ev.start == datetime(2026, 10, 23, 23, tzinfo=UTC)  # BST midnight
    assert ev.end == datetime(2026, 10, 26, 0, tzinfo=UTC)  # GMT midnight after the 25th


EVERY_HOUR = ",".join(str(h) for h in range(24))
EVERY_MINUTE = ",".join(str(m) for m in range(60))


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"rrule": "FREQ=MINUTELY"}, "invalid_rrule"),
        ({"rrule": "FREQ=WEEKLY;COUNT=5000"}, "invalid_rrule"),
        ({"rrule": "FREQ=DAILY;UNTIL=20400101"}, "invalid_rrule"),
        ({"rrule": "<script>"}, "invalid_rrule"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "invalid_rrule"),
        # 1,440 a day: the rule that made the events pages take seconds.
        (
            {"rrule": f"FREQ=DAILY;BYHOUR={EVERY_HOUR};BYMINUTE={EVERY_MINUTE}"},
            "rrule_too_frequent",
        ),
        ({"rrule": "FREQ=WEEKLY;BYDAY=SA;BYHOUR=9,10,11,12,13"}, "rrule_too_frequent"),
        ({"rrule": "FREQ=DAILY;BYHOUR=9,13,19"}, "rrule_too_frequent"),  # 93 in 31 days
        ({"rrule": "FREQ=YEARLY;BYYEARDAY=-1;BYMONTHDAY=31;BYMONTH=2"}, "rrule_never"),
        ({"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=3"}, "rrule_never"),
        ({"rrule": "FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31;BYDAY=MO"}, "rrule_never"),
        ({"rrule": "FREQ=DAILY;UNTIL=20260430"}, "rrule_never"),  # ends before it starts
        ({"tz": "Mars/Olympus"}, "invalid_timezone"),
        ({"end": datetime(2026, 5, 1, 9)}, "ends_before_start"),
        ({"title": "  "}, "title_required"),
        ({"capacity": -1}, "invalid_capacity"),
        ({"map_url": "javascript:alert(1)"}, "invalid_url"),
        ({"status": "live"}, "invalid_status"),
        ({"slug": "Not A Slug"}, "invalid_slug"),
    ],
)
async def test_bad_event_input_is_refused_with_a_code(
    db: AsyncSession, fields: dict[str, object], code: str
) -> None:
    calendar = await factories.calendar(db)
    values: dict[str, object] = {
        "start": datetime(2026, 5, 1, 10),
        "end": datetime(2026, 5, 1, 12),
        "calendar_id": calendar.id,
        **fields,
    }
    with pytest.raises(InvalidEvent) as refused:
        await factories.event(db, **values)  # type: ignore[arg-type]
    assert refused.value.code == code


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",  # next in 2028
        "FREQ=DAILY;BYHOUR=10,18",  # 62 in 31 days: the most a rule may make
        "FREQ=WEEKLY;BYDAY=SA;BYHOUR=9,11,14,16",  # four on one day
        "FREQ=MONTHLY;BYDAY=-1FR",
    ],
)
async def test_rules_within_the_caps_are_kept(db: AsyncSession, rule: str) -> None:
    calendar = await factories.calendar(db)
    ev = await factories.event(
        db,
        start=datetime(2026, 5, 1, 10),
        end=datetime(2026, 5, 1, 11),
        calendar_id=calendar.id,
        rrule=rule,
    )
    assert ev.rrule == rule


async def test_descriptions_are_sanitized_and_tags_normalised(db: AsyncSession) -> None:
    ev = await factories.event(
        db,
        start=datetime(2026, 5, 1, 10),
        end=datetime(2026, 5, 1, 12),
        description_html='<p onclick="x()">Hi<script>alert(1)</script></p>',
        tags=("Live Music", "live-music", "Folk"),
    )
    assert ev.description_html == "<p>Hi</p>"
    assert ev.tags == ("live-music", "folk")
