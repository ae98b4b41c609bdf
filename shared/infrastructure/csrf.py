"""CSRF protection for every unsafe request.

Two checks, both required (sibling subdomains are the same "site", so SameSite cookies
alone do not protect one app from a form on another):

1. ``Sec-Fetch-Site: cross-site`` is refused, and an ``Origin`` header must be one of
   the platform's own app origins.
2. A per-session token (kept in the app's signed session cookie) must come back in the
   ``csrf_token`` form field or the ``X-CSRF-Token`` header (htmx sends the header).

A view that must accept unsafe requests from elsewhere (a webhook, an ActivityPub inbox)
is marked with :func:`csrf_exempt` and a reason; a meta-test lists every exemption.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from quart import Quart, request, session

from shared.errors import DomainError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SESSION_KEY = "_csrf"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"

F = TypeVar("F", bound=Callable[..., Any])


class CSRFError(DomainError):
    status = 400


def csrf_exempt(reason: str) -> Callable[[F], F]:
    """Mark a view as accepting unsafe requests without a token; ``reason`` is required."""
    if not reason.strip():
        raise ValueError("csrf_exempt needs a reason")

    def mark(view: F) -> F:
        view._csrf_exempt = reason  # type: ignore[attr-defined]
        return view

    return mark


def exemption(view: Callable[..., Any]) -> str | None:
    return getattr(view, "_csrf_exempt", None)


def csrf_token() -> str:
    """The session's token, created on first use (templates call this in every form)."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def install(app: Quart, allowed_origins: Iterable[str]) -> None:
    origins = frozenset(allowed_origins)

    @app.before_request
    async def _check_csrf() -> None:
        if request.method in SAFE_METHODS:
            return
        view = app.view_functions.get(request.endpoint or "")
        if view is None or exemption(view) is not None:
            return
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise CSRFError("csrf_cross_site", "This form was sent from another site.")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in origins:
            raise CSRFError("csrf_origin", "This form was sent from an unknown origin.")
        if token_optional(view) is not None:
            if origin is None:
                raise CSRFError("csrf_origin", "This form was sent without its origin.")
            return
        expected = session.get(SESSION_KEY)
        sent = request.headers.get(HEADER)
        if sent is None and request.mimetype in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            sent = (await request.form).get(FORM_FIELD)
        if not (
            isinstance(expected, str)
            and isinstance(sent, str)
            and hmac.compare_digest(expected.encode(), sent.encode())
        ):
            raise CSRFError(
                "csrf_failed",
                "This form has expired or was not sent from this site. "
                "Reload the page and try again.",
            )

    app.jinja_env.globals["csrf_token"] = csrf_token


def csrf_token_optional(reason: str) -> Callable[[F], F]:
    """Mark a view whose form sits in pages cached whole for anonymous visitors, where no
    session's token can be: the token is not asked for, but the request must carry an
    ``Origin`` naming one of the platform's apps (browsers send it with every POST) and is
    refused when ``Sec-Fetch-Site`` says cross-site, as everywhere. ``reason`` is required; a
    meta-test lists every such view."""
    if not reason.strip():
        raise ValueError("csrf_token_optional needs a reason")

    def mark(view: F) -> F:
        view._csrf_token_optional = reason  # type: ignore[attr-defined]
        return view

    return mark


def token_optional(view: Callable[..., Any]) -> str | None:
    return getattr(view, "_csrf_token_optional", None)
