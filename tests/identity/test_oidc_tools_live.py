"""A registered tool signs a member in over real HTTP: federation served by Hypercorn on
loopback, the stand-in tool (Authlib's client, tests/standins/oidc_tool.py) on another port,
a cookie-keeping browser between them. Discovery, PKCE, consent, code, ID-token validation,
userinfo, refresh, back-channel logout after signing out at federation, and RP-initiated
logout from the tool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from shared.infrastructure.factory import RoseQuart
from shared.services.identity.oidc import tools
from shared.services.identity.oidc.backchannel import backchannel_cycle, guarded_http
from shared.services.identity.oidc.clients import load_signing_key
from shared.tooling.devservers import free_ports
from tests.identity.factories import MEMBER_PASSWORD
from tests.standins.oidc_tool import StandInTool
from tests.support import Browser, csrf_in, query_of
from tests.support.live import LiveApp, Platform, serve_app

pytestmark = pytest.mark.slow


@dataclass
class ToolRig:
    platform: Platform
    tool: StandInTool
    live: LiveApp

    async def send_backchannel(self) -> int:
        settings = self.platform.settings()
        engine = create_async_engine(self.platform.database_url)
        http = guarded_http(settings)
        try:
            return await backchannel_cycle(
                async_sessionmaker(engine, expire_on_commit=False),
                http,
                load_signing_key(settings),
                self.platform.url("federation"),
            )
        finally:
            await http.aclose()
            await engine.dispose()


async def register_tool(platform: Platform, tool: StandInTool, **kw: Any) -> str | None:
    engine = create_async_engine(platform.database_url)
    try:
        async with async_sessionmaker(engine)() as db, db.begin():
            _row, secret = await tools.create_tool(
                db,
                tools.ToolSpec(
                    client_id=tool.client_id,
                    name="The Forum",
                    redirect_uris=[tool.redirect_uri],
                    post_logout_redirect_uris=[f"{tool.url}/"],
                    backchannel_logout_uri=tool.backchannel_logout_uri,
                    scopes=["openid", "profile", "email", "roles"],
                    **kw,
                ),
            )
        return secret
    finally:
        await engine.dispose()


@pytest.fixture
async def rig(live: Platform) -> AsyncIterator[ToolRig]:
    await live.serve("federation")
    [port] = free_ports(1)
    tool = StandInTool(issuer=live.url("federation"), client_id="live-forum", client_secret=None)
    tool.url = f"http://127.0.0.1:{port}"
    tool.client_secret = await register_tool(live, tool)
    served = await serve_app(cast(RoseQuart, tool.app()), port)
    try:
        yield ToolRig(live, tool, served)
    finally:
        await served.stop()
        engine = create_async_engine(live.database_url)
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM oidc_clients WHERE client_id = 'live-forum'"))
        await engine.dispose()


async def sign_in_to_tool(rig: ToolRig, browser: Browser, *, consent: bool) -> str:
    """Click "Sign in with Rose Ash" at the tool, sign in at federation, consent if asked;
    returns the tool's page."""
    fed = rig.platform.url("federation")
    page = await browser.get(f"{rig.tool.url}/login")
    if "/signin" in str(page.url):
        page = await browser.post(
            str(page.url).split("?")[0],
            {
                "login": "ash",
                "password": MEMBER_PASSWORD,
                "next": query_of(str(page.url))["next"],
                "csrf_token": csrf_in(page.text),
            },
        )
    if consent:
        assert str(page.url).startswith(f"{fed}/oauth/authorize"), browser.hops
        assert "Sign in to The Forum" in page.text
        fields = dict(query_of(str(page.url)))
        fields.update(consent="allow", csrf_token=csrf_in(page.text))
        page = await browser.post(f"{fed}/oauth/authorize", fields)
    assert str(page.url) == f"{rig.tool.url}/", (browser.hops, page.text)
    return page.text


async def test_authlib_signs_in_refreshes_and_is_logged_out_by_the_back_channel(
    rig: ToolRig, browser: Browser
) -> None:
    await rig.platform.member("ash", display_name="Ash Tree", roles=("editor",))
    page = await sign_in_to_tool(rig, browser, consent=True)
    assert "Signed in to" in page
    assert "Ash Tree" in page
    assert "editor" in page
    [session] = rig.tool.sessions.values()
    assert session.userinfo["email_verified"] is True
    assert set(session.id_claims["groups"]) == {"member", "editor"}

    # Refresh: a new access token that UserInfo accepts.
    old_access = session.token["access_token"]
    token = await rig.tool.refresh(session)
    assert token["access_token"] != old_access
    assert (await rig.tool.userinfo(token["access_token"])).status_code == 200

    # A second sign-in asks no consent.
    await sign_in_to_tool(rig, browser, consent=False)
    assert len(rig.tool.sessions) == 2

    # Sign out at federation: the worker's stage sends the tool a logout token.
    fed = rig.platform.url("federation")
    page = await browser.get(f"{fed}/auth/logout")
    await browser.post(f"{fed}/auth/logout", {"csrf_token": csrf_in(page.text)})
    assert await rig.send_backchannel() == 1
    [claims] = rig.tool.logout_tokens
    assert claims["sid"] == session.sid
    assert rig.tool.sessions == {}, "the tool ended its sessions of that sign-in"
    assert rig.tool.refused_logout_tokens == []
    assert (await rig.tool.userinfo(token["access_token"])).status_code == 401


async def test_rp_initiated_logout_returns_to_the_tool(rig: ToolRig, browser: Browser) -> None:
    await rig.platform.member("ash")
    await sign_in_to_tool(rig, browser, consent=True)
    [session] = rig.tool.sessions.values()
    fed = rig.platform.url("federation")
    query = urlencode(
        {
            "id_token_hint": session.token["id_token"],
            "post_logout_redirect_uri": f"{rig.tool.url}/",
            "state": "bye",
        }
    )
    page = await browser.get(f"{fed}/oauth/end-session?{query}")
    assert str(page.url) == f"{rig.tool.url}/?state=bye", browser.hops
    # The sign-in at federation is over (the next visit asks to sign in again) ...
    page = await browser.get(f"{rig.tool.url}/login")
    assert "/signin" in str(page.url)
    # ... and the tool is told over the back channel too.
    assert await rig.send_backchannel() == 1
    assert rig.tool.sessions == {}
