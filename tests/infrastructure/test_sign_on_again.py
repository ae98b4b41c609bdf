"""Silent sign-on runs again after a sign-in (decision 0071): federation's sign-in generation
cookie, each app's marker recording the generation it checked at, the page cache letting a
changed generation through, boosted navigations and forms answered with whole pages."""

from __future__ import annotations

from http.cookies import SimpleCookie

import redis.asyncio as aioredis
from quart import Response
from quart.typing import TestClientProtocol as Client
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import Headers

from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.oauth import (
    generation_cookie_name,
    marker_cookie_name,
    needs_sign_on_check,
)
from tests.blog import factories
from tests.identity.factories import MEMBER_PASSWORD, make_member
from tests.support import BROWSER_ACCEPT, csrf_in, query_of
from tests.support.settings import AppMaker, make_settings

BROWSER = {"Accept": BROWSER_ACCEPT, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
BOOSTED = {"Accept": BROWSER_ACCEPT, "HX-Request": "true", "HX-Boosted": "true"}


def set_cookies(headers: Headers) -> dict[str, tuple[str, str]]:
    """The cookies a response sets: name -> (value, the whole header)."""
    found: dict[str, tuple[str, str]] = {}
    for header in headers.getlist("Set-Cookie"):
        jar: SimpleCookie = SimpleCookie(header)
        for name, morsel in jar.items():
            found[name] = (morsel.value, header)
    return found


async def sign_in_at_federation(client: Client, login: str, **headers: str) -> Response:
    html = await (await client.get("/signin", headers={"Accept": BROWSER_ACCEPT})).get_data(
        as_text=True
    )
    return await client.post(
        "/signin",
        form={"login": login, "password": MEMBER_PASSWORD, "csrf_token": csrf_in(html)},
        headers=headers,
    )


def test_when_an_app_checks_again() -> None:
    assert needs_sign_on_check(None, None)  # never checked (the cookie may not reach this app)
    assert not needs_sign_on_check(None, None, shared=True)  # it would: nobody signed in
    assert needs_sign_on_check(None, "g1", shared=True)
    assert needs_sign_on_check(None, "g1")
    assert not needs_sign_on_check("-", None)  # checked; nobody signed in since
    assert needs_sign_on_check("-", "g1")  # someone signed in since
    assert not needs_sign_on_check("g1", "g1")
    assert needs_sign_on_check("g1", "g2")  # signed in again
    assert not needs_sign_on_check("g1", None)  # signed out since: nothing to find
    # Federation found nobody in this browser session (any app asked it): no app asks again.
    assert not needs_sign_on_check(None, "-")
    assert not needs_sign_on_check("g1", "-")


async def test_federation_sets_a_new_generation_at_each_sign_in_and_drops_it_at_sign_out(
    make_app: AppMaker, db: AsyncSession
) -> None:
    await make_member(db, "rowan")
    await db.commit()
    app = await make_app("federation")
    name = generation_cookie_name(app.extensions["rose"].settings)
    assert name == "rose_signin"

    first = app.test_client()
    resp = await sign_in_at_federation(first, "rowan")
    assert resp.status_code == 302
    value, header = set_cookies(resp.headers)[name]
    assert value
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    # As long-lived as the sign-in (decision 0113): a browser without one has nobody to find.
    assert "Max-Age=1209600" in header, header
    # Pages while signed in keep its value and renew its life, as the session's is.
    resp = await first.get("/settings", headers=BROWSER)
    assert resp.status_code == 200
    again, header = set_cookies(resp.headers)[name]
    assert again == value
    assert "Max-Age=1209600" in header, header

    second = app.test_client()
    resp = await sign_in_at_federation(second, "rowan")
    assert set_cookies(resp.headers)[name][0] != value

    # Signing out turns it into "nobody" (decision 0092): no app needs to ask again.
    html = await (await first.get("/auth/logout", headers=BROWSER)).get_data(as_text=True)
    resp = await first.post("/auth/logout", form={"csrf_token": csrf_in(html)})
    nobody, header = set_cookies(resp.headers)[name]
    assert nobody == "-"
    assert "Max-Age" not in header, "a browser-session cookie"
    # And a browser carrying one that is signed in nowhere gets "nobody" on its next page.
    stranger = app.test_client()
    stranger.set_cookie("127.0.0.1", name, "stale")
    resp = await stranger.get("/signin", headers=BROWSER)
    assert set_cookies(resp.headers)[name][0] == "-"
    # ...once: "nobody" stays as it is, and federation's other pages set nothing for a
    # browser that carries none.
    resp = await app.test_client().get("/signin", headers={**BROWSER, "Cookie": f"{name}=-"})
    assert name not in set_cookies(resp.headers)
    resp = await app.test_client().get("/signin", headers=BROWSER)
    assert name not in set_cookies(resp.headers)
    # A sign-in after "nobody" gets a generation of its own.
    resp = await sign_in_at_federation(stranger, "rowan")
    assert set_cookies(resp.headers)[name][0] not in ("", "-", "stale")


async def test_the_generation_cookie_is_on_the_configured_parent_domain(
    make_app: AppMaker, database_url: str, redis_url: str, db: AsyncSession
) -> None:
    await make_member(db, "sorrel")
    await db.commit()
    settings = make_settings(database_url, redis_url, ROSE_OAUTH__COOKIE_DOMAIN=".rose-ash.test")
    app = await make_app("federation", app_settings=settings)
    resp = await sign_in_at_federation(app.test_client(), "sorrel")
    header = set_cookies(resp.headers)["rose_signin"][1]
    assert "Domain=rose-ash.test" in header or "Domain=.rose-ash.test" in header, header


async def test_an_app_checks_again_once_someone_signed_in_since(make_app: AppMaker) -> None:
    app = await make_app("market")
    browser = app.test_client()
    marker = marker_cookie_name(app.extensions["rose"].settings, "market")

    # No sign-in in this browser: nothing to check (decision 0113).
    assert (await browser.get("/", headers=BROWSER)).status_code == 200
    browser.set_cookie("127.0.0.1", "rose_signin", "g0")  # a sign-in at federation
    resp = await browser.get("/", headers=BROWSER)
    assert resp.status_code == 302  # the first check
    assert set_cookies(resp.headers)[marker][0] == "g0"
    assert (await browser.get("/", headers=BROWSER)).status_code == 200  # checked already

    # Someone signed in at federation again (in another app's tab): check again, once.
    browser.set_cookie("127.0.0.1", "rose_signin", "g1")
    resp = await browser.get("/products?x=1", headers=BROWSER)
    assert resp.status_code == 302
    params = query_of(resp.headers["Location"])
    assert params["prompt"] == "none"
    assert set_cookies(resp.headers)[marker][0] == "g1"
    # Federation answered "not signed in" (that sign-in ended meanwhile): back, no loop.
    back = await browser.get(f"/auth/callback?error=login_required&state={params['state']}")
    assert back.headers["Location"] == "/products?x=1"
    assert (await browser.get("/products?x=1", headers=BROWSER)).status_code == 200


async def test_a_boosted_navigation_checks_again_as_a_whole_page(make_app: AppMaker) -> None:
    app = await make_app("events")
    browser = app.test_client()
    browser.set_cookie("127.0.0.1", "rose_signin", "g1")  # a sign-in at federation
    assert (await browser.get("/", headers=BROWSER)).status_code == 302  # the first check
    assert (await browser.get("/", headers=BOOSTED)).status_code == 200
    # Not every htmx request is a navigation: those never leave.
    browser.set_cookie("127.0.0.1", "rose_signin", "g2")
    part = await browser.get("/", headers={"Accept": BROWSER_ACCEPT, "HX-Request": "true"})
    assert "HX-Redirect" not in part.headers
    resp = await browser.get("/", headers=BOOSTED)
    assert resp.status_code == 200
    assert "/oauth/authorize?" in resp.headers["HX-Redirect"]
    assert query_of(resp.headers["HX-Redirect"])["prompt"] == "none"


async def test_the_page_cache_lets_a_changed_generation_through(
    make_app: AppMaker, database_url: str, redis_url: str, db: AsyncSession, redis: aioredis.Redis
) -> None:
    await factories.post(db)
    await db.commit()
    settings = make_settings(database_url, redis_url, ROSE_PAGECACHE__ENABLED="true")
    app: RoseQuart = await make_app("blog", app_settings=settings)
    visitor = app.test_client()
    visitor.cookie_jar = None  # type: ignore[assignment]
    marker = marker_cookie_name(settings, "blog")
    await visitor.get("/", headers={"Cookie": f"{marker}=-"})  # stored
    hit = await visitor.get("/", headers={**BROWSER, "Cookie": f"{marker}=-"})
    assert hit.headers["x-rose-cache"] == "hit"
    after = await visitor.get("/", headers={**BROWSER, "Cookie": f"{marker}=-; rose_signin=g3"})
    assert after.status_code == 302  # to federation, not the cached anonymous page
    assert "/oauth/authorize?" in after.headers["Location"]


async def test_signing_in_with_a_boosted_form_answers_with_a_whole_page(
    make_app: AppMaker, db: AsyncSession
) -> None:
    await make_member(db, "tansy")
    await db.commit()
    app = await make_app("federation")
    browser = app.test_client()
    html = await (
        await browser.get("/signin?next=/social/local", headers={"Accept": BROWSER_ACCEPT})
    ).get_data(as_text=True)
    resp = await browser.post(
        "/signin",
        form={
            "login": "tansy",
            "password": MEMBER_PASSWORD,
            "next": "/social/local",
            "csrf_token": csrf_in(html),
        },
        headers={"HX-Request": "true", "HX-Boosted": "true"},
    )
    # Not a redirect htmx would follow and swap into #content under the old header.
    assert resp.status_code == 200
    assert resp.headers["HX-Redirect"] == "/social/local"
    # Any other boosted redirect on the same site stays a redirect.
    page = await browser.get("/signin?next=/social", headers=BOOSTED)
    assert page.status_code == 302


async def test_federations_front_page_is_the_social_hub(
    make_app: AppMaker, db: AsyncSession
) -> None:
    await make_member(db, "umber")
    await db.commit()
    app = await make_app("federation")
    visitor = app.test_client()
    resp = await visitor.get("/", headers=BROWSER)
    assert resp.status_code == 200
    assert "<h1>Local</h1>" in await resp.get_data(as_text=True)
    member = app.test_client()
    await sign_in_at_federation(member, "umber")
    resp = await member.get("/", headers=BROWSER)
    assert resp.status_code == 200
    assert "<h1>Home</h1>" in await resp.get_data(as_text=True)
