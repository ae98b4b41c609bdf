"""Who is signed in, in every app.

Each app keeps its own session cookie; after single sign-on it holds the member's id and the
``sid`` of their sign-in at federation (``session["_auth"]``). On every request the app asks
"is this sid still signed in?" — one Redis GET of a cache key that lives a few seconds
(``oauth.session_check_cache_s``), else one PostgreSQL query — so signing out anywhere (which
ends the sid in PostgreSQL and drops the cache key) signs the person out of every app, and a
Redis restart cannot bring an ended session back.

``current_user()`` (also the ``current_user`` template global) is the signed-in member as a
:class:`~shared.contracts.UserDTO`, or None. It is the one source of "who is signed in":
setting it also sets the acting user of :mod:`shared.infrastructure.visitor` (``g.user_id``), so
the fragments a page fetches (``cart/mini``, ``account/menu``) are signed for that member and
nobody else. Views that need a member or a role use :func:`login_required` /
:func:`require_role`; a meta-test checks that every admin route carries the admin requirement.

Signing in and out changes what the member's ``account/menu`` fragment shows, so both outdate
that member's cached copies (after the request's commit).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from quart import Quart, g, has_request_context, redirect, request, session
from redis.exceptions import RedisError

from shared.contracts import UserDTO
from shared.errors import DomainError, Forbidden
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.fragments import invalidate_after_commit
from shared.infrastructure.visitor import Visitor, set_current_user

log = logging.getLogger(__name__)

SESSION_KEY = "_auth"
CACHE_PREFIX = "rose:sid:"

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class LoginRequired(DomainError):
    status = 401


MENU_FRAGMENT = "account/menu"


def current_user() -> UserDTO | None:
    """The member signed in on this request, or None."""
    if not has_request_context():
        return None
    user: UserDTO | None = g.get("user")
    return user


def _set_user(user: UserDTO | None) -> None:
    """Record who is signed in on this request: for current_user() and, identically, as the
    acting user that internal requests (fragments) are signed with."""
    g.user = user
    set_current_user(user.id if user is not None else None)


def menu_changed(user_id: int) -> None:
    """Outdate the member's cached ``account/menu`` once this request's work is committed."""
    invalidate_after_commit(db_session(), MENU_FRAGMENT, Visitor(user_id=user_id))


def current_sid() -> str | None:
    """The sid of this browser's sign-in (only while it is still signed in)."""
    if current_user() is None:
        return None
    data = session.get(SESSION_KEY)
    return str(data["sid"]) if isinstance(data, dict) and "sid" in data else None


def current_id_token() -> str | None:
    data = session.get(SESSION_KEY)
    token = data.get("idt") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


def sign_in(sid: str, user_id: int, id_token: str | None = None) -> None:
    """Start this app's session for a sign-in: a fresh session (new CSRF token, so nothing
    from before the sign-in survives it) that outlives the browser session."""
    session.clear()
    data: dict[str, Any] = {"uid": user_id, "sid": sid}
    if id_token is not None:
        data["idt"] = id_token
    session[SESSION_KEY] = data
    session.permanent = True
    # Recognised from the next request on (this one answers with a redirect).
    _set_user(None)
    g._signed_in_now = g._sign_in_changed = True
    menu_changed(user_id)


def sign_out_locally() -> str | None:
    """Forget this app's sign-in; returns the sid it had."""
    data = session.get(SESSION_KEY)
    sid = data.get("sid") if isinstance(data, dict) else None
    uid = data.get("uid") if isinstance(data, dict) else None
    session.clear()
    _set_user(None)
    g._sign_in_changed = True
    if isinstance(uid, int) and uid > 0:
        menu_changed(uid)
    return sid if isinstance(sid, str) else None


def signed_in_now() -> bool:
    """Whether this request signed someone in (its answer is the first to carry the session)."""
    return bool(has_request_context() and g.get("_signed_in_now"))


def sign_in_changed() -> bool:
    """Whether this request signed someone in or out: the next page's header differs, so a
    boosted request must be answered with a whole page (see the factory)."""
    return bool(has_request_context() and g.get("_sign_in_changed"))


def _cache_key(sid: str) -> str:
    return CACHE_PREFIX + sid


async def session_user(sid: str) -> UserDTO | None:
    """The member signed in under ``sid``: the cached answer if it is fresh, else PostgreSQL."""
    rose = current_platform()
    ttl = rose.settings.oauth.session_check_cache_s
    if ttl > 0:
        try:
            raw = await rose.redis.get(_cache_key(sid))
        except RedisError as err:
            log.warning("session cache unavailable: %r", err)
            raw = None
        if raw is not None:
            data = json.loads(raw)
            if data is None:
                return None
            return UserDTO(data["id"], data["username"], data["display_name"], tuple(data["roles"]))
    user = await services().identity.session_user(db_session(), sid)
    if ttl > 0:
        value = None if user is None else {**user.__dict__, "roles": list(user.roles)}
        try:
            await rose.redis.set(_cache_key(sid), json.dumps(value), ex=ttl)
        except RedisError as err:
            log.warning("session cache unavailable: %r", err)
    return user


async def forget_sessions(sids: Iterable[str]) -> None:
    """Drop cached answers for ended sessions, so every app sees the end at once."""
    keys = [_cache_key(s) for s in sids]
    if not keys:
        return
    try:
        await current_platform().redis.delete(*keys)
    except RedisError as err:
        # The cache entries expire within session_check_cache_s anyway.
        log.warning("could not drop cached sessions: %r", err)


async def end_sign_in(sid: str, reason: str = "signed_out") -> None:
    """End a sign-in everywhere (PostgreSQL first, then the cache), committing at once."""
    db = db_session()
    await services().identity.end_session(db, sid, reason)
    await db.commit()
    await forget_sessions([sid])


async def _load_user() -> None:
    _set_user(None)
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return
    sid, uid = data.get("sid"), data.get("uid")
    user = await session_user(sid) if isinstance(sid, str) else None
    if user is None or user.id != uid:
        # Signed out elsewhere (or the account was disabled): end this app's sign-in too.
        session.pop(SESSION_KEY, None)
        return
    _set_user(user)


def safe_next(value: str | None, allowed_origins: Iterable[str], default: str = "/") -> str:
    """A return URL we may redirect to: a local path, or a URL on one of our own apps."""
    if not value or "\\" in value or any(ord(c) < 32 for c in value):
        return default
    parts = urlsplit(value)
    if not parts.scheme and not parts.netloc:
        return value if value.startswith("/") and not value.startswith("//") else default
    origin = f"{parts.scheme}://{parts.netloc}"
    return value if origin in set(allowed_origins) and not parts.username else default


def login_url(next_url: str | None = None) -> str:
    return "/auth/login?" + urlencode({"next": next_url or request.full_path.rstrip("?")})


def require_role(role: str) -> Callable[[F], F]:
    """The view needs a signed-in member holding ``role`` (admins hold every role).

    Someone not signed in is sent to sign in (browsers) or gets 401; a member without the
    role gets 403."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.method == "GET" and request.accept_mimetypes.accept_html:
                    return redirect(login_url())
                raise LoginRequired("login_required", "Please sign in first.")
            if not user.has_role(role):
                raise Forbidden("forbidden", "Your account is not allowed to do that.")
            return await view(*args, **kwargs)

        wrapper._required_role = role  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def login_required(view: F) -> F:
    """The view needs a signed-in member."""
    return require_role("member")(view)


def required_role(view: Callable[..., Any]) -> str | None:
    """The role a view requires (None: open to everyone); for the meta-test."""
    return getattr(view, "_required_role", None)


def install(app: Quart) -> None:
    """Load the signed-in member before every request of ``app``."""
    app.before_request(_load_user)
    app.jinja_env.globals["current_user"] = current_user
