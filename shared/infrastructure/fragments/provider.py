"""Providing fragments: an app declares each one with its cache TTL and whether it varies per
user, and serves them at ``GET /internal/fragments/<type>`` (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from quart import Quart, Response, abort, request

from shared.config import APP_NAMES
from shared.infrastructure import internal_auth
from shared.infrastructure.fragments.refs import ROUTE, TYPE_RE
from shared.infrastructure.visitor import ANONYMOUS, Visitor

PROVIDER_EXTENSION = "rose_fragment_set"


@dataclass(frozen=True)
class FragmentRequest:
    """What a fragment handler gets: the signed visitor (anonymous unless it varies per user)."""

    visitor: Visitor
    args: Mapping[str, str]


Handler = Callable[[FragmentRequest], Awaitable[str]]


@dataclass(frozen=True)
class FragmentSpec:
    app: str
    type: str
    ttl_s: int
    per_user: bool
    handler: Handler

    @property
    def id(self) -> str:
        return f"{self.app}/{self.type}"


class FragmentSet:
    """The fragments one app provides."""

    def __init__(self, app: str) -> None:
        if app not in APP_NAMES:
            raise ValueError(f"unknown app {app!r}")
        self.app = app
        self.specs: dict[str, FragmentSpec] = {}

    def fragment(self, type: str, *, ttl_s: int, per_user: bool) -> Callable[[Handler], Handler]:
        """Declare the handler of ``/internal/fragments/<type>``, its TTL and user-variance."""
        if not TYPE_RE.match(type):
            raise ValueError(f"fragment type {type!r} must match {TYPE_RE.pattern}")
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or ttl_s < 0:
            raise ValueError(f"{self.app}/{type}: ttl_s must be a whole number of seconds >= 0")
        if not isinstance(per_user, bool):
            raise ValueError(f"{self.app}/{type}: per_user must be True or False")
        if type in self.specs:
            raise ValueError(f"{self.app}/{type} is declared twice")

        def register(handler: Handler) -> Handler:
            self.specs[type] = FragmentSpec(self.app, type, ttl_s, per_user, handler)
            return handler

        return register

    def install(self, app: Quart) -> None:
        """Serve these fragments at ``GET /internal/fragments/<type>``."""
        if app.name != self.app:
            raise ValueError(f"{self.app}'s fragments installed on {app.name}")
        app.extensions[PROVIDER_EXTENSION] = self
        app.add_url_rule(ROUTE, "internal_fragment", self._serve, methods=["GET"])

    async def _serve(self, type: str) -> Response:
        visitor = internal_auth.internal_visitor()  # the signature was checked before routing
        spec = self.specs.get(type)
        if spec is None:
            abort(404)
        args = {key: request.args.get(key, "") for key in request.args}
        html = await spec.handler(FragmentRequest(visitor if spec.per_user else ANONYMOUS, args))
        response = Response(html, mimetype="text/html")
        response.headers["Cache-Control"] = f"max-age={spec.ttl_s}"
        if spec.per_user:
            response.headers["Vary"] = internal_auth.VISITOR_HEADER
        return response


def provided_fragments(app: Quart) -> FragmentSet | None:
    fragment_set = app.extensions.get(PROVIDER_EXTENSION)
    return fragment_set if isinstance(fragment_set, FragmentSet) else None


def is_fragment_view(view: Callable[..., Any]) -> bool:
    """Whether ``view`` is a FragmentSet's dispatcher (checked for every internal route)."""
    owner = getattr(view, "__self__", None)
    return isinstance(owner, FragmentSet) and getattr(view, "__func__", None) is FragmentSet._serve
