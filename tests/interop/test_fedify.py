"""Federating with an independent implementation: a Fedify server follows ``blog`` and
receives, with its strict signature checks, what the blog publishes through its own service
(BlogService: publish, edit, delete; drafts and members-only posts never) — until it unfollows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from shared.config import Settings
from shared.contracts import (
    CalendarInput,
    CategoryInput,
    EventInput,
    PostInput,
    ProductImageDTO,
    ProductInput,
)
from shared.db import create_engine, create_session_factory
from shared.models import ApDelivery, ApFollower
from shared.services.federation.outbox import OutboxProcessor
from shared.services.registry import build_services
from tests.interop.conftest import Peer
from tests.support.activitypub import peer_key
from tests.support.jsonld import AS, MZ, SCHEMA, one

PUBLIC = ("https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public")
PUBLISHED = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


async def received(client: httpx.AsyncClient, peer: Peer) -> list[dict[str, Any]]:
    resp = await client.get(f"{peer.origin}/control/received")
    resp.raise_for_status()
    return list(resp.json())


async def expanded(client: httpx.AsyncClient, peer: Peer, activity_id: str) -> dict[str, Any]:
    """The activity as the peer's JSON-LD processor expanded it (safe mode: nothing dropped)."""
    resp = await client.get(f"{peer.origin}/control/expanded")
    resp.raise_for_status()
    [entry] = [e for e in resp.json() if e["id"] == activity_id]
    assert "error" not in entry, entry
    node: dict[str, Any] = entry["expanded"]
    return node


async def lookup_url(client: httpx.AsyncClient, peer: Peer, url: str) -> dict[str, Any]:
    """What the peer finds at ``url``, as Mastodon's search looks a pasted URL up."""
    resp = await client.post(f"{peer.origin}/control/lookup", json={"url": url})
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


async def peer_follows(
    client: httpx.AsyncClient, peer: Peer, worker: OutboxProcessor, handle: str
) -> None:
    """The peer follows ``handle``; our worker delivers the Accept."""
    resp = await client.post(f"{peer.origin}/control/follow", json={"handle": handle})
    assert resp.status_code == 200, resp.text + "\n" + "\n".join(peer.output)
    assert (await worker.run_once()).delivered == 1  # the Accept


def hashtags(node: dict[str, Any]) -> dict[str, str]:
    """An expanded object's Hashtags: name -> href."""
    return {
        one(t, f"{AS}name"): one(t, f"{AS}href")
        for t in node.get(f"{AS}tag", [])
        if f"{AS}Hashtag" in t.get("@type", [])
    }


async def test_a_fedify_server_follows_blog_and_sees_posts_arrive(
    blog_https: Settings, peer: Peer
) -> None:
    settings = blog_https
    blog_service = build_services(settings).blog
    blog = settings.apps["blog"].public_url
    host = blog.split("://", 1)[1]
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    try:
        async with (
            httpx.AsyncClient(timeout=60) as client,
            OutboxProcessor(settings, factory, worker_id="interop") as worker,
        ):
            # WebFinger blog@host (over https), fetch the actor, send a signed Follow.
            resp = await client.post(
                f"{peer.origin}/control/follow", json={"handle": f"blog@{host}"}
            )
            assert resp.status_code == 200, resp.text + "\n" + "\n".join(peer.output)
            looked_up = resp.json()
            assert looked_up["actor"] == f"{blog}/ap/users/blog"
            assert looked_up["preferredUsername"] == "blog"
            assert looked_up["sharedInbox"] == f"{blog}/ap/inbox"
            async with factory() as session:
                follower = await session.scalar(select(ApFollower))
                assert follower is not None
                assert follower.actor_uri == peer.actor
                assert follower.shared_inbox_url == f"{peer.origin}/inbox"

            # Our Accept reaches the peer and passes its signature checks.
            done = await worker.run_once()
            assert done.delivered == 1, done
            [accept] = await received(client, peer)
            assert accept["type"] == "Accept"
            assert accept["actor"] == f"{blog}/ap/users/blog"
            # The Follow is embedded as sent (Fedify does not trust a cross-origin embed, so
            # this is read from the Accept as received rather than dereferenced).
            assert accept["json"]["object"]["id"] == looked_up["follow"], accept
            assert accept["json"]["object"]["type"] == "Follow"

            # The blog's own actions, through BlogService: a draft is not news...
            async with factory() as session, session.begin():
                post = await blog_service.create_post(
                    session,
                    PostInput(
                        title="Harvest supper",
                        excerpt="Our autumn supper with the growers, Friday at seven.",
                        html="<p>Come and eat with the people who grew it.</p>",
                        tags=("Food",),
                    ),
                )
            assert (await worker.run_once()).fanned_out == 0

            # ...publishing it is: a Create{Article} with everything Mastodon shows.
            async with factory() as session, session.begin():
                await blog_service.publish(session, post.id, now=PUBLISHED)
            assert (await worker.run_once()).delivered == 1
            create = (await received(client, peer))[-1]
            assert create["type"] == "Create"
            obj = create["object"]
            article_id = obj["id"]
            assert article_id.startswith(f"{blog}/ap/objects/")
            assert obj["type"] == "Article"
            assert obj["name"] == "Harvest supper"
            assert obj["summary"].startswith("Our autumn supper")
            assert "people who grew it" in obj["content"]
            assert obj["url"] == f"{blog}/posts/harvest-supper"
            assert obj["published"].startswith("2026-11-20T18:00:00")
            assert obj["attributedTo"] == f"{blog}/ap/users/blog"
            assert obj["to"] in PUBLIC or set(obj["to"]) & set(PUBLIC)
            # Its hashtag survives the peer's JSON-LD processing, linked to the tag's page.
            [article] = (await expanded(client, peer, create["id"]))[f"{AS}object"]
            assert hashtags(article) == {"#Food": f"{blog}/tag/food"}
            # Looking the post's URL up (Mastodon's search) finds the same object.
            found = await lookup_url(client, peer, f"{blog}/posts/harvest-supper")
            assert found["id"] == article_id
            assert found["type"] == "Article"

            # Edited: an Update of the same object.
            async with factory() as session, session.begin():
                await blog_service.update_post(
                    session,
                    post.id,
                    PostInput(
                        title="Harvest supper (now Saturday)",
                        excerpt="Moved to Saturday.",
                        html="<p>Saturday at seven.</p>",
                    ),
                )
            assert (await worker.run_once()).delivered == 1
            update = (await received(client, peer))[-1]
            assert update["type"] == "Update"
            assert update["object"]["id"] == article_id
            assert update["object"]["name"] == "Harvest supper (now Saturday)"

            # A members-only post is published: nothing leaves.
            async with factory() as session, session.begin():
                members = await blog_service.create_post(
                    session,
                    PostInput(title="AGM minutes", html="<p>Members.</p>", visibility="members"),
                )
                await blog_service.publish(session, members.id)
            assert (await worker.run_once()).fanned_out == 0

            # Removed: a Delete.
            async with factory() as session, session.begin():
                await blog_service.delete_post(session, post.id)
            assert (await worker.run_once()).delivered == 1
            delete = (await received(client, peer))[-1]
            assert delete["type"] == "Delete"
            assert delete["object"]["id"] == article_id

            # The peer unfollows; the blog stops sending to it.
            resp = await client.post(f"{peer.origin}/control/unfollow")
            assert resp.status_code == 200, resp.text
            async with factory() as session:
                assert await session.scalar(select(ApFollower)) is None
            async with factory() as session, session.begin():
                later = await blog_service.create_post(session, PostInput(title="Later"))
                await blog_service.publish(session, later.id)
            done = await worker.run_once()
            # Nothing was delivered (run_once returns once its requests are answered), so
            # the peer's list is already final.
            assert (done.fanned_out, done.delivered) == (1, 0)
            assert [a["type"] for a in await received(client, peer)] == [
                "Accept",
                "Create",
                "Update",
                "Delete",
            ]

            # Nothing we sent was refused, and every delivery is recorded as delivered.
            rejected = (await client.get(f"{peer.origin}/control/rejected")).json()
            assert rejected == []
            async with factory() as session:
                statuses = (await session.scalars(select(ApDelivery.status))).all()
            assert statuses == ["delivered"] * 4
            # Each signed with RFC 9421, which Fedify reads: no second knock was needed.
            schemes = (await client.get(f"{peer.origin}/control/schemes")).json()
            assert [(s["scheme"], s["status"] < 300) for s in schemes] == [("rfc9421", True)] * 4
    finally:
        await engine.dispose()


async def test_the_peer_really_refuses_what_it_cannot_verify(
    blog_https: Settings, peer: Peer
) -> None:
    """A control: the peer's checks are live, so the deliveries above prove something."""
    from shared.infrastructure.activitypub import keys, rfc9421
    from shared.infrastructure.activitypub.actors import actor_urls
    from shared.infrastructure.activitypub.signatures import sign_request

    urls = actor_urls(blog_https, "blog")
    inbox = f"{peer.origin}/users/peer/inbox"
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": urls.activity("forged"),
        "type": "Create",
        "actor": urls.id,
        "object": {
            "id": urls.object("forged"),
            "type": "Note",
            "attributedTo": urls.id,
            "content": "forged",
        },
    }
    body = json.dumps(activity).encode()
    cases = {
        "wrong key": (
            body,
            sign_request(
                "POST", inbox, key_id=urls.key_id, private_key=peer_key("mallory"), body=body
            ),
        ),
        "tampered body": (
            body.replace(b"forged", b"FORGED"),
            sign_request(
                "POST",
                inbox,
                key_id=urls.key_id,
                private_key=keys.private_key(blog_https),
                body=body,
            ),
        ),
        "wrong key, RFC 9421": (
            body,
            rfc9421.sign_request(
                "POST", inbox, key_id=urls.key_id, private_key=peer_key("mallory"), body=body
            ),
        ),
        "tampered body, RFC 9421": (
            body.replace(b"forged", b"FORGED"),
            rfc9421.sign_request(
                "POST",
                inbox,
                key_id=urls.key_id,
                private_key=keys.private_key(blog_https),
                body=body,
            ),
        ),
    }
    async with httpx.AsyncClient(timeout=60) as client:
        for name, (content, headers) in cases.items():
            resp = await client.post(inbox, content=content, headers=headers)
            assert resp.status_code == 401, (name, resp.status_code, resp.text)
        assert await received(client, peer) == []
        rejected = (await client.get(f"{peer.origin}/control/rejected")).json()
        assert [r["status"] for r in rejected] == [401, 401, 401, 401]
        # The same activity, properly signed, is accepted.
        good = sign_request(
            "POST", inbox, key_id=urls.key_id, private_key=keys.private_key(blog_https), body=body
        )
        resp = await client.post(inbox, content=body, headers=good)
        assert 200 <= resp.status_code < 300, resp.text
        assert [a["type"] for a in await received(client, peer)] == ["Create"]


async def test_a_fedify_server_follows_events_and_reads_every_field_of_an_event(
    events_https: Settings, peer: Peer
) -> None:
    """Time zone, address, tags and image reach a JSON-LD server intact (issue #20)."""
    settings = events_https
    events_service = build_services(settings).events
    events = settings.apps["events"].public_url
    host = events.split("://", 1)[1]
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    try:
        async with (
            httpx.AsyncClient(timeout=60) as client,
            OutboxProcessor(settings, factory, worker_id="interop") as worker,
        ):
            await peer_follows(client, peer, worker, f"events@{host}")

            async with factory() as session, session.begin():
                calendar = await events_service.save_calendar(
                    session,
                    CalendarInput(name="The Barn", timezone="Europe/Lisbon", category="FOOD_DRINK"),
                )
                event = await events_service.save_event(
                    session,
                    EventInput(
                        calendar_id=calendar.id,
                        title="Seed swap",
                        timezone="Europe/Lisbon",
                        start_local=datetime(2030, 12, 1, 18),
                        end_local=datetime(2030, 12, 1, 20),
                        location_name="The Barn",
                        location_address="12 Rose Lane, Lisbon",
                        image_url=f"{events}/static/img/actor-icon.png",
                        tags=("garden",),
                        status="published",
                    ),
                )
            assert (await worker.run_once()).delivered == 1
            create = (await received(client, peer))[-1]
            assert create["type"] == "Create"
            # Fedify's own reading of the Event.
            assert create["object"]["type"] == "Event"
            assert create["object"]["name"] == "Seed swap"
            # Every field, after JSON-LD processing with nothing dropped.
            [obj] = (await expanded(client, peer, create["id"]))[f"{AS}object"]
            assert one(obj, f"{MZ}timezone") == "Europe/Lisbon"
            assert one(obj, f"{SCHEMA}category") == "FOOD_DRINK"
            [place] = obj[f"{AS}location"]
            assert one(place, f"{AS}name") == "The Barn"
            [address] = place[f"{SCHEMA}address"]
            assert one(address, f"{SCHEMA}streetAddress") == "12 Rose Lane, Lisbon"
            assert hashtags(obj) == {"#garden": f"{events}/?tag=garden"}
            [image] = obj[f"{AS}image"]
            assert one(image, f"{AS}url") == f"{events}/static/img/actor-icon.png"
            [picture] = obj[f"{AS}attachment"]
            assert one(picture, f"{AS}mediaType") == "image/png"

            # The event's page, looked up as Mastodon's search does, is the same object.
            found = await lookup_url(client, peer, f"{events}/events/{event.slug}")
            assert found["id"] == create["object"]["id"]
            assert found["type"] == "Event"
            rejected = (await client.get(f"{peer.origin}/control/rejected")).json()
            assert rejected == []
    finally:
        await engine.dispose()


async def test_a_recurring_event_reaches_a_fedify_server_as_separate_events(
    events_https: Settings, peer: Peer
) -> None:
    """Each coming date of a weekly event arrives as its own Event naming its series, and
    withdrawing the series deletes each (decision 0111)."""
    settings = events_https
    events_service = build_services(settings).events
    events = settings.apps["events"].public_url
    host = events.split("://", 1)[1]
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    try:
        async with (
            httpx.AsyncClient(timeout=60) as client,
            OutboxProcessor(settings, factory, worker_id="interop") as worker,
        ):
            await peer_follows(client, peer, worker, f"events@{host}")
            fields = {
                "title": "Folk night",
                "timezone": "Europe/London",
                "start_local": datetime(2030, 3, 26, 19),
                "end_local": datetime(2030, 3, 26, 21),
                "rrule": "FREQ=WEEKLY;COUNT=3",
                "status": "published",
            }
            async with factory() as session, session.begin():
                calendar = await events_service.save_calendar(
                    session, CalendarInput(name="The Folk Room", timezone="Europe/London")
                )
                event = await events_service.save_event(
                    session, EventInput(calendar_id=calendar.id, **fields)
                )
                looked = datetime(2030, 3, 20, tzinfo=UTC)
                assert await events_service.federate_occurrences(session, now=looked) == 3
            assert (await worker.run_once()).delivered == 3
            creates = [a for a in await received(client, peer) if a["type"] == "Create"]
            objects = [a["object"] for a in creates[-3:]]
            assert {o["type"] for o in objects} == {"Event"}
            # 19:00 in London, before and after the clocks go forward on 30 March.
            assert sorted(o["startTime"] for o in objects) == [
                "2030-03-26T19:00:00Z",
                "2030-04-02T18:00:00Z",
                "2030-04-09T18:00:00Z",
            ]
            assert len({o["id"] for o in objects}) == 3
            [node] = (await expanded(client, peer, creates[-1]["id"]))[f"{AS}object"]
            assert node[f"{SCHEMA}superEvent"] == [{"@id": f"{events}/events/{event.slug}"}]
            # An occurrence's id, looked up, is that occurrence.
            found = await lookup_url(client, peer, objects[0]["id"])
            assert found["id"] == objects[0]["id"]
            assert found["type"] == "Event"

            async with factory() as session, session.begin():
                await events_service.save_event(
                    session,
                    EventInput(calendar_id=calendar.id, **{**fields, "status": "draft"}),
                    event_id=event.id,
                )
            assert (await worker.run_once()).delivered == 3
            deletes = [a for a in await received(client, peer) if a["type"] == "Delete"]
            assert {d["object"]["id"] for d in deletes[-3:]} == {o["id"] for o in objects}
            rejected = (await client.get(f"{peer.origin}/control/rejected")).json()
            assert rejected == []
    finally:
        await engine.dispose()


async def test_a_fedify_server_follows_the_market_and_reads_a_new_product(
    market_https: Settings, peer: Peer
) -> None:
    """A new product reaches a JSON-LD server as a Note with its price, picture and
    categories as hashtags, once its changes have settled (issue #20, item 6)."""
    settings = market_https
    catalog = build_services(settings).catalog
    market = settings.apps["market"].public_url
    host = market.split("://", 1)[1]
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    try:
        async with (
            httpx.AsyncClient(timeout=60) as client,
            OutboxProcessor(settings, factory, worker_id="interop") as worker,
        ):
            await peer_follows(client, peer, worker, f"market@{host}")

            async with factory() as session, session.begin():
                cheese = await catalog.create_category(session, CategoryInput(name="Cheese"))
                product = await catalog.create_product(
                    session,
                    ProductInput(
                        title="Hill farm cheddar",
                        price_minor=650,
                        unit="250 g",
                        categories=(cheese.slug,),
                        images=(ProductImageDTO("/static/img/actor-icon.png", "A wedge"),),
                    ),
                )
            async with factory() as session, session.begin():
                settled = datetime.now(UTC) + timedelta(hours=1)
                assert await catalog.federate_due(session, settled=settled) == 1
            assert (await worker.run_once()).delivered == 1
            create = (await received(client, peer))[-1]
            assert create["type"] == "Create"
            assert create["object"]["type"] == "Note"
            [obj] = (await expanded(client, peer, create["id"]))[f"{AS}object"]
            assert "6.50" in one(obj, f"{AS}content")
            assert hashtags(obj) == {"#Cheese": f"{market}/categories/{cheese.slug}"}
            [picture] = obj[f"{AS}attachment"]
            assert one(picture, f"{AS}url") == f"{market}/static/img/actor-icon.png"
            assert one(picture, f"{AS}mediaType") == "image/png"

            found = await lookup_url(client, peer, f"{market}/products/{product.slug}")
            assert found["id"] == create["object"]["id"]
            rejected = (await client.get(f"{peer.origin}/control/rejected")).json()
            assert rejected == []
    finally:
        await engine.dispose()
