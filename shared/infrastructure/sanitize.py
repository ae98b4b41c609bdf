"""The allow-list HTML sanitizer for every HTML body that did not come from our templates.

Editor output and Ghost content go through :func:`sanitize_html` before they are stored, so
what is in the database can be rendered as-is. It is an allow-list (nh3, i.e. Rust's
ammonia, which parses like a browser): anything not listed below is dropped.

Deliberate refusals, each tested in tests/infrastructure/test_sanitize.py:

- ``<script>``/``<style>`` go with their content; every ``on*`` handler and ``style``
  attribute goes (our CSP also forbids inline script and style).
- URLs may only be ``http``, ``https``, ``mailto``, ``tel`` or relative. ``javascript:``
  and ``vbscript:`` are never safe; ``data:`` is refused too, images included: a data URL
  carries an unbounded payload inside the post (bypassing the upload size and type checks
  the editor applies to the media root) and ``data:text/html`` links are a phishing vector.
- ``<iframe>``/``<object>``/``<embed>``: a body never frames anything itself. Before the
  allow-list runs, :mod:`shared.infrastructure.cards` turns an iframe of an allow-listed
  player (YouTube, Vimeo, Spotify) into a link that the blog's page swaps for the player
  only when the reader asks, and any other iframe into a plain link to it.
- ``<h1>``: a page has exactly one h1, the title our template renders; a body's h1 keeps
  its text but loses the tag.
- ``id`` and ``class``: only on terms. An ``id`` is kept on a heading (``h2`` to ``h6``, the
  anchors a post's sections are linked by) when it is a slug that is not one of the layout's
  (:data:`RESERVED_IDS`, the prefixes of the forms' ids, or all digits). A ``class`` keeps
  only Ghost's card classes (``kg-…``) and a code block's ``language-…``: the site's own UI
  classes cannot be borrowed to imitate it.
- ``<form>``, ``<input>``, ``<button>``: content cannot ask visitors for anything.
- ``<video>`` and ``<audio>`` only with the browser's controls and ``preload="none"``
  (whatever the body asked): nothing plays or loads by itself; their URLs are checked.

Three ``data-`` attributes are kept: ``data-product`` on a ``div``, the marker of a product
embedded in a post (the blog replaces it with the market's card; its value is only ever
matched against a slug pattern, never rendered); ``data-embed-src`` on a ``div``, only when
it is exactly an allow-listed player's URL (:data:`~shared.infrastructure.cards.PLAYER_URL`);
and ``data-language`` on a ``pre``, a short lower-case name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from html.parser import HTMLParser

import nh3

from shared.contracts.widgets import PLACEHOLDER_PARAGRAPH
from shared.infrastructure.cards import LANGUAGE, PLAYER_URL, reshape_cards

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
        "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure",
        "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol",
        "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
        "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul", "var",
        "video", "audio",
    }
)  # fmt: skip

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "lang", "dir", "class"},
    "a": {"href", "hreflang"},
    "abbr": {"title"},
    "blockquote": {"cite"},
    "del": {"cite", "datetime"},
    # A product embedded in a post (blog/bp/embeds.py puts the market's card there), and
    # an embedded player loaded when the reader asks for it (shared/infrastructure/cards.py).
    "div": {"data-product", "data-embed-src"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "h5": {"id"},
    "h6": {"id"},
    "img": {"src", "alt", "width", "height", "loading"},
    "ins": {"cite", "datetime"},
    "ol": {"start", "reversed", "type"},
    "pre": {"data-language"},
    "q": {"cite"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
    "time": {"datetime"},
    # Ghost's video and audio cards, reshaped by shared/infrastructure/cards.py; the URLs
    # (src, poster) are checked like every other.
    "video": {"src", "poster", "controls", "preload", "width", "height", "loop", "playsinline"},
    "audio": {"src", "controls", "preload"},
}

URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

# The ids the pages around a post body use (base layout, header, footer, the post page);
# tests/infrastructure/test_sanitize.py checks every literal id in those templates is here.
RESERVED_IDS = frozenset(
    {"content", "search-q", "featured-heading", "latest-heading", "newsletter-heading", "ap-recent"}
)
# The prefixes of the ids the templates build (form fields, cart controls, the related posts).
RESERVED_ID_PREFIXES = ("f-", "add-", "qty-", "nav-", "related-", "why-", "e-")
_HEADING_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CLASS = re.compile(r"^kg-[a-z0-9]+(?:-[a-z0-9]+)*$")
_CODE_CLASS = re.compile(r"^language-[a-z0-9][a-z0-9+#_-]{0,29}$")


def heading_id_allowed(value: str) -> bool:
    """Whether a body's heading may keep ``id=value`` (see the module's docstring)."""
    return (
        len(value) <= 100
        and bool(_HEADING_ID.match(value))
        and not value.isdigit()
        and value not in RESERVED_IDS
        and not value.startswith(RESERVED_ID_PREFIXES)
    )


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        pattern = _CODE_CLASS if tag == "code" else _CLASS
        kept = [name for name in value.split() if pattern.match(name)]
        return " ".join(dict.fromkeys(kept)) or None
    if attribute == "id":
        return value if heading_id_allowed(value) else None
    if attribute == "data-embed-src":
        return value if PLAYER_URL.match(value) else None
    if attribute == "data-language":
        return value if LANGUAGE.match(value) else None
    if attribute == "preload":
        # Nothing is fetched before the reader plays it.
        return "none"
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style", "template", "noscript", "textarea"},
    attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener noreferrer",
    strip_comments=True,
    attribute_filter=_filter_attribute,
)

# Control characters have no place in text; \x01 and \x02 also mark search highlights.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def sanitize_html(value: str) -> str:
    """``value`` reduced to the allow-list: safe to store and render without escaping."""
    return str(_CLEANER.clean(reshape_cards(_CONTROL.sub("", value), heading_id_allowed))).strip()


UrlRewrite = Callable[[str, str, str], "str | None"]
"""(tag, attribute, value) -> the attribute's new value, or None to drop it."""


def rewrite_urls(value: str, rewrite: UrlRewrite) -> str:
    """:func:`sanitize_html`, with every link and image address (``a href``, ``img src``,
    ``cite``) passed through ``rewrite`` first: what it returns is then checked like any
    other address (a ``javascript:`` one is still dropped)."""

    def attribute_filter(tag: str, attribute: str, attr_value: str) -> str | None:
        if attribute in ("href", "src", "cite"):
            return rewrite(tag, attribute, attr_value)
        return attr_value

    cleaner = nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style", "template", "noscript", "textarea"},
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
        attribute_filter=attribute_filter,
    )
    # nh3 checks URL schemes before the filter runs: what the filter gave is checked again.
    return sanitize_html(str(cleaner.clean(_CONTROL.sub("", value))))


_BLOCK_TAGS = frozenset(
    {
        "p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
        "pre", "figure", "figcaption", "table", "tr", "td", "th", "hr", "dd", "dt", "details",
        "summary", "caption",
    }
)  # fmt: skip


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def without_widgets(value: str) -> str:
    """``value`` without its widget placeholders (what an excerpt or a description shows)."""
    return PLACEHOLDER_PARAGRAPH.sub(" ", value)


def html_to_text(value: str) -> str:
    """The readable text of an HTML fragment, whitespace collapsed (for search and excerpts);
    widget placeholders are not text."""
    parser = _TextExtractor()
    parser.feed(without_widgets(value))
    parser.close()
    return " ".join(_CONTROL.sub("", "".join(parser.parts)).split())


def clean_text(value: str | None) -> str:
    """A plain-text field (title, excerpt, alt text): control characters out, spaces collapsed.

    Such fields are never rendered as HTML (templates escape them), so markup in them is
    harmless text and is kept as typed.
    """
    if not value:
        return ""
    return " ".join(_CONTROL.sub("", value).split())


# A URL slug: lower-case ASCII letters and digits joined by single hyphens (Ghost's rule too).
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = 180


def slugify(value: str) -> str:
    """A URL slug from any text: ASCII letters and digits joined by single hyphens."""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-")


# --- product markers ----------------------------------------------------------------------

# Where a post embeds a market product (the blog's pages put the market's card there, see
# blog/bp/embeds.py): ``<div data-product="slug"></div>``, or a paragraph holding only
# ``[product:slug]`` as the rich-text editor writes it.
PRODUCT_SLUG = r"([a-z0-9]+(?:-[a-z0-9]+)*)"
PRODUCT_MARKER = re.compile(
    rf'<div data-product="{PRODUCT_SLUG}">\s*</div>|<p>\s*\[product:{PRODUCT_SLUG}\]\s*</p>'
)


# Where a post embeds an event's card (the events app's ``events/event-card``): a paragraph
# holding only ``[event:slug]``, as the rich-text editor's embed button writes it.
EVENT_MARKER = re.compile(rf"<p>\s*\[event:{PRODUCT_SLUG}\]\s*</p>")


def link_products(body: str, market_url: str, events_url: str = "") -> str:
    """``body`` (sanitized) for readers who get no fragments — feeds and the fediverse: each
    product marker becomes a plain link to the product's page on the market, and (given
    ``events_url``) each event marker a link to the event's page; widget placeholders go (a
    feed reader gets no fragments)."""
    base = market_url.rstrip("/")

    def link(match: re.Match[str]) -> str:
        url = f"{base}/products/{match.group(1) or match.group(2)}"
        return f'<p><a href="{url}">{url}</a></p>'

    def event_link(match: re.Match[str]) -> str:
        url = f"{events_url.rstrip('/')}/events/{match.group(1)}"
        return f'<p><a href="{url}">{url}</a></p>'

    body = PLACEHOLDER_PARAGRAPH.sub("", PRODUCT_MARKER.sub(link, body))
    return EVENT_MARKER.sub(event_link, body) if events_url else body
