"""What the Ghost stand-in (:mod:`tests.standins.ghost`) shares with Ghost's own API code: its
error bodies, ``limit``, ``filter`` and ``order`` as the Content API reads them, the webhook
events it knows, and the Admin API token check (jsonwebtoken's ``verify`` with Ghost's
options, written out with the standard library)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from quart import Response

DEFAULT_LIMIT = 15
MAX_LIMIT = 100
_FILTER = re.compile(r"^updated_at:(>=|<=|>|<)'([^']*)'$")
_FILTER_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


WEBHOOK_EVENTS = frozenset(
    {"site.changed"}
    | {
        f"{kind}.{event}"
        for kind in ("post", "page")
        for event in (
            "added",
            "deleted",
            "edited",
            "published",
            "published.edited",
            "unpublished",
            "scheduled",
            "unscheduled",
            "rescheduled",
        )
    }
    | {"tag.added", "tag.edited", "tag.deleted"}
    | {"member.added", "member.edited", "member.deleted"}
)
ADMIN_MAX_AGE_S = 300


def b64url(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(part) from None


def jwt_problem(
    header: dict[str, Any],
    payload: dict[str, Any],
    parts: list[str],
    signature: bytes,
    secret: bytes,
    now: float | None,
) -> str | None:
    """jsonwebtoken's ``verify`` with Ghost's options (algorithms HS256, maxAge 5m, audience
    /admin/), in its order; its message for the first failure, or None."""
    if header.get("alg") != "HS256":
        return "invalid algorithm"
    expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return "invalid signature"
    clock = int(time.time() if now is None else now)
    exp = payload.get("exp")
    if exp is not None:
        if not isinstance(exp, int | float):
            return "invalid exp value"
        if clock >= exp:
            return "jwt expired"
    aud = payload.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if "/admin/" not in audiences:
        return "jwt audience invalid. expected: /admin/"
    iat = payload.get("iat")
    if not isinstance(iat, int | float):
        return "iat required when maxAge is specified"
    if clock - iat > ADMIN_MAX_AGE_S:
        return "maxAge exceeded"
    return None


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def error(
    status: int, type_: str, message: str, *, code: str | None = None, context: str | None = None
) -> Response:
    return json_response(
        {
            "errors": [
                {
                    "message": message,
                    "context": context,
                    "type": type_,
                    "details": None,
                    "property": None,
                    "help": None,
                    "code": code,
                    "id": str(uuid.uuid4()),
                    "ghostErrorCode": None,
                }
            ]
        },
        status,
    )


def limit_of(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if raw == "all":
        return MAX_LIMIT  # Ghost 6 dropped limit=all: it gets the cap
    value = int(raw)
    if value < 1:
        raise ValueError
    return min(value, MAX_LIMIT)


def filtered(rows: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    if not expression:
        return rows
    m = _FILTER.match(expression)
    if m is None:
        raise ValueError(f"unsupported filter {expression!r}")
    op, value = m.groups()
    if not _FILTER_DATE.match(value):
        return []  # Ghost compares the text: an ISO 'T...Z' date matches nothing
    bound = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)

    def keep(row: dict[str, Any]) -> bool:
        when = datetime.fromisoformat(row["updated_at"])
        return {
            ">=": when >= bound,
            ">": when > bound,
            "<=": when <= bound,
            "<": when < bound,
        }[op]

    return [r for r in rows if keep(r)]


def ordered(rows: list[dict[str, Any]], order: str | None, resource: str) -> list[dict[str, Any]]:
    if not order:
        order = "published_at desc" if resource in ("posts", "pages") else "name asc"
    keys = []
    for part in order.split(","):
        name, _, direction = part.strip().partition(" ")
        keys.append((name, direction.strip().lower() == "desc"))
    for name, descending in reversed(keys):
        rows = sorted(
            rows, key=lambda r: (r.get(name) is None, r.get(name) or ""), reverse=descending
        )
    return rows
