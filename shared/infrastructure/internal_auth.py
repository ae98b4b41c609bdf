"""Signed requests between the apps: everything under ``/internal/``.

The calling app signs each request with HMAC-SHA256 under the shared ``ROSE_INTERNAL_SECRET``
over five lines::

    METHOD
    /path
    canonical query (pairs sorted, percent-encoded)
    unix timestamp (seconds)
    acting user: "u:<id>", "c:<anonymous cart key>" or "-"

and sends the timestamp, the visitor and the hex signature in ``X-Rose-Timestamp``,
``X-Rose-Visitor`` and ``X-Rose-Signature``. The receiving app recomputes the signature from the
request it actually got, compares in constant time and refuses timestamps outside a short clock
window (``internal.clock_window_s``), which bounds replays: internal requests are reads, so a
replay inside the window gains nothing.

A request under ``/internal/`` without a valid signature gets exactly the 404 a path that does
not exist gets — the same page, before routing can answer 405 or CSRF 400 — so the internal
surface cannot even be discovered. Without a configured secret every internal request is refused.
In production the reverse proxy refuses ``/internal/`` as well.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, urlencode

from quart import Quart, abort, g, request
from werkzeug.datastructures import Headers

from shared.config import Settings
from shared.infrastructure.visitor import InvalidVisitor, Visitor

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Rose-Signature"
TIMESTAMP_HEADER = "X-Rose-Timestamp"
VISITOR_HEADER = "X-Rose-Visitor"
PREFIX = "/internal"

_HEX_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SLASHES = re.compile(r"/+")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The query as signed: decoded pairs, sorted, re-encoded one fixed way."""
    return urlencode(sorted(pairs), quote_via=quote)


def canonical_query_string(raw: bytes | str) -> str | None:
    """Canonicalise a received query string; None when it is not valid UTF-8."""
    try:
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    return canonical_query(pairs)


def signature(
    secret: str, method: str, path: str, query: str, timestamp: int | str, visitor: str
) -> str:
    message = "\n".join((method.upper(), path, query, str(timestamp), visitor))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign(
    secret: str,
    method: str,
    path: str,
    params: Iterable[tuple[str, str]] = (),
    visitor: Visitor | None = None,
    *,
    now: float | None = None,
) -> tuple[str, dict[str, str]]:
    """(query string to send, headers to send) for a signed request to ``path``."""
    query = canonical_query(params)
    timestamp = int(time.time() if now is None else now)
    visitor_header = (visitor or Visitor()).header()
    return query, {
        TIMESTAMP_HEADER: str(timestamp),
        VISITOR_HEADER: visitor_header,
        SIGNATURE_HEADER: signature(secret, method, path, query, timestamp, visitor_header),
    }


def verify(
    secret: str | None,
    method: str,
    path: str,
    query_string: bytes | str,
    headers: Headers | Mapping[str, str],
    *,
    window_s: float,
    now: float | None = None,
) -> Visitor | None:
    """The signed visitor when the request's signature is valid and fresh, else None."""
    if not secret:
        return None
    sent = headers.get(SIGNATURE_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    visitor_header = headers.get(VISITOR_HEADER, "")
    if not (_HEX_SIGNATURE.match(sent) and _TIMESTAMP.match(timestamp)):
        return None
    query = canonical_query_string(query_string)
    if query is None:
        return None
    expected = signature(secret, method, path, query, timestamp, visitor_header)
    # Compare before looking at the clock, so timing says nothing about which check failed.
    valid = hmac.compare_digest(expected, sent)
    fresh = abs((time.time() if now is None else now) - int(timestamp)) <= window_s
    if not (valid and fresh):
        return None
    try:
        return Visitor.from_header(visitor_header)
    except InvalidVisitor:
        return None


def is_internal_path(path: str) -> bool:
    """Whether ``path`` is (or would be routed to) the internal surface."""
    # Werkzeug merges repeated slashes when routing (with a redirect), so "//internal/x"
    # must be guarded exactly like "/internal/x".
    merged = _SLASHES.sub("/", path)
    return merged == PREFIX or merged.startswith(PREFIX + "/")


def install(app: Quart, settings: Settings) -> None:
    """Refuse every unsigned request under ``/internal/`` with a plain 404."""
    secret = settings.secrets.internal_secret
    window = settings.internal.clock_window_s
    if not secret:
        log.warning("ROSE_INTERNAL_SECRET is not set: every /internal/ request will be refused")

    @app.before_request
    async def _verify_internal_request() -> None:
        if not is_internal_path(request.path):
            return
        visitor = verify(
            secret,
            request.method,
            request.path,
            request.query_string,
            request.headers,
            window_s=window,
        )
        if visitor is None:
            abort(404)
        g.internal_visitor = visitor


def internal_visitor() -> Visitor:
    """The visitor signed into the current internal request (404 if the request is not one)."""
    visitor = g.get("internal_visitor")
    if not isinstance(visitor, Visitor):
        abort(404)
    return visitor
