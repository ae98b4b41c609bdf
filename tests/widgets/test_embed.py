"""The events widget for other websites (/embed/ on the events app), served for real: themes
and parameters validated, framing allowed only for the origins staff list, the script's CORS
answered for those alone; and the staff page that keeps the list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.context import services
from tests.events import factories as event_factories
from tests.identity.factories import client_signed_in
from tests.support import BROWSER_ACCEPT, csrf_in
from tests.support.live import Platform

PARTNER = "https://partner.example"


async def seeded(live: Platform, db: AsyncSession) -> httpx.AsyncClient:
    soon = (datetime.now(UTC) + timedelta(days=2)).replace(tzinfo=None, microsecond=0)
    await event_factories.event(db, start=soon, end=soon + timedelta(hours=1), title="Apple day")
    await services().events.add_embed_origin(db, PARTNER)
    await db.commit()
    await live.start("events")
    return httpx.AsyncClient(base_url=live.url("events"))


async def test_an_embed_is_themed_and_framed_only_by_listed_origins(
    live: Platform, real_db: AsyncSession
) -> None:
    async with await seeded(live, real_db) as http:
        resp = await http.get("/embed/upcoming?theme=dark&accent=2F6F4F&count=3")
        assert resp.status_code == 200
        policy = resp.headers["Content-Security-Policy"]
        assert f"frame-ancestors 'self' {PARTNER}" in policy
        assert "script-src 'none'" in policy
        assert "X-Frame-Options" not in resp.headers
        assert resp.headers["Cache-Control"].startswith("public, max-age=")
        assert "Apple day" in resp.text
        assert 'class="embed embed--dark"' in resp.text
        assert "/embed/theme.css?accent=2f6f4f" in resp.text
        assert "site-header" not in resp.text
        month = await http.get("/embed/month")
        assert month.status_code == 200
        assert "widget-month__grid" in month.text
        # Every other page of the site may be framed by nobody.
        assert (await http.get("/")).headers["X-Frame-Options"] == "DENY"
        css = await http.get("/embed/theme.css?accent=2f6f4f")
        assert css.headers["content-type"].startswith("text/css")
        assert "--widget-accent: #2f6f4f" in css.text


@pytest.mark.parametrize(
    "query",
    [
        "theme=pink",
        "accent=red",
        "accent=12345",
        "count=0",
        "count=21",
        "calendar=Not%20A%20Slug",
        "colour=blue",
        "theme=dark&theme=light",
        "part=yes",
    ],
)
async def test_bad_embed_parameters_are_a_clear_400(
    live: Platform, real_db: AsyncSession, query: str
) -> None:
    async with await seeded(live, real_db) as http:
        resp = await http.get(f"/embed/upcoming?{query}")
        assert resp.status_code == 400, query
        assert "data-error-code" in resp.text
    async with httpx.AsyncClient(base_url=live.url("events")) as http:
        assert (await http.get("/embed/theme.css?accent=zzzzzz")).status_code == 400


async def test_the_script_gets_cors_for_listed_origins_only(
    live: Platform, real_db: AsyncSession
) -> None:
    async with await seeded(live, real_db) as http:
        listed = await http.get("/embed/upcoming?part=1", headers={"Origin": PARTNER})
        assert listed.status_code == 200
        assert listed.headers["Access-Control-Allow-Origin"] == PARTNER
        assert "Origin" in listed.headers["Vary"]
        assert listed.text.lstrip().startswith('<div class="rose-embed')
        assert "Apple day" in listed.text
        other = await http.get("/embed/upcoming?part=1", headers={"Origin": "https://else.example"})
        assert other.status_code == 403
        assert "Access-Control-Allow-Origin" not in other.headers


async def test_staff_list_the_origins_and_see_the_snippet(
    live: Platform, real_db: AsyncSession
) -> None:
    events = await live.consumer("events")
    account = await live.member("eddie", roles=("editor",))
    sign_in = await services().identity.start_session(real_db, account.id)
    await real_db.commit()
    editor = await client_signed_in(events, account.id, sign_in.sid)
    browser = {"Accept": BROWSER_ACCEPT}
    page = await editor.get("/editor/embed/", headers=browser)
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert f"{live.url('events')}/embed/upcoming?theme=light" in html
    assert "events-widget.js" in html
    token = csrf_in(html)
    for bad in ("https://partner.example/page", "ftp://partner.example", "*", "partner.example"):
        resp = await editor.post(
            "/editor/embed/origins", form={"csrf_token": token, "origin": bad}, headers=browser
        )
        assert resp.status_code == 400, bad
    assert await services().events.embed_origins(real_db) == ()
    resp = await editor.post(
        "/editor/embed/origins",
        form={"csrf_token": token, "origin": " HTTPS://Partner.Example:8443/ "},
        headers=browser,
    )
    assert resp.status_code == 302
    assert await services().events.embed_origins(real_db) == ("https://partner.example:8443",)
    resp = await editor.post(
        "/editor/embed/origins/remove",
        form={"csrf_token": token, "origin": "https://partner.example:8443"},
        headers=browser,
    )
    assert resp.status_code == 302
    assert await services().events.embed_origins(real_db) == ()
