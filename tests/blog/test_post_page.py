"""What a post's page gives readers and sharers, as Ghost's Casper theme and ghost_head do:
the description and Twitter card precedence, JSON-LD, reading time, primary tag, author,
related posts, the feature image's caption and size, and Ghost's cards with their players."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from quart.typing import TestClientProtocol as Client
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.infrastructure import media
from shared.infrastructure.context import services, use_services
from shared.infrastructure.factory import RoseQuart
from shared.services.blog.ghost import GhostContentClient
from shared.services.blog.ghost_sync import GhostSync
from shared.services.registry import build_services
from tests.blog import factories
from tests.infrastructure.koenig_cards import KOENIG_CARDS
from tests.standins.ghost import GhostStandIn
from tests.support.settings import AppMaker, make_settings


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def media_settings(database_url: str, redis_url: str, media_root: Path) -> Settings:
    return make_settings(database_url, redis_url, ROSE_MEDIA__ROOT=str(media_root))


@pytest.fixture
def with_media(media_settings: Settings) -> Iterator[None]:
    """The process's services reading images from the test's media root."""
    previous = use_services(build_services(media_settings))
    yield
    use_services(previous)


@pytest.fixture
async def app(make_app: AppMaker, media_settings: Settings) -> RoseQuart:
    return await make_app("blog", app_settings=media_settings)


@pytest.fixture
def client(app: RoseQuart) -> Client:
    return app.test_client()


async def _page(client: Client, path: str) -> str:
    resp = await client.get(path)
    assert resp.status_code == 200, path
    return await resp.get_data(as_text=True)


def _meta(html: str, prop: str) -> str | None:
    m = re.search(rf'<meta (?:property|name)="{re.escape(prop)}" content="([^"]*)"', html)
    return m.group(1) if m else None


def _json_ld(html: str) -> dict[str, object]:
    (block,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    data: dict[str, object] = json.loads(block)
    return data


async def test_each_field_is_used_where_ghost_uses_it(client: Client, db: AsyncSession) -> None:
    await factories.post(
        db,
        "Every field",
        excerpt="The excerpt",
        meta_title="Meta title",
        meta_description="Meta description",
        og_title="OG title",
        og_description="OG description",
        og_image="https://img.test/og.jpg",
        twitter_title="Twitter title",
        twitter_description="Twitter description",
        twitter_image="https://img.test/tw.jpg",
        feature_image="https://img.test/feature.jpg",
    )
    await db.commit()
    html = await _page(client, "/posts/every-field")
    assert "<title>Meta title · " in html
    assert _meta(html, "description") == "Meta description"
    assert (_meta(html, "og:title"), _meta(html, "og:description")) == (
        "OG title",
        "OG description",
    )
    assert _meta(html, "og:image") == "https://img.test/og.jpg"
    assert _meta(html, "twitter:card") == "summary_large_image"
    assert (_meta(html, "twitter:title"), _meta(html, "twitter:description")) == (
        "Twitter title",
        "Twitter description",
    )
    assert _meta(html, "twitter:image") == "https://img.test/tw.jpg"


async def test_without_their_own_fields_the_cards_fall_back_like_ghost(
    client: Client, db: AsyncSession
) -> None:
    await factories.post(
        db,
        "Some fields",
        excerpt="The excerpt",
        meta_title="Meta title",
        meta_description="Meta description",
        feature_image="/media/images/" + "a" * 64 + ".jpg",
    )
    await factories.post(db, "Few fields", excerpt="Only an excerpt")
    await db.commit()
    html = await _page(client, "/posts/some-fields")
    for prop in ("description", "og:description", "twitter:description"):
        assert _meta(html, prop) == "Meta description", prop
    assert _meta(html, "og:title") == _meta(html, "twitter:title") == "Meta title"
    feature = "http://127.0.0.1:8001/media/images/" + "a" * 64 + ".jpg"
    assert _meta(html, "og:image") == _meta(html, "twitter:image") == feature
    # Not in our media store, so its size is unknown: no dimensions are claimed.
    assert _meta(html, "og:image:width") is None
    html = await _page(client, "/posts/few-fields")
    for prop in ("description", "og:description", "twitter:description"):
        assert _meta(html, prop) == "Only an excerpt", prop
    assert _meta(html, "twitter:title") == "Few fields"
    # No image of its own: the site's card (1200x630) stands in, on both cards.
    site_card = "http://127.0.0.1:8001/static/img/og-default.png"
    assert _meta(html, "og:image") == _meta(html, "twitter:image") == site_card
    assert (_meta(html, "og:image:width"), _meta(html, "og:image:height")) == ("1200", "630")
    assert _meta(html, "twitter:card") == "summary_large_image"


async def test_json_ld_article(client: Client, db: AsyncSession) -> None:
    author = await factories.author(db, "rosa", "Rosa </script><script>alert(1)</script>")
    author.profile_image = "https://img.test/rosa.jpg"
    await db.flush()
    dto = await factories.post(
        db,
        "An article",
        authors=("rosa",),
        tags=("News", "Bakery"),
        feature_image="https://img.test/bread.jpg",
        meta_description="About bread",
    )
    await db.commit()
    html = await _page(client, "/posts/an-article")
    assert html.count("</script>") == html.count("<script")  # nothing closed it early
    ld = _json_ld(html)
    assert dto.published_at is not None
    assert ld == {
        "@context": "https://schema.org",
        "@type": "Article",
        "headline": "An article",
        "url": "http://127.0.0.1:8001/posts/an-article",
        "mainEntityOfPage": "http://127.0.0.1:8001/posts/an-article",
        "description": "About bread",
        "datePublished": dto.published_at.isoformat(),
        "dateModified": dto.updated_at.isoformat(),
        "keywords": "News, Bakery",
        "publisher": {
            "@type": "Organization",
            "name": "Rose Ash",
            "url": "http://127.0.0.1:8001/",
            "logo": {
                "@type": "ImageObject",
                "url": "http://127.0.0.1:8001/static/img/actor-icon.png",
            },
        },
        "image": {"@type": "ImageObject", "url": "https://img.test/bread.jpg"},
        "author": {
            "@type": "Person",
            "name": "Rosa </script><script>alert(1)</script>",
            "url": "http://127.0.0.1:8001/author/rosa",
            "image": {"@type": "ImageObject", "url": "https://img.test/rosa.jpg"},
        },
    }


async def test_reading_time_primary_tag_and_author(client: Client, db: AsyncSession) -> None:
    row = await factories.author(db, "rosa", "Rosa Baker")
    row.bio = "Bakes the bread & runs the market."
    row.profile_image = "https://img.test/rosa.jpg"
    await factories.author(db, "guest", "Guest")  # no bio: no card for them
    words = " ".join(["word"] * 1100)  # four minutes at Ghost's 275 a minute
    await factories.post(
        db,
        "Long read",
        html=f"<p>{words}</p><img src='/a.png'><img src='/b.png'>",
        tags=("Bakery", "News"),
        authors=("rosa", "guest"),
    )
    await factories.post(db, "Short read", html="<p>Two words.</p>")
    await db.commit()
    html = await _page(client, "/posts/long-read")
    # 240 s of words and 12 + 11 s for the two images: 4.4 minutes, rounded like Ghost.
    assert '<span class="reading-time">4 min read</span>' in html
    assert re.search(r'class="post-primary-tag"><a href="/tag/bakery">Bakery</a>', html)
    assert html.count('src="https://img.test/rosa.jpg"') == 2  # the byline and the card
    assert html.count('class="author-card"') == 1
    assert "Bakes the bread &amp; runs the market." in html
    html = await _page(client, "/posts/short-read")
    assert '<span class="reading-time">1 min read</span>' in html
    assert "post-primary-tag" not in html


async def test_three_related_posts_sharing_tags_first(client: Client, db: AsyncSession) -> None:
    await factories.post(db, "Main", tags=("Bakery", "Events"))
    await factories.post(db, "Other event", tags=("Events",))
    await factories.post(db, "Bread again", tags=("Bakery",))
    await factories.post(db, "Both again", tags=("Events", "Bakery"))
    await factories.post(db, "Unrelated newest", tags=("Market",))
    await factories.post(db, "A draft", tags=("Bakery",), publish=False)
    await factories.post(db, "A page", kind="page", tags=("Bakery",))
    await db.commit()
    html = await _page(client, "/posts/main")
    section = html[html.index('class="related-posts"') :]
    titles = re.findall(r'class="post-card__title"><a href="/posts/([^"]+)"', section)
    # Both of its tags, then its primary tag (Bakery), then Events.
    assert titles == ["both-again", "bread-again", "other-event"]
    html = await _page(client, "/posts/unrelated-newest")
    section = html[html.index('class="related-posts"') :]
    titles = re.findall(r'class="post-card__title"><a href="/posts/([^"]+)"', section)
    assert titles == ["both-again", "bread-again", "other-event"]  # nothing shared: the newest


async def test_the_feature_image_caption_and_size(
    client: Client, db: AsyncSession, media_settings: Settings, with_media: None
) -> None:
    out = io.BytesIO()
    Image.new("RGB", (1200, 630), (200, 80, 90)).save(out, "PNG")
    url = media.store_prepared(
        media.prepare_upload(out.getvalue(), media_settings.media, "image"), media_settings.media
    )
    await factories.post(
        db,
        "Pictured",
        feature_image=url,
        feature_image_alt="A loaf",
        feature_image_caption='Photo by <a href="https://example.org/">Jo</a><script>x()</script>',
    )
    await db.commit()
    html = await _page(client, "/posts/pictured")
    assert (_meta(html, "og:image:width"), _meta(html, "og:image:height")) == ("1200", "630")
    assert 'width="1200" height="630"' in html
    assert (
        '<figcaption>Photo by <a href="https://example.org/" rel="noopener noreferrer">Jo</a>'
        "</figcaption>"
    ) in html
    assert _json_ld(html)["image"] == {
        "@type": "ImageObject",
        "url": "http://127.0.0.1:8001" + url,
        "width": 1200,
        "height": 630,
    }


async def test_ghosts_cards_render_with_players_loaded_on_request(
    client: Client, db: AsyncSession
) -> None:
    await factories.post(db, "Cards", html=KOENIG_CARDS)
    await db.commit()
    resp = await client.get("/posts/cards")
    html = await resp.get_data(as_text=True)
    assert "<iframe" not in html
    assert html.count('class="kg-embed-player') == 3
    assert 'data-embed-src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"' in html
    assert '<details class="kg-card kg-toggle-card">' in html
    assert 'src="/static/js/cards.js"' in html
    csp = resp.headers["Content-Security-Policy"]
    frame_src = re.search(r"frame-src ([^;]+)", csp)
    assert frame_src is not None
    assert frame_src.group(1).split() == [
        "https://www.youtube-nocookie.com",
        "https://player.vimeo.com",
        "https://open.spotify.com",
    ]
    # Ghost's video and audio cards may play from https sources, and only when played.
    assert "media-src 'self' https:" in csp


async def test_other_apps_frame_nothing(make_app: AppMaker) -> None:
    market = await make_app("market")
    resp = await market.test_client().get("/")
    assert "frame-src" not in resp.headers["Content-Security-Policy"]
    assert "media-src" not in resp.headers["Content-Security-Policy"]
    assert "cards.js" not in await resp.get_data(as_text=True)


async def test_the_sync_keeps_ghosts_twitter_fields_and_caption(
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
) -> None:
    ghost.add_post(
        "Shared",
        meta_description="Meta",
        twitter_title="Tweet title",
        twitter_description="Tweet description",
        twitter_image="https://ghost.rose-ash.test/content/images/tw.jpg",
        feature_image="https://ghost.rose-ash.test/content/images/f.jpg",
        feature_image_caption='<span>By <a href="https://example.org/" onclick="x()">Jo</a></span>',
    )
    ghost.add_post("Hostile", twitter_image="javascript:alert(1)", twitter_title="x" * 400)
    async with GhostContentClient.from_settings(ghost_settings) as content:
        await GhostSync(session_factory, content, ghost_settings.ghost).run()
    found = (await services().blog.get_by_slug(db, "shared")).post
    assert (found.twitter_title, found.twitter_description, found.twitter_image) == (
        "Tweet title",
        "Tweet description",
        "https://ghost.rose-ash.test/content/images/tw.jpg",
    )
    assert found.feature_image_caption == (
        '<span>By <a href="https://example.org/" rel="noopener noreferrer">Jo</a></span>'
    )
    hostile = (await services().blog.get_by_slug(db, "hostile")).post
    assert hostile.twitter_image is None
    assert hostile.twitter_title == "x" * 300
