"""Small clients for Ghost's Content and Admin APIs, and the check of Ghost's webhook signature.

The contract followed here is the one in shared/docs/EXTERNAL-APIS.md (Ghost 5.x): key in
the query string, list answers with ``meta.pagination``, single reads as one-element
lists, errors as ``{"errors": [{"message", "type", "code", ...}]}``, filter dates only as
``'YYYY-MM-DD HH:MM:SS'`` in UTC. Every failure becomes a :class:`GhostError` with a stable
``code``, raised before the caller has stored anything from that answer.

The Admin API registers the webhooks the sync needs and reads the whole bodies of
members-only items (the Content API cuts them at the paywall). It authenticates with a
short-lived JWT made from the Admin API key ``id:secret`` exactly as Ghost checks it: HS256,
header ``kid`` = the key's id, payload ``iat``, ``exp = iat + 300`` and ``aud "/admin/"``,
signed with the hex-decoded secret (joserfc, not hand-made crypto).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey

from shared.config import ConfigError, Settings
from shared.infrastructure import inputs

CONTENT_PATH = "/ghost/api/content"
ADMIN_PATH = "/ghost/api/admin"
# Ghost refuses an Admin token older than five minutes; ours live exactly that long.
ADMIN_TOKEN_TTL_S = 300
ADMIN_AUDIENCE = "/admin/"
_ADMIN_KEY = re.compile(r"^([0-9a-f]{24}):((?:[0-9a-f]{2}){16,})$")
# Ghost's own clients announce the API version they speak.
ACCEPT_VERSION = "v5.0"
FILTER_DATETIME = "%Y-%m-%d %H:%M:%S"


class GhostError(Exception):
    """Ghost did not give a usable answer; ``code`` says which way."""

    code = "ghost_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GhostAuthError(GhostError):
    """401 (unknown key) or 403 (no key): fix the configuration, retrying will not help."""

    code = "ghost_auth"


class GhostNotFound(GhostError):
    code = "ghost_not_found"


class GhostUnavailable(GhostError):
    """5xx, 429, a timeout or a connection failure: worth retrying later."""

    code = "ghost_unavailable"


class GhostMalformed(GhostError):
    """An answer that is not the JSON the contract promises."""

    code = "ghost_malformed"


def filter_datetime(value: datetime) -> str:
    """A datetime as Ghost's filter syntax wants it (UTC, a space, whole seconds).

    An ISO ``T...Z`` value silently matches nothing in Ghost's filters.
    """
    return value.astimezone(UTC).strftime(FILTER_DATETIME)


def parse_datetime(value: Any, field: str) -> datetime:
    """Ghost's ``2026-11-27T14:02:23.000+00:00`` (or ``...Z``) as an aware datetime."""
    if not isinstance(value, str):
        raise GhostMalformed(f"{field}: expected a timestamp, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GhostMalformed(f"{field}: {value!r} is not a timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Pagination:
    page: int
    pages: int
    total: int
    next: int | None


class GhostContentClient:
    """Reads from one Ghost site's Content API."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._key = key
        self.site_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + CONTENT_PATH,
            timeout=timeout,
            headers={"Accept-Version": ACCEPT_VERSION, "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout: float | None = None) -> Self:
        """The client for the configured Ghost, or a ConfigError naming what is missing."""
        if not settings.ghost.url:
            raise ConfigError("ghost.url is not set (in the config file or ROSE_GHOST__URL)")
        key = settings.require("ghost_content_key")
        return cls(settings.ghost.url, key, timeout=timeout or settings.ghost.timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, params: Mapping[str, str | int]) -> dict[str, Any]:
        query = {"key": self._key, **{k: str(v) for k, v in params.items()}}
        response = await _send(self._http.get(path, params=query), path)
        _raise_for_status(response, path, "Content API key")
        return _json_object(response, path)

    async def browse(
        self, resource: str, params: Mapping[str, str | int]
    ) -> tuple[list[dict[str, Any]], Pagination]:
        """One page of ``resource`` (posts, pages, tags, authors)."""
        body = await self._get(f"/{resource}/", params)
        items = _items(body, resource)
        meta = (
            body.get("meta", {}).get("pagination") if isinstance(body.get("meta"), dict) else None
        )
        if not isinstance(meta, dict):
            raise GhostMalformed(f"{resource}: the answer has no meta.pagination")
        try:
            page = int(meta["page"])
            pagination = Pagination(
                page=page,
                pages=int(meta["pages"]),
                total=int(meta["total"]),
                next=None if meta.get("next") is None else int(meta["next"]),
            )
        except (KeyError, TypeError, ValueError):
            raise GhostMalformed(f"{resource}: meta.pagination is incomplete") from None
        if pagination.next is not None and pagination.next <= page:
            raise GhostMalformed(f"{resource}: pagination.next {pagination.next} after {page}")
        return items, pagination

    async def browse_all(
        self, resource: str, params: Mapping[str, str | int]
    ) -> AsyncIterator[tuple[list[dict[str, Any]], Pagination]]:
        """Every page of ``resource``, following ``pagination.next``."""
        page: int | None = 1
        while page is not None:
            items, pagination = await self.browse(resource, {**params, "page": page})
            yield items, pagination
            page = pagination.next

    async def read(
        self, resource: str, ghost_id: str, params: Mapping[str, str | int]
    ) -> dict[str, Any]:
        """One item by id; :class:`GhostNotFound` when Ghost does not (or no longer) show it."""
        body = await self._get(f"/{resource}/{ghost_id}/", params)
        items = _items(body, resource)
        if len(items) != 1:
            raise GhostMalformed(f"{resource}/{ghost_id}: expected one item, got {len(items)}")
        return items[0]

    async def settings(self) -> dict[str, Any]:
        body = await self._get("/settings/", {})
        settings = body.get("settings")
        if not isinstance(settings, dict):
            raise GhostMalformed("settings: the answer has no settings object")
        return settings


async def _send(request: Awaitable[httpx.Response], path: str) -> httpx.Response:
    try:
        return await request
    except httpx.TimeoutException:
        raise GhostUnavailable(f"Ghost did not answer {path} in time") from None
    except httpx.HTTPError as err:
        raise GhostUnavailable(f"Ghost could not be reached: {err.__class__.__name__}") from None


def _raise_for_status(response: httpx.Response, path: str, key: str) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = _error_detail(response)
    if status in (401, 403):
        raise GhostAuthError(f"Ghost refused the {key}: {detail}", status=status)
    if status == 404:
        raise GhostNotFound(f"Ghost has no {path}: {detail}", status=status)
    if status == 429 or status >= 500:
        raise GhostUnavailable(f"Ghost answered {status}: {detail}", status=status)
    raise GhostError(f"Ghost answered {status} to {path}: {detail}", status=status)


def _json_object(response: httpx.Response, path: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise GhostMalformed(f"Ghost answered {path} with something that is not JSON") from None
    if not isinstance(body, dict):
        raise GhostMalformed(f"Ghost answered {path} with JSON that is not an object")
    return body


# --- the Admin API -------------------------------------------------------------------


def parse_admin_key(value: str) -> tuple[str, bytes]:
    """(key id, secret bytes) of an Admin API key ``id:secret`` as Ghost shows it."""
    match = _ADMIN_KEY.match(value.strip())
    if match is None:
        raise ConfigError(
            "ROSE_GHOST_ADMIN_KEY (environment variable): expected the Admin API key as Ghost "
            "shows it, <24 hex>:<64 hex>"
        )
    return match.group(1), bytes.fromhex(match.group(2))


def admin_token(key_id: str, secret: bytes, *, now: int | None = None) -> str:
    """The JWT Ghost's Admin API accepts for five minutes (see the module's docstring)."""
    iat = int(time.time()) if now is None else now
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id}
    claims = {"iat": iat, "exp": iat + ADMIN_TOKEN_TTL_S, "aud": ADMIN_AUDIENCE}
    return jwt.encode(header, claims, OctKey.import_key(secret))


class WebhookExists(GhostError):
    """Ghost already has a webhook for this event and target (its 422 ValidationError)."""

    code = "ghost_webhook_exists"


class GhostAdminClient:
    """One Ghost site's Admin API: our webhooks, and whole bodies of members-only items."""

    def __init__(
        self,
        base_url: str,
        admin_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._key_id, self._secret = parse_admin_key(admin_key)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + ADMIN_PATH,
            timeout=timeout,
            headers={"Accept-Version": ACCEPT_VERSION, "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if not settings.ghost.url:
            raise ConfigError("ghost.url is not set (in the config file or ROSE_GHOST__URL)")
        key = settings.require("ghost_admin_key")
        return cls(settings.ghost.url, key, timeout=settings.ghost.timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def _auth(self) -> dict[str, str]:
        # A fresh token per request: it never outlives Ghost's five minutes.
        return {"Authorization": f"Ghost {admin_token(self._key_id, self._secret)}"}

    async def add_webhook(
        self, *, event: str, target_url: str, secret: str, name: str
    ) -> dict[str, Any]:
        """Create a webhook; :class:`WebhookExists` when Ghost has one for event + target."""
        path = "/webhooks/"
        body = {
            "webhooks": [{"event": event, "target_url": target_url, "secret": secret, "name": name}]
        }
        response = await _send(self._http.post(path, json=body, headers=self._auth()), path)
        # Ghost says why in the error's context ("Target URL has already been used for this
        # event."); its message is only "Validation error, cannot save webhook.".
        if response.status_code == 422 and "already been used" in _error_detail(response):
            raise WebhookExists(f"{event} -> {target_url} is already registered", status=422)
        _raise_for_status(response, path, "Admin API key")
        return _one_webhook(response, path)

    async def edit_webhook(
        self, webhook_id: str, *, event: str, target_url: str, secret: str, name: str
    ) -> dict[str, Any] | None:
        """Point one of this integration's webhooks at ``target_url`` with ``secret``; None
        when Ghost has no such webhook (deleted in its admin screen, say)."""
        path = f"/webhooks/{webhook_id}/"
        body = {
            "webhooks": [{"event": event, "target_url": target_url, "secret": secret, "name": name}]
        }
        response = await _send(self._http.put(path, json=body, headers=self._auth()), path)
        if response.status_code == 404:
            return None
        _raise_for_status(response, path, "Admin API key")
        return _one_webhook(response, path)

    async def read(
        self, resource: str, ghost_id: str, params: Mapping[str, str | int]
    ) -> dict[str, Any]:
        """One post or page as the Admin API gives it (``formats=html``: the whole body,
        members-only part included); :class:`GhostNotFound` when there is none."""
        path = f"/{resource}/{ghost_id}/"
        query = {k: str(v) for k, v in params.items()}
        response = await _send(self._http.get(path, params=query, headers=self._auth()), path)
        _raise_for_status(response, path, "Admin API key")
        items = _items(_json_object(response, path), resource)
        if len(items) != 1:
            raise GhostMalformed(f"{resource}/{ghost_id}: expected one item, got {len(items)}")
        return items[0]


def _one_webhook(response: httpx.Response, path: str) -> dict[str, Any]:
    webhooks = _json_object(response, path).get("webhooks")
    if not isinstance(webhooks, list) or len(webhooks) != 1 or not isinstance(webhooks[0], dict):
        raise GhostMalformed("webhooks: the answer has no webhook")
    return webhooks[0]


def _items(body: dict[str, Any], resource: str) -> list[dict[str, Any]]:
    items = body.get(resource)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise GhostMalformed(f"{resource}: the answer has no list of {resource}")
    return items


def _error_detail(response: httpx.Response) -> str:
    try:
        error = response.json()["errors"][0]
        parts = [error.get("type"), error.get("code"), error.get("message"), error.get("context")]
        return " ".join(str(p) for p in parts if p)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return response.reason_phrase or "no details"


# --- webhooks ------------------------------------------------------------------------


class WebhookSignatureError(Exception):
    """The webhook is not provably from our Ghost (or is too old): refuse it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def sign_webhook(secret: str, body: bytes, timestamp_ms: int) -> str:
    """The ``X-Ghost-Signature`` value Ghost sends: HMAC-SHA256 over body + timestamp."""
    digest = hmac.new(secret.encode(), body + str(timestamp_ms).encode(), hashlib.sha256)
    return f"sha256={digest.hexdigest()}, t={timestamp_ms}"


def verify_webhook(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    window_s: int,
    now_ms: int | None = None,
) -> None:
    """Raise :class:`WebhookSignatureError` unless ``header`` signs ``body`` recently."""
    if not header:
        raise WebhookSignatureError("signature_missing", "X-Ghost-Signature is missing.")
    fields: dict[str, str] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    signature, stamp = fields.get("sha256", ""), fields.get("t", "")
    if len(signature) != 64 or not stamp.isdigit() or len(stamp) > 16:
        raise WebhookSignatureError("signature_malformed", "X-Ghost-Signature is malformed.")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - int(stamp)) > window_s * 1000:
        raise WebhookSignatureError("signature_stale", "The webhook's timestamp is too old.")
    expected = sign_webhook(secret, body, int(stamp)).split(",")[0].removeprefix("sha256=")
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise WebhookSignatureError("signature_invalid", "The webhook's signature is wrong.")


def webhook_payload(body: bytes) -> dict[str, Any]:
    """The webhook's JSON object, or ValueError (inputs.JSONBodyError for what is not JSON we
    read, however deeply nested)."""
    payload = inputs.parse_json(body)
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    return payload
