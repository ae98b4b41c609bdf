"""The month page: a seven-column grid of days whose events are chips in their calendar's
colour (an SVG fill, which the pages' CSP lets through where a style attribute would be
dropped), today marked, and the same events as an agenda list for a phone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from tests.events import factories
from tests.support.settings import AppMaker


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("events")


async def test_the_month_is_a_grid_of_days_with_chips_in_the_calendars_colour(
    app: RoseQuart, db: AsyncSession
) -> None:
    today = datetime.now(ZoneInfo("Europe/London")).date()
    cal = await factories.calendar(db, name="Green room", colour="#2e8b57")
    # Late in the day when today is the last of the month, so it stays in this month's grid.
    start = datetime(today.year, today.month, today.day, 20, 0)
    await factories.event(
        db, start=start, end=start + timedelta(hours=1), calendar_id=cal.id, title="Quiz night"
    )
    await db.commit()
    resp = await app.test_client().get(f"/month/{today.year}/{today.month}")
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)

    grid = html.split('<ol class="month-calendar__days">', 1)[1].split("</ol>", 1)[0]
    days = re.findall(r'<li class="day (in-month|other-month)', grid)
    assert len(days) % 7 == 0
    assert 28 <= len(days) <= 42
    assert days.count("in-month") >= 28
    # Today is marked, once, and carries the event as a chip in the calendar's colour.
    today_cell = grid.split('aria-current="date"', 1)[1].split('<li class="day', 1)[0]
    assert grid.count('aria-current="date"') == 1
    assert "Quiz night" in today_cell
    assert 'class="chip"' in today_cell
    assert 'fill="#2e8b57"' in today_cell
    # No style attribute anywhere (the CSP would drop it) and no black glyph swatch.
    assert "style=" not in html
    assert "■" not in html
    # The agenda repeats the day's events for a phone.
    agenda = html.split('<ol class="agenda"', 1)[1].split("</ol>", 1)[0]
    assert "Quiz night" in agenda
    assert 'fill="#2e8b57"' in agenda


async def test_a_month_without_events_says_so(app: RoseQuart, db: AsyncSession) -> None:
    html = await (await app.test_client().get("/month/1999/2")).get_data(as_text=True)
    assert '<p class="empty">No events this month.</p>' in html
    assert 'aria-current="date"' not in html
