"""Ghost sync against the local stand-in: import, incremental cursor, reconcile, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import PostInput
from shared.infrastructure.context import services
from shared.models import BlogAuthor, BlogPost, BlogTag
from shared.services.blog.ghost import (
    GhostAuthError,
    GhostContentClient,
    GhostMalformed,
    GhostUnavailable,
)
from shared.services.blog.ghost_sync import GhostSync, load_cursor, load_settings
from tests.standins.ghost import GhostStandIn, ghost_time


@pytest.fixture
async def client(ghost_settings: Settings) -> AsyncIterator[GhostContentClient]:
    async with GhostContentClient.from_settings(ghost_settings) as c:
        yield c


@pytest.fixture
def sync(
    session_factory: async_sessionmaker[AsyncSession],
    client: GhostContentClient,
    ghost_settings: Settings,
) -> GhostSync:
    return GhostSync(session_factory, client, ghost_settings.ghost)


async def _snapshot(db: AsyncSession) -> list[tuple[object, ...]]:
    rows = await db.execute(
        text(
            "SELECT ghost_id, slug, title, html, status, ghost_updated_at FROM blog_posts "
            "ORDER BY ghost_id"
        )
    )
    return [tuple(r) for r in rows]


async def _count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(BlogPost)) or 0)


def _filters(ghost: GhostStandIn, resource: str = "posts") -> list[str | None]:
    return [
        args.get("filter")
        for path, args in ghost.requests
        if path.endswith(f"/{resource}/") and "fields" not in args
    ]


async def test_first_sync_imports_posts_pages_tags_authors_and_navigation(
    ghost: GhostStandIn, sync: GhostSync, db: AsyncSession
) -> None:
    news = ghost.add_tag("News", description="What is new")
    internal = ghost.add_tag("#feature")
    rosa = ghost.add_author("Rosa Baker", bio="Bakes")
    members = ghost.add_post(
        "For members",
        html="<p>Teaser</p><!--members-only--><p>Secret</p>",
        visibility="members",
        tags=[internal, news],
        authors=[rosa],
    )
    hostile = ghost.add_post(
        "Hostile",
        html='<p onclick="x()">Hi</p><script>alert(1)</script><a href="javascript:x">l</a>',
        authors=[rosa],
        featured=True,
        custom_excerpt="Short",
        feature_image="https://ghost.rose-ash.test/content/images/a.jpg",
        feature_image_alt="A loaf",
        meta_title="Meta",
        og_image="javascript:alert(1)",
    )
    ghost.add_post("About us", kind="pages", html="<p>We are a co-op.</p>")

    report = await sync.run()

    assert (report.created, report.updated, report.deleted) == (3, 0, 0)
    assert (report.tags, report.authors) == (1, 1)
    found = (await services().blog.get_by_slug(db, "hostile")).post
    assert found.html == '<p>Hi</p><a rel="noopener noreferrer">l</a>'
    assert (found.featured, found.excerpt, found.meta_title) == (True, "Short", "Meta")
    assert found.feature_image_alt == "A loaf"
    assert found.og_image is None
    assert found.ghost_id == hostile["id"]
    assert [a.name for a in found.authors] == ["Rosa Baker"]
    assert found.published_at == datetime.fromisoformat(hostile["published_at"])
    locked = await services().blog.get_by_slug(db, "for-members", viewer_is_member=True)
    assert locked.post.visibility == "members"
    assert locked.post.html == "<p>Teaser</p>"  # the Content API cuts at the paywall
    assert [t.slug for t in locked.post.tags] == ["news"]  # internal tags are not stored
    assert await db.scalar(select(BlogTag.id).where(BlogTag.slug.like("hash-%"))) is None
    page = (await services().blog.get_by_slug(db, "about-us")).post
    assert page.kind == "page"
    settings = await load_settings(db)
    assert settings is not None
    assert settings["navigation"] == [
        {"label": "Home", "url": "/"},
        {"label": "About", "url": "/about/"},
    ]
    assert await load_cursor(db, "posts") == datetime.fromisoformat(hostile["updated_at"])
    assert members["updated_at"] < hostile["updated_at"]
    # The first run asked for everything, in Ghost's order, with tags and authors.
    _, args = next(r for r in ghost.requests if r[0].endswith("/posts/"))
    assert args["order"] == "updated_at asc,id asc"
    assert args["include"] == "tags,authors"
    assert "filter" not in args


async def test_pagination_is_followed_and_the_cursor_overlaps_in_ghosts_format(
    ghost: GhostStandIn, sync: GhostSync, db: AsyncSession
) -> None:
    posts = [ghost.add_post(f"Post {i}") for i in range(23)]
    report = await sync.run()
    assert report.created == 23
    pages = [
        a.get("page") for p, a in ghost.requests if p.endswith("/posts/") and "fields" not in a
    ]
    assert pages == ["1", "2", "3"]

    ghost.requests.clear()
    ghost.edit(posts[3]["id"], title="Post three, edited")
    report = await sync.run()
    assert (report.created, report.updated) == (0, 1)
    # Re-read from the cursor minus five seconds: the last post, and the edited one.
    assert report.unchanged >= 1
    cursor = datetime.fromisoformat(posts[-1]["updated_at"])
    assert _filters(ghost) == [
        f"updated_at:>='{(cursor - timedelta(seconds=5)).strftime('%Y-%m-%d %H:%M:%S')}'"
    ]
    assert (await services().blog.get_by_slug(db, "post-3")).post.title == "Post three, edited"


async def test_a_failed_page_keeps_earlier_pages_and_the_next_run_resumes(
    ghost: GhostStandIn, sync: GhostSync, db: AsyncSession
) -> None:
    posts = [ghost.add_post(f"Post {i}") for i in range(25)]
    ghost.fail(500, path="/posts/", times=1)
    # The first posts request fails: nothing is stored, no cursor.
    with pytest.raises(GhostUnavailable):
        await sync.run()
    assert await _count(db) == 0
    assert await load_cursor(db, "posts") is None

    # Page 2 fails (a timeout): page 1 stays, with its cursor.
    ghost.fail("timeout", path="/posts/", page=2)
    with pytest.raises(GhostUnavailable):
        await sync.run()
    assert await _count(db) == 10
    assert await load_cursor(db, "posts") == datetime.fromisoformat(posts[9]["updated_at"])

    ghost.requests.clear()
    report = await sync.run()
    assert await _count(db) == 25
    assert report.created == 15
    since = datetime.fromisoformat(posts[9]["updated_at"]) - timedelta(seconds=5)
    assert _filters(ghost)[0] == f"updated_at:>='{since.strftime('%Y-%m-%d %H:%M:%S')}'"


@pytest.mark.parametrize("failure", ["malformed", 500, 502, 503, "timeout"])
async def test_ghost_failures_change_nothing(
    ghost: GhostStandIn, sync: GhostSync, db: AsyncSession, failure: str | int
) -> None:
    first = ghost.add_post("Kept")
    await sync.run()
    before = await _snapshot(db)
    cursor = await load_cursor(db, "posts")
    ghost.edit(first["id"], title="Changed in Ghost", html="<p>new</p>")
    ghost.add_post("New in Ghost")
    ghost.fail(failure, path="/posts/")
    with pytest.raises((GhostUnavailable, GhostMalformed)):
        await sync.run()
    assert await _snapshot(db) == before
    assert await load_cursor(db, "posts") == cursor
    # Next time it all arrives.
    await sync.run()
    assert (await services().blog.get_by_slug(db, "kept")).post.title == "Changed in Ghost"


async def test_a_malformed_item_changes_nothing(
    ghost: GhostStandIn, sync: GhostSync, db: AsyncSession
) -> None:
    ghost.add_post("Good")
    ghost.add_post("Bad", updated_at="yesterday")
    with pytest.raises(GhostMalformed) as err:
        await sync.run()
    assert "updated_at" in str(err.value)
    assert await _count(db) == 0


@pytest.mark.parametrize(("key", "status"), [("0" * 26, 401), ("", 403)])
async def test_a_refused_key_is_a_clear_error_and_changes_nothing(
    ghost: GhostStandIn,
    ghost_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    key: str,
    status: int,
) -> None:
    ghost.add_post("Never")
    async with GhostContentClient(ghost.url, key, timeout=1) as bad:
        with pytest.raises(GhostAuthError) as err:
            await GhostSync(session_factory, bad, ghost_settings.ghost).run()
    assert err.value.status == status
    assert await _count(db) == 0


async def test_reconcile_removes_what_ghost_no_longer_returns_and_refetches_stale(
    ghost: GhostStandIn, sync: GhostSync, db: AsyncSession
) -> None:
    keep = ghost.add_post("Keep")
    drop = ghost.add_post("Drop")
    page = ghost.add_post("Old page", kind="pages")
    await sync.run()
    local = await services().blog.create_post(db, PostInput(title="Written here"))
    await services().blog.publish(db, local.id)
    await db.commit()

    ghost.remove(drop["id"])
    ghost.remove(page["id"], kind="pages")
    # An edit the incremental pass cannot see (dated before the cursor): reconcile finds it.
    ghost.items["posts"][keep["id"]]["title"] = "Keep, quietly edited"
    earlier = datetime.fromisoformat(keep["updated_at"]) - timedelta(hours=1)
    ghost.items["posts"][keep["id"]]["updated_at"] = ghost_time(earlier)

    report = await sync.run(reconcile=False)
    assert report.deleted == 0
    assert await _count(db) == 4

    report = await sync.run()
    assert report.deleted == 2
    slugs = set(await db.scalars(select(BlogPost.slug)))
    assert slugs == {"keep", "written-here"}
    assert (await services().blog.get_by_slug(db, "keep")).post.title == "Keep, quietly edited"


async def test_tags_and_authors_are_refreshed_every_run(
    ghost: GhostStandIn, sync: GhostSync, db: AsyncSession
) -> None:
    local_tag = BlogTag(slug="events", name="Local events")
    db.add(local_tag)
    await db.commit()
    food = ghost.add_tag("Food")
    events = ghost.add_tag("Events")
    gone = ghost.add_tag("Gone")
    rosa = ghost.add_author("Rosa")
    ghost.add_post("Tagged", tags=[food, gone], authors=[rosa])
    await sync.run()
    adopted = await db.scalar(select(BlogTag).where(BlogTag.slug == "events"))
    assert adopted is not None
    assert adopted.ghost_id == events["id"]

    food["name"] = "Food & drink"
    del ghost.tags[gone["id"]]
    rosa["name"] = "Rosa B."
    await sync.run()
    db.expire_all()
    names = dict((await db.execute(select(BlogTag.slug, BlogTag.name))).all())
    assert names == {"food": "Food & drink", "events": "Events"}
    assert await db.scalar(select(BlogAuthor.name)) == "Rosa B."
    post = (await services().blog.get_by_slug(db, "tagged")).post
    assert [t.slug for t in post.tags] == ["food"]


async def test_slug_clashes_and_slug_changes(
    ghost: GhostStandIn, sync: GhostSync, db: AsyncSession
) -> None:
    local = await services().blog.create_post(db, PostInput(title="Hello"))
    await db.commit()
    remote = ghost.add_post("Hello")
    await sync.run()
    synced = await db.scalar(select(BlogPost).where(BlogPost.ghost_id == remote["id"]))
    assert synced is not None
    assert synced.slug == "hello-2"
    synced_id = synced.id
    assert (await services().blog.get_post(db, local.id)).slug == "hello"
    # A later edit does not move it again.
    ghost.edit(remote["id"], title="Hello again")
    await sync.run()
    db.expire_all()
    assert (await services().blog.get_post(db, synced_id)).slug == "hello-2"

    ghost.edit(remote["id"], slug="greetings")
    await sync.run()
    db.expire_all()
    moved = await services().blog.get_by_slug(db, "hello-2")
    assert (moved.moved, moved.post.slug) == (True, "greetings")
