"""Members' pages from a shared frame: rendered once per audience, the member's own fragments
put into its slots per request, as edge-side includes do (decision 0103).

A signed-in member's page of the blog, the market or the events listings is the same for every
member but for the header's per-user fragments (their account menu, their cart's count, their
notifications). A view that opts in with :func:`member_frame` is rendered for the audience
``member`` (members who are not editors or admins: those may be shown more, and are rendered
for alone) with each per-user fragment left as a marked slot, and that frame is kept in Redis
(``rose:frame:<app>:<variant>:member:<hash of the URL>``) with the versions it was rendered
under — its domains' (``rose:pagever:<domain>``, bumped on commit, as the anonymous page cache
uses) and its shared fragments' — for at most ``pagecache.ttl_s``.

A member's next request runs no template and no SQL: one ``EVALSHA`` reads the frame, checks
its versions inside Redis and, in the same round trip, reads the member's copies of the
header's per-user fragments (what the fragment client's ``MGET`` would read); the fragments are
put into their slots (a string replacement) and the response is answered with the frame's
headers. A per-user fragment that is not cached is fetched as on any page.

Nothing personal may be kept in a frame. What a template shows of the member comes from
per-user fragments, which are left as slots; on top of that, a render whose frame holds the
member's CSRF token (a form), username or display name, which sets a cookie, is not a 200
HTML page, or whose fragments could not all be told shared or per-user is answered to that
member alone and not kept. Views that show the member's own things in their main content (the
cart, the account, an event with the member's bookings) do not opt in.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from markupsafe import Markup
from quart import Response, current_app, g, make_response, request, session
from redis.exceptions import RedisError
from werkzeug.datastructures import Headers

from shared.infrastructure import pagecache
from shared.infrastructure.auth import current_user
from shared.infrastructure.context import current_platform
from shared.infrastructure.csrf import SESSION_KEY as CSRF_KEY
from shared.infrastructure.fragments import (
    FragmentRef,
    client,
    header_fragments,
    partial_page_requested,
)
from shared.infrastructure.fragments.page import FRAME, FrameSlots
from shared.infrastructure.visitor import current_visitor

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

FRAME_PREFIX = "rose:frame:"
AUDIENCE = "member"
EXTENSION = "rose_memberframe"
# The response header that says how a member's page was made (hit, stored, rendered).
STATUS_HEADER = "x-rose-frame"

# The frame (if its versions are current) and, in the same round trip, the keys after it.
_LOOKUP = """
local e = redis.call('HMGET', KEYS[1], 'deps', 'head', 'body', 'slots')
local out = {false, false, false}
if e[1] then
  local current = true
  for k, v in pairs(cjson.decode(e[1])) do
    local now = redis.call('GET', k)
    if not now then now = '0' end
    if now ~= v then current = false break end
  end
  if current then out = {e[2], e[3], e[4]} end
end
if #KEYS > 1 then
  local rest = redis.call('MGET', unpack(KEYS, 2))
  for i = 1, #rest do out[#out + 1] = rest[i] end
end
return out
"""
_SKIP_HEADERS = frozenset({"content-length", "date", "server", "x-request-id", "set-cookie"})


def audience() -> str | None:
    """The audience whose frame this request may be served: ``member`` for a signed-in member
    who is not an editor (admins hold every role); None for everybody else."""
    user = current_user()
    if user is None or not user.has_role("member") or user.has_role("editor"):
        return None
    return AUDIENCE


class _Frames:
    """One app's frame store: its Lua script, and how long Redis is left alone after failing."""

    def __init__(self) -> None:
        platform = current_platform()
        self.redis = platform.redis
        self.ttl_s = platform.settings.pagecache.ttl_s
        self.retry_after_s = platform.settings.fragments.retry_after_s
        self.lookup = self.redis.register_script(_LOOKUP)
        self.down_until = 0.0
        # Frames being rendered by a request of this process (key -> set when done).
        self.rendering: dict[str, asyncio.Event] = {}

    def failed(self, err: BaseException) -> None:
        self.down_until = time.monotonic() + self.retry_after_s
        log.warning("member frames unreachable (%r): members' pages are rendered", err)


def _frames() -> _Frames:
    frames: _Frames | None = current_app.extensions.get(EXTENSION)
    if frames is None:
        frames = current_app.extensions[EXTENSION] = _Frames()
    return frames


def frame_key(app_name: str, variant: str, target: str) -> str:
    digest = hashlib.sha256(target.encode()).hexdigest()[:32]
    return f"{FRAME_PREFIX}{app_name}:{variant}:{AUDIENCE}:{digest}"


def member_frame(*domains: str) -> Callable[[F], F]:
    """Serve this view's page to members from a frame shared by every member, until one of
    ``domains`` (or a shared fragment it shows) changes. Put it under ``cacheable_page``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if request.method != "GET" or audience() is None:
                return await view(*args, **kwargs)
            platform = current_platform()
            if not platform.settings.pagecache.enabled:
                return await view(*args, **kwargs)
            frames = _frames()
            if time.monotonic() < frames.down_until:
                return await view(*args, **kwargs)
            return await _serve(frames, view, args, kwargs, domains)

        return wrapper  # type: ignore[return-value]

    return decorate


async def _serve(frames: _Frames, view: F, args: Any, kwargs: Any, domains: tuple[str, ...]) -> Any:
    partial = partial_page_requested()
    target = request.path + "?" + request.query_string.decode("latin-1")
    key = frame_key(current_app.name, "partial" if partial else "full", target)
    fragment_client = client()
    visitor = current_visitor()
    # The header's per-user fragments, read in the frame's round trip (a boosted navigation
    # has no header).
    guess = (
        ()
        if partial
        else tuple(r for r in header_fragments(current_app.name) if fragment_client.per_user(r.id))
    )
    stored: list[Any] = []

    async def read(names: list[str]) -> list[Any]:
        values: list[Any] = await frames.lookup(keys=[key, *names])
        stored[:] = values[:3]
        return values[3:]

    results, _found = await fragment_client.fetch_page(
        guess, visitor, g.get("request_id"), read=read
    )
    if len(stored) == 3 and stored[0] is not None:
        return await _from_frame(stored, results)
    rendering = frames.rendering.get(key)
    if rendering is not None:
        # Another member's request of this process is rendering this frame (after a commit
        # outdated it, every member asks at once): wait for it a while and look again, rather
        # than every one of them rendering it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rendering.wait(), pagecache.RENDER_WAIT_S)
        stored.clear()
        results, _found = await fragment_client.fetch_page(
            guess, visitor, g.get("request_id"), read=read
        )
        if len(stored) == 3 and stored[0] is not None:
            return await _from_frame(stored, results)
        return await _render(frames, key, view, args, kwargs, domains)
    frames.rendering[key] = rendering = asyncio.Event()
    try:
        return await _render(frames, key, view, args, kwargs, domains)
    finally:
        rendering.set()
        if frames.rendering.get(key) is rendering:
            del frames.rendering[key]


async def _from_frame(stored: list[Any], results: dict[str, Markup]) -> Response:
    head, body, raw_slots = stored
    meta = json.loads(raw_slots)
    refs = [
        FragmentRef(app, type_, tuple((k, v) for k, v in args), name)
        for app, type_, args, name in meta["refs"]
    ]
    missing = [r for r in refs if r.slot not in results]
    if missing:
        more, _ = await client().fetch_page(missing, current_visitor(), g.get("request_id"))
        results = {**results, **more}
    frame = FrameSlots(meta["nonce"])
    html = splice(body, frame, [r.slot for r in refs], results)
    response = Response(html, 200, headers=Headers([(k, v) for k, v in json.loads(head)]))
    response.headers[STATUS_HEADER] = "hit"
    return response


def splice(body: bytes, frame: FrameSlots, slots: list[str], html: Mapping[str, str]) -> bytes:
    """The frame with each slot's marker replaced by this member's fragment."""
    for slot in slots:
        body = body.replace(frame.marker(slot).encode(), str(html.get(slot, "")).encode())
    return body


async def _render(
    frames: _Frames, key: str, view: F, args: Any, kwargs: Any, domains: tuple[str, ...]
) -> Any:
    version_keys = [pagecache.version_key(d) for d in domains]
    try:
        before = await frames.redis.mget(version_keys) if version_keys else []
    except (RedisError, OSError, TimeoutError) as err:
        frames.failed(err)
        return await view(*args, **kwargs)
    frame = FrameSlots(secrets.token_hex(12))
    setattr(g, FRAME, frame)
    try:
        response = await make_response(await view(*args, **kwargs))
    finally:
        setattr(g, FRAME, None)
    if not isinstance(response, Response):
        return response  # a redirect made by werkzeug: nothing of a frame in it
    body = await response.get_data(as_text=False)
    slots = list(frame.refs)
    mine: dict[str, Markup] = g.get("rose_fragments") or {}
    response.set_data(splice(body, frame, slots, mine))
    reason = _not_shareable(response, frame, body)
    if reason is not None:
        log.debug("member frame not kept: %s", reason)
        response.headers[STATUS_HEADER] = "rendered"
        return response
    scope = ":" + current_visitor().scope()
    deps = {k: pagecache.version_text(v) for k, v in zip(version_keys, before, strict=True)}
    fragment_versions: dict[str, str] = g.get("_page_fragment_versions", {})
    deps.update({k: v for k, v in fragment_versions.items() if not k.endswith(scope)})
    head = [(k, v) for k, v in response.headers.items() if k.lower() not in _SKIP_HEADERS]
    refs = [[r.app, r.type, [list(a) for a in r.args], r.name] for r in frame.refs.values()]
    try:
        async with frames.redis.pipeline(transaction=False) as pipe:
            pipe.delete(key)
            pipe.hset(
                key,
                mapping={
                    "deps": json.dumps(deps, separators=(",", ":")),
                    "head": json.dumps(head),
                    "body": body,
                    "slots": json.dumps({"nonce": frame.nonce, "refs": refs}),
                },
            )
            pipe.expire(key, frames.ttl_s)
            await pipe.execute()
    except (RedisError, OSError, TimeoutError) as err:
        frames.failed(err)
    response.headers[STATUS_HEADER] = "stored"
    return response


def _not_shareable(response: Response, frame: FrameSlots, body: bytes) -> str | None:
    """Why this frame must not be shown to other members (None: it may)."""
    if response.status_code != 200 or response.mimetype != "text/html":
        return f"status {response.status_code}, {response.mimetype}"
    if "Set-Cookie" in response.headers:
        return "it sets a cookie"
    if frame.unsafe or g.get("_page_uncacheable"):
        return "a fragment could not be told shared or per-user"
    if len(body) > pagecache.MAX_BODY_BYTES:
        return "too large"
    user = current_user()
    token = session.get(CSRF_KEY)
    personal = [token if isinstance(token, str) else ""]
    if user is not None:
        personal += [user.username, user.display_name]
    text = body.decode("utf-8", errors="replace")
    if any(value and value in text for value in personal):
        return "it shows the member's token or name"
    return None
