"""Products and events embedded in a post: the market's ``market/product-card`` and the
events app's ``events/event-card`` fragments in the body.

A post marks where a product's card goes with ``<div data-product="slug"></div>`` (the
sanitizer keeps exactly that attribute on a ``div``: raw HTML, Ghost's HTML cards, the plain
textarea) or with a paragraph holding only ``[product:slug]``; an event's card with a paragraph
holding only ``[event:slug]`` (what the rich-text editor's embed button writes). The post page
asks for every marked card with the page's other fragments (one MGET for all cached copies)
and puts each card in place of its marker; an unknown product or event, or an app that is
down, leaves the spot empty.
"""

from __future__ import annotations

import re

from markupsafe import Markup

from shared.infrastructure.fragments import FragmentRef, fragment
from shared.infrastructure.sanitize import EVENT_MARKER, PRODUCT_MARKER

PRODUCT_CARD = "market/product-card"
EVENT_CARD = "events/event-card"
# (fragment type, the marker) for each kind of embed.
_KINDS = ((PRODUCT_CARD, PRODUCT_MARKER), (EVENT_CARD, EVENT_MARKER))
# A post with more embeds than this shows the first ones only: a page's fragments are bounded.
MAX_EMBEDS = 12


def _slug(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group)


def _embeds(html: str) -> list[tuple[str, str]]:
    """``(fragment type, slug)`` of every card a body embeds, in order, each once, at most
    :data:`MAX_EMBEDS` in all."""
    found: dict[tuple[str, str], int] = {}
    for kind, marker in _KINDS:
        for match in marker.finditer(html):
            found.setdefault((kind, _slug(match)), match.start())
    return sorted(found, key=found.__getitem__)[:MAX_EMBEDS]


def _slot(kind: str, slug: str) -> str:
    return f"{kind}:{slug}"


def product_slugs(html: str) -> list[str]:
    """The products a body embeds, in order, each once."""
    return [slug for kind, slug in _embeds(html) if kind == PRODUCT_CARD]


def card_refs(html: str) -> tuple[FragmentRef, ...]:
    """The fragments a page showing ``html`` must fetch for its embedded products and events."""
    return tuple(
        FragmentRef.of(kind, name=_slot(kind, slug), slug=slug) for kind, slug in _embeds(html)
    )


def with_product_cards(html: str) -> Markup:
    """``html`` (sanitized already) with each marker replaced by its fetched card."""
    wanted = set(_embeds(html))
    for kind, marker in _KINDS:

        def card(match: re.Match[str], kind: str = kind) -> str:
            slug = _slug(match)
            return str(fragment(_slot(kind, slug))) if (kind, slug) in wanted else ""

        html = marker.sub(card, html)
    return Markup(html)  # noqa: S704 - sanitized body and our fragments
