"""The header's ``account/menu`` fragment for real: account serves it over signed internal
requests, the showing app recognises the member through single sign-on (its session cookie and
the sid check), and the fragment is cached per member in Redis and outdated by signing in and
out and by renaming."""

from __future__ import annotations

import re

import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from shared.contracts import AccountDTO
from shared.infrastructure.factory import RoseQuart
from shared.services.identity.service import SqlIdentityService
from tests.identity.factories import MEMBER_PASSWORD, client_signed_in
from tests.support import csrf_in
from tests.support.live import Platform

pytestmark = pytest.mark.slow

MENU_VERSION = "rose:fragver:account/menu:u{}"


def menu(html: str) -> str:
    found = re.search(r'<div class="slot slot-account">(.*?)</div>\n', html, re.S)
    assert found, "no account slot"
    return found.group(1)


async def header_menu(client: QuartClient) -> str:
    resp = await client.get("/")
    assert resp.status_code == 200
    return menu(await resp.get_data(as_text=True))


async def signed_in_at(live: Platform, app: RoseQuart, account: AccountDTO) -> QuartClient:
    """A browser whose session at ``app`` carries a committed sign-in (as after the callback)."""
    engine = create_async_engine(live.database_url)
    try:
        async with async_sessionmaker(engine)() as db, db.begin():
            sign_in = await SqlIdentityService().start_session(db, account.id)
    finally:
        await engine.dispose()
    client = await client_signed_in(app, account.id, sign_in.sid)
    return client


async def test_the_menu_shows_the_signed_in_member_or_a_sign_in_link(live: Platform) -> None:
    await live.start("account")
    events = await live.consumer("events")
    ash = await live.member("ash", display_name="Ash Tree")

    anonymous = await header_menu(events.test_client())
    assert '<a class="sign-in" href="/auth/login">Sign in</a>' in anonymous
    assert "Ash Tree" not in anonymous

    html = await header_menu(await signed_in_at(live, events, ash))
    assert f'<a class="account-name" href="{live.url("account")}/">' in html
    # No fediverse picture yet: their initials stand in, hidden from screen readers (the
    # name follows).
    assert '<span class="avatar avatar--initials" aria-hidden="true">AT</span>' in html
    assert "<span>Ash Tree</span></a>" in html
    # Sign-out is the showing app's own confirmation page: relative, and no CSRF token in
    # this cached HTML (it would be the wrong session's).
    assert '<a class="sign-out" href="/auth/logout">Sign out</a>' in html
    assert "csrf" not in html
    assert "Sign in" not in html


async def test_staff_see_a_staff_menu_of_what_their_roles_allow_on_every_app(
    live: Platform,
) -> None:
    await live.start("account")
    market = await live.consumer("market")
    member = await live.member("moss")
    editor = await live.member("fern", roles=("editor",))
    admin = await live.member("oak", roles=("admin",))

    assert "staff-menu" not in await header_menu(await signed_in_at(live, market, member))
    html = await header_menu(await signed_in_at(live, market, editor))
    assert "<summary>Staff</summary>" in html
    assert f'<a href="{live.url("blog")}/editor/">Posts and pages</a>' in html
    assert f'<a href="{live.url("events")}/editor/check-in">Check-in</a>' in html
    # An editor's admin home (what their roles allow), and no admin-only page.
    assert f'<a href="{live.url("federation")}/admin/">Admin home</a>' in html
    assert "/admin/orders" not in html
    assert "/admin/users" not in html
    html = await header_menu(await signed_in_at(live, market, admin))
    assert f'<a href="{live.url("federation")}/admin/">Admin home</a>' in html
    assert f'<a href="{live.url("cart")}/admin/orders">Orders</a>' in html
    assert f'<a href="{live.url("market")}/editor/">Market</a>' in html


async def test_two_members_on_one_app_each_see_only_their_own_menu(live: Platform) -> None:
    """Per-user copies are keyed by the member the app recognised, never shared."""
    await live.start("account")
    market = await live.consumer("market")
    ann = await live.member("ann", display_name="Ann Acorn")
    bob = await live.member("bob", display_name="Bob Birch")
    as_ann = await signed_in_at(live, market, ann)
    as_bob = await signed_in_at(live, market, bob)
    anonymous = market.test_client()
    for _ in range(2):  # the second round is served from Redis
        for client, shown, hidden in (
            (as_ann, "Ann Acorn", ("Bob Birch", "Sign in")),
            (as_bob, "Bob Birch", ("Ann Acorn", "Sign in")),
            (anonymous, "Sign in", ("Ann Acorn", "Bob Birch")),
        ):
            html = await header_menu(client)
            assert shown in html
            assert not any(name in html for name in hidden), html


async def test_signing_in_and_out_outdate_the_members_menu(
    live: Platform, redis: aioredis.Redis
) -> None:
    await live.start("account")
    federation = await live.consumer("federation")
    cart = await live.consumer("cart")
    rowan = await live.member("rowan", display_name="Rowan Berry")
    version = MENU_VERSION.format(rowan.id)

    # Signing in at federation (its own sign-in form).
    browser = federation.test_client()
    page = await (await browser.get("/signin")).get_data(as_text=True)
    resp = await browser.post(
        "/signin",
        form={"login": "rowan", "password": MEMBER_PASSWORD, "csrf_token": csrf_in(page)},
    )
    assert resp.status_code == 302
    assert int(await redis.get(version) or 0) == 1
    assert "Rowan Berry" in await header_menu(browser)

    # Signing out at another app, through its confirmation page.
    at_cart = await signed_in_at(live, cart, rowan)
    assert "Rowan Berry" in await header_menu(at_cart)
    before = int(await redis.get(version) or 0)
    page = await (await at_cart.get("/auth/logout")).get_data(as_text=True)
    resp = await at_cart.post("/auth/logout", form={"csrf_token": csrf_in(page)})
    assert resp.status_code == 302
    assert int(await redis.get(version) or 0) == before + 1
    assert "Sign in" in await header_menu(at_cart)


async def test_a_new_name_shows_in_every_header_at_once(live: Platform) -> None:
    """The menu is cached for five minutes, yet a rename at federation shows on the very next
    page of another app: the member's version was bumped after the commit."""
    await live.start("account")
    federation = await live.consumer("federation")
    blog = await live.consumer("blog")
    hazel = await live.member("hazel", display_name="Hazel Nut")
    at_blog = await signed_in_at(live, blog, hazel)
    assert "Hazel Nut" in await header_menu(at_blog)
    assert "Hazel Nut" in await header_menu(at_blog)  # now from Redis

    at_federation = await signed_in_at(live, federation, hazel)
    page = await (await at_federation.get("/settings/profile")).get_data(as_text=True)
    resp = await at_federation.post(
        "/settings/profile",
        form={"display_name": "Hazel Witch", "csrf_token": csrf_in(page)},
    )
    assert resp.status_code == 302
    html = await header_menu(at_blog)
    assert "Hazel Witch" in html
    assert "Hazel Nut" not in html
