"""Every app's view of the sign-on session: who is signed in, the sid check and its cache,
silent sign-on, single sign-out, the header menu, and the policies on routes (roles, rate
limits) checked over every registered route."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import APP_NAMES, Settings
from shared.contracts import AccountDTO, SessionDTO
from shared.infrastructure.auth import CACHE_PREFIX, current_user, required_role, safe_next
from shared.infrastructure.csrf import SAFE_METHODS
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.ratelimit import rate_limit_mark
from shared.infrastructure.staff import ADMIN_HOME, STAFF_PAGES
from shared.infrastructure.visitor import ANONYMOUS, current_visitor
from shared.models import AuthSession
from shared.services.identity.service import SqlIdentityService
from tests.identity.factories import client_signed_in, make_member
from tests.support import BROWSER_ACCEPT, csrf_in, eventually, query_of, refusing_port
from tests.support.settings import AppMaker, make_settings

HTML = {"Accept": BROWSER_ACCEPT}


async def signed_in(
    app: RoseQuart, db: AsyncSession, username: str = "ash"
) -> tuple[QuartClient, AccountDTO, SessionDTO]:
    """A browser whose session at ``app`` carries a fresh sign-in (as after the callback)."""
    account = await make_member(db, username, display_name=username.title() + " Person")
    session = await SqlIdentityService(b"k").start_session(db, account.id)
    await db.flush()
    client = await client_signed_in(app, account.id, session.sid)
    return client, account, session


async def page(client: QuartClient, path: str = "/") -> str:
    resp = await client.get(path)
    assert resp.status_code == 200
    return await resp.get_data(as_text=True)


@pytest.fixture
def make_app(make_app: AppMaker) -> AppMaker:
    """The apps of these tests also answer ``GET /_who``: the name of the member the app
    recognises, or "nobody". (Pages show it in the header's ``account/menu`` fragment, which
    the account app serves; tests/account/test_menu.py runs it for real.)"""

    async def build(name: str, **kw: Any) -> RoseQuart:
        app = await make_app(name, **kw)

        @app.get("/_who")
        async def _who() -> str:
            user = current_user()
            return user.name if user is not None else "nobody"

        return app

    return build


async def who(client: QuartClient) -> str:
    resp = await client.get("/_who")
    assert resp.status_code == 200
    return await resp.get_data(as_text=True)


# --- who is signed in -------------------------------------------------------------------------


async def test_current_user_is_a_dto_and_the_acting_user_of_internal_requests(
    make_app: AppMaker, db: AsyncSession
) -> None:
    """One notion of "who": current_user() and the actor that signs the page's fragment
    requests (shared/infrastructure/visitor.py) always name the same member, or nobody."""
    app = await make_app("market")
    seen: list[Any] = []

    @app.get("/_me")
    async def me() -> str:
        seen.append((current_user(), current_visitor()))
        return "ok"

    client, account, _ = await signed_in(app, db)
    await client.get("/_me")
    user, actor = seen[0]
    assert (user.id, user.username, user.display_name, user.roles) == (
        account.id,
        "ash",
        "Ash Person",
        ("member",),
    )
    assert actor.user_id == account.id
    await app.test_client().get("/_me")
    assert seen[1] == (None, ANONYMOUS)
    # Signed out elsewhere: neither notion keeps the member for this request.
    await SqlIdentityService(b"k").end_session(db, _.sid)
    await db.flush()
    await app.extensions["rose"].redis.flushdb()
    await client.get("/_me")
    assert seen[2] == (None, ANONYMOUS)


async def test_signing_out_at_one_app_signs_out_the_others(
    make_app: AppMaker, db: AsyncSession
) -> None:
    blog, market = await make_app("blog"), await make_app("market")
    at_blog, _, session = await signed_in(blog, db)
    at_market = market.test_client()
    async with at_market.session_transaction() as cookie:
        # As the callback leaves it: with the ID token, the hint for RP-initiated logout.
        cookie["_auth"] = {"uid": session.user_id, "sid": session.sid, "idt": "the.id.token"}
    assert await who(at_blog) == "Ash Person"
    assert await who(at_market) == "Ash Person"

    # The header's "Sign out" link: a confirmation page with this app's own CSRF token.
    html = await page(at_market, "/auth/logout")
    assert '<form method="post" action="/auth/logout">' in html
    assert await who(at_market) == "Ash Person", "showing the page signs nobody out"
    resp = await at_market.post("/auth/logout", form={"csrf_token": csrf_in(html)})
    assert resp.status_code == 302
    # Off to federation's end-session endpoint with the hint it needs to clear its cookie.
    assert resp.headers["Location"].startswith("http://127.0.0.1:8005/oauth/end-session?")
    logout = query_of(resp.headers["Location"])
    assert logout["post_logout_redirect_uri"] == "http://127.0.0.1:8002/"
    assert logout["id_token_hint"] == "the.id.token"
    assert logout["client_id"] == "market"
    assert await who(at_blog) == "nobody"
    assert await who(at_market) == "nobody"
    row = await db.get(AuthSession, session.sid)
    assert row is not None
    await db.refresh(row)
    assert row.revoked_at is not None


async def test_sign_out_is_a_post_with_a_csrf_token(make_app: AppMaker, db: AsyncSession) -> None:
    app = await make_app("cart")
    client, _, session = await signed_in(app, db)
    assert (await client.get("/auth/logout")).status_code == 200  # only the confirmation
    assert (await client.post("/auth/logout")).status_code == 400
    assert (await client.post("/auth/logout", form={"csrf_token": "nope"})).status_code == 400
    assert await who(client) == "Ash Person"
    row = await db.get(AuthSession, session.sid)
    assert row is not None
    assert row.revoked_at is None


async def test_an_ended_session_stays_ended_when_redis_is_flushed(
    make_app: AppMaker, db: AsyncSession, redis: aioredis.Redis
) -> None:
    app = await make_app("account")
    client, _, session = await signed_in(app, db)
    assert await who(client) == "Ash Person"
    assert await redis.get(CACHE_PREFIX + session.sid) is not None, "the answer is cached"
    await SqlIdentityService(b"k").end_session(db, session.sid)
    await db.flush()
    await redis.flushdb()  # as after a Redis restart: PostgreSQL still says "ended"
    assert await who(client) == "nobody"
    await redis.flushdb()
    async with client.session_transaction() as cookie:
        cookie["_auth"] = {"uid": session.user_id, "sid": session.sid}  # a replayed cookie
    assert await who(client) == "nobody"


async def test_the_sid_check_is_cached_for_a_few_seconds_at_most(
    make_app: AppMaker,
    database_url: str,
    redis_url: str,
    db: AsyncSession,
    redis: aioredis.Redis,
) -> None:
    cached_s = 30
    quick = make_settings(database_url, redis_url, ROSE_OAUTH__SESSION_CHECK_CACHE_S=str(cached_s))
    app = await make_app("blog", app_settings=quick)
    client, _, session = await signed_in(app, db)
    assert await who(client) == "Ash Person"
    key = CACHE_PREFIX + session.sid
    assert 0 < await redis.ttl(key) <= cached_s, "cached for the configured seconds at most"
    # Ended behind the cache's back (no cache drop): the cached "yes" holds until it expires.
    await SqlIdentityService(b"k").end_session(db, session.sid)
    await db.flush()
    assert await who(client) == "Ash Person"

    # Its time made up now rather than waited for: Redis lets it go, PostgreSQL answers.
    async def expired() -> bool:
        return not await redis.exists(key)

    await redis.pexpire(key, 1)
    await eventually(expired, "the cached answer expired")
    assert await who(client) == "nobody"


async def test_without_redis_the_sid_is_checked_in_postgresql(
    make_app: AppMaker, database_url: str, db: AsyncSession
) -> None:
    no_redis = make_settings(database_url, f"redis://127.0.0.1:{refusing_port()}/0")
    app = await make_app("events", app_settings=no_redis)
    client, _, session = await signed_in(app, db)
    assert await who(client) == "Ash Person"
    await SqlIdentityService(b"k").end_session(db, session.sid)
    await db.flush()
    assert await who(client) == "nobody"


async def test_a_disabled_account_is_signed_out(make_app: AppMaker, db: AsyncSession) -> None:
    from shared.models import User

    app = await make_app("blog")
    client, account, _ = await signed_in(app, db)
    user = await db.get(User, account.id)
    assert user is not None
    user.is_active = False
    await db.flush()
    await app.extensions["rose"].redis.flushdb()
    assert await who(client) == "nobody"


# --- silent sign-on -----------------------------------------------------------------------------


async def test_a_browser_that_never_signed_in_is_not_sent_to_federation(
    make_app: AppMaker,
) -> None:
    """No sign-in generation in the browser, and every app reads it (one host here): nobody
    is signed in at federation for this browser, so its first page costs no redirect (0113)."""
    app = await make_app("market")
    client = app.test_client()
    resp = await client.get("/?q=1", headers=HTML)
    assert resp.status_code == 200
    assert not resp.headers.getlist("Set-Cookie")


async def test_a_browser_signed_in_at_federation_is_sent_to_federation_once(
    make_app: AppMaker,
) -> None:
    app = await make_app("market")
    client = app.test_client()
    client.set_cookie("127.0.0.1", "rose_signin", "g1")  # signed in at federation
    resp = await client.get("/?q=1", headers=HTML)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("http://127.0.0.1:8005/oauth/authorize?")
    params = query_of(location)
    assert params["prompt"] == "none"
    assert params["client_id"] == "market"
    assert params["redirect_uri"] == "http://127.0.0.1:8002/auth/callback"
    assert params["code_challenge_method"] == "S256"
    assert {"state", "nonce", "code_challenge"} <= set(params)
    marker = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("market_sso=")]
    assert marker, resp.headers
    assert "HttpOnly" in marker[0]
    assert "SameSite=Lax" in marker[0]
    assert "Max-Age" not in marker[0], "a browser-session cookie"
    assert "Expires" not in marker[0]
    # The second page in the same browser session is served as it is.
    assert (await client.get("/", headers=HTML)).status_code == 200


async def test_federation_answering_not_signed_in_returns_to_the_page_asked_for(
    make_app: AppMaker,
) -> None:
    app = await make_app("cart")
    client = app.test_client()
    client.set_cookie("127.0.0.1", "rose_signin", "g1")  # signed in at federation, ended since
    resp = await client.get("/?step=2", headers=HTML)
    state = query_of(resp.headers["Location"])["state"]
    resp = await client.get(f"/auth/callback?error=login_required&state={state}")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/?step=2"
    # The state is used up.
    resp = await client.get(f"/auth/callback?error=login_required&state={state}")
    assert resp.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/", HTML),
        ("GET", "/", {"Accept": "application/json"}),
        ("GET", "/", {"Accept": "*/*"}),
        ("GET", "/", {**HTML, "HX-Request": "true"}),
        ("GET", "/", {"Accept": "application/activity+json"}),
        (
            "GET",
            "/",
            {"Accept": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'},
        ),
        ("GET", "/", {**HTML, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}),
        ("GET", "/", {**HTML, "Sec-Fetch-Dest": "iframe"}),
        ("GET", "/internal/fragments/nav", HTML),
        ("GET", "/auth/whatever", HTML),
        ("GET", "/static/css/site.css", HTML),
        ("GET", "/feed.xml", HTML),
        ("GET", "/calendar.ics", HTML),
        ("GET", "/users/blog/outbox", HTML),
        ("GET", "/.well-known/webfinger", HTML),
        ("GET", "/healthz", HTML),
        ("GET", "/no/such/page", HTML),  # a 404 needs no sign-on first
    ],
)
async def test_no_silent_sign_on_for_requests_that_are_not_page_loads(
    make_app: AppMaker, method: str, path: str, headers: dict[str, str]
) -> None:
    app = await make_app("events")
    client = app.test_client()
    resp = await client.open(path, method=method, headers=headers)
    location = resp.headers.get("Location", "")
    assert "/oauth/authorize" not in location, (method, path, headers)
    assert not any(c.startswith("events_sso=") for c in resp.headers.getlist("Set-Cookie"))


async def test_a_signed_in_browser_is_not_redirected(make_app: AppMaker, db: AsyncSession) -> None:
    app = await make_app("blog")
    client, _, _ = await signed_in(app, db)
    assert (await client.get("/", headers=HTML)).status_code == 200


async def test_the_callback_never_redeems_a_code_for_an_unknown_state(make_app: AppMaker) -> None:
    """A code for a request this browser does not have (a forgery, or a sign-in that began in
    another browser) is never redeemed: a fresh silent request starts instead, once."""
    app = await make_app("blog")
    client = app.test_client()
    resp = await client.get("/auth/callback?code=abc&state=forged")
    assert resp.status_code == 302
    params = query_of(resp.headers["Location"])
    assert params["prompt"] == "none"
    assert params["state"].startswith("again.")
    # Federation's answer comes back to the front page.
    back = await client.get(f"/auth/callback?error=login_required&state={params['state']}")
    assert back.headers["Location"] == "/"
    # Never twice in a row: an unknown state of a fresh start is refused.
    resp = await client.get("/auth/callback?code=abc&state=again.forged")
    assert resp.status_code == 400
    assert 'data-error-code="bad_state"' in await resp.get_data(as_text=True)
    resp = await client.get("/auth/callback?state=forged")  # and a callback with no code
    assert resp.status_code == 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/events/42?x=1", "/events/42?x=1"),
        ("http://127.0.0.1:8002/products", "http://127.0.0.1:8002/products"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("http://127.0.0.1:8002.evil.example/", "/"),
        ("http://user@127.0.0.1:8002/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("relative/path", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_only_same_site_return_urls_are_honoured(value: str | None, expected: str) -> None:
    origins = [f"http://127.0.0.1:800{i}" for i in range(1, 7)]
    assert safe_next(value, origins) == expected


async def test_login_keeps_a_same_site_return_url_only(make_app: AppMaker) -> None:
    from shared.infrastructure.oauth import PENDING_KEY

    app = await make_app("blog")
    client = app.test_client()
    for value, kept in [("/posts/1", "/posts/1"), ("https://evil.example/", "/")]:
        resp = await client.get("/auth/login", query_string={"next": value})
        state = query_of(resp.headers["Location"])["state"]
        async with client.session_transaction() as cookie:
            assert cookie[PENDING_KEY][state]["next"] == kept


async def test_login_without_next_returns_to_the_referring_page_of_our_own_sites(
    make_app: AppMaker,
) -> None:
    """The header's "Sign in" is one cached link for every page (account/menu): the page it was
    followed from is the Referer, honoured only for our own sites and never an /auth/ step."""
    from shared.infrastructure.oauth import PENDING_KEY

    app = await make_app("blog")
    client = app.test_client()
    for referrer, kept in [
        ("http://127.0.0.1:8001/posts/1?x=1", "http://127.0.0.1:8001/posts/1?x=1"),
        ("http://127.0.0.1:8004/calendar", "http://127.0.0.1:8004/calendar"),
        ("https://evil.example/page", "/"),
        ("http://127.0.0.1:8001/auth/logout", "/"),
        (None, "/"),
    ]:
        headers = {"Referer": referrer} if referrer else {}
        resp = await client.get("/auth/login", headers=headers)
        state = query_of(resp.headers["Location"])["state"]
        async with client.session_transaction() as cookie:
            assert cookie[PENDING_KEY][state]["next"] == kept, referrer
    # An explicit next wins over the Referer.
    resp = await client.get(
        "/auth/login", query_string={"next": "/a"}, headers={"Referer": "http://127.0.0.1:8001/b"}
    )
    state = query_of(resp.headers["Location"])["state"]
    async with client.session_transaction() as cookie:
        assert cookie[PENDING_KEY][state]["next"] == "/a"

    federation = (await make_app("federation")).test_client()
    resp = await federation.get("/auth/login", headers={"Referer": "http://127.0.0.1:8005/x"})
    assert resp.headers["Location"] == "/signin?next=http%3A%2F%2F127.0.0.1%3A8005%2Fx"


async def test_the_sign_out_page_is_only_for_the_signed_in(
    make_app: AppMaker, db: AsyncSession
) -> None:
    """Followed while signed out (a stale menu, a second tab): straight back, nothing asked."""
    for name in ("events", "federation"):
        app = await make_app(name)
        resp = await app.test_client().get(
            "/auth/logout",
            headers={"Referer": f"{app.extensions['rose'].settings.apps[name].public_url}/here"},
        )
        assert resp.status_code == 302, name
        assert resp.headers["Location"].endswith("/here"), name
        client, _, _ = await signed_in(app, db, f"ash_{name}")
        html = await page(client, "/auth/logout")
        assert 'name="csrf_token"' in html, name
        assert await who(client) != "nobody", name


# --- policies over every route ----------------------------------------------------------------


@pytest.mark.parametrize("name", APP_NAMES)
async def test_every_admin_route_requires_the_admin_role(make_app: AppMaker, name: str) -> None:
    app = await make_app(name)
    admin_rules = [r for r in app.url_map.iter_rules() if "/admin" in r.rule]
    for rule in admin_rules:
        role = required_role(app.view_functions[rule.endpoint])
        # The one exception: federation's admin home, for all staff, lists what their roles
        # allow (tests/federation/test_admin.py).
        wanted = "editor" if (name, rule.rule) == ("federation", "/admin/") else "admin"
        assert role == wanted, f"{name}: {rule.rule} wants {wanted!r}, requires {role!r}"
    if name == "federation":
        # The policy must have something to check: the accounts and the delivery queue pages.
        assert {
            "/admin/users",
            "/admin/users/<int:user_id>/roles",
            "/admin/federation/",
            "/admin/federation/deliveries/<int:delivery_id>",
            "/admin/federation/deliveries/<int:delivery_id>/retry",
            "/admin/federation/retry-dead",
            "/admin/status",
            "/admin/tools",
            "/admin/tools/<client_id>/rotate-secret",
            "/admin/tools/<client_id>/delete",
        } <= {r.rule for r in admin_rules}


@pytest.mark.parametrize("name", APP_NAMES)
async def test_every_editor_route_requires_the_editor_role(make_app: AppMaker, name: str) -> None:
    # The editor's desk (/editor/...) is for editors and admins (admins hold every role).
    app = await make_app(name)
    editor_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/editor")]
    for rule in editor_rules:
        role = required_role(app.view_functions[rule.endpoint])
        assert role == "editor", f"{name}: {rule.rule} is an editor route without the editor role"
    if name == "blog":
        assert len(editor_rules) >= 6, "the policy must have something to check"


@pytest.mark.parametrize("name", APP_NAMES)
async def test_every_page_of_the_staff_menu_exists_with_the_role_it_is_offered_to(
    make_app: AppMaker, name: str
) -> None:
    app = await make_app(name)
    adapter = app.url_map.bind("localhost")
    for page in (*STAFF_PAGES, ADMIN_HOME):
        if page.app != name:
            continue
        endpoint, _args = adapter.match(page.path, method="GET")
        role = required_role(app.view_functions[endpoint])
        assert role == page.role, f"{name}: {page.path} needs {role!r}, the menu says {page.role!r}"


# The sign-in and reset endpoints, limited per account (the field named) and per address.
CREDENTIAL_ENDPOINTS = {
    # Per address here; per account, on failures, in the view (SignInThrottle, decision 0059).
    "/signin": None,
    "/reset": "email",
    "/signup": "email",
    "/reset/<token>": None,
    "/settings/password": None,
    "/settings/email": None,
}
# Unsafe federation routes that need no rate limit, and why.
UNLIMITED = {
    "/oauth/token": "client-authenticated; a code or refresh token is a 256-bit secret",
    "/oauth/revoke": "client-authenticated; revoking cannot be abused to guess anything",
    "/oauth/userinfo": "bearer token; a 256-bit secret",
    "/oauth/end-session": "only ends the caller's own sign-in",
    "/auth/logout": "only ends the caller's own sign-in",
    "/admin/users/<int:user_id>/roles": "admins only",
    "/admin/federation/deliveries/<int:delivery_id>/retry": "admins only",
    "/admin/federation/retry-dead": "admins only",
    "/admin/tools": "admins only",
    "/admin/tools/<client_id>/rotate-secret": "admins only",
    "/admin/tools/<client_id>/delete": "admins only",
    "/oauth/authorize": "a signed-in member's consent answer, CSRF-checked; guesses nothing",
    "/settings/tools/<client_id>/disconnect": "only withdraws the caller's own consent",
    # Busy instances deliver to us in bursts from few addresses; an unsigned or badly signed
    # request costs at most one bounded, cached key fetch before its 401.
    "/ap/users/<name>/inbox": "server-to-server, authenticated by HTTP Signatures",
    "/ap/inbox": "server-to-server, authenticated by HTTP Signatures",
    "/users/<username>/inbox": "server-to-server, authenticated by HTTP Signatures",
    "/admin/social/reports/<int:report_id>/resolve": "admins only",
    "/admin/social/reports/<int:report_id>/forward": "admins only; a report is forwarded once",
    "/admin/social/accounts/<int:account_id>/<action>": "admins only",
    "/admin/social/domains": "admins only",
}


async def test_every_sign_in_and_reset_endpoint_is_rate_limited(make_app: AppMaker) -> None:
    app = await make_app("federation")
    rules = {r.rule: r for r in app.url_map.iter_rules()}
    for path, field in CREDENTIAL_ENDPOINTS.items():
        assert path in rules, f"{path} is gone: update this policy"
        mark = rate_limit_mark(app.view_functions[rules[path].endpoint])
        assert mark is not None, f"{path} is not rate-limited"
        assert mark.account_field == field, path
    for rule in app.url_map.iter_rules():
        unsafe = set(rule.methods or ()) - SAFE_METHODS
        if not unsafe or rule.rule in UNLIMITED:
            continue
        assert rate_limit_mark(app.view_functions[rule.endpoint]) is not None, (
            f"federation: {rule.rule} accepts {sorted(unsafe)} without a rate limit "
            "(limit it, or list it in UNLIMITED with the reason)"
        )


async def test_roles_decorator_answers_401_403_or_redirects(
    make_app: AppMaker, db: AsyncSession, settings: Settings
) -> None:
    from shared.infrastructure.auth import login_required, require_role

    app = await make_app("blog")

    @app.get("/_editors")
    @require_role("editor")
    async def editors() -> str:
        return "editors only"

    @app.get("/_members")
    @login_required
    async def members() -> str:
        return "members only"

    anonymous = app.test_client()
    await anonymous.get("/", headers=HTML)  # the one silent sign-on attempt, done
    resp = await anonymous.get("/_editors", headers={"Accept": "text/html"})
    assert (resp.status_code, resp.headers["Location"]) == (302, "/auth/login?next=%2F_editors")
    resp = await anonymous.get("/_members", headers={"Accept": "application/json"})
    assert resp.status_code == 401
    assert (await resp.get_json())["error"]["code"] == "login_required"

    member, _, _ = await signed_in(app, db, "holly")
    assert (await member.get("/_members")).status_code == 200
    assert (await member.get("/_editors")).status_code == 403

    editor = await make_member(db, "ivy", roles=("editor",))
    session = await SqlIdentityService(b"k").start_session(db, editor.id)
    await db.flush()
    client = await client_signed_in(app, editor.id, session.sid)
    assert (await client.get("/_editors")).status_code == 200
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 2


async def test_federation_down_at_the_callback_is_a_clear_error_not_a_sign_in(
    make_app: AppMaker, database_url: str, redis_url: str
) -> None:
    port = refusing_port()
    settings = make_settings(
        database_url, redis_url, ROSE_APPS__FEDERATION__INTERNAL_URL=f"http://127.0.0.1:{port}"
    )
    app = await make_app("blog", app_settings=settings)
    client = app.test_client()
    resp = await client.get("/auth/login?next=/")
    state = query_of(resp.headers["Location"])["state"]
    resp = await client.get(f"/auth/callback?code=some-code&state={state}")
    assert resp.status_code == 502
    assert 'data-error-code="federation_unreachable"' in await resp.get_data(as_text=True)
    async with client.session_transaction() as cookie:
        assert "_auth" not in cookie
