"""Publishing through the outbox: Article shapes, paging, objects, updates and deletes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import ApObjectDTO, ArticleDTO, FederationService
from shared.errors import DomainError
from tests.support.settings import AppMaker

AS = {"Accept": "application/activity+json"}
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def an_article(federation: FederationService, n: int = 1) -> ApObjectDTO:
    return federation.article(
        "blog",
        ArticleDTO(
            id=federation.new_object_uri("blog"),
            name=f"Harvest supper {n}",
            summary="Our autumn supper, with the growers.",
            content="<p>Come and eat with us.</p>",
            url=f"http://127.0.0.1:8001/posts/harvest-supper-{n}/",
            published=datetime(2026, 11, 20, 18, 0, tzinfo=UTC),
        ),
    )


async def test_publish_writes_a_create_article_in_the_callers_transaction(
    db: AsyncSession, federation: FederationService
) -> None:
    activity = await federation.publish(db, "blog", "Create", an_article(federation))
    payload = activity.payload
    assert payload["type"] == "Create"
    assert payload["actor"] == "http://127.0.0.1:8001/ap/users/blog"
    assert payload["to"] == [PUBLIC]
    assert payload["cc"] == ["http://127.0.0.1:8001/ap/users/blog/followers"]
    obj = payload["object"]
    assert obj["type"] == "Article"
    assert obj["name"] == "Harvest supper 1"
    assert obj["summary"]
    assert obj["content"]
    assert obj["url"]
    assert obj["published"] == "2026-11-20T18:00:00Z"
    assert obj["attributedTo"] == payload["actor"]
    assert obj["to"] == [PUBLIC]
    # Nothing is committed here: the domain's transaction decides.
    await db.rollback()
    assert await federation.outbox_count(db, "blog") == 0


@pytest.mark.parametrize(
    ("kind", "obj", "code"),
    [
        ("Like", ApObjectDTO({"type": "Article"}), "ap_bad_activity"),
        ("Create", ApObjectDTO({"type": "Person"}), "ap_bad_object"),
        ("Create", "http://x/1", "ap_bad_object"),
        ("Delete", ApObjectDTO({}), "ap_bad_object"),
    ],
)
async def test_publish_refuses_what_it_cannot_send(
    db: AsyncSession, federation: FederationService, kind: str, obj: ApObjectDTO | str, code: str
) -> None:
    with pytest.raises(DomainError) as err:
        await federation.publish(db, "blog", kind, obj)
    assert err.value.code == code
    assert await federation.outbox_count(db, "blog") == 0


async def test_an_object_must_be_attributed_to_its_actor(
    db: AsyncSession, federation: FederationService
) -> None:
    obj = ApObjectDTO(
        {**an_article(federation).data, "attributedTo": "http://127.0.0.1:8004/ap/users/events"}
    )
    with pytest.raises(DomainError) as err:
        await federation.publish(db, "blog", "Create", obj)
    assert err.value.code == "ap_bad_object"


async def test_outbox_pages_newest_first(
    make_app: AppMaker, db: AsyncSession, settings: Settings, federation: FederationService
) -> None:
    page_size = settings.activitypub.outbox_page_size
    total = page_size * 2 + 3
    for n in range(total):
        await federation.publish(db, "blog", "Create", an_article(federation, n))
    await federation.publish(db, "events", "Create", ApObjectDTO({"type": "Note", "content": "x"}))
    await db.commit()
    app = await make_app("blog")
    client = app.test_client()
    coll = await (await client.get("/ap/users/blog/outbox", headers=AS)).get_json()
    assert coll["type"] == "OrderedCollection"
    assert coll["totalItems"] == total
    url = coll["first"]
    names: list[str] = []
    pages = 0
    while url:
        page = await (await client.get(url.split("8001", 1)[1], headers=AS)).get_json()
        assert page["type"] == "OrderedCollectionPage"
        assert page["partOf"] == coll["id"]
        assert len(page["orderedItems"]) <= page_size
        names += [item["object"]["name"] for item in page["orderedItems"]]
        pages += 1
        url = page.get("next")
    assert pages == 3
    assert names == [f"Harvest supper {n}" for n in reversed(range(total))]


async def test_outbox_rejects_a_bad_cursor(make_app: AppMaker) -> None:
    app = await make_app("blog")
    resp = await app.test_client().get("/ap/users/blog/outbox?page=true&max_id=-4", headers=AS)
    assert resp.status_code == 400


async def test_objects_and_activities_answer_json_or_html_and_deletes_leave_a_tombstone(
    make_app: AppMaker, db: AsyncSession, federation: FederationService
) -> None:
    article = an_article(federation)
    created = await federation.publish(db, "blog", "Create", article)
    await db.commit()
    app = await make_app("blog")
    client = app.test_client()
    object_id = article.data["id"]
    path = object_id.split("8001", 1)[1]

    resp = await client.get(path, headers=AS)
    assert resp.status_code == 200
    assert (await resp.get_json())["name"] == "Harvest supper 1"
    html = await (await client.get(path)).get_data(as_text=True)
    assert "Harvest supper 1" in html
    assert "Our autumn supper" in html
    activity = await client.get(created.uri.split("8001", 1)[1], headers=AS)
    assert (await activity.get_json())["type"] == "Create"

    edited = ApObjectDTO({**article.data, "name": "Harvest supper (moved to Friday)"})
    updated = await federation.publish(db, "blog", "Update", edited)
    assert "updated" in updated.payload["object"]
    await db.commit()
    assert (await (await client.get(path, headers=AS)).get_json())["name"].endswith("Friday)")

    deleted = await federation.publish(db, "blog", "Delete", object_id)
    tombstone = deleted.payload["object"]
    assert tombstone["id"] == object_id
    assert tombstone["type"] == "Tombstone"
    # Gancio refuses a Delete whose Tombstone does not say what it was.
    assert tombstone["formerType"] == "Article"
    await db.commit()
    resp = await client.get(path, headers=AS)
    assert resp.status_code == 410
    served = await resp.get_json()
    assert served["type"] == "Tombstone"
    assert served["formerType"] == "Article"


async def test_the_outbox_lists_what_stands_now(
    make_app: AppMaker, db: AsyncSession, federation: FederationService
) -> None:
    """No Create of a withdrawn or deleted object; an edited one's Create carries its edit."""
    kept, edited, gone = (an_article(federation, n) for n in (1, 2, 3))
    for article in (kept, edited, gone):
        await federation.publish(db, "blog", "Create", article)
    await federation.publish(
        db, "blog", "Update", ApObjectDTO({**edited.data, "name": "Harvest supper 2, moved"})
    )
    await federation.publish(db, "blog", "Delete", gone.data["id"])
    event = ApObjectDTO({"type": "Event", "name": "Withdrawn supper"})
    created = await federation.publish(db, "events", "Create", event)
    await federation.publish(db, "events", "Delete", created.object_uri or "")
    await db.commit()
    client = (await make_app("blog")).test_client()
    coll = await (await client.get("/ap/users/blog/outbox", headers=AS)).get_json()
    assert coll["totalItems"] == 2
    page = await (await client.get("/ap/users/blog/outbox?page=true", headers=AS)).get_json()
    items = page["orderedItems"]
    assert [(i["type"], i["object"]["name"]) for i in items] == [
        ("Create", "Harvest supper 2, moved"),
        ("Create", "Harvest supper 1"),
    ]
    assert page["totalItems"] == 2
    events = (await make_app("events")).test_client()
    coll = await (await events.get("/ap/users/events/outbox", headers=AS)).get_json()
    assert coll["totalItems"] == 0
    page = await (await events.get("/ap/users/events/outbox?page=true", headers=AS)).get_json()
    assert page["orderedItems"] == []


async def test_followers_collection(make_app: AppMaker, db: AsyncSession) -> None:
    from shared.models import ApFollower

    for n in range(3):
        db.add(
            ApFollower(
                actor_app="blog",
                actor_uri=f"https://social.example/users/u{n}",
                inbox_url=f"https://social.example/users/u{n}/inbox",
                follow_activity_uri=f"https://social.example/f/{n}",
            )
        )
    await db.commit()
    app = await make_app("blog")
    client = app.test_client()
    coll = await (await client.get("/ap/users/blog/followers", headers=AS)).get_json()
    assert coll["totalItems"] == 3
    page = await (await client.get("/ap/users/blog/followers?page=1", headers=AS)).get_json()
    assert page["orderedItems"][0] == "https://social.example/users/u0"
    following = await (await client.get("/ap/users/blog/following", headers=AS)).get_json()
    assert following["totalItems"] == 0
