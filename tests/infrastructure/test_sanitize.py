"""The allow-list sanitizer: what it refuses, what it keeps, and that stored HTML is sanitized."""
# ruff: noqa: E501 - the HTML samples read best whole, one per line

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PostInput
from shared.infrastructure.context import services
from shared.infrastructure.sanitize import clean_text, html_to_text, sanitize_html
from shared.models import BlogPost

REFUSED = [
    # (input, what must not survive)
    ("<p>hi<script>alert(1)</script></p>", "script"),
    ("<script src='https://evil.example/x.js'></script>", "evil"),
    ("<svg><script>alert(1)</script></svg>", "alert"),
    ("<img src=x onerror=alert(1)>", "onerror"),
    ("<p onclick='steal()'>x</p>", "onclick"),
    ("<a href='/' onmouseover='steal()'>x</a>", "onmouseover"),
    ("<body onload=alert(1)>", "onload"),
    ("<a href='javascript:alert(1)'>x</a>", "javascript"),
    ("<a href='JaVaScRiPt:alert(1)'>x</a>", "alert"),
    ("<a href='java&#x09;script:alert(1)'>x</a>", "script"),
    ("<a href='  javascript:alert(1)'>x</a>", "alert"),
    ("<a href='vbscript:msgbox(1)'>x</a>", "vbscript"),
    ("<a href='data:text/html,<script>alert(1)</script>'>x</a>", "data:"),
    ("<img src='data:image/png;base64,iVBORw0KGgo=' alt='pixel'>", "data:"),
    ("<img src='data:image/svg+xml;base64,PHN2Zz4=' alt='svg'>", "data:"),
    ("<iframe src='https://www.youtube.com/embed/abc'></iframe>", "iframe"),
    ("<iframe src='javascript:alert(1)'></iframe>", "iframe"),
    ("<object data='x.swf'></object><embed src='x.swf'>", "swf"),
    ("<p style='background:url(javascript:alert(1))'>x</p>", "style"),
    ("<p style='position:fixed;top:0'>x</p>", "style"),
    ("<style>body{display:none}</style><p>x</p>", "display"),
    ("<form action='https://evil.example'><input name=pw></form>", "form"),
    ("<button formaction='https://evil.example'>x</button>", "button"),
    ("<meta http-equiv='refresh' content='0;url=https://evil.example'>", "refresh"),
    ("<base href='https://evil.example/'>", "base"),
    ("<link rel=stylesheet href='https://evil.example/x.css'>", "stylesheet"),
    ("<p id='content' class='site-header'>x</p>", "content"),
    ("<!-- <script>alert(1)</script> -->", "alert"),
    ("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "onerror"),
    ("<noscript><p title='</noscript><img src=x onerror=alert(1)>'>", "onerror"),
    ("<a href='x' target='_blank'>x</a>", "target"),
]


@pytest.mark.parametrize(("dirty", "gone"), REFUSED)
def test_the_sanitizer_refuses(dirty: str, gone: str) -> None:
    clean = sanitize_html(dirty)
    assert gone not in clean.lower()
    # Whatever came out is stable: sanitizing again changes nothing.
    assert sanitize_html(clean) == clean


KEPT = [
    ("<p>Hello <strong>bold</strong> <em>it</em></p>", "<p>Hello <strong>bold</strong> <em>it</em></p>"),
    # A heading without an id gets one from its text: every section can be linked to.
    ("<h2>Menu</h2><ul><li>Soup</li></ul>", '<h2 id="menu">Menu</h2><ul><li>Soup</li></ul>'),
    (
        "<a href='https://rose-ash.test/x' title='t'>x</a>",
        '<a href="https://rose-ash.test/x" title="t" rel="noopener noreferrer">x</a>',
    ),
    ("<a href='/events'>x</a>", '<a href="/events" rel="noopener noreferrer">x</a>'),
    ("<a href='mailto:hi@rose-ash.test'>x</a>", '<a href="mailto:hi@rose-ash.test" rel="noopener noreferrer">x</a>'),
    (
        "<figure><img src='https://img.test/a.jpg' alt='Bread' width='600'><figcaption>Bread</figcaption></figure>",
        '<figure><img src="https://img.test/a.jpg" alt="Bread" width="600"><figcaption>Bread</figcaption></figure>',
    ),
    ("<blockquote><p>Q</p></blockquote><pre><code>x &lt; y</code></pre>", "<blockquote><p>Q</p></blockquote><pre><code>x &lt; y</code></pre>"),
    ("<table><tr><th scope='col'>A</th></tr></table>", '<table><tbody><tr><th scope="col">A</th></tr></tbody></table>'),
    # A body's h1 keeps its text but not the tag: the page's only h1 is its title.
    ("<h1>Big</h1><p>x</p>", "Big<p>x</p>"),
    # An iframe of a site that is not an allow-listed player becomes a link to it, its
    # fallback text kept (tests/infrastructure/test_cards.py has the players).
    (
        "<iframe src='https://player.vimeo.com/1'>Watch on Vimeo</iframe>",
        '<p><a href="https://player.vimeo.com/1" rel="noopener noreferrer">Watch on Vimeo (player.vimeo.com)</a></p>',
    ),
]  # fmt: skip


@pytest.mark.parametrize(("dirty", "clean"), KEPT)
def test_the_sanitizer_keeps_ordinary_content(dirty: str, clean: str) -> None:
    assert sanitize_html(dirty) == clean


def test_text_helpers() -> None:
    assert html_to_text("<p>One</p><p>two &amp; <b>three</b></p>") == "One two & three"
    assert html_to_text("a\x01b\x02c") == "abc"
    assert clean_text("  a \x00 b\n\tc ") == "a b c"
    assert clean_text(None) == ""


async def test_html_is_sanitized_before_it_is_stored(db: AsyncSession) -> None:
    dto = await services().blog.create_post(
        db,
        PostInput(
            title="Hostile",
            html="<p onclick='x()'>ok</p><script>alert(1)</script><a href='javascript:x'>l</a>",
        ),
    )
    stored = await db.scalar(select(BlogPost.html).where(BlogPost.id == dto.id))
    assert stored == '<p>ok</p><a rel="noopener noreferrer">l</a>'
    await services().blog.update_post(
        db, dto.id, PostInput(title="Hostile", html="<img src=x onerror=alert(1)>")
    )
    stored = await db.scalar(
        select(BlogPost.html).where(BlogPost.id == dto.id).execution_options(populate_existing=True)
    )
    assert stored == '<img src="x">'
