"""A Ghost stand-in: a real HTTP server on loopback speaking Ghost 5's Content API.

It follows the contract in docs/EXTERNAL-APIS.md, awkward parts included, so the
code under test is the code that talks to a real Ghost:

- ``/ghost/api/content/{posts,pages,tags,authors}/``, ``{id}/``, ``slug/{slug}/``,
  ``settings/``; the key in ``?key=`` (26 hex): none is 403 ``NoPermissionError``, a wrong
  one 401 ``UNKNOWN_CONTENT_API_KEY``; an unknown item 404 ``NotFoundError``; errors as
  ``{"errors": [{"message", "context", "type", "code", "id"}]}``.
- ``limit`` defaults to 15 and is capped at 100 (``all`` too); ``page``; ``meta.pagination``
  with ``page, limit, pages, total, next, prev``; single reads are one-element lists
  without ``meta``.
- ``filter=updated_at:>='YYYY-MM-DD HH:MM:SS'`` (also ``>``, ``<``, ``<=``); an ISO
  ``T...Z`` date silently matches nothing. ``order`` such as ``updated_at asc,id asc``.
- ``include=tags,authors`` adds them with ``primary_tag``/``primary_author``; ``fields=``
  keeps only the fields named; timestamps look like ``2026-11-27T14:02:23.000+00:00``
  (whole seconds). Internal tags have slug ``hash-...`` and visibility ``internal``; the
  tags list shows public tags only. Members-only posts come with ``html`` cut at the
  paywall card (``<!--members-only-->`` in Ghost's HTML; empty without one) and
  ``access: false``. The site's owner has the author id ``"1"`` (:meth:`add_author`).
- Webhooks signed exactly like Ghost: ``X-Ghost-Signature: sha256=<hex>, t=<ms>`` over the
  JSON body followed by the timestamp.
- The Admin API's ``POST /ghost/api/admin/webhooks/``, authenticated like Ghost 5 does
  (``core/server/services/auth/api-key/admin.js`` with jsonwebtoken's ``verify``):
  ``Authorization: Ghost <jwt>``; no header 403 ``NoPermissionError``; another scheme 401
  ``INVALID_AUTH_HEADER``; an undecodable token 400 ``INVALID_JWT``, no ``kid`` 400
  ``MISSING_ADMIN_API_KID``, an unknown ``kid`` 401 ``UNKNOWN_ADMIN_API_KEY``; then HS256
  only, the signature with the hex-decoded secret, ``exp``, ``aud`` ``/admin/`` and a
  ``maxAge`` of 5 minutes on ``iat``, each refused as 401 ``INVALID_JWT`` "Invalid token:
  <jsonwebtoken's message>". The same event and target twice is 422 ``ValidationError``
  "Validation error, cannot save webhook." with the reason, "Target URL has already been
  used for this event.", in ``context``. ``PUT webhooks/{id}/`` edits one (404 unknown);
  ``GET {posts,pages}/{id}/`` gives the whole body with ``formats=html``. The token check is
  written out here with the standard library, independently of the client's JWT library.
- ``/content/images/<name>``: images uploaded with :meth:`add_image`.
- Registered webhooks are delivered on a change (:meth:`add_post`, :meth:`edit`,
  :meth:`remove`, :meth:`edit_settings`): the events Ghost fires for it, one after the
  other, each retried like Ghost (``retry_delay_s`` apart, 5 retries); an answer 410 deletes
  the webhook, as Ghost does. :meth:`delivered` waits for them.

Failures are injected with :meth:`GhostStandIn.fail`: a status (e.g. 500), ``"timeout"``
(the answer comes after the client gave up) or ``"malformed"`` (a 200 that is not JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request

from shared.services.blog.ghost import sign_webhook
from tests.standins.ghost_api import (
    WEBHOOK_EVENTS,
    b64url,
    error,
    filtered,
    json_response,
    jwt_problem,
    limit_of,
    ordered,
)
from tests.support import eventually

PAYWALL = "<!--members-only-->"
# Ghost gives its owner (the user who set the site up) the id "1", not an ObjectId.
OWNER_ID = "1"
GHOST_USER_AGENT = "Ghost/5.130.0 (https://github.com/TryGhost/Ghost)"


def ghost_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def _object_id() -> str:
    return secrets.token_hex(12)


@dataclass
class Failure:
    kind: str | int
    path: str | None
    page: int | None
    times: int


class GhostStandIn:
    """One Ghost site in memory, served over HTTP on a free loopback port."""

    def __init__(self) -> None:
        self.content_key = secrets.token_hex(13)
        self.clock = datetime(2026, 11, 27, 14, 0, 0, tzinfo=UTC)
        self.items: dict[str, dict[str, dict[str, Any]]] = {"posts": {}, "pages": {}}
        self.tags: dict[str, dict[str, Any]] = {}
        self.authors: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = {
            "title": "Rose Ash on Ghost",
            "description": "The cooperative's old blog",
            "logo": None,
            "icon": None,
            "url": "https://ghost.rose-ash.test/",
            "lang": "en",
            "locale": "en",
            "timezone": "Etc/UTC",
            "navigation": [
                {"label": "Home", "url": "/"},
                {"label": "About", "url": "/about/"},
            ],
            "secondary_navigation": [{"label": "Sign up", "url": "#/portal/"}],
        }
        self.admin_key_id = _object_id()
        self.admin_secret = secrets.token_hex(32)
        self.webhooks: dict[str, dict[str, Any]] = {}
        # Uploaded images, served at /content/images/<name> like Ghost's local storage.
        self.images: dict[str, bytes] = {}
        # (event, target_url, HTTP status or the error's class name), in delivery order.
        self.deliveries: list[tuple[str, str, int | str]] = []
        self.retry_delay_s = 2.0
        self._delivering: list[asyncio.Task[None]] = []
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.timeout_delay = 3.0
        # Every Content API answer waits this long (so concurrent clients really overlap).
        self.delay_s = 0.0
        self.url = ""
        self._stop = asyncio.Event()
        # Set on stop so a "timeout" answer still pending returns at once: no request of
        # ours outlives the test that made it.
        self._release = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.app = self._build_app()

    # --- running ------------------------------------------------------------------------

    async def start(self) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.graceful_timeout = 0.1
        config.accesslog = None
        config.errorlog = None
        self._task = asyncio.create_task(
            serve(self.app, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]
        )
        self.url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:

            async def answers() -> bool:
                try:
                    await client.get(self.url + "/ghost/")
                except httpx.TransportError:
                    return False
                return True

            await eventually(answers, "the Ghost stand-in answers", every_s=0.02)
        self.requests.clear()
        return self.url

    @property
    def admin_key(self) -> str:
        """The Admin API key as Ghost's integration screen shows it."""
        return f"{self.admin_key_id}:{self.admin_secret}"

    async def stop(self) -> None:
        for task in self._delivering:
            task.cancel()
        await asyncio.gather(*self._delivering, return_exceptions=True)
        self._release.set()
        await asyncio.sleep(0)
        self._stop.set()
        if self._task is not None:
            await self._task

    # --- content ------------------------------------------------------------------------

    def tick(self, seconds: int = 1) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def add_tag(
        self, name: str, *, slug: str | None = None, visibility: str = "public", **extra: Any
    ) -> dict[str, Any]:
        tag = {
            "id": _object_id(),
            "name": name,
            "slug": slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
            "description": extra.pop("description", None),
            "feature_image": None,
            "visibility": visibility,
            "url": f"https://ghost.rose-ash.test/tag/{slug}/",
            **extra,
        }
        if name.startswith("#"):
            tag["slug"] = "hash-" + re.sub(r"[^a-z0-9]+", "-", name[1:].lower()).strip("-")
            tag["visibility"] = "internal"
        self.tags[tag["id"]] = tag
        return tag

    def add_author(
        self, name: str, *, slug: str | None = None, owner: bool = False, **extra: Any
    ) -> dict[str, Any]:
        """An author; the site's ``owner`` has the id Ghost gives its owner: ``"1"``."""
        author = {
            "id": OWNER_ID if owner else _object_id(),
            "name": name,
            "slug": slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
            "profile_image": None,
            "cover_image": None,
            "bio": extra.pop("bio", None),
            "website": None,
            "location": None,
            "url": "https://ghost.rose-ash.test/author/x/",
            **extra,
        }
        self.authors[author["id"]] = author
        return author

    def add_post(
        self,
        title: str,
        *,
        kind: str = "posts",
        html: str = "<p>Hello from Ghost.</p>",
        tags: list[dict[str, Any]] | None = None,
        authors: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A published post (or page with ``kind="pages"``); each add moves the clock on."""
        now = self.tick()
        slug = fields.pop("slug", None) or re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        post = {
            "id": _object_id(),
            "uuid": str(uuid.uuid4()),
            "title": title,
            "slug": slug,
            "html": html,
            "comment_id": None,
            "feature_image": None,
            "feature_image_alt": None,
            "feature_image_caption": None,
            "featured": False,
            "visibility": "public",
            "created_at": ghost_time(now),
            "updated_at": ghost_time(now),
            "published_at": ghost_time(now),
            "custom_excerpt": None,
            "codeinjection_head": None,
            "codeinjection_foot": None,
            "custom_template": None,
            "canonical_url": None,
            "url": f"https://ghost.rose-ash.test/{slug}/",
            "excerpt": re.sub(r"<[^>]+>", "", html)[:300],
            "reading_time": 1,
            "og_image": None,
            "og_title": None,
            "og_description": None,
            "twitter_image": None,
            "twitter_title": None,
            "twitter_description": None,
            "meta_title": None,
            "meta_description": None,
            "_tags": [t["id"] for t in tags or []],
            "_authors": [a["id"] for a in authors or []],
            **fields,
        }
        self.items[kind][post["id"]] = post
        single = kind[:-1]
        current = self.rendered(post["id"], kind)
        self._trigger(
            [(f"{single}.added", single, current, {}), (f"{single}.published", single, current, {})]
        )
        return post

    def edit(self, ghost_id: str, *, kind: str = "posts", **fields: Any) -> dict[str, Any]:
        post = self.items[kind][ghost_id]
        previous = {k: post[k] for k in fields if k in post}
        previous["updated_at"] = post["updated_at"]
        post.update(fields)
        post["updated_at"] = ghost_time(self.tick())
        single = kind[:-1]
        current = self.rendered(ghost_id, kind)
        self._trigger(
            [
                (f"{single}.edited", single, current, previous),
                (f"{single}.published.edited", single, current, previous),
            ]
        )
        return post

    def remove(self, ghost_id: str, *, kind: str = "posts") -> dict[str, Any]:
        """Delete or unpublish: either way the Content API stops returning it. Webhooks are
        those of deleting a published post: ``unpublished``, then ``deleted``."""
        previous = self.rendered(ghost_id, kind)
        post = self.items[kind].pop(ghost_id)
        single = kind[:-1]
        self._trigger(
            [
                (f"{single}.unpublished", single, previous, previous),
                (f"{single}.deleted", single, {}, previous),
            ]
        )
        return post

    def edit_settings(self, **fields: Any) -> None:
        """Change the site's settings (its ``navigation`` ...): Ghost fires ``site.changed``."""
        self.settings.update(fields)
        self._trigger([])

    def add_image(self, name: str, data: bytes) -> str:
        """An uploaded image; its address on the site (``url`` of its settings), as Ghost
        writes it into posts."""
        self.images[name] = data
        return self.settings["url"].rstrip("/") + f"/content/images/{name}"

    def fail(
        self, kind: str | int, *, path: str | None = None, page: int | None = None, times: int = 1
    ) -> None:
        """The next ``times`` requests (whose path contains ``path``, for ``?page=page``)
        fail as ``kind``."""
        self.failures.append(Failure(kind, path, page, times))

    # --- webhooks -----------------------------------------------------------------------

    def webhook(
        self,
        event: str,
        secret: str,
        *,
        current: dict[str, Any] | None = None,
        previous: dict[str, Any] | None = None,
        timestamp_ms: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers Ghost would send for ``event`` (e.g. ``post.edited``)."""
        resource = event.split(".")[0]
        if resource == "site":
            payload: dict[str, Any] = {}
        else:
            payload = {resource: {"current": current or {}, "previous": previous or {}}}
        body = json.dumps(payload, separators=(",", ":")).encode()
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        headers = {
            "Content-Type": "application/json",
            "User-Agent": GHOST_USER_AGENT,
            "X-Ghost-Signature": sign_webhook(secret, body, stamp),
        }
        return body, headers

    def rendered(self, ghost_id: str, kind: str = "posts") -> dict[str, Any]:
        """An item the way webhooks carry it (tags and authors included, full html)."""
        return self._render(self.items[kind][ghost_id], {"tags", "authors"}, cut=False)

    async def send_webhook(self, target_url: str, event: str, secret: str, **kw: Any) -> int:
        body, headers = self.webhook(event, secret, **kw)
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(target_url, content=body, headers=headers)
        return response.status_code

    def _trigger(self, events: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> None:
        """Deliver ``events`` (and ``site.changed``, which Ghost fires after every change that
        touches the public site) to the webhooks registered for them, in order."""
        events = [*events, ("site.changed", "site", {}, {})]
        wanted = [
            (event, resource, current, previous, hook)
            for event, resource, current, previous in events
            for hook in list(self.webhooks.values())
            if hook["event"] == event
        ]
        if not wanted:
            return
        self._delivering.append(asyncio.get_running_loop().create_task(self._deliver(wanted)))

    async def _deliver(
        self, wanted: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]]
    ) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            for event, resource, current, previous, hook in wanted:
                payload: dict[str, Any] = (
                    {}
                    if resource == "site"
                    else {resource: {"current": current, "previous": previous}}
                )
                body = json.dumps(payload, separators=(",", ":")).encode()
                for attempt in range(6):  # the first try and Ghost's five retries
                    if attempt:
                        await asyncio.sleep(self.retry_delay_s)
                    headers = {
                        "Content-Type": "application/json",
                        "User-Agent": GHOST_USER_AGENT,
                        "X-Ghost-Signature": sign_webhook(
                            hook["secret"], body, int(time.time() * 1000)
                        ),
                    }
                    try:
                        response = await client.post(
                            hook["target_url"], content=body, headers=headers
                        )
                    except httpx.HTTPError as err:
                        self.deliveries.append((event, hook["target_url"], type(err).__name__))
                        continue
                    self.deliveries.append((event, hook["target_url"], response.status_code))
                    hook["last_triggered_status"] = str(response.status_code)
                    if response.status_code == 410:
                        self.webhooks.pop(hook["id"], None)  # Ghost drops a webhook gone for good
                        break
                    if response.is_success:
                        break

    async def delivered(self) -> None:
        """Wait until every webhook delivery started so far is done (retries included)."""
        pending, self._delivering = self._delivering, []
        if pending:
            async with asyncio.timeout(30):
                await asyncio.gather(*pending)

    # --- the HTTP side ------------------------------------------------------------------

    def _build_app(self) -> Quart:
        app = Quart("ghost-standin")

        @app.get("/ghost/")
        async def root() -> Response:
            return Response("Ghost stand-in", mimetype="text/plain")

        @app.get("/ghost/api/content/<resource>/")
        async def browse(resource: str) -> Response:
            return await self._handle(resource, None, None)

        @app.post("/ghost/api/admin/webhooks/")
        async def add_webhook() -> Response:
            self.requests.append((request.path, {}))
            refused = self._admin_auth(request.headers.get("Authorization"))
            if refused is not None:
                return refused
            return self._add_webhook(await request.get_json(silent=True))

        @app.put("/ghost/api/admin/webhooks/<webhook_id>/")
        async def edit_webhook(webhook_id: str) -> Response:
            self.requests.append((request.path, {}))
            refused = self._admin_auth(request.headers.get("Authorization"))
            if refused is not None:
                return refused
            hook = self.webhooks.get(webhook_id)
            if hook is None:
                return error(
                    404,
                    "NotFoundError",
                    "Resource not found error, cannot edit webhook.",
                    context="Webhook not found.",
                )
            try:
                data = (await request.get_json(silent=True))["webhooks"][0]
            except (TypeError, KeyError, IndexError):
                return error(422, "ValidationError", "Validation error, cannot edit webhook.")
            for key in ("name", "event", "target_url", "secret"):
                if key in data:
                    hook[key] = data[key]
            hook["updated_at"] = ghost_time(datetime.now(UTC))
            return json_response({"webhooks": [hook]})

        @app.get("/ghost/api/admin/<resource>/<ghost_id>/")
        async def admin_read(resource: str, ghost_id: str) -> Response:
            self.requests.append((request.path, dict(request.args.items())))
            refused = self._admin_auth(request.headers.get("Authorization"))
            if refused is not None:
                return refused
            row = self.items.get(resource, {}).get(ghost_id)
            if row is None:
                return error(404, "NotFoundError", f"{resource[:-1].capitalize()} not found.")
            out = self._render(row, set(), cut=False)
            # The Admin API gives html only when asked (formats=html); never ``access``.
            out.pop("access", None)
            if "html" not in request.args.get("formats", "").split(","):
                out.pop("html", None)
            out["status"] = "published"
            return json_response({resource: [out]})

        @app.get("/content/images/<path:name>")
        async def image(name: str) -> Response:
            data = self.images.get(name)
            if data is None:
                return Response("Not found", status=404)
            return Response(data, mimetype="image/png")

        @app.get("/ghost/api/content/<resource>/<ghost_id>/")
        async def read(resource: str, ghost_id: str) -> Response:
            return await self._handle(resource, ghost_id, None)

        @app.get("/ghost/api/content/<resource>/slug/<slug>/")
        async def read_slug(resource: str, slug: str) -> Response:
            return await self._handle(resource, None, slug)

        return app

    async def _handle(self, resource: str, ghost_id: str | None, slug: str | None) -> Response:
        args = dict(request.args.items())
        self.requests.append((request.path, args))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        injected = await self._injected(request.path, args.get("page", "1"))
        if injected is not None:
            return injected
        key = args.get("key")
        if not key:
            return error(
                403,
                "NoPermissionError",
                "Authorization failed",
                context="Unable to determine the authenticated member or integration. "
                "Check the supplied Content API Key and ensure cookies are being passed "
                "through if member auth is failing.",
            )
        if key != self.content_key:
            return error(
                401, "UnauthorizedError", "Unknown Content API Key", code="UNKNOWN_CONTENT_API_KEY"
            )
        if resource == "settings" and ghost_id is None and slug is None:
            return json_response({"settings": self.settings, "meta": {}})
        if resource not in ("posts", "pages", "tags", "authors"):
            return error(404, "NotFoundError", "Resource not found")
        try:
            limit = limit_of(args.get("limit"))
            page = int(args.get("page", "1"))
            if page < 1:
                raise ValueError
        except ValueError:
            return error(422, "ValidationError", "Validation error, cannot list resource.")
        includes = set(filter(None, args.get("include", "").split(",")))
        fields = [f for f in args.get("fields", "").split(",") if f]
        rows = self._rows(resource)
        if ghost_id is not None or slug is not None:
            found = [r for r in rows if r["id"] == ghost_id or (slug and r["slug"] == slug)]
            if not found:
                return error(404, "NotFoundError", f"{resource[:-1].capitalize()} not found.")
            return json_response({resource: [self._shape(found[0], resource, includes, fields)]})
        if resource == "tags":
            rows = [r for r in rows if r["visibility"] == "public"]
        try:
            rows = filtered(rows, args.get("filter"))
        except ValueError as err:
            return error(400, "BadRequestError", f"Error parsing filter: {err}")
        rows = ordered(rows, args.get("order"), resource)
        total = len(rows)
        pages = max(1, math.ceil(total / limit))
        chunk = rows[(page - 1) * limit : page * limit]
        return json_response(
            {
                resource: [self._shape(r, resource, includes, fields) for r in chunk],
                "meta": {
                    "pagination": {
                        "page": page,
                        "limit": limit,
                        "pages": pages,
                        "total": total,
                        "next": page + 1 if page < pages else None,
                        "prev": page - 1 if page > 1 else None,
                    }
                },
            }
        )

    # --- the Admin API ------------------------------------------------------------------

    def _admin_auth(self, header: str | None, now: float | None = None) -> Response | None:
        """None when ``header`` carries a token Ghost 5 accepts, else Ghost's refusal."""
        if not header:
            return error(
                403,
                "NoPermissionError",
                "Authorization failed",
                context="Unable to determine the authenticated user or integration. Check "
                "that cookies are being passed through if using session authentication.",
            )
        scheme, _, token = header.partition(" ")
        if scheme != "Ghost" or not token:
            return error(
                401,
                "UnauthorizedError",
                'Authorization header format is "Authorization: Ghost [token]"',
                code="INVALID_AUTH_HEADER",
            )
        parts = token.split(".")
        try:
            if len(parts) != 3:
                raise ValueError
            jwt_header, payload = (json.loads(b64url(p)) for p in parts[:2])
            signature = b64url(parts[2])
            if not isinstance(jwt_header, dict) or not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            return error(400, "BadRequestError", "Invalid token", code="INVALID_JWT")
        kid = jwt_header.get("kid")
        if not kid:
            return error(
                400, "BadRequestError", "Admin API kid missing.", code="MISSING_ADMIN_API_KID"
            )
        if kid != self.admin_key_id:
            return error(
                401, "UnauthorizedError", "Unknown Admin API Key", code="UNKNOWN_ADMIN_API_KEY"
            )
        problem = jwt_problem(
            jwt_header, payload, parts, signature, bytes.fromhex(self.admin_secret), now
        )
        if problem is not None:
            return error(401, "UnauthorizedError", f"Invalid token: {problem}", code="INVALID_JWT")
        return None

    def _add_webhook(self, body: Any) -> Response:
        try:
            data = body["webhooks"][0]
            event, target = str(data["event"]).lower(), str(data["target_url"])
        except (TypeError, KeyError, IndexError):
            return error(422, "ValidationError", "Validation error, cannot save webhook.")
        if event not in WEBHOOK_EVENTS or not target.startswith(("http://", "https://")):
            return error(
                422,
                "ValidationError",
                "Validation error, cannot save webhook.",
                context="Validation failed for "
                + ("event." if event not in WEBHOOK_EVENTS else "target_url."),
            )
        if any(h["event"] == event and h["target_url"] == target for h in self.webhooks.values()):
            # Ghost's error handler moves the reason into the context (prepareUserMessage).
            return error(
                422,
                "ValidationError",
                "Validation error, cannot save webhook.",
                context="Target URL has already been used for this event.",
            )
        now = ghost_time(datetime.now(UTC))
        hook = {
            "id": _object_id(),
            "event": event,
            "target_url": target,
            "name": data.get("name"),
            "secret": data.get("secret"),
            "api_version": "v5",
            "integration_id": self.admin_key_id,
            "status": "available",
            "last_triggered_at": None,
            "last_triggered_status": None,
            "last_triggered_error": None,
            "created_at": now,
            "updated_at": now,
        }
        self.webhooks[hook["id"]] = hook
        return json_response({"webhooks": [hook]}, 201)

    async def _injected(self, path: str, page: str) -> Response | None:
        for failure in self.failures:
            if (
                failure.times > 0
                and (failure.path is None or failure.path in path)
                and (failure.page is None or str(failure.page) == page)
            ):
                failure.times -= 1
                if failure.kind == "timeout":
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._release.wait(), self.timeout_delay)
                    return json_response({"posts": [], "meta": {}})
                if failure.kind == "malformed":
                    return Response('{"posts": [', status=200, mimetype="application/json")
                status = int(failure.kind)
                return error(status, "InternalServerError", "The server has encountered an error.")
        return None

    def _rows(self, resource: str) -> list[dict[str, Any]]:
        if resource == "tags":
            return list(self.tags.values())
        if resource == "authors":
            return list(self.authors.values())
        return list(self.items[resource].values())

    def _shape(
        self, row: dict[str, Any], resource: str, includes: set[str], fields: list[str]
    ) -> dict[str, Any]:
        posts = resource in ("posts", "pages")
        out = self._render(row, includes, cut=True) if posts else dict(row)
        if fields:
            out = {f: out[f] for f in fields if f in out}
        return out

    def _render(self, row: dict[str, Any], includes: set[str], *, cut: bool) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if not k.startswith("_")}
        members = out["visibility"] != "public"
        out["access"] = not members
        if members and cut:
            # Ghost's post-gating: the teaser before the paywall card, its excerpt made from
            # the teaser; without a card nothing at all.
            teaser, card, _ = out["html"].partition(PAYWALL)
            out["html"] = teaser if card else ""
            if not out.get("custom_excerpt"):
                out["excerpt"] = re.sub(r"<[^>]+>", "", out["html"])[:500]
        if "tags" in includes:
            tags = [self.tags[t] for t in row["_tags"] if t in self.tags]
            out["tags"] = tags
            public = [t for t in tags if t["visibility"] == "public"]
            out["primary_tag"] = public[0] if public else None
        if "authors" in includes:
            authors = [self.authors[a] for a in row["_authors"] if a in self.authors]
            out["authors"] = authors
            out["primary_author"] = authors[0] if authors else None
        return out
