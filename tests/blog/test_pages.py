"""The blog's public pages, rendered through the app: home, post, page, archives, search,
feeds, sitemap, sharing tags, redirects, members-only bodies, and bounded queries."""

# ruff: noqa: S314 - ElementTree parses the feeds and sitemap we just generated, not untrusted XML
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.contracts import PostInput
from shared.infrastructure import auth
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import BlogPost
from shared.services.blog.demo import seed_blog
from shared.services.identity.demo import seed_identity
from tests.blog import factories
from tests.identity.factories import client_signed_in, make_member
from tests.support import count_statements
from tests.support.settings import AppMaker

BLOG_URL = "http://127.0.0.1:8001"


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("blog")


@pytest.fixture
def client(app: RoseQuart) -> Client:
    return app.test_client()


async def signed_in(app: RoseQuart, db: AsyncSession, username: str = "mira") -> tuple[Client, str]:
    """A browser whose blog session holds a sign-in, as single sign-on's callback leaves it;
    and the sign-in's sid."""
    account = await make_member(db, username, display_name="Mira Member")
    sign_in = await services().identity.start_session(db, account.id)
    await db.commit()
    client = await client_signed_in(app, account.id, sign_in.sid)
    return client, sign_in.sid


async def _html(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    assert resp.status_code == status, path
    return await resp.get_data(as_text=True)


def _meta(html: str, prop: str) -> str | None:
    m = re.search(rf'<meta (?:property|name)="{re.escape(prop)}" content="([^"]*)"', html)
    return m.group(1) if m else None


async def test_home_lists_featured_and_latest_with_one_h1(client: Client, db: AsyncSession) -> None:
    await factories.post(db, "Old news")
    await factories.post(db, "Big story", featured=True, excerpt="Read all about it")
    await factories.post(db, "Secret draft", publish=False)
    await db.commit()
    html = await _html(client, "/")
    assert html.count("<h1") == 1
    assert "<h1>Blog</h1>" in html
    assert html.index("Big story") < html.index("Old news")
    assert 'href="/posts/big-story"' in html
    assert "Read all about it" in html
    assert "Secret draft" not in html
    assert '<link rel="canonical" href="http://127.0.0.1:8001/">' in html
    assert 'type="application/rss+xml"' in html


async def test_home_paginates(client: Client, db: AsyncSession) -> None:
    for i in range(12):
        await factories.post(db, f"Story {i:02d}")
    await db.commit()
    first = await _html(client, "/")
    assert "Story 11" in first
    assert "Story 01" not in first
    assert 'rel="next" href="/?page=2"' in first
    second = await _html(client, "/?page=2")
    assert "Story 01" in second
    assert "Story 11" not in second
    assert 'rel="prev" href="/?page=1"' in second
    for bad in ("/?page=3", "/?page=0", "/?page=x", "/?page=-1"):
        await _html(client, bad, status=404)


async def test_a_post_has_one_h1_opengraph_and_canonical_tags(
    client: Client, db: AsyncSession
) -> None:
    await factories.author(db, slug="rosa", name="Rosa")
    await factories.post(
        db,
        "Harvest supper",
        html="<h1>Body heading</h1><p>Bring a dish.</p>",
        excerpt="A shared meal",
        tags=("Events",),
        authors=("rosa",),
        feature_image="/static/img/supper.jpg",
        feature_image_alt="Long tables in the hall",
        og_title="Come to the harvest supper",
    )
    await db.commit()
    html = await _html(client, "/posts/harvest-supper")
    assert html.count("<h1") == 1
    assert "<h1>Harvest supper</h1>" in html
    assert "Body heading" in html
    assert "<p>Bring a dish.</p>" in html
    assert '<link rel="canonical" href="http://127.0.0.1:8001/posts/harvest-supper">' in html
    assert _meta(html, "og:title") == "Come to the harvest supper"
    assert _meta(html, "og:description") == "A shared meal"
    assert _meta(html, "description") == "A shared meal"
    assert _meta(html, "og:type") == "article"
    assert _meta(html, "og:url") == BLOG_URL + "/posts/harvest-supper"
    assert _meta(html, "og:image") == BLOG_URL + "/static/img/supper.jpg"
    assert _meta(html, "article:tag") == "Events"
    assert 'alt="Long tables in the hall"' in html
    assert 'href="/tag/events"' in html
    assert 'href="/author/rosa"' in html


async def test_a_custom_canonical_url_wins(client: Client, db: AsyncSession) -> None:
    await factories.post(db, "Syndicated", canonical_url="https://elsewhere.test/original")
    await db.commit()
    html = await _html(client, "/posts/syndicated")
    assert '<link rel="canonical" href="https://elsewhere.test/original">' in html


async def test_pages_and_posts_live_at_their_own_addresses(
    client: Client, db: AsyncSession
) -> None:
    await factories.post(db, "About us", kind="page")
    await db.commit()
    html = await _html(client, "/pages/about-us")
    assert _meta(html, "og:type") == "website"
    resp = await client.get("/posts/about-us")
    assert resp.status_code == 301
    assert resp.headers["Location"] == "/pages/about-us"
    await _html(client, "/posts/no-such-post", status=404)
    await _html(client, "/pages/no-such-page", status=404)


async def test_an_old_slug_answers_301_to_the_current_one(client: Client, db: AsyncSession) -> None:
    dto = await factories.post(db, "Opening hours")
    await services().blog.update_post(db, dto.id, PostInput(title="Opening hours", slug="hours"))
    await db.commit()
    resp = await client.get("/posts/opening-hours")
    assert resp.status_code == 301
    assert resp.headers["Location"] == "/posts/hours"
    await _html(client, "/posts/hours")


async def test_members_only_bodies_show_only_to_signed_in_members(
    app: RoseQuart, client: Client, db: AsyncSession, redis: aioredis.Redis
) -> None:
    await factories.post(
        db,
        "Members minutes",
        html="<p>The confidential budget.</p>",
        visibility="members",
        excerpt="What we decided",
    )
    await factories.post(db, "Open news", html="<p>For everyone.</p>")
    await db.commit()
    html = await _html(client, "/posts/members-minutes")
    assert "confidential" not in html
    assert "What we decided" in html
    assert 'class="members-only"' in html
    assert 'href="/auth/login?next=/posts/members-minutes"' in html
    # The same URL answers members differently: never stored by a shared cache.
    resp = await client.get("/posts/members-minutes")
    assert resp.headers["Cache-Control"] == "private, no-cache"
    assert "Cookie" in resp.headers["Vary"]
    assert "Cache-Control" not in (await client.get("/posts/open-news")).headers

    member, sid = await signed_in(app, db)
    html = await _html(member, "/posts/members-minutes")
    assert "<p>The confidential budget.</p>" in html
    assert 'class="members-only"' not in html
    resp = await member.get("/posts/members-minutes")
    assert resp.headers["Cache-Control"] == "private, no-cache"
    # Every page rendered for a member is theirs (their name is in the header).
    for path in ("/posts/open-news", "/", "/search?q=news"):
        assert (await member.get(path)).headers["Cache-Control"] == "private, no-cache", path

    # Signed out elsewhere: the sign-in ends everywhere, the body is hidden again.
    await services().identity.end_session(db, sid)
    await db.commit()
    await redis.delete(auth.CACHE_PREFIX + sid)
    html = await _html(member, "/posts/members-minutes")
    assert "confidential" not in html
    assert 'class="members-only"' in html


async def test_a_members_only_post_without_an_excerpt_shows_nothing_of_its_body(
    app: RoseQuart, client: Client, db: AsyncSession
) -> None:
    await factories.post(
        db,
        "Board minutes",
        html="<p>The landlord offered a ten year lease.</p>",
        visibility="members",
        tags=("Cooperative",),
    )
    await db.commit()
    for path in ("/", "/posts/board-minutes", "/tag/cooperative", "/feed.xml", "/atom.xml"):
        body = await _html(client, path)
        assert "Board minutes" in body, path
        assert "landlord" not in body, path
    member, _sid = await signed_in(app, db)
    for path in ("/", "/posts/board-minutes"):
        assert "The landlord offered" in await _html(member, path), path


async def test_tag_and_author_archives(client: Client, db: AsyncSession) -> None:
    await factories.author(db, slug="rosa", name="Rosa Baker")
    await factories.post(db, "Rye bread", tags=("Bakery",), authors=("rosa",))
    await factories.post(db, "Apple juice", tags=("Market",))
    await db.commit()
    html = await _html(client, "/tag/bakery")
    assert html.count("<h1") == 1
    assert "<h1>Bakery</h1>" in html
    assert "Rye bread" in html
    assert "Apple juice" not in html
    html = await _html(client, "/author/rosa")
    assert "<h1>Rosa Baker</h1>" in html
    assert "Rye bread" in html
    await _html(client, "/tag/nothing", status=404)
    await _html(client, "/author/nobody", status=404)
    await _html(client, "/tag/bakery?page=2", status=404)


async def test_search_page_highlights_and_escapes(client: Client, db: AsyncSession) -> None:
    await factories.post(db, "Sourdough class", html="<p>Bake sourdough with us.</p>")
    await db.commit()
    html = await _html(client, "/search?q=sourdough")
    assert html.count("<h1") == 1
    assert "<mark>sourdough</mark>" in html
    assert 'href="/posts/sourdough-class"' in html
    assert "1 result for" in html
    html = await _html(client, "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    html = await _html(client, "/search")
    assert "result" not in html
    assert '<label for="search-q">' in html


async def test_rss_and_atom_feeds(client: Client, db: AsyncSession) -> None:
    await factories.post(db, "First", html="<p>One &amp; only</p>", tags=("News",))
    await factories.post(
        db, "Members", html="<p>Hidden body</p>", visibility="members", excerpt="Public teaser"
    )
    await factories.post(db, "Not yet", publish=False)
    await factories.post(db, "Bread", html="<p>[product:rye]</p><p>[event:harvest-supper]</p>")
    await db.commit()
    resp = await client.get("/feed.xml")
    assert resp.status_code == 200
    assert resp.mimetype == "application/rss+xml"
    rss = ET.fromstring(await resp.get_data())
    items = rss.findall("./channel/item")
    assert [i.findtext("title") for i in items] == ["Bread", "Members", "First"]
    assert items[2].findtext("link") == BLOG_URL + "/posts/first"
    encoded = "{http://purl.org/rss/1.0/modules/content/}encoded"
    assert items[2].findtext(encoded) == "<p>One &amp; only</p>"
    assert items[1].findtext(encoded) is None
    assert items[1].findtext("description") == "Public teaser"
    # An embedded product (a card on the blog's pages) is a link to the market in a feed.
    rye = "http://127.0.0.1:8002/products/rye"
    supper = "http://127.0.0.1:8004/events/harvest-supper"
    assert items[0].findtext(encoded) == (
        f'<p><a href="{rye}">{rye}</a></p><p><a href="{supper}">{supper}</a></p>'
    )
    body = await resp.get_data(as_text=True)
    assert "Hidden body" not in body

    resp = await client.get("/atom.xml")
    assert resp.mimetype == "application/atom+xml"
    atom = ET.fromstring(await resp.get_data())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert [e.findtext("a:title", namespaces=ns) for e in atom.findall("a:entry", ns)] == [
        "Bread",
        "Members",
        "First",
    ]


async def test_sitemap_and_robots(client: Client, db: AsyncSession) -> None:
    await factories.author(db, slug="rosa")
    await factories.post(db, "Post", tags=("Food",), authors=("rosa",))
    await factories.post(db, "About", kind="page")
    await factories.post(db, "Draft", publish=False)
    await db.commit()
    resp = await client.get("/sitemap.xml")
    assert resp.mimetype == "application/xml"
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ET.fromstring(await resp.get_data())
    locs = {u.findtext("s:loc", namespaces=ns) for u in root.findall("s:url", ns)}
    assert locs == {
        BLOG_URL + path
        for path in ("/", "/posts/post", "/pages/about", "/tag/food", "/author/rosa")
    }
    lastmods = [u.findtext("s:lastmod", namespaces=ns) for u in root.findall("s:url", ns)]
    assert any(m and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", m) for m in lastmods)
    robots = await _html(client, "/robots.txt")
    assert f"Sitemap: {BLOG_URL}/sitemap.xml" in robots


async def test_the_home_page_runs_a_bounded_number_of_queries(
    client: Client, db: AsyncSession, engine: AsyncEngine
) -> None:
    """No N+1: the same statements for 3 posts as for 30, each with tags and authors."""
    writer = await factories.author(db)

    async def add(n: int) -> None:
        for i in range(n):
            await factories.post(
                db, tags=(f"tag-{i}", "common"), authors=(writer.slug,), featured=i < 3
            )
        await db.commit()

    await add(3)
    await _html(client, "/")  # the header's nav, the blog's own fragment: rendered and kept
    with count_statements(engine) as few:
        await _html(client, "/")
    await add(27)
    with count_statements(engine) as many:
        html = await _html(client, "/")
    assert html.count('<article class="post-card') == 10 + 3
    assert len(many) == len(few)
    # featured + its tags + authors, count, latest + its tags + authors.
    assert len(many) == 7, "\n".join(many)


async def test_the_demo_content_is_a_real_blog_and_seeding_is_idempotent(
    client: Client, db: AsyncSession
) -> None:
    await seed_identity(db)
    await seed_blog(db)
    await seed_blog(db)
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(BlogPost)) == 10
    assert await services().blog.dashboard_widgets(db) == (
        "[widget:events/upcoming count=3]",
        "[widget:market/featured count=4]",
    )
    html = await _html(client, "/")
    assert "Welcome to Rose Ash" in html
    assert "Featured" in html
    await _html(client, "/pages/about")
    await _html(client, "/tag/events")
    await _html(client, "/author/rosa")
    assert "sourdough" in (await _html(client, "/search?q=sourdough")).lower()
    # Every demo post has a feature image, served by the app (the files are committed).
    images = list(await db.scalars(select(BlogPost.feature_image).where(BlogPost.kind == "post")))
    assert len(images) == 8
    assert all(images)
    for path in images:
        resp = await client.get(path)
        assert resp.status_code == 200, path
        assert resp.content_type == "image/webp"
        assert 2_000 < len(await resp.get_data()) < 60_000, path
    assert html.count('class="post-card__image"') >= 7
