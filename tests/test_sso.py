"""Single sign-on across apps, over real HTTP: federation, blog and market served by Hypercorn
on loopback ports in this process, a cookie-keeping browser following every redirect."""

from __future__ import annotations

import pytest

from shared.config import APP_NAMES
from tests.identity.factories import MEMBER_PASSWORD, sign_in_at
from tests.support import Browser, csrf_in
from tests.support.live import Platform

pytestmark = pytest.mark.slow


async def test_sign_in_once_then_signed_in_everywhere_and_signed_out_everywhere(
    sso: Platform, browser: Browser
) -> None:
    """The "done" scenario: sign in at blog; market, cart, events and account recognise the
    person after at most one automatic redirect each; signing out at account signs out all."""
    platform = sso
    await platform.serve(*APP_NAMES)
    url = platform.url
    fed = url("federation")
    await platform.member("ash", display_name="Ash Tree")

    # A first visit: the browser holds no sign-in generation, so nobody is signed in at
    # federation for it and no app's first page costs a redirect (decision 0113; three per
    # app before 0092, three for the first app before 0113).
    for name in ("blog", "market", "cart", "events", "account"):
        page = await browser.get(f"{url(name)}/")
        assert browser.hops == [f"{url(name)}/"], (name, browser.hops)
        assert "Sign in</a>" in page.text, name

    # Sign in at blog: back on the page we came from, signed in.
    html = await sign_in_at(browser, url("blog"), "ash", MEMBER_PASSWORD)
    assert browser.hops[-1] == f"{url('blog')}/?came=back"
    assert "Ash Tree" in html

    # Every other app recognises the person after one automatic redirect, without a click.
    for name in ("market", "cart", "events", "account"):
        page = await browser.get(f"{url(name)}/")
        assert str(page.url) == f"{url(name)}/", name
        assert len(browser.hops_to(fed)) == 1, (name, browser.hops)
        assert "Ash Tree" in page.text, name
        # Already signed in: no more redirects.
        await browser.get(f"{url(name)}/")
        assert browser.hops_to(fed) == [], name

    # A browser restart drops the browser-session cookies (the apps' markers); the sign-in's
    # generation lives as long as the sign-in (decision 0113), so an app this browser holds no
    # session of (market's dropped too) still recognises the person after one redirect.
    jar = browser.http.cookies.jar
    for cookie in [c for c in jar if c.expires is None or c.name == "market_session"]:
        jar.clear(cookie.domain, cookie.path, cookie.name)
    assert "rose_signin" in {c.name for c in jar}
    page = await browser.get(f"{url('market')}/")
    assert len(browser.hops_to(fed)) == 1, browser.hops
    assert "Ash Tree" in page.text

    # Sign out at account: signed out everywhere, federation included.
    # The menu's "Sign out" goes to the app's own confirmation page, whose form carries that
    # app's CSRF token (the menu itself is a cached fragment and holds none).
    page = await browser.get(f"{url('account')}/")
    assert '<a class="sign-out" href="/auth/logout">Sign out</a>' in page.text
    assert "csrf_token" not in page.text.split('class="account-menu"')[1].split("</nav>")[0]
    page = await browser.get(f"{url('account')}/auth/logout")
    assert page.status_code == 200
    resp = await browser.post(f"{url('account')}/auth/logout", {"csrf_token": csrf_in(page.text)})
    assert resp.status_code == 200
    assert [h.split("?")[0] for h in browser.hops_to(fed)] == [f"{fed}/oauth/end-session"]
    assert str(resp.url) == f"{url('account')}/"
    for name in APP_NAMES:
        page = await browser.get(f"{url(name)}/")
        assert page.status_code == 200, name
        assert "Ash Tree" not in page.text, name
        assert "Sign in</a>" in page.text, name


async def test_no_session_cookie_name_is_shared_between_two_apps(
    sso: Platform, browser: Browser
) -> None:
    """Browsers do not separate cookies by port, so in dev the names alone keep them apart."""
    platform = sso
    await platform.serve("federation", "blog", "market")
    await platform.member("rowan")
    await sign_in_at(browser, platform.url("blog"), "rowan", MEMBER_PASSWORD)
    await browser.get(f"{platform.url('market')}/")
    names = [c.name for c in browser.http.cookies.jar]
    sessions = [n for n in names if n.endswith("_session")]
    assert sorted(sessions) == ["blog_session", "federation_session", "market_session"]
    assert len(names) == len(set(names))
    assert {app.config["SESSION_COOKIE_NAME"] for app in platform.apps.values()} == {
        f"{n}_session" for n in ("federation", "blog", "market")
    }
