"""Ghost's cards made storable: what :func:`~shared.infrastructure.sanitize.sanitize_html`
does to a body before its allow-list runs.

Ghost (Koenig) renders its cards as HTML that leans on a theme's script and on things our
allow-list refuses. These are reshaped here, the rest kept by the allow-list's classes:

- **Embeds** (``<iframe>``): a player from an allow-listed provider (:data:`PROVIDERS`)
  becomes a link to the provider's page inside ``<div class="kg-embed-player"
  data-embed-src="<player URL>">``; the blog's script (``shared/static/js/embeds.js``)
  swaps in a sandboxed frame of the player when the reader asks for it, so nothing is
  loaded from the provider before that. YouTube's player is its no-cookie one. An iframe of
  any other site becomes a plain link to it: an embed is never dropped without a trace.
- **Toggles** (Ghost opens them with its theme's script): ``<details>``/``<summary>``.
- **Code blocks**: the language of ``<code class="language-x">`` is copied to its
  ``<pre data-language="x">`` so the page can label it without a script.
- **Video and audio cards** (their players are the theme's script): the browser's own
  ``<video controls>``/``<audio controls>``, loading nothing until played, with a link to
  the file inside for readers that show no player.

Headings without an ``id`` get one from their text (Ghost gives every heading one), so every
section of a post can be linked to. Everything produced here still goes through the
allow-list afterwards: this module only reshapes, it is never what makes a body safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

import lxml.html
from lxml import etree


@dataclass(frozen=True)
class Provider:
    """An embed provider whose player a reader may load: ``pattern`` matches the iframe's
    ``src`` Ghost stores; ``player`` and ``page`` are made from its groups."""

    name: str
    pattern: re.Pattern[str]
    player: str
    page: str
    kind: str = "video"


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "YouTube",
        re.compile(
            r"^https://(?:www\.)?(?:youtube\.com|youtube-nocookie\.com)/embed/"
            r"(?P<id>[A-Za-z0-9_-]{11})(?:[?#].*)?$"
        ),
        "https://www.youtube-nocookie.com/embed/{id}",
        "https://www.youtube.com/watch?v={id}",
    ),
    Provider(
        "Vimeo",
        re.compile(r"^https://player\.vimeo\.com/video/(?P<id>[0-9]{1,12})(?:[?#].*)?$"),
        # dnt: Vimeo's player sets no tracking cookies.
        "https://player.vimeo.com/video/{id}?dnt=1",
        "https://vimeo.com/{id}",
    ),
    Provider(
        "Spotify",
        re.compile(
            r"^https://open\.spotify\.com/embed/(?P<type>track|album|playlist|episode|show|artist)"
            r"/(?P<id>[A-Za-z0-9]{22})(?:[?#].*)?$"
        ),
        "https://open.spotify.com/embed/{type}/{id}",
        "https://open.spotify.com/{type}/{id}",
        kind="audio",
    ),
)

# The origins of the players: the blog's frame-src (nothing else may be framed).
PLAYER_ORIGINS: tuple[str, ...] = tuple(
    dict.fromkeys(f"{urlsplit(p.player).scheme}://{urlsplit(p.player).netloc}" for p in PROVIDERS)
)

# Exactly what a player URL may be once stored (checked again by the allow-list's filter).
PLAYER_URL = re.compile(
    r"^https://www\.youtube-nocookie\.com/embed/[A-Za-z0-9_-]{11}$"
    r"|^https://player\.vimeo\.com/video/[0-9]{1,12}\?dnt=1$"
    r"|^https://open\.spotify\.com/embed/(?:track|album|playlist|episode|show|artist)"
    r"/[A-Za-z0-9]{22}$"
)
LANGUAGE = re.compile(r"^[a-z0-9][a-z0-9+#_-]{0,29}$")
_ID_CHARS = re.compile(r"[^a-z0-9]+")


def player_for(src: str) -> tuple[Provider, str, str] | None:
    """The provider, player URL and page URL of an iframe's ``src``, if allow-listed."""
    for provider in PROVIDERS:
        match = provider.pattern.match(src.strip())
        if match:
            groups = match.groupdict()
            return provider, provider.player.format(**groups), provider.page.format(**groups)
    return None


def reshape_cards(html: str, keep_id: Callable[[str], bool] = lambda _: True) -> str:
    """``html`` with Ghost's embeds, toggles and code blocks in the shapes the allow-list
    keeps (see the module's docstring); unparseable input is returned as it came."""
    if "<" not in html:
        return html
    # A parser per call: its error log is read below, and lxml parsers are not thread-safe.
    parser = lxml.html.HTMLParser(huge_tree=True)
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div", parser=parser)
    except (etree.ParserError, ValueError):
        return html
    if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
        # Nested deeper than libxml2 goes (2,048 levels), the tree lost what lay beyond: leave
        # the body as it came (the allow-list still runs on it).
        return html
    for frame in list(root.iter("iframe")):
        _replace_frame(frame)
    for toggle in root.xpath('//div[contains(concat(" ", @class, " "), " kg-toggle-card ")]'):
        _toggle_to_details(toggle)
    for code in root.xpath("//pre/code[@class]"):
        _label_language(code)
    for card in root.xpath('//figure[contains(concat(" ", @class, " "), " kg-video-card ")]'):
        _video_card(card)
    for card in root.xpath('//div[contains(concat(" ", @class, " "), " kg-audio-card ")]'):
        _audio_card(card)
    _name_headings(root, keep_id)
    return _inner_html(root)


# Written out by hand rather than by lxml.html.tostring, which percent-escapes URLs in
# attributes: that changes what the allow-list's URL check sees (a tab inside "java\tscript:",
# which browsers ignore, would become a harmless-looking "%09").
_VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "source", "track", "wbr"})
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_:.-]*$")


def _inner_html(root: lxml.html.HtmlElement) -> str:
    out = [escape(root.text or "", quote=False)]
    for child in root:
        _write(child, out)
    return "".join(out)


def _write(el: lxml.html.HtmlElement, out: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else None  # comments and the like: dropped
    if tag is not None and _NAME.match(tag):
        attrs = "".join(
            f' {name}="{escape(value, quote=True)}"'
            for name, value in el.attrib.items()
            if _NAME.match(name)
        )
        out.append(f"<{tag}{attrs}>")
        if tag not in _VOID:
            out.append(escape(el.text or "", quote=False))
            for child in el:
                _write(child, out)
            out.append(f"</{tag}>")
    elif tag is not None:
        out.append(escape(el.text_content(), quote=False))
    out.append(escape(el.tail or "", quote=False))


def _replace_frame(frame: lxml.html.HtmlElement) -> None:
    src = (frame.get("src") or "").strip()
    title = " ".join((frame.get("title") or "").split())[:200]
    found = player_for(src)
    if found is not None:
        provider, player, page = found
        box = lxml.html.Element("div")
        box.set("class", f"kg-embed-player kg-embed-{provider.kind}")
        box.set("data-embed-src", player)
        link = etree.SubElement(box, "a", href=page)
        label = etree.SubElement(link, "span")
        label.set("class", "kg-embed-title")
        label.text = title or f"Play on {provider.name}"
        name = etree.SubElement(link, "span")
        name.set("class", "kg-embed-provider")
        name.text = provider.name
    elif src.startswith(("https://", "http://")):
        box = lxml.html.Element("p")
        link = etree.SubElement(box, "a", href=src)
        host = urlsplit(src).netloc or src
        label = title or " ".join(frame.text_content().split())[:200]
        link.text = f"{label or 'Open the embedded content'} ({host})"
    else:
        box = None
    tail = frame.tail
    parent = frame.getparent()
    if parent is None:
        return
    if box is None:
        previous = frame.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + (tail or "")
        else:
            parent.text = (parent.text or "") + (tail or "")
        parent.remove(frame)
        return
    box.tail = tail
    parent.replace(frame, box)


def _toggle_to_details(toggle: lxml.html.HtmlElement) -> None:
    heading = toggle.xpath('.//*[contains(concat(" ", @class, " "), " kg-toggle-heading-text ")]')
    content = toggle.xpath('.//*[contains(concat(" ", @class, " "), " kg-toggle-content ")]')
    details = lxml.html.Element("details")
    details.set("class", "kg-card kg-toggle-card")
    summary = etree.SubElement(details, "summary")
    summary.set("class", "kg-toggle-heading")
    summary.text = " ".join(heading[0].text_content().split()) if heading else ""
    if content:
        body = content[0]
        body.attrib.clear()
        body.set("class", "kg-toggle-content")
        details.append(body)
    _swap(toggle, details)


def _media_element(tag: str, src: str, label: str) -> lxml.html.HtmlElement:
    """A ``<video>`` or ``<audio>`` with the browser's own controls, fetching nothing before
    the reader plays it, and a link to the file for readers without it (feeds)."""
    element = lxml.html.Element(tag)
    element.set("src", src)
    element.set("controls", "")
    element.set("preload", "none")
    link = etree.SubElement(element, "a", href=src)
    link.text = label
    return element


def _video_card(card: lxml.html.HtmlElement) -> None:
    """Ghost's video card, whose player is its theme's script: the browser's instead."""
    video = next(iter(card.iter("video")), None)
    src = (video.get("src") or "").strip() if video is not None else ""
    if video is None or not src:
        return
    classes = [c for c in (card.get("class") or "").split() if c.startswith("kg-")]
    figure = lxml.html.Element("figure")
    figure.set("class", " ".join(classes))
    player = _media_element("video", src, "Download the video")
    for name in ("width", "height", "loop"):
        if video.get(name) is not None:
            player.set(name, video.get(name) or "")
    # Ghost's own poster attribute is a transparent spacer from a third party: never that.
    poster = (
        card.get("data-kg-custom-thumbnail")
        or card.get("data-kg-thumbnail")
        or (video.get("poster") if "spacergif" not in (video.get("poster") or "") else None)
    )
    if poster:
        player.set("poster", poster)
    player.set("playsinline", "")
    figure.append(player)
    caption = card.find("figcaption")
    if caption is not None:
        figure.append(caption)
    _swap(card, figure)


def _audio_card(card: lxml.html.HtmlElement) -> None:
    """Ghost's audio card, likewise: its title as the caption, the browser's player."""
    audio = next(iter(card.iter("audio")), None)
    src = (audio.get("src") or "").strip() if audio is not None else ""
    if audio is None or not src:
        return
    titles = card.xpath('.//*[contains(concat(" ", @class, " "), " kg-audio-title ")]')
    title = " ".join(titles[0].text_content().split()) if titles else ""
    figure = lxml.html.Element("figure")
    figure.set("class", "kg-card kg-audio-card")
    figure.append(_media_element("audio", src, "Download the audio"))
    if title:
        caption = etree.SubElement(figure, "figcaption")
        caption.text = title
    _swap(card, figure)


def _swap(old: lxml.html.HtmlElement, new: lxml.html.HtmlElement) -> None:
    new.tail = old.tail
    parent = old.getparent()
    if parent is not None:
        parent.replace(old, new)


def _label_language(code: lxml.html.HtmlElement) -> None:
    for name in (code.get("class") or "").split():
        if name.startswith("language-") and LANGUAGE.match(name[9:]):
            pre = code.getparent()
            if pre is not None:
                pre.set("data-language", name[9:])
            return


def _name_headings(root: lxml.html.HtmlElement, keep_id: Callable[[str], bool]) -> None:
    """An id for every heading that has none the allow-list keeps (``keep_id``)."""
    headings = list(root.iter("h2", "h3", "h4", "h5", "h6"))
    taken = {h.get("id") for h in headings if h.get("id") and keep_id(h.get("id") or "")}
    for heading in headings:
        current = heading.get("id")
        if current and current in taken:
            continue
        base = _ID_CHARS.sub("-", heading.text_content().lower()).strip("-")[:80].strip("-")
        if base and not keep_id(base):
            base = f"section-{base}"
        if not base or not keep_id(base):
            heading.attrib.pop("id", None)
            continue
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate)
        heading.set("id", candidate)
