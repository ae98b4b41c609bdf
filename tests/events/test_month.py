"""The month page: a seven-column grid of days whose events are chips in their calendar's
colour (an SVG fill, which the pages' CSP lets through where a style attribute would be
dropped), today marked, and the same events as an agenda list for a phone; and the month as a
widget (the ``events/calendar-month`` fragment) in the same design at widget size."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure import internal_auth
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.visitor import Visitor
from tests.events import factories
from tests.support.settings import TEST_INTERNAL_SECRET, AppMaker


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


async def calendar_month_widget(app: RoseQuart) -> str:
    """The ``events/calendar-month`` fragment, asked for as another app asks (signed)."""
    path = "/internal/fragments/calendar-month"
    query, headers = internal_auth.sign(TEST_INTERNAL_SECRET, "GET", path, [], Visitor())
    resp = await app.test_client().get(f"{path}?{query}", headers=headers)
    assert resp.status_code == 200
    return await resp.get_data(as_text=True)


async def test_the_month_widget_is_the_month_pages_grid_at_widget_size(
    app: RoseQuart, db: AsyncSession
) -> None:
    today = datetime.now(ZoneInfo("Europe/London")).date()
    cal = await factories.calendar(db, name="Green room", colour="#2e8b57")
    start = datetime(today.year, today.month, today.day, 20, 0)
    ev = await factories.event(
        db, start=start, end=start + timedelta(hours=1), calendar_id=cal.id, title="Quiz night"
    )
    await db.commit()
    html = await calendar_month_widget(app)

    table = html.split('<table class="widget-month__grid">', 1)[1].split("</table>", 1)[0]
    # Seven weekday headings, each a column header named in full for screen readers.
    headings = re.findall(r'<th scope="col" abbr="(\w+)">', table)
    week = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    assert headings == list(week)
    assert "<caption>" in table
    assert today.strftime("%B %Y") in table
    cells = re.findall(r'<td class="widget-month__day widget-month__day--(in|out)', table)
    assert len(cells) % 7 == 0
    assert 28 <= len(cells) <= 42
    assert cells.count("in") >= 28
    # Days of the other months are muted and plain: no link, no events.
    outside = r'<td class="widget-month__day widget-month__day--out.*?</td>'
    for other in re.findall(outside, table, re.S):
        assert "<a " not in other
        assert "<svg" not in other
    # Today is marked, once, and holds the event: a chip linking to its page, its name as text,
    # tinted in its calendar's colour by an SVG fill.
    assert table.count('aria-current="date"') == 1
    today_cell = table.split('aria-current="date"', 1)[1].split("</td>", 1)[0]
    marked = table.split('aria-current="date"', 1)[0].rsplit("<td", 1)[1]
    assert "widget-month__day--today" in marked
    chip = today_cell.split('<a class="widget-month__chip"', 1)[1].split("</a>", 1)[0]
    assert f"/events/{ev.slug}?at=" in chip
    assert '<span class="widget-month__title">Quiz night</span>' in chip
    assert '<rect width="1" height="1" fill="#2e8b57"/>' in chip
    assert 'class="widget-month__dots" aria-hidden="true"' in today_cell
    # The agenda a narrow box shows instead of the chips: the same event, today marked.
    agenda = html.split('<ol class="widget-month__agenda"', 1)[1].split("</ol>", 1)[0]
    assert 'aria-current="date"' in agenda
    assert "Quiz night" in agenda
    assert 'fill="#2e8b57"' in agenda
    # The CSP drops inline styles: none is written.
    assert "style=" not in html


async def test_the_month_widget_without_events_says_so(app: RoseQuart, db: AsyncSession) -> None:
    html = await calendar_month_widget(app)
    assert '<p class="widget-month__empty">No events this month.</p>' in html
    assert html.count('<th scope="col"') == 7
    assert 'aria-current="date"' in html
