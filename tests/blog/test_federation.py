"""The blog on the fediverse: BlogService's writes put Create/Update/Delete of an Article into
the outbox in the same transaction, and only for public, published posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import BlogService, PostInput
from shared.contracts.errors import InvalidPost
from shared.models import ApActivity, BlogPost
from shared.services.blog.stages import scheduled_posts
from shared.services.federation.outbox import OutboxProcessor
from shared.services.registry import build_services
from tests.blog.factories import BASE_TIME

BLOG = "http://127.0.0.1:8001"
ACTOR = f"{BLOG}/ap/users/blog"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture
def blog(settings: Settings) -> BlogService:
    return build_services(settings).blog


async def outbox(db: AsyncSession) -> list[dict[str, Any]]:
    """What the blog's actor has published so far, oldest first."""
    rows = await db.scalars(
        select(ApActivity).where(ApActivity.actor_app == "blog").order_by(ApActivity.id)
    )
    return [row.payload for row in rows]


async def federated_as(db: AsyncSession, post_id: int) -> str | None:
    return await db.scalar(select(BlogPost.ap_object_uri).where(BlogPost.id == post_id))


async def draft(blog: BlogService, db: AsyncSession, title: str, **fields: Any) -> int:
    fields.setdefault("html", "<p>Bring a dish to share.</p>")
    dto = await blog.create_post(
        db,
        PostInput(
            title=title,
            excerpt="Our autumn supper with the growers.",
            tags=("Food",),
            **fields,
        ),
    )
    return dto.id


async def test_publish_update_unpublish_and_delete_federate_an_article(
    db: AsyncSession, blog: BlogService
) -> None:
    post_id = await draft(blog, db, "Harvest supper")
    assert await outbox(db) == [], "a draft is not news"

    await blog.publish(db, post_id, now=BASE_TIME)
    [create] = await outbox(db)
    assert (create["type"], create["actor"]) == ("Create", ACTOR)
    article = create["object"]
    object_id = await federated_as(db, post_id)
    assert object_id is not None
    assert object_id.startswith(f"{BLOG}/ap/objects/")
    assert article == {
        "id": object_id,
        "type": "Article",
        "name": "Harvest supper",
        "summary": "Our autumn supper with the growers.",
        "content": "<p>Bring a dish to share.</p>",
        "url": f"{BLOG}/posts/harvest-supper",
        "published": "2026-01-01T09:00:00Z",
        "attributedTo": ACTOR,
        "to": [PUBLIC],
        "cc": [f"{ACTOR}/followers"],
        "tag": [{"type": "Hashtag", "href": f"{BLOG}/tag/food", "name": "#Food"}],
    }
    await blog.publish(db, post_id, now=BASE_TIME + timedelta(hours=1))
    assert len(await outbox(db)) == 1, "publishing again changes nothing, sends nothing"

    await blog.update_post(
        db,
        post_id,
        PostInput(title="Harvest supper (now Saturday)", html="<p>Saturday at seven.</p>"),
    )
    update = (await outbox(db))[-1]
    assert update["type"] == "Update"
    assert update["object"]["id"] == object_id, "an edit keeps the object's id"
    assert update["object"]["name"] == "Harvest supper (now Saturday)"
    assert update["object"]["content"] == "<p>Saturday at seven.</p>"
    assert update["object"]["url"] == f"{BLOG}/posts/harvest-supper", "the slug is kept"
    assert update["object"]["updated"]

    await blog.unpublish(db, post_id)
    delete = (await outbox(db))[-1]
    assert delete["type"] == "Delete"
    assert delete["object"]["id"] == object_id
    assert delete["object"]["type"] == "Tombstone"
    assert delete["object"]["formerType"] == "Article"
    assert await federated_as(db, post_id) is None

    # Published again: a new object, since servers keep a tombstone of the old id.
    await blog.publish(db, post_id)
    again = (await outbox(db))[-1]
    assert again["type"] == "Create"
    assert again["object"]["id"] not in (None, object_id)
    assert again["object"]["id"] == await federated_as(db, post_id)

    await blog.delete_post(db, post_id)
    gone = (await outbox(db))[-1]
    assert gone["type"] == "Delete"
    assert gone["object"]["id"] == again["object"]["id"]
    assert [a["type"] for a in await outbox(db)] == [
        "Create",
        "Update",
        "Delete",
        "Create",
        "Delete",
    ]


async def test_the_activity_is_part_of_the_blogs_transaction(
    db: AsyncSession, blog: BlogService
) -> None:
    post_id = await draft(blog, db, "Cider pressing")
    await db.commit()
    await blog.publish(db, post_id)
    assert [a["type"] for a in await outbox(db)] == ["Create"]
    await db.rollback()
    assert await outbox(db) == [], "no post published, no Create"
    assert (await blog.get_post(db, post_id)).status == "draft"

    # A refused edit of a published post sends nothing either.
    await blog.publish(db, post_id)
    await db.commit()
    with pytest.raises(InvalidPost):
        await blog.update_post(db, post_id, PostInput(title=""))
    await db.rollback()
    assert [a["type"] for a in await outbox(db)] == ["Create"]


async def test_drafts_and_scheduled_posts_never_federate(
    db: AsyncSession, blog: BlogService
) -> None:
    post_id = await draft(blog, db, "Plans for the orchard")
    await blog.update_post(db, post_id, PostInput(title="Plans for the orchard, v2"))
    at = BASE_TIME + timedelta(days=1)
    await blog.schedule(db, post_id, at, now=BASE_TIME)
    await blog.update_post(db, post_id, PostInput(title="Plans for the orchard, v3"))
    await blog.unpublish(db, post_id)
    await blog.delete_post(db, post_id)
    assert await outbox(db) == []


async def test_scheduled_posts_federate_when_they_go_live(
    db: AsyncSession, blog: BlogService
) -> None:
    due = await draft(blog, db, "Seed swap")
    later = await draft(blog, db, "Winter menu")
    await blog.schedule(db, due, BASE_TIME + timedelta(hours=1), now=BASE_TIME)
    await blog.schedule(db, later, BASE_TIME + timedelta(days=1), now=BASE_TIME)
    assert await outbox(db) == []

    await blog.publish_due_scheduled(db, BASE_TIME + timedelta(hours=2))
    [create] = await outbox(db)
    assert create["type"] == "Create"
    assert create["object"]["name"] == "Seed swap"
    assert create["object"]["published"] == "2026-01-01T10:00:00Z"
    assert await blog.publish_due_scheduled(db, BASE_TIME + timedelta(hours=2)) == ()
    assert len(await outbox(db)) == 1


async def test_the_worker_publishes_due_posts_and_delivers_their_create(
    db: AsyncSession,
    blog: BlogService,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The worker's own stage: a post whose time has come goes live and its Create is fanned
    out in the same run."""
    post_id = await draft(blog, db, "Bread club")
    now = datetime.now(UTC)
    await blog.schedule(db, post_id, now + timedelta(seconds=1), now=now)
    await db.execute(
        BlogPost.__table__.update()
        .where(BlogPost.id == post_id)
        .values(published_at=now - timedelta(seconds=1))
    )
    await db.commit()
    async with OutboxProcessor(
        settings, session_factory, stages=[scheduled_posts(session_factory, blog)]
    ) as worker:
        done = await worker.run_once()
    assert done.fanned_out == 1
    assert (await blog.get_post(db, post_id)).status == "published"
    [create] = await outbox(db)
    assert create["object"]["name"] == "Bread club"
    fanned = await db.scalar(
        select(func.count()).select_from(ApActivity).where(ApActivity.fanned_out_at.is_not(None))
    )
    assert fanned == 1


async def test_members_only_posts_and_pages_are_not_federated(
    db: AsyncSession, blog: BlogService
) -> None:
    """Members-only posts are not federated at all, not even as a link: the body is for
    members, and someone following from another server is not signed in as one."""
    members = await draft(blog, db, "Members' AGM minutes", visibility="members")
    page = await draft(blog, db, "About the cooperative", kind="page")
    await blog.publish(db, members)
    await blog.publish(db, page)
    await blog.update_post(
        db, members, PostInput(title="Members' AGM minutes", visibility="members")
    )
    assert await outbox(db) == []

    # Made public: announced; made members-only again: withdrawn, its body never sent again.
    await blog.update_post(
        db,
        members,
        PostInput(title="AGM minutes", html="<p>Open to all now.</p>", visibility="public"),
    )
    [create] = await outbox(db)
    assert create["type"] == "Create"
    assert create["object"]["content"] == "<p>Open to all now.</p>"
    await blog.update_post(
        db,
        members,
        PostInput(title="AGM minutes", html="<p>Members' notes.</p>", visibility="members"),
    )
    delete = (await outbox(db))[-1]
    assert delete["type"] == "Delete"
    assert delete["object"]["id"] == create["object"]["id"]
    texts = [str(a) for a in await outbox(db)]
    assert not any("Members' notes" in t for t in texts)
    assert await federated_as(db, members) is None


async def test_ghost_synced_posts_federate_like_local_ones(
    db: AsyncSession, blog: BlogService
) -> None:
    when = BASE_TIME + timedelta(days=2)
    data = PostInput(title="From Ghost", html="<p>Written in Ghost.</p>")
    outcome = await blog.upsert_synced_post(
        db, ghost_id="a" * 24, ghost_updated_at=when, published_at=when, data=data
    )
    assert outcome == "created"
    edited = PostInput(title="From Ghost, edited", html="<p>Edited in Ghost.</p>")
    await blog.upsert_synced_post(
        db,
        ghost_id="a" * 24,
        ghost_updated_at=when + timedelta(hours=1),
        published_at=when,
        data=edited,
    )
    assert await blog.delete_synced(db, ["a" * 24]) == 1
    create, update, delete = await outbox(db)
    assert [create["type"], update["type"], delete["type"]] == ["Create", "Update", "Delete"]
    assert create["object"]["id"] == update["object"]["id"] == delete["object"]["id"]
    assert update["object"]["name"] == "From Ghost, edited"


async def test_products_embedded_in_a_post_federate_as_links_to_the_market(
    db: AsyncSession, blog: BlogService, settings: Settings
) -> None:
    """Fediverse readers get no fragments: a product marker becomes a link, not stray text."""
    market = settings.apps["market"].public_url
    post_id = await draft(
        blog,
        db,
        "Bread of the week",
        html='<p>Try it:</p><p>[product:sourdough-loaf]</p><div data-product="rye"></div>',
    )
    await blog.publish(db, post_id, now=BASE_TIME)
    [create] = await outbox(db)
    loaf, rye = f"{market}/products/sourdough-loaf", f"{market}/products/rye"
    assert create["object"]["content"] == (
        f'<p>Try it:</p><p><a href="{loaf}">{loaf}</a></p><p><a href="{rye}">{rye}</a></p>'
    )
