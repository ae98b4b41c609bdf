"""Widgets in a page's body: the placeholders (``[widget:events/upcoming count=3]``, see
:mod:`shared.contracts.widgets`) turned into the fragments a page fetches with its header's, in
the same single round trip to the cache, and the fetched HTML put in their place.

A placeholder that is not a known widget, or whose parameters are bad, shows nothing (editors
are refused it when they save; this only guards what came in some other way, such as Ghost). A
widget whose app is down shows its last good copy, or nothing (the fragment client's rule).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from markupsafe import Markup, escape

from shared.contracts.widgets import (
    PLACEHOLDER_PARAGRAPH,
    Placement,
    WidgetError,
    WidgetType,
    placement_of,
)
from shared.infrastructure.fragments import FragmentRef, fragment

# A page shows at most this many widgets (the first ones): its fragments are bounded.
MAX_WIDGETS = 12


def _placement(match: re.Match[str], catalogue: Mapping[str, WidgetType]) -> Placement | None:
    try:
        return placement_of(match.group(1), match.group(2), catalogue)
    except WidgetError:
        return None


def widget_placements(html: str, catalogue: Mapping[str, WidgetType]) -> list[Placement]:
    """The good placements in ``html``, in order, each once, at most :data:`MAX_WIDGETS`."""
    found: dict[str, Placement] = {}
    for match in PLACEHOLDER_PARAGRAPH.finditer(html):
        placement = _placement(match, catalogue)
        if placement is not None:
            found.setdefault(placement.slot, placement)
    return list(found.values())[:MAX_WIDGETS]


def widget_ref(placement: Placement) -> FragmentRef:
    """The fragment rendering ``placement``, fetched under its slot."""
    return FragmentRef.of(placement.widget.fragment, name=placement.slot, **dict(placement.params))


def widget_refs(html: str, catalogue: Mapping[str, WidgetType]) -> tuple[FragmentRef, ...]:
    """The fragments a page showing ``html`` fetches for its widgets."""
    return tuple(widget_ref(p) for p in widget_placements(html, catalogue))


def widget_box(placement: Placement) -> Markup:
    """The fetched widget in its box (nothing when its fragment came back empty)."""
    html = fragment(placement.slot)
    if not html.strip():
        return Markup("")
    kind = placement.widget.type.replace("/", "-")
    return Markup('<div class="widget widget--{}">{}</div>').format(escape(kind), html)


def with_widgets(html: str, catalogue: Mapping[str, WidgetType]) -> str:
    """``html`` (sanitized already) with each placeholder replaced by its fetched widget."""
    wanted = {p.slot for p in widget_placements(html, catalogue)}

    def box(match: re.Match[str]) -> str:
        placement = _placement(match, catalogue)
        if placement is None or placement.slot not in wanted:
            return ""
        return str(widget_box(placement))

    return PLACEHOLDER_PARAGRAPH.sub(box, html)
