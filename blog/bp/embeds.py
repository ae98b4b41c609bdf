"""Products and events embedded in a post: the market's ``market/product-card`` and the
events app's ``events/event-card`` fragments in the body.

A post marks where a product's card goes with ``<div data-product="slug"></div>`` (the
sanitizer keeps exactly that attribute on a ``div``: raw HTML, Ghost's HTML cards, the plain
textarea) or with a paragraph holding only ``[product:slug]``; an event's card with a paragraph
holding only ``[event:slug]`` (what the rich-text editor's embed button writes); any other
widget (shared/contracts/widgets.py) with a paragraph holding only its placeholder,
``[widget:events/upcoming count=3]``, rendered by :mod:`shared.infrastructure.widgets`.
The post page
asks for every marked card with the page's other fragments (one MGET for all cached copies)
and puts each card in place of its marker; an unknown product or event, or an app that is
down, leaves the spot empty.
"""

from __future__ import annotations

import re

from markupsafe import Markup

from shared.contracts.widgets import WidgetType
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRef, fragment
from shared.infrastructure.sanitize import EVENT_MARKER, PRODUCT_MARKER
from shared.infrastructure.widgets import widget_refs, with_widgets
from shared.services.registry import WIDGETS

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
    """The fragments a page showing ``html`` must fetch for its embedded products, events and
    widgets."""
    return tuple(
        FragmentRef.of(kind, name=_slot(kind, slug), slug=slug) for kind, slug in _embeds(html)
    ) + widget_refs(html, WIDGETS)


def with_product_cards(html: str) -> Markup:
    """``html`` (sanitized already) with each marker replaced by its fetched card, and each
    widget placeholder by its widget."""
    wanted = set(_embeds(html))
    for kind, marker in _KINDS:

        def card(match: re.Match[str], kind: str = kind) -> str:
            slug = _slug(match)
            return str(fragment(_slot(kind, slug))) if (kind, slug) in wanted else ""

        html = marker.sub(card, html)
    return Markup(with_widgets(html, WIDGETS))  # noqa: S704 - sanitized body and our fragments


async def widget_choices(query: str, limit: int) -> list[dict[str, str]]:
    """Widgets matching ``query`` for the editor's embed button: each widget whose name
    matches (with its defaults), the upcoming list and month calendar of each matching
    calendar, and the products of each matching market category; with their placeholders."""
    wanted = query.casefold()
    choices: list[tuple[WidgetType, dict[str, str], str]] = [
        (widget, {}, "everything")
        for widget in WIDGETS.values()
        if wanted in widget.label.casefold() and not any(p.required for p in widget.params)
    ]
    db = db_session()
    for calendar in await services().events.calendars(db):
        if wanted in calendar.name.casefold():
            for kind in ("events/upcoming", "events/calendar-month"):
                choices.append((WIDGETS[kind], {"calendar": calendar.slug}, calendar.name))
    stack = list(await services().catalog.category_tree(db))
    while stack:
        category = stack.pop(0)
        stack.extend(category.children)
        if wanted in category.name.casefold():
            choices.append((WIDGETS["market/category"], {"category": category.slug}, category.name))
    return [
        {
            "kind": "widget",
            "label": widget.label,
            "title": title,
            "detail": "widget",
            "marker": widget.placeholder(params),
        }
        for widget, params, title in choices[:limit]
    ]
