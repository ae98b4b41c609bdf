"""Fragments in a request: the app's client, a page's fragments fetched at once
(:func:`page_fragments`, :func:`render_page`) and placed by templates with ``fragment()``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from markupsafe import Markup
from quart import Quart, current_app, g, has_request_context, render_template, request

from shared.config import Settings
from shared.infrastructure import pagecache
from shared.infrastructure.boost import BOOST_HEADERS, wants_partial
from shared.infrastructure.fragments.client import FragmentClient
from shared.infrastructure.fragments.refs import FragmentRef, SharedPart, header_fragments
from shared.infrastructure.visitor import current_visitor

log = logging.getLogger(__name__)

EXTENSION = "rose_fragments"
# Set on ``g`` while a member's page is rendered as the frame every member shares.
FRAME = "rose_frame"


@dataclass
class FrameSlots:
    """The render of a shared frame (:mod:`shared.infrastructure.memberframe`): every per-user
    fragment it composes is left as a marked slot (``fragment()`` returns the marker), so the
    frame holds nobody's fragments; ``unsafe`` when one could not be told apart (its provider
    did not answer): that render is this member's alone."""

    nonce: str
    refs: dict[str, FragmentRef] = field(default_factory=dict)
    unsafe: bool = False

    def marker(self, slot: str) -> str:
        return f"<!--rose-slot:{self.nonce}:{slot}-->"


def frame_slots() -> FrameSlots | None:
    """The shared frame being rendered in this request, if any."""
    if not has_request_context():
        return None
    frame: FrameSlots | None = g.get(FRAME)
    return frame


def install(app: Quart, settings: Settings, redis: aioredis.Redis) -> None:
    """Give ``app`` its fragment client (opened and closed with the app) and ``fragment()``."""
    client = FragmentClient(app.name, settings, redis)
    app.extensions[EXTENSION] = client
    app.before_serving(client.start)
    app.after_serving(client.close)
    app.jinja_env.globals["fragment"] = fragment
    app.jinja_env.globals["partial_page_requested"] = partial_page_requested


def client() -> FragmentClient:
    """The fragment client of the app in context."""
    fragment_client: FragmentClient = current_app.extensions[EXTENSION]
    return fragment_client


async def page_fragments(*refs: FragmentRef, parts: Iterable[SharedPart] = ()) -> dict[str, Markup]:
    """Fetch the page's fragments (all at once) for the acting user; templates read them.

    ``parts`` are read in the same ``MGET`` and rendered where missing; their HTML is in the
    answer under their slots (it is not something ``fragment()`` shows)."""
    parts = list(parts)
    fragment_client = client()
    also = (
        [k for p in parts if p.key is not None for k in p.redis_keys()]
        if fragment_client.caches_parts()
        else []
    )
    try:
        results, found = await fragment_client.fetch_page(
            refs, current_visitor(), g.get("request_id"), also
        )
    except Exception:
        # A bug, not an outage (those are handled inside): the page renders without them.
        log.exception("composing the page's fragments failed")
        results, found = {}, None
    slots: dict[str, Markup] = g.setdefault("rose_fragments", {})
    slots.update(results)
    frame = frame_slots()
    if frame is not None:
        for ref in refs:
            per_user = fragment_client.per_user(ref.id)
            if per_user is None:
                frame.unsafe = True
            elif per_user:
                frame.refs[ref.slot] = ref
    for part in parts:
        html = await fragment_client.resolve_part(part, found)
        results[part.slot] = Markup(html)  # noqa: S704 - HTML rendered by our own app
    return results


def fragment(slot: str) -> Markup:
    """The fragment fetched for ``slot`` in this request (empty when it was not, or failed)."""
    frame = frame_slots()
    if frame is not None and slot in frame.refs:
        return Markup(frame.marker(slot))  # noqa: S704 - our own marker
    slots: dict[str, Markup] = g.get("rose_fragments") or {}
    return slots.get(slot, Markup(""))


def partial_page_requested() -> bool:
    """Whether this request is a boosted navigation (htmx) that wants only the page's title
    and ``#content``: the header stays in place, so its fragments are not even fetched.

    A history restore (back/forward) swaps the whole body, so it gets the full page. The
    answer depends on these headers: responses say so (``Vary``, set by the factory).
    """
    if not has_request_context():
        return False
    # Asked several times per page (render_page, base.html); werkzeug's lookup of a missing
    # header raises and catches an exception, so the answer is kept for the request.
    partial: bool | None = g.get("_partial_page")
    if partial is None:
        hx, restore = (request.headers.get(name) for name in BOOST_HEADERS)
        partial = g._partial_page = wants_partial(hx, restore)
    return partial


async def render_page(
    template: str,
    *,
    fragments: Iterable[FragmentRef] = (),
    parts: Iterable[SharedPart] = (),
    **context: Any,
) -> str:
    """Render a page of the site: the header's fragments and ``fragments`` first, in one go
    (for a boosted navigation, only ``fragments``: the header is already on the screen), with
    each of ``parts`` read in the same round trip and given to the template by its slot."""
    parts = list(parts)
    header = (
        ()
        if partial_page_requested()
        else header_fragments(current_app.name, cart=not pagecache.cart_deferred())
    )
    found = await page_fragments(*header, *fragments, parts=parts)
    context.update({part.slot: found[part.slot] for part in parts})
    return await render_template(template, **context)


async def render_part(template: str, **context: Any) -> str:
    """Render a template for a :class:`SharedPart`: without the request's template context
    (no ``request``, ``session`` or ``g``), so nothing of this visitor can slip into a copy
    that others are shown."""
    return await current_app.jinja_env.get_template(template).render_async(context)
