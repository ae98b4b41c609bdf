"""The events widget for other websites, at stable addresses (docs/embedding-events.md):

* ``/embed/upcoming`` — the next events (``calendar``, ``tag``, ``count``);
* ``/embed/month`` — this month's calendar (``calendar``);

each themed by ``theme`` (``light``, ``dark``) and ``accent`` (six hex digits), every
parameter validated (anything else, or a bad value, is a 400). The page is framed by a
partner's page (an ``<iframe>``): its ``frame-ancestors`` names the origins staff listed
(``/editor/embed``) and no other. The script alternative (``/static/js/events-widget.js``)
reads the same addresses with ``part=1`` (the widget alone), answered with CORS for those same
origins and refused (403) for any other.

The widget itself is the events app's cached fragment (``events/upcoming``,
``events/calendar-month``), fetched in the page's one round trip to the cache, so an embed
costs no query for its events while they are cached; browsers and proxies may keep the answer
for :data:`MAX_AGE_S`.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup
from quart import Blueprint, Response, render_template, request

from shared.contracts.widgets import Placement, WidgetError
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import page_fragments
from shared.infrastructure.widgets import widget_ref
from shared.services.registry import WIDGETS

bp = Blueprint("embed", __name__, url_prefix="/embed")

THEMES = ("light", "dark")
ACCENT = re.compile(r"^[0-9a-f]{6}$")
MAX_AGE_S = 120
# The query parameters every embed takes besides its widget's own.
COMMON = ("theme", "accent", "part")


def _options(widget_type: str) -> tuple[Placement, str, str | None, bool]:
    """The widget's placement, the theme, the accent and whether only the part is wanted,
    from the query; :class:`WidgetError` (400) for anything unknown or bad."""
    args = request.args
    for name in args:
        if len(args.getlist(name)) > 1:
            raise WidgetError("bad_embed_parameter", f"{name} is given twice.")
    theme = args.get("theme", "light")
    if theme not in THEMES:
        raise WidgetError("bad_embed_parameter", "theme must be light or dark.")
    accent = args.get("accent", "").lower() or None
    if accent is not None and not ACCENT.match(accent):
        raise WidgetError(
            "bad_embed_parameter", "accent must be a colour as six hex digits, e.g. 2f6f4f."
        )
    part = args.get("part", "")
    if part not in ("", "1"):
        raise WidgetError("bad_embed_parameter", "part must be 1 (or left out).")
    widget = WIDGETS[widget_type]
    raw = {k: v for k, v in args.items() if k not in COMMON}
    params = widget.validate(raw)
    return Placement(widget, tuple(sorted(params.items()))), theme, accent, part == "1"


async def _embed(widget_type: str, title: str) -> Any:
    placement, theme, accent, part = _options(widget_type)
    origins = await services().events.embed_origins(db_session())
    origin = request.headers.get("Origin")
    if part and origin is not None and origin not in origins:
        # A script on a website staff did not list: refused, and no CORS header says otherwise.
        return Response("This website may not show the events widget.", 403, mimetype="text/plain")
    found = await page_fragments(widget_ref(placement))
    widget = found.get(placement.slot, Markup(""))
    body = await render_template(
        "embed/part.html" if part else "embed/page.html",
        widget=widget,
        theme=theme,
        accent=accent,
        title=title,
    )
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    response.vary.add("Origin")
    ancestors = " ".join(["'self'", *origins])
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' https: data:; "
        f"base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    )
    if part and origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


@bp.get("/upcoming")
async def upcoming() -> Any:
    """What's on next, for a partner's page."""
    return await _embed("events/upcoming", "Upcoming events")


@bp.get("/month")
async def month() -> Any:
    """This month's calendar, for a partner's page."""
    return await _embed("events/calendar-month", "This month")


@bp.get("/theme.css")
async def theme_css() -> Any:
    """The accent colour as a stylesheet (the CSP allows no inline style)."""
    accent = request.args.get("accent", "").lower()
    if set(request.args) - {"accent"} or not ACCENT.match(accent):
        raise WidgetError("bad_embed_parameter", "accent must be six hex digits, e.g. 2f6f4f.")
    css = f":root {{ --widget-accent: #{accent}; }}\n"
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
