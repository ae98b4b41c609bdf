"""Ghost's cards as the sanitizer stores them: real Koenig output keeps what readers expect,
embeds become players loaded on request, and hostile input dressed as cards gets nothing."""
# ruff: noqa: E501 - the HTML samples read best whole, one per line

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest

from shared.infrastructure.cards import PLAYER_ORIGINS, player_for
from shared.infrastructure.sanitize import RESERVED_IDS, heading_id_allowed, sanitize_html
from tests.infrastructure.koenig_cards import KOENIG_CARDS, KOENIG_MEDIA_CARDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stored() -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(sanitize_html(KOENIG_CARDS), create_parent="div")


def _xpath(root: lxml.html.HtmlElement, path: str) -> list[lxml.html.HtmlElement]:
    return list(root.xpath(path))


def _by_class(root: lxml.html.HtmlElement, name: str) -> list[lxml.html.HtmlElement]:
    return _xpath(root, f'.//*[contains(concat(" ", @class, " "), " {name} ")]')


def test_stored_cards_are_stable() -> None:
    once = sanitize_html(KOENIG_CARDS)
    assert sanitize_html(once) == once


def test_images_keep_their_width_classes_and_captions(stored: lxml.html.HtmlElement) -> None:
    wide, full = _by_class(stored, "kg-image-card")
    assert "kg-width-wide" in wide.get("class")
    assert "kg-width-full" in full.get("class")
    assert wide.find("figcaption") is not None
    assert lxml.html.tostring(wide.find("figcaption"), encoding="unicode") == (
        "<figcaption>The field in <em>June</em></figcaption>"
    )
    img = wide.find("img")
    assert (img.get("class"), img.get("width"), img.get("height")) == ("kg-image", "1200", "800")


def test_a_gallery_keeps_its_rows(stored: lxml.html.HtmlElement) -> None:
    (gallery,) = _by_class(stored, "kg-gallery-card")
    rows = _by_class(gallery, "kg-gallery-row")
    assert [len(_by_class(r, "kg-gallery-image")) for r in rows] == [3, 2]
    assert all(img.get("width") and img.get("height") for img in gallery.iter("img"))
    assert gallery.find("figcaption").text == "The harvest, in five pictures"


def test_a_bookmark_keeps_title_description_publisher_and_thumbnail(
    stored: lxml.html.HtmlElement,
) -> None:
    (card,) = _by_class(stored, "kg-bookmark-card")
    link = card.find("a")
    assert link.get("href") == "https://example.org/article"
    assert "kg-bookmark-container" in link.get("class")
    texts = {
        name: _by_class(card, name)[0].text_content()
        for name in (
            "kg-bookmark-title",
            "kg-bookmark-description",
            "kg-bookmark-author",
            "kg-bookmark-publisher",
        )
    }
    assert texts == {
        "kg-bookmark-title": "A cooperative handbook",
        "kg-bookmark-description": "How members run a shop together, from the first meeting to the annual accounts.",
        "kg-bookmark-author": "Example Press",
        "kg-bookmark-publisher": "Jo Bloggs",
    }
    thumbnail = _by_class(card, "kg-bookmark-thumbnail")[0].find("img")
    assert thumbnail.get("src") == "https://example.org/cover.jpg"
    assert thumbnail.get("onerror") is None  # Koenig's inline handler goes


def test_callout_button_and_code(stored: lxml.html.HtmlElement) -> None:
    (callout,) = _by_class(stored, "kg-callout-card")
    assert "kg-callout-card-blue" in callout.get("class")
    assert _by_class(callout, "kg-callout-emoji")[0].text == "💡"
    (button,) = _by_class(stored, "kg-button-card")
    assert "kg-align-center" in button.get("class")
    link = button.find("a")
    assert (link.get("href"), link.get("class"), link.text) == (
        "https://example.org/join",
        "kg-btn kg-btn-accent",
        "Join the cooperative",
    )
    (code_card,) = _by_class(stored, "kg-code-card")
    pre = code_card.find("pre")
    assert pre.get("data-language") == "python"
    assert pre.find("code").get("class") == "language-python"
    assert 'return "<b>hi</b>"' in pre.text_content()
    assert code_card.find("figcaption").text == "A tiny function"


def test_a_toggle_opens_without_a_script(stored: lxml.html.HtmlElement) -> None:
    (toggle,) = _xpath(stored, ".//details")
    assert "kg-toggle-card" in toggle.get("class")
    assert toggle.find("summary").text == "What does membership cost?"
    assert (
        _by_class(toggle, "kg-toggle-content")[0].text_content()
        == "£10 a year, or what you can afford."
    )
    assert not _xpath(stored, ".//button")
    assert not _xpath(stored, ".//svg")


def test_headings_keep_their_anchors(stored: lxml.html.HtmlElement) -> None:
    assert [h.get("id") for h in stored.iter("h2")] == ["a-section-heading"]
    # One without an id (our editor's) gets one from its text, unique in the body.
    assert sanitize_html("<h2>Our hours</h2><h3>Our hours</h3><h2>!!</h2>") == (
        '<h2 id="our-hours">Our hours</h2><h3 id="our-hours-2">Our hours</h3><h2>!!</h2>'
    )


def test_embeds_become_players_loaded_on_request(stored: lxml.html.HtmlElement) -> None:
    assert not _xpath(stored, ".//iframe")
    players = _by_class(stored, "kg-embed-player")
    assert [p.get("data-embed-src") for p in players] == [
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        "https://player.vimeo.com/video/76979871?dnt=1",
        "https://open.spotify.com/embed/track/4uLU6hMCjMI75M1A2tKUQC",
    ]
    # Until then each is a link to the provider's own page, named by the embed's title.
    links = [(p.find("a").get("href"), p.find("a").text_content()) for p in players]
    assert links == [
        (
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "Rick Astley - Never Gonna Give You UpYouTube",
        ),
        ("https://vimeo.com/76979871", "The New Vimeo Player (You Know, For Videos)Vimeo"),
        (
            "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
            "Spotify Embed: Never Gonna Give You UpSpotify",
        ),
    ]
    assert "kg-embed-audio" in players[2].get("class")
    assert players[0].getparent().find("figcaption").text == "A song"


def test_video_and_audio_cards_get_the_browsers_players() -> None:
    clean = sanitize_html(KOENIG_MEDIA_CARDS)
    assert sanitize_html(clean) == clean
    root = lxml.html.fragment_fromstring(clean, create_parent="div")
    (video_card,) = _by_class(root, "kg-video-card")
    video = video_card.find("video")
    assert dict(video.attrib) == {
        "src": "/content/media/2026/12/supper.mp4",
        "controls": "",
        "preload": "none",
        "width": "1280",
        "height": "720",
        "poster": "/content/media/2026/12/supper_thumb.jpg",
        "playsinline": "",
    }
    assert video.find("a").get("href") == "/content/media/2026/12/supper.mp4"
    caption = video_card.find("figcaption")
    assert lxml.html.tostring(caption, encoding="unicode", with_tail=False) == (
        "<figcaption>The supper in <em>one minute</em></figcaption>"
    )
    (audio_card,) = _by_class(root, "kg-audio-card")
    audio = audio_card.find("audio")
    assert (audio.get("src"), audio.get("preload")) == ("/content/media/2026/12/speech.mp3", "none")
    assert audio_card.find("figcaption").text == "The welcome speech"
    # Nothing of Ghost's own player is left behind: no stray times, speeds or buttons.
    assert "0:00" not in clean
    assert "1\u00d7" not in clean  # the playback speed of Ghost's player
    assert "<button" not in clean


@pytest.mark.parametrize(
    ("src", "player"),
    [
        (
            "https://www.youtube.com/embed/dQw4w9WgXcQ?feature=oembed",
            "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        ),
        (
            "https://youtube.com/embed/dQw4w9WgXcQ",
            "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        ),
        (
            "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
            "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
        ),
        (
            "https://player.vimeo.com/video/76979871?h=abc",
            "https://player.vimeo.com/video/76979871?dnt=1",
        ),
        ("http://www.youtube.com/embed/dQw4w9WgXcQ", None),  # plain http is no player
        ("https://www.youtube.com.evil.example/embed/dQw4w9WgXcQ", None),
        ("https://evil.example/?https://www.youtube.com/embed/dQw4w9WgXcQ", None),
        ('https://www.youtube.com/embed/dQw4w9WgXcQ"onload="x', None),
        ("javascript:alert(1)//https://www.youtube.com/embed/dQw4w9WgXcQ", None),
    ],
)
def test_only_allow_listed_players_are_recognised(src: str, player: str | None) -> None:
    found = player_for(src)
    assert (found[1] if found else None) == player


HOSTILE = [
    # (input, what must not survive)
    (
        '<div class="kg-embed-player" data-embed-src="javascript:alert(1)"><a href="#">x</a></div>',
        "javascript",
    ),
    ('<div data-embed-src="https://evil.example/embed/dQw4w9WgXcQ">x</div>', "evil"),
    (
        '<div data-embed-src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?x=&quot;onload">x</div>',
        "data-embed-src",
    ),
    (
        '<div data-embed-src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ" onclick="x()">x</div>',
        "onclick",
    ),
    (
        '<p data-embed-src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ">x</p>',
        "data-embed-src",
    ),
    ('<iframe srcdoc="<script>alert(1)</script>"></iframe>', "alert"),
    ('<iframe src="data:text/html,<script>alert(1)</script>"></iframe>', "script"),
    (
        '<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ" onload="alert(1)" title=\'&lt;img src=x onerror=alert(1)&gt;\'></iframe>',
        "<img",
    ),
    ('<iframe src="https://evil.example/x" title="<script>alert(1)</script>"></iframe>', "<script"),
    ('<pre data-language="x&quot; onmouseover=&quot;alert(1)"><code>x</code></pre>', "onmouseover"),
    ('<pre data-language="PYTHON</pre><script>"><code>x</code></pre>', "script"),
    ('<code class="language-python onclick">x</code>', "onclick"),
    ('<p class="kg-card site-header skip-link">x</p>', "site-header"),
    ('<p class="kg-card&quot; onclick=&quot;x">x</p>', "onclick"),
    ('<h2 id="content">x</h2>', "content"),
    ('<h2 id="search-q">x</h2>', "search-q"),
    ('<h2 id="f-title">x</h2>', "f-title"),
    ('<h2 id="123">x</h2>', "123"),
    ('<h2 id="a b">x</h2>', 'id="a'),
    ('<p id="kg-x">x</p>', "id="),
    (
        '<div class="kg-toggle-card"><h4 class="kg-toggle-heading-text"><img src=x onerror=alert(1)></h4><div class="kg-toggle-content" onclick="x()"><script>alert(1)</script></div></div>',
        "alert",
    ),
    (
        '<div class="kg-toggle-card"><div class="kg-toggle-content"><iframe src="javascript:alert(1)"></iframe></div></div>',
        "javascript",
    ),
    (
        '<figure class="kg-bookmark-card"><a class="kg-bookmark-container" href="javascript:alert(1)">x</a></figure>',
        "javascript",
    ),
    ('<a class="kg-btn" href="java&#x09;script:alert(1)">x</a>', "script"),
    ('<img class="kg-image" src="x" srcset="javascript:alert(1) 1x">', "srcset"),
    ('<video src="javascript:alert(1)" poster="javascript:alert(2)"></video>', "javascript"),
    ('<video src="/v.mp4" autoplay onplay="x()" preload="auto"></video>', "auto"),
    (
        '<figure class="kg-video-card"><video src="javascript:alert(1)"></video></figure>',
        "javascript",
    ),
    (
        '<figure class="kg-video-card" data-kg-thumbnail="javascript:alert(1)"><video src="/v.mp4"></video></figure>',
        "javascript",
    ),
    (
        '<div class="kg-audio-card"><audio src="data:audio/wav;base64,AAAA"></audio><div class="kg-audio-title"><img src=x onerror=alert(1)></div></div>',
        "data:",
    ),
    (
        '<div class="kg-audio-card"><audio src="/a.mp3"></audio><div class="kg-audio-title"><img src=x onerror=alert(1)></div></div>',
        "onerror",
    ),
]


@pytest.mark.parametrize(("dirty", "gone"), HOSTILE)
def test_hostile_cards_keep_nothing_dangerous(dirty: str, gone: str) -> None:
    clean = sanitize_html(dirty)
    assert gone not in clean
    assert "<iframe" not in clean
    assert "<script" not in clean
    assert sanitize_html(clean) == clean


def test_a_body_nested_too_deep_to_reshape_loses_nothing() -> None:
    for depth in (300, 3000):
        body = "<div>" * depth + "deep" + "</div>" * depth + "<p>after</p>"
        clean = sanitize_html(body)
        assert "deep" in clean, depth
        assert "<p>after</p>" in clean, depth


def test_no_heading_may_take_an_id_of_the_layout() -> None:
    """Every id the pages around a post body use (or build) is refused on a body's heading:
    an anchor in a post cannot take over the skip link, the search box or a form field."""
    templates = [
        *(ROOT / "shared" / "templates").rglob("*.html"),
        *(ROOT / "blog" / "templates").rglob("*.html"),
    ]
    literal = set()
    built = set()
    for template in templates:
        for value in re.findall(r'\bid="([^"]+)"', template.read_text()):
            if "{{" in value:
                built.add(value.split("{{")[0])
            else:
                literal.add(value)
    assert literal, "no ids found: the scan is broken"
    for value in literal:
        assert not heading_id_allowed(value), value
    for prefix in built - {""}:
        assert not heading_id_allowed(prefix + "x"), prefix
    assert {"content", "search-q"} <= RESERVED_IDS
    assert heading_id_allowed("opening-hours")
    assert heading_id_allowed("2026-plans")


def test_player_origins_are_the_providers() -> None:
    assert PLAYER_ORIGINS == (
        "https://www.youtube-nocookie.com",
        "https://player.vimeo.com",
        "https://open.spotify.com",
    )
