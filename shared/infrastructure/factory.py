"""``create_base_app(name)``: the one way a Rose Ash app is put together.

It wires the settings, the database (one ``AsyncSession`` per request, committed when the
handler succeeds and rolled back when it raises), Redis, Jinja (the app's own templates
over ``shared/templates``), static files from ``shared/static``, error pages (JSON for
clients that ask for it), ``/healthz`` and ``/readyz``, a request id on every log line and
response, security headers, the app's own session cookie and CSRF protection, the signature
check on ``/internal/``, the fragment client that composes pages from the other apps, and
single sign-on (``auth``: who is signed in; ``oauth``: ``/auth/*`` and silent sign-on).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import sqlalchemy.exc
from flask.templating import _default_template_ctx_processor as _flask_context_processor
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader
from quart import Quart, Response, g, jsonify, render_template, request, send_from_directory
from quart.ctx import RequestContext
from quart.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound

from shared.config import APP_NAMES, Settings, load_settings
from shared.contracts.services import Services
from shared.db import (
    DatabaseUnavailable,
    busy,
    code_schema,
    create_engine,
    create_session_factory,
    discard_after_commit,
    run_after_commit,
    schema_state,
)
from shared.errors import DomainError
from shared.infrastructure import (
    auth,
    cart_web,
    csrf,
    fragments,
    inputs,
    internal_auth,
    media,
    metrics,
    oauth,
    pagecache,
    times,
)
from shared.infrastructure.activitypub import routes as activitypub_routes
from shared.infrastructure.boost import BOOST_HEADERS, is_htmx
from shared.infrastructure.context import (
    PLATFORM_EXTENSION,
    SERVICES_EXTENSION,
    Platform,
    app_secret,
    create_redis,
    current_platform,
    wants_json,
)
from shared.infrastructure.logs import (
    app_name_var,
    configure_logging,
    new_request_id,
    request_id_var,
)
from shared.infrastructure.mail import Mailer

log = logging.getLogger(__name__)

SHARED_DIR = Path(__file__).resolve().parent.parent
SHARED_TEMPLATES = SHARED_DIR / "templates"
SHARED_STATIC = SHARED_DIR / "static"
MAX_BODY_BYTES = 10 * 1024 * 1024


class RoseQuart(Quart):
    """Quart with the app's templates layered over the shared ones and a transaction per request."""

    # ``<int:…>`` holds what PostgreSQL's bigint can (inputs.py).
    url_map_class = inputs.RoseMap
    rose_template_dir: Path | None = None
    # Anonymous visitors' pages served from Redis in front of Quart (pagecache.py).
    page_cache: pagecache.PageCache | None = None

    async def asgi_app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().asgi_app(scope, receive, send)
            return
        # Counted around the page cache, so a page it serves is a request too.
        await metrics.observe_http(self.name, self.url_map, scope, receive, send, self._serve)

    async def _serve(self, scope: Any, receive: Any, send: Any) -> None:
        if self.page_cache is None:
            await super().asgi_app(scope, receive, send)
        else:
            await self.page_cache(scope, receive, send, super().asgi_app)

    def register_blueprint(self, blueprint: Any, **options: Any) -> None:
        super().register_blueprint(blueprint, **options)
        # Quart's blueprints inherit Flask's default template context processor: synchronous,
        # so Quart runs it in a thread on every render_template of the blueprint's views (a
        # thread hop per page, seen in the blog's profile), and it adds nothing here (it
        # reads Flask's context variables; Quart's own processor provides g/request/session).
        for processors in self.template_context_processors.values():
            processors[:] = [p for p in processors if p is not _flask_context_processor]

    async def send_static_file(self, filename: str) -> Response:
        # A name the file system refuses (longer than it allows) is a missing file.
        try:
            return await super().send_static_file(filename)
        except OSError:
            raise NotFound() from None

    @property
    def jinja_loader(self) -> BaseLoader | None:
        loaders: list[BaseLoader] = []
        if self.rose_template_dir is not None:
            loaders.append(FileSystemLoader(str(self.rose_template_dir)))
        loaders.append(FileSystemLoader(str(SHARED_TEMPLATES)))
        return ChoiceLoader(loaders)

    async def dispatch_request(
        self, request_context: RequestContext | None = None
    ) -> ResponseReturnValue:
        # One unit of work per request: commit only if the view returned normally.
        try:
            rv = await super().dispatch_request(request_context)
        except BaseException:
            session: AsyncSession | None = g.pop("_db_session", None)
            if session is not None:
                discard_after_commit(session)
                # With PostgreSQL gone the rollback fails too: the error to answer is the
                # first one.
                with contextlib.suppress(DatabaseUnavailable):
                    await session.rollback()
                    await session.close()
            raise
        session = g.get("_db_session")
        if session is not None:
            await session.commit()
            await run_after_commit(session)
            await pagecache.publish_committed(session.info, current_platform().redis)
        return rv


def create_base_app(
    name: str,
    *,
    settings: Settings | None = None,
    template_dir: Path | None = None,
    services: Callable[[Settings], Services],
    frame_src: Sequence[str] = (),
    media_src: Sequence[str] = (),
    form_action: Callable[[Settings], Sequence[str]] | None = None,
) -> RoseQuart:
    """Build the Quart app ``name`` (one of :data:`shared.config.APP_NAMES`), with the domain
    services that ``services`` builds from its settings (the app passes
    ``shared.services.registry.build_services``). ``frame_src``: the only origins its pages
    may frame (none unless given); ``media_src``: where their audio and video may come from
    besides the app itself; ``form_action`` names the origins besides the six apps' that this
    app's forms may lead to (the cart's checkout: SumUp's page)."""
    if name not in APP_NAMES:
        raise ValueError(f"unknown app {name!r}")
    settings = settings or load_settings()
    configure_logging(settings.log_level, json_lines=settings.production)
    app_name_var.set(name)

    app = RoseQuart(
        name,
        static_folder=str(SHARED_STATIC),
        static_url_path="/static",
        template_folder=None,
    )
    app.rose_template_dir = template_dir
    app.secret_key = app_secret(settings, name, "session")
    cookie_name = _session_cookie_name(settings, name)
    app.config.update(
        SESSION_COOKIE_NAME=cookie_name,
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        # Federation takes the social hub's posts with up to four images.
        MAX_CONTENT_LENGTH=(
            media.request_cap(settings.media, MAX_BODY_BYTES)
            if name == "federation"
            else MAX_BODY_BYTES
        ),
        SEND_FILE_MAX_AGE_DEFAULT=timedelta(hours=12),
        JSON_SORT_KEYS=False,
        TEMPLATES_AUTO_RELOAD=not settings.production,
    )

    engine = create_engine(settings)
    rose = Platform(
        name=name,
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        redis=create_redis(settings.require("redis_url"), settings.redis.timeout_s),
    )
    app.extensions[PLATFORM_EXTENSION] = rose
    app.extensions[SERVICES_EXTENSION] = services(settings)

    origins = [a.public_url for a in settings.apps.values()]
    # Order matters: the request id first (every answer carries one), then the internal
    # signature check (an unsigned /internal/ request is a plain 404 before CSRF or routing
    # could answer anything else), then the refusal of NUL bytes (inputs.py), then CSRF.
    extra_form_action = list(form_action(settings)) if form_action else []
    _install_request_plumbing(app, name, settings, origins, frame_src, media_src, extra_form_action)
    internal_auth.install(app, settings)
    inputs.install(app)
    csrf.install(app, origins)
    _install_error_handlers(app)
    _install_health(app)
    _install_icons(app, settings.site_name)
    # /metrics for Prometheus, behind its token (metrics.py, decision 0084).
    metrics.install(
        app,
        name,
        settings.secrets.metrics_token,
        engine,
        settings.database.pool_size + settings.database.max_overflow,
    )
    fragments.install(app, settings, rose.redis)
    pagecache.install(app, settings, rose.redis, _visitor_cookies(app, settings))
    # Single sign-on: who is signed in (every request), /auth/* and silent sign-on.
    app.extensions["mailer"] = Mailer(settings)
    auth.install(app)
    # The anonymous cart-key cookie (after sign-in is known: a member's visit merges it) and
    # the "Add to cart" endpoint every app's pages post to.
    cart_web.install(app)
    oauth.install(app)
    # Every app is a fediverse actor: discovery, its actor, inbox and outbox (ActivityPub).
    activitypub_routes.install(app)

    @app.after_serving
    async def _close_resources() -> None:
        rose = app.extensions["rose"]
        await rose.redis.aclose()
        await rose.engine.dispose()

    return app


def _session_cookie_name(settings: Settings, name: str) -> str:
    return f"__Host-{name}_session" if settings.cookie_secure else f"{name}_session"


def _visitor_cookies(app: RoseQuart, settings: Settings) -> pagecache.VisitorCookies:
    """The cookies ``app`` reads, for its page cache to tell an anonymous visitor (0091)."""
    others = [n for n in APP_NAMES if n != app.name]
    return pagecache.VisitorCookies(
        marker=oauth.marker_cookie_name(settings, app.name),
        generation=oauth.generation_cookie_name(settings),
        session=app.config["SESSION_COOKIE_NAME"],
        cart=cart_web.COOKIE,
        ignored=frozenset(
            [_session_cookie_name(settings, n) for n in others]
            + [oauth.marker_cookie_name(settings, n) for n in others]
        ),
        anonymous_session_keys=frozenset({oauth.PENDING_KEY, csrf.SESSION_KEY}),
        session_keys=pagecache.session_reader(app),
        needs_sign_on_check=functools.partial(
            oauth.needs_sign_on_check, shared=oauth.generation_reaches_every_app(settings)
        ),
    )


def _install_request_plumbing(
    app: Quart,
    name: str,
    settings: Settings,
    origins: list[str],
    frame_src: Sequence[str],
    media_src: Sequence[str],
    extra_form_action: list[str],
) -> None:
    form_action = " ".join(["'self'", *origins, *extra_form_action])
    # Images may come from a sibling app (federation serves members' media) even over plain
    # http in development, besides any https source.
    img_src = " ".join(["'self'", *origins, "data:", "https:"])
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {img_src}; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'"
    )
    if frame_src:
        # The embedded players a reader starts (the blog's posts, shared/infrastructure/
        # cards.py). Boosted navigation keeps the policy of the first page it loaded, so
        # every page of the app carries it; no frame exists until the reader asks for one.
        csp += f"; frame-src {' '.join(frame_src)}"
    if media_src:
        csp += f"; media-src 'self' {' '.join(media_src)}"
    security_headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if settings.production:
        security_headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"

    app.jinja_env.globals.update(
        site_name=settings.site_name,
        app_name=name,
        app_urls={n: a.public_url for n, a in settings.apps.items()},
        app_names=APP_NAMES,
        site_time_zone=settings.time_zone,
    )
    app.jinja_env.filters["local"] = times.local_filter(settings.time_zone)

    @app.before_request
    async def _request_id() -> None:
        rid = new_request_id(request.headers.get("X-Request-ID"))
        g.request_id = rid
        request_id_var.set(rid)
        app_name_var.set(name)

    @app.after_request
    async def _headers(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        if response.mimetype == "text/html":
            # base.html answers a boosted navigation with #content only (fragments/page.py).
            response.vary.update(BOOST_HEADERS)
        _redirect_out_of_boost(response)
        _not_a_page_out_of_boost(response)
        # A page that sets its own policy decides who may frame it (the events widget's
        # frame-ancestors, events/bp/embed.py): X-Frame-Options would overrule it in old browsers.
        own_policy = "Content-Security-Policy" in response.headers
        for header, value in security_headers.items():
            if not (own_policy and header == "X-Frame-Options"):
                response.headers.setdefault(header, value)
        extra = g.get("form_action_extra")
        if extra:
            # A form that leads elsewhere by a redirect (federation's consent page, whose answer
            # goes back to the tool that asked): that origin too, for this page only.
            response.headers["Content-Security-Policy"] = csp.replace(
                "form-action ", f"form-action {' '.join(extra)} ", 1
            )
        return response

    @app.teardown_request
    async def _close_session(_exc: BaseException | None) -> None:
        session: AsyncSession | None = g.pop("_db_session", None)
        if session is not None:
            with contextlib.suppress(DatabaseUnavailable):
                await session.close()


def _redirect_out_of_boost(response: Response) -> None:
    """A boosted request (XMLHttpRequest) follows redirects itself and cannot follow one to
    another origin (single sign-on at federation, another app): tell htmx to navigate there
    with the whole page instead (``HX-Redirect``). So too after signing in or out: a boosted
    answer would swap only ``#content``, leaving the header that still says "Sign in"."""
    location = response.headers.get("Location")
    if not is_htmx(request.headers.get("HX-Request")) or location is None:
        return
    if not 300 <= response.status_code < 400:
        return
    target = urlsplit(urljoin(request.url, location))
    here = urlsplit(request.url)
    same_origin = (target.scheme, target.netloc) == (here.scheme, here.netloc)
    if same_origin and not auth.sign_in_changed():
        return
    response.status_code = 200
    del response.headers["Location"]
    response.headers["HX-Redirect"] = location


def _not_a_page_out_of_boost(response: Response) -> None:
    """A boosted navigation (htmx swaps the answer into #content) that answers something
    other than a page (an iCalendar feed, a CSV download) would blank the page: tell htmx to
    load that address as a plain navigation instead, which the browser downloads."""
    if request.headers.get("HX-Boosted") != "true" or response.status_code != 200:
        return
    if response.mimetype in ("text/html", "") or "HX-Redirect" in response.headers:
        return
    response.set_data(b"")
    response.headers["HX-Redirect"] = request.full_path.rstrip("?")
    response.headers.pop("Content-Disposition", None)
    response.mimetype = "text/html"


_TITLES = {
    400: "That request did not make sense",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    413: "That was too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def _error_has_header() -> bool:
    """Whether an error page is shown to a person browsing the site, and so keeps the site's
    header (menu, cart, sign-in): not for /internal/ probes or a missing static file."""
    if request.path.startswith(("/internal/", "/static/")):
        return False
    return bool(request.accept_mimetypes.accept_html)


async def render_error(status: int, code: str, message: str) -> Response:
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message}})
    else:
        context: dict[str, Any] = {
            "status": status,
            "title": _TITLES.get(status, "Something went wrong"),
            "message": message,
            "code": code,
        }
        body = None
        if _error_has_header():
            try:
                body = await fragments.render_page("error.html", **context)
            except Exception:
                # The error page must answer even when composing the header fails.
                log.exception("rendering the error page with the site's header failed")
        if body is None:
            body = await render_template("error.html", **context)
        response = Response(body, mimetype="text/html")
    response.status_code = status
    return response


def _http_code(err: HTTPException) -> str:
    return (err.name or "error").lower().replace(" ", "_").replace("'", "")


def _install_error_handlers(app: Quart) -> None:
    @app.errorhandler(DomainError)
    async def _domain_error(err: DomainError) -> Response:
        response = await render_error(err.status, err.code, err.message)
        retry_after = getattr(err, "retry_after_s", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(HTTPException)
    async def _http_error(err: HTTPException) -> Any:
        if err.code is None or err.code < 400:
            return err
        return await render_error(err.code, _http_code(err), err.description or "")

    @app.errorhandler(DatabaseUnavailable)
    async def _database_unavailable(err: DatabaseUnavailable) -> Response:
        # Logged once per outage by shared.db, not once per request.
        response = await render_error(
            503,
            err.code,
            "The site is briefly unavailable. Please try again in a minute.",
        )
        response.headers["Retry-After"] = str(err.retry_after_s)
        return response

    @app.errorhandler(sqlalchemy.exc.TimeoutError)
    async def _pool_full(_err: sqlalchemy.exc.TimeoutError) -> Response:
        # Every pooled connection stayed in use for pool_timeout_s: busy, not broken.
        reason = "every pooled connection is in use"
        return await _database_unavailable(busy(current_platform().engine.sync_engine, reason))

    @app.errorhandler(Exception)
    async def _unexpected(err: Exception) -> Response:
        if isinstance(err, HTTPException):
            return await _http_error(err)  # type: ignore[no-any-return]
        log.exception("unhandled error on %s %s", request.method, request.path)
        generic = InternalServerError()
        return await render_error(500, "internal_error", generic.description or "")


def _install_icons(app: Quart, site_name: str) -> None:
    """What browsers ask every site for at its root: the favicon, the touch icon and the web
    manifest (base.html links them too; the images are shared/static/img/)."""
    images = SHARED_STATIC / "img"

    @app.get("/favicon.ico")
    async def favicon() -> Any:
        return await send_from_directory(images, "favicon.ico", mimetype="image/x-icon")

    @app.get("/apple-touch-icon.png")
    async def apple_touch_icon() -> Any:
        return await send_from_directory(images, "apple-touch-icon.png", mimetype="image/png")

    @app.get("/manifest.webmanifest")
    async def manifest() -> Any:
        icon = "/static/img/icon-{0}.png"
        response = jsonify(
            {
                "name": site_name,
                "short_name": site_name,
                "start_url": "/",
                "display": "standalone",
                "background_color": "#fbf8f5",
                "theme_color": "#b03a5b",
                "icons": [
                    {"src": icon.format(n), "sizes": f"{n}x{n}", "type": "image/png"}
                    for n in (192, 512)
                ]
                + [{"src": "/static/img/logo.svg", "sizes": "any", "type": "image/svg+xml"}],
            }
        )
        response.mimetype = "application/manifest+json"
        response.cache_control.public = True
        response.cache_control.max_age = 86400
        return response


def _install_health(app: Quart) -> None:
    @app.get("/healthz")
    async def healthz() -> Any:
        """The process is up (no dependency is touched)."""
        return jsonify({"status": "ok", "app": current_platform().name})

    @app.get("/readyz")
    async def readyz() -> Any:
        """PostgreSQL and Redis both answer within the readiness timeout, and the database is
        at the schema this code was built for (or newer): until `rose-ash migrate` has run, an
        app of a new release is not ready, so a rolling update never routes to it."""
        rose = current_platform()
        timeout = rose.settings.readiness_timeout_s
        schema: dict[str, str | None] = {"code": code_schema()[0], "database": None}

        async def database() -> None:
            async with rose.engine.connect() as conn:
                if await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL")):
                    version = text("SELECT version_num FROM alembic_version")
                    schema["database"] = await conn.scalar(version)

        async def cache() -> None:
            await rose.redis.ping()

        checks = {"postgresql": database, "redis": cache}
        results = await asyncio.gather(
            *(asyncio.wait_for(check(), timeout) for check in checks.values()),
            return_exceptions=True,
        )
        down = [
            name for name, r in zip(checks, results, strict=True) if isinstance(r, BaseException)
        ]
        for name, r in zip(checks, results, strict=True):
            if isinstance(r, BaseException):
                log.warning("readiness: %s is down: %r", name, r)
        if "postgresql" not in down and schema_state(schema["database"]) == "behind":
            log.warning(
                "readiness: the database is at schema %s, this code needs %s",
                schema["database"],
                schema["code"],
            )
            down.append("schema")
        body: dict[str, Any] = {"status": "unavailable" if down else "ready", "down": down}
        if "schema" in down:
            body["schema"] = schema
        return jsonify(body), (503 if down else 200)
