"""The app factory: health, request ids, headers, errors, the per-request transaction, CSRF."""

from __future__ import annotations

import re

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from quart import abort
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import APP_NAMES
from shared.db import ALEMBIC_DIR, code_schema
from shared.infrastructure.activitypub.routes import INBOX_CSRF_REASON
from shared.infrastructure.cart_web import ADD_CSRF_REASON
from shared.infrastructure.context import db_session
from shared.infrastructure.csrf import SAFE_METHODS, csrf_exempt, exemption, token_optional
from shared.infrastructure.factory import RoseQuart
from shared.models import User
from tests.support import refusing_port
from tests.support.settings import AppMaker, asyncpg_dsn, make_settings


async def test_healthz_answers_without_touching_dependencies(make_app: AppMaker) -> None:
    app = await make_app("market")
    resp = await app.test_client().get("/healthz")
    assert resp.status_code == 200
    assert await resp.get_json() == {"status": "ok", "app": "market"}


async def test_readyz_is_ready_when_postgres_and_redis_answer(make_app: AppMaker) -> None:
    app = await make_app("cart")
    resp = await app.test_client().get("/readyz")
    assert resp.status_code == 200
    assert await resp.get_json() == {"status": "ready", "down": []}


async def test_readyz_names_postgresql_when_the_database_is_unreachable(
    make_app: AppMaker, redis_url: str
) -> None:
    broken = make_settings(
        f"postgresql+asyncpg://postgres@127.0.0.1:{refusing_port()}/nowhere",
        redis_url,
        ROSE_READINESS_TIMEOUT_S="1.5",
    )
    app = await make_app("events", app_settings=broken)
    resp = await app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert await resp.get_json() == {"status": "unavailable", "down": ["postgresql"]}


async def test_readyz_names_redis_when_redis_is_unreachable(
    make_app: AppMaker, database_url: str
) -> None:
    broken = make_settings(database_url, f"redis://127.0.0.1:{refusing_port()}/0")
    app = await make_app("account", app_settings=broken)
    resp = await app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert await resp.get_json() == {"status": "unavailable", "down": ["redis"]}


async def _database_at_revision(url: str, revision: str | None) -> None:
    dsn, kwargs = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        await conn.execute("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL)")
        if revision is not None:
            await conn.execute("INSERT INTO alembic_version VALUES ($1)", revision)
    finally:
        await conn.close()


@pytest.mark.parametrize("revision", [None, "0001", "previous"])
async def test_readyz_is_not_ready_until_the_schema_is_this_codes(
    make_app: AppMaker, empty_database: str, redis_url: str, revision: str | None
) -> None:
    """An app of a new release on a database `rose-ash migrate` has not brought to its head."""
    head = code_schema()[0]
    if revision == "previous":
        revision = ScriptDirectory(str(ALEMBIC_DIR)).get_revision(head).down_revision
    await _database_at_revision(empty_database, revision)
    app = await make_app("blog", app_settings=make_settings(empty_database, redis_url))
    resp = await app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert await resp.get_json() == {
        "status": "unavailable",
        "down": ["schema"],
        "schema": {"code": head, "database": revision},
    }


async def test_readyz_is_not_ready_on_a_database_never_migrated(
    make_app: AppMaker, empty_database: str, redis_url: str
) -> None:
    app = await make_app("cart", app_settings=make_settings(empty_database, redis_url))
    resp = await app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert (await resp.get_json())["down"] == ["schema"]


async def test_readyz_stays_ready_when_a_newer_release_has_migrated(
    make_app: AppMaker, empty_database: str, redis_url: str
) -> None:
    """A revision this code does not know is a newer release's: the old replicas still drain."""
    await _database_at_revision(empty_database, "9999_from_the_future")
    app = await make_app("market", app_settings=make_settings(empty_database, redis_url))
    resp = await app.test_client().get("/readyz")
    assert resp.status_code == 200
    assert await resp.get_json() == {"status": "ready", "down": []}


async def test_every_response_carries_a_request_id(make_app: AppMaker) -> None:
    app = await make_app("blog")
    client = app.test_client()
    resp = await client.get("/")
    assert re.fullmatch(r"[0-9a-f]{16}", resp.headers["X-Request-ID"])
    resp = await client.get("/", headers={"X-Request-ID": "proxy-abc-123"})
    assert resp.headers["X-Request-ID"] == "proxy-abc-123"
    resp = await client.get("/", headers={"X-Request-ID": "<script>"})
    assert resp.headers["X-Request-ID"] != "<script>"


async def test_request_id_is_on_log_lines(
    make_app: AppMaker, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.infrastructure.logs import ContextFilter

    app = await make_app("blog")

    @app.get("/_log")
    async def _log() -> str:
        import logging

        logging.getLogger("rose.test").warning("hello")
        return "ok"

    caplog.handler.addFilter(ContextFilter())
    await app.test_client().get("/_log", headers={"X-Request-ID": "req-00001234"})
    record = next(r for r in caplog.records if r.name == "rose.test")
    assert record.request_id == "req-00001234"  # type: ignore[attr-defined]
    assert record.app_name == "blog"  # type: ignore[attr-defined]


async def test_security_headers(make_app: AppMaker) -> None:
    app = await make_app("federation")
    resp = await app.test_client().get("/")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize("name", APP_NAMES)
async def test_every_app_serves_its_icons_and_manifest(make_app: AppMaker, name: str) -> None:
    client = (await make_app(name)).test_client()
    for path, mimetype, magic in (
        ("/favicon.ico", "image/x-icon", b"\x00\x00\x01\x00"),
        ("/apple-touch-icon.png", "image/png", b"\x89PNG"),
    ):
        resp = await client.get(path)
        assert resp.status_code == 200, path
        assert resp.mimetype == mimetype
        assert (await resp.get_data()).startswith(magic)
    resp = await client.get("/manifest.webmanifest")
    assert resp.status_code == 200
    assert resp.mimetype == "application/manifest+json"
    manifest = await resp.get_json(force=True)
    assert manifest["start_url"] == "/"
    for icon in manifest["icons"]:
        assert (await client.get(icon["src"])).status_code == 200, icon["src"]
    # Every page links them.
    html = await (await client.get("/no/such/page")).get_data(as_text=True)
    for link in ('href="/favicon.ico"', 'rel="manifest"', 'rel="apple-touch-icon"'):
        assert link in html


async def test_errors_render_in_the_site_style_or_as_json(make_app: AppMaker) -> None:
    app = await make_app("market")
    client = app.test_client()
    resp = await client.get("/no/such/page")
    assert resp.status_code == 404
    html = await resp.get_data(as_text=True)
    assert "Page not found" in html
    assert 'class="site-header"' in html
    resp = await client.get("/no/such/page", headers={"Accept": "application/json"})
    assert resp.status_code == 404
    assert (await resp.get_json())["error"]["code"] == "not_found"


async def test_an_unexpected_error_is_a_500_page_without_details(make_app: AppMaker) -> None:
    app = await make_app("blog")

    @app.get("/_boom")
    async def _boom() -> str:
        raise RuntimeError("secret internals")

    resp = await app.test_client().get("/_boom")
    assert resp.status_code == 500
    body = await resp.get_data(as_text=True)
    assert "Something went wrong" in body
    assert "secret internals" not in body


def _add_user_routes(app: RoseQuart) -> None:
    @app.post("/_users/<name>")
    @csrf_exempt("test route")
    async def _create(name: str) -> str:
        db_session().add(User(email=f"{name}@example.test", username=name))
        await db_session().flush()
        if name.startswith("fail"):
            raise RuntimeError("handler failed after writing")
        if name.startswith("abort"):
            abort(409)
        return "created"


async def _count(db: AsyncSession, name: str) -> int:
    return int(
        await db.scalar(select(func.count()).select_from(User).where(User.username == name)) or 0
    )


async def test_a_request_commits_when_its_handler_succeeds(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("federation")
    _add_user_routes(app)
    resp = await app.test_client().post("/_users/kept")
    assert resp.status_code == 200
    assert await _count(db, "kept") == 1


@pytest.mark.parametrize("name", ["failing", "aborted"])
async def test_a_request_rolls_back_when_its_handler_raises(
    make_app: AppMaker, db: AsyncSession, name: str
) -> None:
    app = await make_app("federation")
    _add_user_routes(app)
    resp = await app.test_client().post(f"/_users/{name}")
    assert resp.status_code in (409, 500)
    assert await _count(db, name) == 0


async def test_every_app_has_its_own_session_cookie(make_app: AppMaker) -> None:
    names = set()
    for name in APP_NAMES:
        app = await make_app(name)
        names.add(app.config["SESSION_COOKIE_NAME"])
        assert app.config["SESSION_COOKIE_HTTPONLY"] is True
        assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert names == {f"{n}_session" for n in APP_NAMES}


async def test_production_cookies_are_host_prefixed_and_secure(
    make_app: AppMaker, database_url: str, redis_url: str
) -> None:
    prod = make_settings(database_url, redis_url, ROSE_COOKIE_SECURE="true")
    app = await make_app("cart", app_settings=prod)
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-cart_session"
    assert app.config["SESSION_COOKIE_SECURE"] is True


async def test_one_apps_session_cookie_is_worthless_at_another(make_app: AppMaker) -> None:
    blog, market = await make_app("blog"), await make_app("market")
    assert blog.secret_key != market.secret_key


# --- CSRF -----------------------------------------------------------------------------


def _add_form_route(app: RoseQuart) -> None:
    @app.get("/_form")
    async def _form() -> str:
        from quart import render_template_string

        return await render_template_string("{{ csrf_token() }}")

    @app.post("/_form")
    async def _submit() -> str:
        from quart import request

        name = (await request.form)["username"]
        db_session().add(User(email=f"{name}@example.test", username=name))
        return "saved"


async def test_a_form_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("account")
    _add_form_route(app)
    client = app.test_client()
    token = await (await client.get("/_form")).get_data(as_text=True)

    resp = await client.post("/_form", form={"username": "nocsrf"})
    assert resp.status_code == 400
    assert "expired" in await resp.get_data(as_text=True)
    resp = await client.post("/_form", form={"username": "wrongcsrf", "csrf_token": token + "x"})
    assert resp.status_code == 400
    assert await _count(db, "nocsrf") + await _count(db, "wrongcsrf") == 0

    resp = await client.post("/_form", form={"username": "goodcsrf", "csrf_token": token})
    assert resp.status_code == 200
    assert await _count(db, "goodcsrf") == 1


async def test_a_token_from_another_browser_session_is_refused(make_app: AppMaker) -> None:
    app = await make_app("account")
    _add_form_route(app)
    token = await (await app.test_client().get("/_form")).get_data(as_text=True)
    other = app.test_client()
    await other.get("/_form")
    resp = await other.post("/_form", form={"username": "stolen", "csrf_token": token})
    assert resp.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
async def test_cross_site_posts_are_refused_even_with_a_token(
    make_app: AppMaker, headers: dict[str, str]
) -> None:
    app = await make_app("cart")
    _add_form_route(app)
    client = app.test_client()
    token = await (await client.get("/_form")).get_data(as_text=True)
    resp = await client.post(
        "/_form", form={"username": "crosssite", "csrf_token": token}, headers=headers
    )
    assert resp.status_code == 400


async def test_a_sibling_app_origin_and_the_htmx_header_are_accepted(make_app: AppMaker) -> None:
    app = await make_app("cart")
    _add_form_route(app)
    client = app.test_client()
    token = await (await client.get("/_form")).get_data(as_text=True)
    resp = await client.post(
        "/_form",
        form={"username": "sibling"},
        headers={
            "Origin": "http://127.0.0.1:8001",
            "X-CSRF-Token": token,
            "Sec-Fetch-Site": "same-site",
        },
    )
    assert resp.status_code == 200


@pytest.mark.parametrize("name", APP_NAMES)
async def test_every_unsafe_route_is_csrf_protected_or_exempt_with_a_reason(
    make_app: AppMaker, name: str
) -> None:
    """Policy: the CSRF check runs before every unsafe route; exemptions are listed here."""
    allowed_exemptions: dict[str, str] = {
        "/ap/users/<name>/inbox": INBOX_CSRF_REASON,
        "/ap/inbox": INBOX_CSRF_REASON,
    }
    if name == "blog":
        allowed_exemptions |= {"/webhooks/ghost": "signed by Ghost"}
    if name == "cart":
        allowed_exemptions |= {
            "/webhooks/sumup": (
                "SumUp's webhook: unsigned, it only triggers a re-read of the checkout from SumUp"
            )
        }
    if name == "federation":
        # Members' own inboxes (the social hub).
        allowed_exemptions |= {"/users/<username>/inbox": INBOX_CSRF_REASON}
        allowed_exemptions |= {
            "/oauth/token": (
                "OAuth token endpoint: server-to-server POST authenticated by the client secret"
            ),
            "/oauth/revoke": (
                "OAuth token revocation (RFC 7009): server-to-server POST with the client secret"
            ),
            "/oauth/userinfo": (
                "OpenID Connect UserInfo: a bearer-token API for relying parties, no cookies"
            ),
        }
    if name == "account":
        from account.bp.newsletters import ONE_CLICK_REASON, PUBLIC_FORM_REASON

        allowed_exemptions |= {
            "/newsletters/subscribe": PUBLIC_FORM_REASON,
            "/newsletters/unsubscribe/<token>": ONE_CLICK_REASON,
        }
    app = await make_app(name)
    assert any(f.__name__ == "_check_csrf" for f in app.before_request_funcs[None])
    for rule in app.url_map.iter_rules():
        unsafe = set(rule.methods or ()) - SAFE_METHODS
        if not unsafe:
            continue
        view = app.view_functions[rule.endpoint]
        if rule.rule == "/cart-add":
            # Every app: the add-to-cart form sits in pages cached whole (Origin checked).
            assert token_optional(view) == ADD_CSRF_REASON
        else:
            assert token_optional(view) is None, f"{name}: {rule.rule} skips the CSRF token"
        reason = exemption(view)
        if reason is not None:
            assert allowed_exemptions.get(rule.rule) == reason, (
                f"{name}: {rule.rule} is exempt from CSRF ({reason}) without being listed"
            )


@pytest.mark.parametrize("name", APP_NAMES)
async def test_no_template_context_processor_runs_in_a_thread(
    make_app: AppMaker, name: str
) -> None:
    """Quart runs a synchronous context processor in a thread on every render: each app's
    pages (every blueprint's) render with asynchronous ones only."""
    import inspect

    app = await make_app(name)
    for blueprint, processors in app.template_context_processors.items():
        for processor in processors:
            assert inspect.iscoroutinefunction(processor), (blueprint, processor)
