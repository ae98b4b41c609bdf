"""Products embedded in a post: the market's ``market/product-card`` fragment in the body.

A post marks where a product's card goes with ``<div data-product="slug"></div>`` (the
sanitizer keeps exactly that attribute on a ``div``: raw HTML, Ghost's HTML cards, the plain
textarea) or with a paragraph holding only ``[product:slug]`` (what the rich-text editor can
write). The post page asks for every marked card with the page's other fragments (one MGET
for all cached copies) and puts each card in place of its marker; an unknown product or a
market that is down leaves the spot empty.
"""

from __future__ import annotations

import re

from markupsafe import Markup

from shared.infrastructure.fragments import FragmentRef, fragment
from shared.infrastructure.sanitize import PRODUCT_MARKER as _MARKER

PRODUCT_CARD = "market/product-card"
# A post with more embeds than this shows the first ones only: a page's fragments are bounded.
MAX_EMBEDS = 12


def _slot(slug: str) -> str:
    return f"{PRODUCT_CARD}:{slug}"


def product_slugs(html: str) -> list[str]:
    """The products a body embeds, in order, each once, at most :data:`MAX_EMBEDS`."""
    found = dict.fromkeys(m.group(1) or m.group(2) for m in _MARKER.finditer(html))
    return list(found)[:MAX_EMBEDS]


def card_refs(html: str) -> tuple[FragmentRef, ...]:
    """The fragments a page showing ``html`` must fetch for its embedded products."""
    return tuple(
        FragmentRef.of(PRODUCT_CARD, name=_slot(slug), slug=slug) for slug in product_slugs(html)
    )


def with_product_cards(html: str) -> Markup:
    """``html`` (sanitized already) with each marker replaced by its fetched card."""
    wanted = set(product_slugs(html))

    def card(match: re.Match[str]) -> str:
        slug = match.group(1) or match.group(2)
        return str(fragment(_slot(slug))) if slug in wanted else ""

    return Markup(_MARKER.sub(card, html))  # noqa: S704 - sanitized body and our fragments
