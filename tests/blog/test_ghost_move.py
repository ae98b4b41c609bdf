"""Moving from Ghost without losing anything, against the stand-in doing what a real Ghost 5
does: the owner's id "1", members-only bodies cut by the Content API and whole through the
Admin API, slugs that clash with local ones, the back catalogue kept from followers, images
copied into the media store, Ghost's URLs and body links leading to the blog."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import PostInput
from shared.infrastructure.context import services
from shared.models import ApActivity, BlogAuthor, BlogPost
from shared.services.blog.ghost import GhostAdminClient, GhostContentClient
from shared.services.blog.ghost_media import ImageCopier
from shared.services.blog.ghost_sync import GhostSync, apply_webhook
from tests.blog.test_pages import signed_in
from tests.standins.ghost import GhostStandIn
from tests.support.settings import AppMaker, make_settings

TEASER = "<p>The opening lines, for everyone.</p>"
SECRET = "<p>The budget, for members.</p>"


def _png(colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def move_settings(
    database_url: str, redis_url: str, ghost: GhostStandIn, media_root: Path
) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        ROSE_GHOST__URL=ghost.url,
        ROSE_GHOST__TIMEOUT_S="2",
        ROSE_GHOST_CONTENT_KEY=ghost.content_key,
        ROSE_GHOST_ADMIN_KEY=ghost.admin_key,
        ROSE_MEDIA__ROOT=str(media_root),
    )


@pytest.fixture
async def clients(
    move_settings: Settings,
) -> AsyncIterator[tuple[GhostContentClient, GhostAdminClient]]:
    async with (
        GhostContentClient.from_settings(move_settings) as content,
        GhostAdminClient.from_settings(move_settings) as admin,
    ):
        yield content, admin


def _sync(
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    clients: tuple[GhostContentClient, GhostAdminClient],
    *,
    admin: bool = True,
) -> GhostSync:
    content, admin_client = clients
    return GhostSync(
        factory,
        content,
        settings.ghost,
        admin=admin_client if admin else None,
        images=ImageCopier(settings, factory),
    )


async def _post(db: AsyncSession, ghost_id: str) -> BlogPost:
    db.expire_all()
    post = await db.scalar(select(BlogPost).where(BlogPost.ghost_id == ghost_id))
    assert post is not None
    return post


async def test_the_owners_posts_sync_and_their_webhooks_apply(
    ghost: GhostStandIn,
    move_settings: Settings,
    clients: tuple[GhostContentClient, GhostAdminClient],
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
) -> None:
    owner = ghost.add_author("Site Owner", owner=True)
    assert owner["id"] == "1"
    post = ghost.add_post("From the owner", authors=[owner])
    report = await _sync(session_factory, move_settings, clients).run()
    assert (report.created, report.authors) == (1, 1)
    author = await db.scalar(select(BlogAuthor).where(BlogAuthor.ghost_id == "1"))
    assert author is not None
    assert author.name == "Site Owner"
    assert [
        a.slug for a in (await services().blog.get_by_slug(db, "from-the-owner")).post.authors
    ] == ["site-owner"]

    ghost.edit(post["id"], title="From the owner, edited")
    payload = {"post": {"current": ghost.rendered(post["id"]), "previous": {}}}
    result = await apply_webhook(db, clients[0], payload)
    assert result.outcome == "updated"
    assert (await _post(db, post["id"])).title == "From the owner, edited"


async def test_members_read_the_whole_body_visitors_the_teaser(
    ghost: GhostStandIn,
    move_settings: Settings,
    clients: tuple[GhostContentClient, GhostAdminClient],
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    make_app: AppMaker,
) -> None:
    members = ghost.add_post(
        "Members minutes", html=f"{TEASER}<!--members-only-->{SECRET}", visibility="members"
    )
    no_card = ghost.add_post("Members notes", html=SECRET, visibility="paid")
    # What the Content API gives: the teaser, or nothing without a paywall card.
    listed = ghost.rendered(members["id"])
    assert listed["html"].endswith(SECRET)
    report = await _sync(session_factory, move_settings, clients).run()
    assert report.without_body == 0
    stored = await _post(db, members["id"])
    assert stored.html == TEASER + SECRET
    assert stored.html[: stored.paywall_at] == TEASER
    assert (await _post(db, no_card["id"])).paywall_at is None

    visitor_view = (
        await services().blog.get_by_slug(db, "members-minutes", viewer_is_member=False)
    ).post
    assert (visitor_view.locked, visitor_view.html) == (True, TEASER)
    member_view = await services().blog.get_by_slug(db, "members-minutes", viewer_is_member=True)
    assert member_view.post.html == TEASER + SECRET

    app = await make_app("blog", app_settings=move_settings)
    page = await (await app.test_client().get("/posts/members-minutes")).get_data(as_text=True)
    assert "opening lines" in page
    assert "budget" not in page
    assert 'class="members-only"' in page
    member, _ = await signed_in(app, db)
    page = await (await member.get("/posts/members-minutes")).get_data(as_text=True)
    assert "opening lines" in page
    assert "The budget, for members." in page
    assert 'class="members-only"' not in page


async def test_with_only_a_content_key_the_teaser_is_kept_and_counted(
    ghost: GhostStandIn,
    move_settings: Settings,
    clients: tuple[GhostContentClient, GhostAdminClient],
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
) -> None:
    members = ghost.add_post(
        "Members minutes", html=f"{TEASER}<!--members-only-->{SECRET}", visibility="members"
    )
    ghost.add_post("Open news")
    report = await _sync(session_factory, move_settings, clients, admin=False).run()
    assert report.without_body == 1
    stored = await _post(db, members["id"])
    assert stored.html == TEASER
    assert stored.paywall_at == len(TEASER)
    assert not any(path.startswith("/ghost/api/admin/") for path, _ in ghost.requests)


async def test_a_slug_clash_keeps_ghosts_navigation_on_ghosts_page(
    ghost: GhostStandIn,
    move_settings: Settings,
    clients: tuple[GhostContentClient, GhostAdminClient],
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    local = await services().blog.create_post(
        db, PostInput(title="About the cooperative", slug="about", kind="page")
    )
    await services().blog.publish(db, local.id)
    await db.commit()
    about = ghost.add_post("About", kind="pages", slug="about")
    with caplog.at_level(logging.WARNING):
        await _sync(session_factory, move_settings, clients).run()
    stored = await _post(db, about["id"])
    assert (stored.slug, stored.ghost_slug) == ("about-2", "about")
    assert any("'about' is stored as 'about-2'" in r.getMessage() for r in caplog.records)
    nav = await services().blog.navigation(db)
    assert [(n.label, n.path) for n in nav if n.from_ghost] == [
        ("Home", "/"),
        ("About", "/pages/about-2"),
    ]


async def test_ghosts_back_catalogue_is_in_the_outbox_but_not_sent_to_followers(
    ghost: GhostStandIn,
    move_settings: Settings,
    clients: tuple[GhostContentClient, GhostAdminClient],
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
) -> None:
    old = [ghost.add_post(f"Old news {i}") for i in range(3)]
    sync = _sync(session_factory, move_settings, clients)
    await sync.run()
    creates = (
        (await db.execute(select(ApActivity).where(ApActivity.activity_type == "Create")))
        .scalars()
        .all()
    )
    assert len(creates) == len(old)
    assert not any(a.to_followers for a in creates)  # in the outbox, delivered to nobody
    assert await services().federation.outbox_count(db, "blog") == len(old)

    # Published after the first sync: news, sent to followers.
    ghost.clock = ghost.clock.replace(year=ghost.clock.year + 1)
    fresh = ghost.add_post("Fresh news")
    await sync.run()
    stored = await _post(db, fresh["id"])
    create = await db.scalar(
        select(ApActivity).where(
            ApActivity.activity_type == "Create", ApActivity.object_uri == stored.ap_object_uri
        )
    )
    assert create is not None
    assert create.to_followers


async def test_images_are_copied_into_the_media_store_and_served_by_the_blog(
    ghost: GhostStandIn,
    move_settings: Settings,
    clients: tuple[GhostContentClient, GhostAdminClient],
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    make_app: AppMaker,
    media_root: Path,
) -> None:
    feature = ghost.add_image("2026/11/feature.png", _png("red"))
    inline = ghost.add_image("2026/11/inline.png", _png("green"))
    gallery = ghost.add_image("2026/11/gallery.png", _png("blue"))
    missing = ghost.settings["url"] + "content/images/2026/11/gone.png"
    elsewhere = "https://images.example.org/photo.jpg"
    html = (
        f'<figure class="kg-card kg-image-card"><img src="{inline}" alt="Inline"></figure>'
        '<figure class="kg-card kg-gallery-card"><div class="kg-gallery-container">'
        f'<div class="kg-gallery-row"><div class="kg-gallery-image"><img src="{gallery}">'
        f'</div></div></div></figure><p><img src="{missing}"><img src="{elsewhere}"></p>'
    )
    post = ghost.add_post("Pictures", html=html, feature_image=feature, og_image=inline)
    sync = _sync(session_factory, move_settings, clients)
    report = await sync.run()
    assert (report.images, report.images_failed) == (3, 1)
    stored = await _post(db, post["id"])
    assert stored.feature_image is not None
    assert stored.feature_image.startswith("/media/images/")
    assert stored.og_image is not None
    assert stored.og_image.startswith("/media/images/")
    assert ghost.settings["url"] + "content/images/2026/11/inline.png" not in stored.html
    assert stored.html.count('src="/media/images/') == 2
    assert f'src="{missing}"' in stored.html  # kept where it was, and logged
    assert f'src="{elsewhere}"' in stored.html  # not Ghost's: left alone
    assert len(list((media_root / "images").iterdir())) == 3

    app = await make_app("blog", app_settings=move_settings)
    client = app.test_client()
    response = await client.get(stored.feature_image)
    assert response.status_code == 200
    assert await response.get_data() == _png("red")
    page = await client.get("/posts/pictures")
    assert "img-src 'self'" in page.headers["Content-Security-Policy"]

    # A later run does not fetch them again.
    ghost.requests.clear()
    ghost.edit(post["id"], title="Pictures, again")
    again = await sync.run()
    assert (again.images, again.updated) == (0, 1)
    assert (await _post(db, post["id"])).html.count('src="/media/images/') == 2


async def test_ghosts_urls_redirect_and_body_links_lead_to_the_blog(
    ghost: GhostStandIn,
    move_settings: Settings,
    clients: tuple[GhostContentClient, GhostAdminClient],
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    make_app: AppMaker,
) -> None:
    await services().blog.create_post(db, PostInput(title="Local about", slug="about", kind="page"))
    await db.commit()
    site = ghost.settings["url"]  # https://ghost.rose-ash.test/
    news = ghost.add_tag("News", slug="news")
    rosa = ghost.add_author("Rosa", slug="rosa")
    ghost.add_post("About", kind="pages", slug="about")
    links = ghost.add_post(
        "Links",
        html=(
            f'<p><a href="{site}about/">about</a> <a href="{site}tag/news/">news</a> '
            f'<a href="{site}author/rosa/">rosa</a> <a href="{site}rss/">feed</a> '
            f'<a href="{site}not-yet/">later</a> <a href="{site}">home</a> '
            '<a href="https://elsewhere.example/x/">elsewhere</a></p>'
        ),
        tags=[news],
        authors=[rosa],
    )
    sync = _sync(session_factory, move_settings, clients)
    await sync.run()
    # Posts are synced before pages: the page was not there yet, so the link keeps Ghost's
    # path, which the blog redirects (below). Once it is, an edit links it directly.
    assert 'href="/about/"' in (await _post(db, links["id"])).html
    ghost.edit(links["id"], title="Links, edited")
    await sync.run()
    body = (await _post(db, links["id"])).html
    for href in (
        "/pages/about-2",
        "/tag/news",
        "/author/rosa",
        "/feed.xml",
        "/not-yet/",
        "/",
        "https://elsewhere.example/x/",
    ):
        assert f'href="{href}"' in body, href
    assert site not in body

    client = (await make_app("blog", app_settings=move_settings)).test_client()
    for path, location in (
        ("/about/", "/pages/about-2"),
        ("/links/", "/posts/links"),
        ("/tag/news/", "/tag/news"),
        ("/author/rosa/", "/author/rosa"),
        ("/rss/", "/feed.xml"),
        ("/rss", "/feed.xml"),
        ("/page/2/", "/?page=2"),
    ):
        response = await client.get(path)
        assert (response.status_code, response.headers["Location"]) == (301, location), path
    for path in ("/nothing-here/", "/Not_A_Slug/"):
        assert (await client.get(path)).status_code == 404, path
