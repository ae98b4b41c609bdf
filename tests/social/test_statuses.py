"""The social hub at federation: members as actors, following remote and local accounts,
timelines, posting, and what remote servers do to members' posts — through the real app,
the real inbox (HTTP Signatures checked) and the real OutboxProcessor delivering to remote
servers on loopback."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.config import Settings
from shared.contracts import ComposeInput
from shared.infrastructure import internal_auth
from shared.infrastructure.activitypub.signatures import parse_signature, verify_request
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.visitor import Visitor
from shared.models import (
    ApActivity,
    ApDelivery,
    ApFollower,
    SocialAccount,
    SocialFollow,
    SocialNotification,
    SocialStatus,
    User,
)
from shared.services.federation.outbox import OutboxProcessor
from shared.services.registry import build_services
from tests.conftest import TEST_INTERNAL_SECRET, AppMaker, make_member, make_settings
from tests.support import BROWSER_ACCEPT, count_statements, csrf_in
from tests.support.activitypub import LoopbackServer, RemoteActor, make_actor

FED = "http://127.0.0.1:8005"
AS = {"Accept": "application/activity+json"}
HTML = {"Accept": BROWSER_ACCEPT}
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture
async def remote() -> Any:
    server = LoopbackServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def alice(remote: LoopbackServer) -> RemoteActor:
    actor = make_actor(remote, "alice")
    host = remote.base().split("://", 1)[1]
    remote.documents[f"{remote.base()}/.well-known/webfinger"] = {
        "subject": f"acct:alice@{host}",
        "links": [{"rel": "self", "type": "application/activity+json", "href": actor.id}],
    }
    return actor


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("federation")


@pytest.fixture
async def processor(settings: Settings, session_factory: Any) -> Any:
    async with OutboxProcessor(settings, session_factory, worker_id="social-test") as proc:
        yield proc


async def signed_in(app: RoseQuart, db: AsyncSession, username: str, *roles: str) -> Client:
    account = await make_member(db, username, display_name=username.title(), roles=roles)
    sign_in = await build_services().identity.start_session(db, account.id)
    await db.commit()
    client = app.test_client()
    async with client.session_transaction() as cookie:
        cookie["_auth"] = {"uid": account.id, "sid": sign_in.sid}
    client.user_id = account.id  # type: ignore[attr-defined]
    return client


async def token(client: Client, path: str = "/social") -> str:
    resp = await client.get(path, headers=HTML)
    assert resp.status_code == 200, path
    return csrf_in(await resp.get_data(as_text=True))


async def form_post(client: Client, path: str, **fields: str) -> Any:
    return await client.post(
        path, form={"csrf_token": await token(client), **fields}, headers={"Origin": FED}
    )


async def send(app: RoseQuart, actor: RemoteActor, activity: dict[str, Any], inbox: str) -> Any:
    body = json.dumps(activity).encode()
    url = f"{FED}{inbox}"
    return await app.test_client().post(
        inbox, data=body, headers={**actor.sign(url, body), "Accept": "application/json"}
    )


def activity(actor: RemoteActor, kind: str, obj: Any, **extra: Any) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.id}/activities/{uuid.uuid4().hex}",
        "type": kind,
        "actor": actor.id,
        "object": obj,
        **extra,
    }


def note(actor: RemoteActor, content: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{actor.id}/notes/{uuid.uuid4().hex}",
        "type": "Note",
        "attributedTo": actor.id,
        "content": content,
        "published": "2026-11-27T12:00:00Z",
        "to": [PUBLIC],
        "cc": [f"{actor.id}/followers"],
        **extra,
    }


async def home_html(client: Client, path: str = "/social") -> str:
    resp = await client.get(path, headers=HTML)
    assert resp.status_code == 200
    return await resp.get_data(as_text=True)


async def follow_remote(
    app: RoseQuart, client: Client, alice: RemoteActor, db: AsyncSession
) -> dict[str, Any]:
    """Search alice by handle, follow her, and have her accept; returns our Follow."""
    host = alice.server.base().split("://", 1)[1]
    resp = await client.get(f"/social/search?q=@alice@{host}", headers=HTML)
    assert resp.status_code == 303, await resp.get_data(as_text=True)
    account_path = resp.headers["Location"]
    resp = await form_post(client, f"{account_path}/follow")
    assert resp.status_code == 303
    await db.commit()
    follow = (
        await db.scalars(select(ApActivity).where(ApActivity.activity_type == "Follow"))
    ).one()
    payload = dict(follow.payload)
    assert payload["object"] == alice.id
    state = await db.scalar(select(SocialFollow.state))
    assert state == "pending"
    resp = await send(app, alice, activity(alice, "Accept", payload), "/users/ash/inbox")
    assert resp.status_code == 202, await resp.get_data(as_text=True)
    db.expire_all()
    assert await db.scalar(select(SocialFollow.state)) == "accepted"
    return payload


# --- members as actors ---------------------------------------------------------------------


async def test_every_member_is_an_actor_with_a_key_of_their_own(
    app: RoseQuart, db: AsyncSession
) -> None:
    await make_member(db, "ash", display_name="Ash Grove")
    await make_member(db, "bea")
    await db.commit()
    client = app.test_client()

    resp = await client.get("/.well-known/webfinger?resource=acct:ash@127.0.0.1:8005")
    assert resp.status_code == 200
    jrd = await resp.get_json()
    assert jrd["subject"] == "acct:ash@127.0.0.1:8005"
    [self_link] = [link for link in jrd["links"] if link["rel"] == "self"]
    assert self_link["href"] == f"{FED}/users/ash"
    for missing in ("acct:nobody@127.0.0.1:8005", "acct:ash@elsewhere.example"):
        resp = await client.get(f"/.well-known/webfinger?resource={missing}")
        assert resp.status_code == 404, missing
    # The app actor is still there beside the members.
    resp = await client.get("/.well-known/webfinger?resource=acct:federation@127.0.0.1:8005")
    assert (await resp.get_json())["links"][0]["href"] == f"{FED}/ap/users/federation"

    resp = await client.get("/users/ash", headers=AS)
    assert resp.status_code == 200
    assert resp.content_type.startswith("application/activity+json")
    person = await resp.get_json()
    assert person["type"] == "Person"
    assert person["preferredUsername"] == "ash"
    assert person["name"] == "Ash Grove"
    assert person["inbox"] == f"{FED}/users/ash/inbox"
    assert person["endpoints"]["sharedInbox"] == f"{FED}/ap/inbox"
    assert person["publicKey"]["id"] == f"{FED}/users/ash#main-key"
    bea = await (await client.get("/users/bea", headers=AS)).get_json()
    assert bea["publicKey"]["publicKeyPem"] != person["publicKey"]["publicKeyPem"]

    # The same URL is the profile page for browsers.
    resp = await client.get("/users/ash", headers=HTML)
    assert resp.status_code == 200
    assert "@ash@127.0.0.1:8005" in await resp.get_data(as_text=True)
    assert (await client.get("/users/nobody", headers=AS)).status_code == 404
    assert (await client.get("/@ash")).headers["Location"] == f"{FED}/users/ash"

    # The private half is stored encrypted, never as a PEM.
    blobs = list(await db.scalars(select(SocialAccount.private_key_enc)))
    assert len(blobs) == 2
    assert all(b is not None and b"PRIVATE KEY" not in b for b in blobs)


async def test_profile_options_lock_hide_followers_and_discoverable(
    app: RoseQuart, db: AsyncSession
) -> None:
    ash = await signed_in(app, db, "ash")
    resp = await form_post(
        ash,
        "/social/profile",
        display_name="Ash <b>Grove</b>",
        bio="Bakes bread.\n\n<script>alert(1)</script>",
        field_name_0="Bakery",
        field_value_0="https://bread.example",
        locked="on",
        hide_followers="on",
    )
    assert resp.status_code == 303
    person = await (await app.test_client().get("/users/ash", headers=AS)).get_json()
    assert person["manuallyApprovesFollowers"] is True
    assert person["discoverable"] is False
    assert "<script>" not in person["summary"]
    assert "&lt;script&gt;" in person["summary"]
    assert person["attachment"][0]["name"] == "Bakery"
    followers = await (await app.test_client().get("/users/ash/followers", headers=AS)).get_json()
    assert "orderedItems" not in followers
    assert "first" not in followers
    # The change is announced to followers (an Update of the Person).
    update = await db.scalar(select(ApActivity).where(ApActivity.activity_type == "Update"))
    assert update is not None
    assert update.payload["object"]["type"] == "Person"

    resp = await form_post(ash, "/social/profile", avatar_url="javascript:alert(1)")
    assert resp.status_code == 400


# --- following a remote account and reading it ------------------------------------------------


async def test_follow_a_remote_account_it_accepts_and_its_posts_reach_the_home_timeline(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await signed_in(app, db, "ash")
    host = remote.base().split("://", 1)[1]
    resp = await ash.get(f"/social/search?q=@alice@{host}", headers=HTML)
    assert resp.status_code == 303
    resp = await form_post(ash, f"{resp.headers['Location']}/follow")
    assert resp.status_code == 303
    await db.commit()

    # The Follow goes out signed with the member's own key, verifiable with their actor's.
    done = await processor.run_once()
    assert done.delivered == 1
    [delivered] = remote.posts_to("/users/alice/inbox")
    person = await (await app.test_client().get("/users/ash", headers=AS)).get_json()
    params = parse_signature(delivered.headers["Signature"])
    assert params.key_id == f"{FED}/users/ash#main-key"
    verify_request(
        "POST",
        delivered.path,
        delivered.headers,
        delivered.body,
        params,
        person["publicKey"]["publicKeyPem"],
        window_s=60,
    )
    follow = delivered.json()
    assert follow["type"] == "Follow"
    assert follow["object"] == alice.id
    assert follow["actor"] == f"{FED}/users/ash"

    # Until alice accepts, the follow is pending.
    account_page = await (
        await ash.get(f"/social/accounts/{await _account_id(db, alice.id)}", headers=HTML)
    ).get_data(as_text=True)
    assert 'data-follow-state="pending"' in account_page
    resp = await send(app, alice, activity(alice, "Accept", follow), "/ap/inbox")
    assert resp.status_code == 202, await resp.get_data(as_text=True)
    db.expire_all()
    assert await db.scalar(select(SocialFollow.state)) == "accepted"

    # Her post arrives, sanitized; the home timeline shows it.
    hostile = (
        '<p>Fresh loaves <script>alert(1)</script><img src="http://10.0.0.1/x.png">'
        '<a href="javascript:alert(2)">x</a></p>'
    )
    resp = await send(app, alice, activity(alice, "Create", note(alice, hostile)), "/ap/inbox")
    assert resp.status_code == 202
    html = await home_html(ash)
    assert "Fresh loaves" in html
    assert "alert(1)" not in html
    assert "10.0.0.1" not in html
    assert "javascript:" not in html

    # A stranger's post addressed to nobody here is not kept.
    bob = make_actor(remote, "bob")
    await send(app, bob, activity(bob, "Create", note(bob, "Nobody follows me")), "/ap/inbox")
    assert "Nobody follows me" not in await home_html(ash)
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 1

    # Updates and deletes by the author apply; by anyone else they are refused.
    created = await db.scalar(select(SocialStatus.uri))
    assert created is not None
    edited = note(alice, "<p>Fresh loaves, now with rye</p>", id=created)
    resp = await send(app, alice, activity(alice, "Update", edited), "/ap/inbox")
    assert resp.status_code == 202
    assert "now with rye" in await home_html(ash)
    resp = await send(app, bob, activity(bob, "Delete", created), "/ap/inbox")
    assert "now with rye" in await home_html(ash)
    resp = await send(
        app, alice, activity(alice, "Delete", {"id": created, "type": "Tombstone"}), "/ap/inbox"
    )
    assert resp.status_code == 202
    assert "now with rye" not in await home_html(ash)

    # Unfollowing sends an Undo and stops the timeline.
    resp = await form_post(ash, f"/social/accounts/{await _account_id(db, alice.id)}/unfollow")
    assert resp.status_code == 303
    await db.commit()
    await processor.run_once()
    assert remote.posts_to("/users/alice/inbox")[-1].json()["type"] == "Undo"
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0


async def _account_id(db: AsyncSession, uri: str) -> int:
    found = await db.scalar(select(SocialAccount.id).where(SocialAccount.uri == uri))
    assert found is not None
    return int(found)


async def test_search_refuses_what_is_not_a_handle_and_reports_unknown_accounts(
    app: RoseQuart, db: AsyncSession, remote: LoopbackServer
) -> None:
    ash = await signed_in(app, db, "ash")
    resp = await ash.get("/social/search?q=not a handle", headers=HTML)
    assert 'data-error-code="social_bad_query"' in await resp.get_data(as_text=True)
    host = remote.base().split("://", 1)[1]
    resp = await ash.get(f"/social/search?q=@ghost@{host}", headers=HTML)
    assert resp.status_code == 404
    assert (
        await db.scalar(
            select(func.count()).select_from(SocialAccount).where(SocialAccount.domain.is_not(None))
        )
        == 0
    )


async def test_search_goes_through_the_address_guard(
    make_app: AppMaker,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    database_url: str,
    redis_url: str,
) -> None:
    """Without the private-address allowance (production), a handle on a loopback host is
    refused before any connection is made."""
    guarded = await make_app(
        "federation",
        app_settings=make_settings(
            database_url, redis_url, ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES="false"
        ),
    )
    ash = await signed_in(guarded, db, "ash")
    host = remote.base().split("://", 1)[1]
    resp = await ash.get(f"/social/search?q=@alice@{host}", headers=HTML)
    assert resp.status_code == 404
    resp = await ash.get(f"/social/search?q={alice.id}", headers=HTML)
    assert resp.status_code == 404
    assert remote.received == []
    assert (
        await db.scalar(
            select(func.count()).select_from(SocialAccount).where(SocialAccount.domain.is_not(None))
        )
        == 0
    )


# --- posting ---------------------------------------------------------------------------------


async def test_a_post_reaches_each_remote_inbox_exactly_once_and_visibility_holds(
    app: RoseQuart,
    db: AsyncSession,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await signed_in(app, db, "ash")
    bea = await signed_in(app, db, "bea")
    cal = await signed_in(app, db, "cal")
    # Three remote followers: two share an inbox, one has only its own.
    carol = make_actor(remote, "carol")
    dave = make_actor(remote, "dave")
    [other_port] = await remote.start()
    erin = make_actor(remote, "erin", port=other_port, shared_inbox=False)
    for follower in (carol, dave, erin):
        resp = await send(
            app, follower, activity(follower, "Follow", f"{FED}/users/ash"), "/users/ash/inbox"
        )
        assert resp.status_code == 202
    await processor.run_once()
    accepts = [r.json() for r in remote.received]
    assert sorted(a["type"] for a in accepts) == ["Accept"] * 3
    remote.received.clear()
    # bea follows ash inside the platform; cal does not.
    resp = await form_post(bea, f"/social/accounts/{await _local_id(db, 'ash')}/follow")
    assert resp.status_code == 303

    resp = await form_post(
        ash, "/social/statuses", text="Bread is out #sourdough", visibility="public"
    )
    assert resp.status_code == 303
    resp = await form_post(
        ash, "/social/statuses", text="Followers: the secret starter", visibility="private"
    )
    assert resp.status_code == 303
    await db.commit()
    await processor.run_once()
    by_inbox: dict[str, list[str]] = {}
    for r in remote.received:
        by_inbox.setdefault(f"{r.port}{r.path}", []).append(r.json()["object"]["content"])
    # One POST per inbox per post: the shared inbox once for carol and dave, erin's own once.
    assert sorted(by_inbox) == sorted(
        [f"{remote.ports[0]}/inbox", f"{other_port}/users/erin/inbox"]
    )
    assert all(len(v) == 2 for v in by_inbox.values())
    deliveries = await db.scalar(
        select(func.count()).select_from(ApDelivery).where(ApDelivery.status == "delivered")
    )
    assert deliveries == 4 + 3  # two posts to two inboxes, and the three Accepts
    public_note = next(
        r.json() for r in remote.received if "Bread" in r.json()["object"]["content"]
    )
    assert public_note["object"]["to"] == [PUBLIC]
    assert {
        "type": "Hashtag",
        "href": f"{FED}/social/tags/sourdough",
        "name": "#sourdough",
    } in public_note["object"]["tag"]
    private_note = next(
        r.json() for r in remote.received if "secret" in r.json()["object"]["content"]
    )
    assert PUBLIC not in private_note["object"]["to"] + private_note["object"]["cc"]

    # bea (a follower) sees both; cal (not following) and strangers see only the public one.
    assert "secret starter" in await home_html(bea)
    assert "Bread is out" in await home_html(bea)
    assert "secret starter" not in await home_html(cal, "/users/ash")
    assert "secret starter" not in await home_html(app.test_client(), "/users/ash")
    assert "secret starter" not in await home_html(app.test_client(), "/social/local")
    assert "Bread is out" in await home_html(app.test_client(), "/social/local")
    private_id = await db.scalar(
        select(SocialStatus.id).where(SocialStatus.visibility == "private")
    )
    assert (await cal.get(f"/social/statuses/{private_id}", headers=HTML)).status_code == 404
    assert (await bea.get(f"/social/statuses/{private_id}", headers=HTML)).status_code == 200
    private_uri = await db.scalar(select(SocialStatus.uri).where(SocialStatus.id == private_id))
    assert private_uri is not None
    assert (
        await app.test_client().get(private_uri.removeprefix(FED), headers=AS)
    ).status_code == 404
    outbox = await (
        await app.test_client().get("/users/ash/outbox?page=true", headers=AS)
    ).get_json()
    contents = [i["object"]["content"] for i in outbox["orderedItems"]]
    assert len(contents) == 1
    assert "Bread is out" in contents[0]
    # The app actor's outbox does not list members' posts.
    app_outbox = await (
        await app.test_client().get("/ap/users/federation/outbox?page=true", headers=AS)
    ).get_json()
    assert app_outbox["orderedItems"] == []

    # Someone else's post cannot be deleted by another member (404); the author can.
    public_id = await db.scalar(select(SocialStatus.id).where(SocialStatus.visibility == "public"))
    assert (await form_post(bea, f"/social/statuses/{public_id}/delete")).status_code == 404
    assert (await form_post(ash, f"/social/statuses/{public_id}/delete")).status_code == 303
    await db.commit()
    remote.received.clear()
    await processor.run_once()
    assert sorted(r.json()["type"] for r in remote.received) == ["Delete", "Delete"]
    assert (
        await app.test_client().get(
            (
                await db.scalar(select(SocialStatus.uri).where(SocialStatus.id == public_id)) or ""
            ).removeprefix(FED),
            headers=AS,
        )
    ).status_code == 410


async def _local_id(db: AsyncSession, username: str) -> int:
    found = await db.scalar(
        select(SocialAccount.id).where(
            SocialAccount.username == username, SocialAccount.domain.is_(None)
        )
    )
    assert found is not None
    return int(found)


async def test_direct_posts_and_mentions_reach_only_who_they_name(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await signed_in(app, db, "ash")
    bea = await signed_in(app, db, "bea")
    cal = await signed_in(app, db, "cal")
    host = remote.base().split("://", 1)[1]
    resp = await form_post(
        ash,
        "/social/statuses",
        text=f"Psst @bea and @alice@{host}: cake at four",
        visibility="direct",
    )
    assert resp.status_code == 303
    await db.commit()
    await processor.run_once()
    [dm] = remote.posts_to("/users/alice/inbox")
    assert dm.json()["object"]["to"] == [f"{FED}/users/bea", alice.id]
    assert "cake at four" in await home_html(bea)
    assert "cake at four" not in await home_html(cal)
    assert "cake at four" not in await home_html(app.test_client(), "/users/ash")
    kinds = list(await db.scalars(select(SocialNotification.kind)))
    assert kinds == ["mention"]


async def test_a_remote_reply_like_and_boost_of_a_members_post_notify_them(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, processor: OutboxProcessor
) -> None:
    ash = await signed_in(app, db, "ash")
    resp = await form_post(ash, "/social/statuses", text="Who wants bread?")
    assert resp.status_code == 303
    await db.commit()
    status_uri = await db.scalar(select(SocialStatus.uri))
    assert status_uri is not None
    reply = note(
        alice, "<p>Me please!</p>", inReplyTo=status_uri, to=[PUBLIC], cc=[f"{FED}/users/ash"]
    )
    for act in (
        activity(alice, "Create", reply),
        activity(alice, "Like", status_uri),
        activity(alice, "Announce", status_uri, to=[PUBLIC]),
    ):
        resp = await send(app, alice, act, "/users/ash/inbox")
        assert resp.status_code == 202, await resp.get_data(as_text=True)
    kinds = sorted(await db.scalars(select(SocialNotification.kind)))
    assert kinds == ["boost", "like", "reply"]
    page = await home_html(ash, "/social")
    assert 'data-unread="3"' in page
    html = await home_html(ash, "/social/notifications")
    assert "replied to your post" in html
    assert "liked your post" in html
    assert "boosted" in html
    status_id = await db.scalar(select(SocialStatus.id).where(SocialStatus.uri == status_uri))
    thread = await home_html(ash, f"/social/statuses/{status_id}")
    assert "Me please!" in thread
    assert "Like (1)" in thread
    assert "Boost (1)" in thread
    # A duplicate delivery changes nothing.
    like = activity(alice, "Like", status_uri)
    await send(app, alice, like, "/users/ash/inbox")
    assert (await send(app, alice, like, "/users/ash/inbox")).status_code == 200
    assert await db.scalar(select(func.count()).select_from(SocialNotification)) == 3
    # Every app's header shows the count: federation's per-member fragment.
    path = "/internal/fragments/notifications"
    _query, headers = internal_auth.sign(
        TEST_INTERNAL_SECRET,
        "GET",
        path,
        [],
        Visitor(user_id=ash.user_id),  # type: ignore[attr-defined]
    )
    fragment = await (await app.test_client().get(path, headers=headers)).get_data(as_text=True)
    assert 'data-unread="3"' in fragment
    await form_post(ash, "/social/notifications/read")
    assert "data-unread" not in await home_html(ash)


async def test_a_member_replies_likes_and_boosts_a_remote_post(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await signed_in(app, db, "ash")
    await follow_remote(app, ash, alice, db)
    await processor.run_once()  # the Follow itself
    await send(
        app, alice, activity(alice, "Create", note(alice, "<p>Soup tonight</p>")), "/ap/inbox"
    )
    status_id = await db.scalar(select(SocialStatus.id))
    assert status_id is not None
    for action in ("favourite", "boost"):
        assert (await form_post(ash, f"/social/statuses/{status_id}/{action}")).status_code == 303
    resp = await form_post(
        ash, "/social/statuses", text="Save me a bowl", in_reply_to_id=str(status_id)
    )
    assert resp.status_code == 303
    await db.commit()
    remote.received.clear()
    await processor.run_once()
    types = sorted(r.json()["type"] for r in remote.posts_to("/users/alice/inbox"))
    assert types == ["Announce", "Create", "Like"]
    created = next(r.json() for r in remote.received if r.json()["type"] == "Create")
    soup = await db.scalar(select(SocialStatus.uri).where(SocialStatus.id == status_id))
    assert created["object"]["inReplyTo"] == soup
    assert alice.id in created["object"]["cc"]
    assert (await form_post(ash, f"/social/statuses/{status_id}/unfavourite")).status_code == 303
    await db.commit()
    remote.received.clear()
    await processor.run_once()
    [undo] = [r.json() for r in remote.posts_to("/users/alice/inbox")]
    assert undo["type"] == "Undo"
    assert undo["object"]["type"] == "Like"


# --- members following members ---------------------------------------------------------------


async def test_members_follow_each_other_and_locked_accounts_approve(
    app: RoseQuart, db: AsyncSession
) -> None:
    ash = await signed_in(app, db, "ash")
    bea = await signed_in(app, db, "bea")
    resp = await form_post(ash, "/social/statuses", text="Hello co-op", visibility="private")
    assert resp.status_code == 303
    assert "Hello co-op" not in await home_html(bea)
    assert (
        await form_post(bea, f"/social/accounts/{await _local_id(db, 'ash')}/follow")
    ).status_code == 303
    assert "Hello co-op" in await home_html(bea)

    # ash locks the account: cal's follow waits for approval.
    await form_post(ash, "/social/profile", locked="on", discoverable="on")
    cal = await signed_in(app, db, "cal")
    await form_post(cal, f"/social/accounts/{await _local_id(db, 'ash')}/follow")
    assert "Hello co-op" not in await home_html(cal)
    requests = await home_html(ash, "/social/follow-requests")
    assert "@cal@127.0.0.1:8005" in requests
    # bea cannot answer ash's requests (there are none for her: 404).
    cal_id = await _local_id(db, "cal")
    assert (await form_post(bea, f"/social/accounts/{cal_id}/accept")).status_code == 404
    assert (await form_post(ash, f"/social/accounts/{cal_id}/accept")).status_code == 303
    assert "Hello co-op" in await home_html(cal)
    kinds = sorted(await db.scalars(select(SocialNotification.kind)))
    assert kinds == ["follow", "follow", "follow_request"]
    # Following oneself is refused.
    assert (
        await form_post(ash, f"/social/accounts/{await _local_id(db, 'ash')}/follow")
    ).status_code == 400


async def test_a_locked_member_holds_remote_follow_requests_until_accepted(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await signed_in(app, db, "ash")
    await form_post(ash, "/social/profile", locked="on")
    await db.commit()
    await processor.run_once()
    remote.received.clear()
    resp = await send(app, alice, activity(alice, "Follow", f"{FED}/users/ash"), "/users/ash/inbox")
    assert resp.status_code == 202
    await processor.run_once()
    assert remote.received == []
    assert (
        await form_post(ash, f"/social/accounts/{await _account_id(db, alice.id)}/accept")
    ).status_code == 303
    await db.commit()
    await processor.run_once()
    [accept] = [r.json() for r in remote.received]
    assert accept["type"] == "Accept"
    assert accept["actor"] == f"{FED}/users/ash"


# --- timelines ----------------------------------------------------------------------------------


async def test_home_timeline_pages_with_a_stable_cursor_and_without_n_plus_one(
    app: RoseQuart, db: AsyncSession, engine: AsyncEngine, settings: Settings
) -> None:
    social = build_services(settings).social
    ash = await make_member(db, "ash")
    for i in range(25):
        await social.compose(db, ash.id, ComposeInput(text=f"post number {i}"))
    first = await social.home_timeline(db, ash.id, max_id=None, limit=10)
    assert next(s.content for s in first.items) == "<p>post number 24</p>"
    # A new post arrives between pages: the next page neither repeats nor skips anything.
    await social.compose(db, ash.id, ComposeInput(text="late news"))
    second = await social.home_timeline(db, ash.id, max_id=first.next_max_id, limit=10)
    third = await social.home_timeline(db, ash.id, max_id=second.next_max_id, limit=10)
    seen = [s.content for s in first.items + second.items + third.items]
    assert seen == [f"<p>post number {i}</p>" for i in range(24, -1, -1)]
    assert third.next_max_id is None

    async def statements(limit: int) -> int:
        with count_statements(engine) as queries:
            await social.home_timeline(db, ash.id, max_id=None, limit=limit)
        return len(queries)

    assert await statements(3) == await statements(26)


async def test_bad_input_is_refused_and_changes_nothing(app: RoseQuart, db: AsyncSession) -> None:
    ash = await signed_in(app, db, "ash")
    for fields in (
        {"text": ""},
        {"text": "x" * 5001},
        {"text": "hi", "visibility": "everyone"},
    ):
        resp = await form_post(ash, "/social/statuses", **fields)
        assert resp.status_code == 400, fields
    assert (
        await form_post(ash, "/social/statuses", text="hi", in_reply_to_id="abc")
    ).status_code == 400
    assert (
        await form_post(ash, "/social/statuses", text="hi", in_reply_to_id="999999")
    ).status_code == 404
    assert (await ash.get("/social?max_id=-3", headers=HTML)).status_code == 400
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 0
    assert (await form_post(ash, "/social/statuses/1/explode")).status_code == 404
    # Pages for members only send visitors to sign in.
    resp = await app.test_client().get("/social", headers=HTML)
    assert resp.status_code in (302, 303)
    assert re.search(r"/signin|/auth/login", resp.headers["Location"])


async def test_the_demo_social_hub_is_alive_and_seeding_is_idempotent(
    db: AsyncSession, settings: Settings
) -> None:
    from shared.infrastructure.context import use_services
    from shared.tooling.demo import seed_identity, seed_social

    # The seeders use the process's services (those of `rose-ash up`): these settings here.
    previous = use_services(build_services(settings))
    try:
        await seed_identity(db)
        await seed_social(db)
        await seed_social(db)
    finally:
        use_services(previous)
    social = build_services(settings).social
    users = dict((await db.execute(select(User.username, User.id))).all())
    rosa_home = await social.home_timeline(db, users["editor"], max_id=None, limit=20)
    texts = " ".join(s.content for s in rosa_home.items)
    assert "rhubarb" in texts
    assert "volunteers' rota" in texts
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 4
    alice_notes = await social.notifications(db, users["alice"], max_id=None, limit=20)
    assert {n.kind for n in alice_notes.items} == {"follow", "reply", "like"}
    local = await social.local_timeline(db, None, max_id=None, limit=20)
    assert all(s.visibility == "public" for s in local.items)


# --- moderation ---------------------------------------------------------------------------------


async def test_a_blocked_domain_is_dropped_at_the_inbox_and_its_accounts_removed(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, remote: LoopbackServer
) -> None:
    ash = await signed_in(app, db, "ash")
    admin = await signed_in(app, db, "root", "admin")
    await follow_remote(app, ash, alice, db)
    await send(
        app, alice, activity(alice, "Create", note(alice, "<p>Before the block</p>")), "/ap/inbox"
    )
    # alice also follows the federation app actor.
    await send(app, alice, activity(alice, "Follow", f"{FED}/ap/users/federation"), "/ap/inbox")
    assert "Before the block" in await home_html(ash)
    domain = remote.base().split("://", 1)[1]

    # Only admins may block a domain.
    assert (await form_post(ash, "/admin/social/domains", domain=domain)).status_code == 403
    resp = await form_post(admin, "/admin/social/domains", domain=domain)
    assert resp.status_code == 303
    assert domain in await home_html(admin, "/admin/social/")
    assert "Before the block" not in await home_html(ash)
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0
    assert await db.scalar(select(func.count()).select_from(ApFollower)) == 0

    # From now on its activities are dropped, unread (its key is not even fetched again).
    fetched_before = len([r for r in remote.received if r.method == "GET"])
    resp = await send(
        app,
        alice,
        activity(alice, "Create", note(alice, "<p>After</p>", to=[f"{FED}/users/ash"])),
        "/users/ash/inbox",
    )
    assert resp.status_code == 202
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 0
    assert len([r for r in remote.received if r.method == "GET"]) == fetched_before
    resp = await send(app, alice, activity(alice, "Follow", f"{FED}/users/ash"), "/users/ash/inbox")
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0
    resp = await ash.get(f"/social/search?q=@alice@{domain}", headers=HTML)
    assert resp.status_code == 403
    # Unblocking lets it talk again.
    assert (
        await form_post(admin, "/admin/social/domains", domain=domain, undo="1")
    ).status_code == 303
    assert domain not in await home_html(admin, "/admin/social/")
    assert (
        await form_post(admin, "/admin/social/domains", domain="not a domain")
    ).status_code == 400


async def test_members_block_and_mute_accounts(app: RoseQuart, db: AsyncSession) -> None:
    ash = await signed_in(app, db, "ash")
    bea = await signed_in(app, db, "bea")
    await home_html(ash)
    await home_html(bea)
    ash_id, bea_id = await _local_id(db, "ash"), await _local_id(db, "bea")
    await form_post(bea, f"/social/accounts/{ash_id}/follow")
    await form_post(ash, f"/social/accounts/{bea_id}/follow")
    await form_post(ash, "/social/statuses", text="Ash speaking")
    assert "Ash speaking" in await home_html(bea)

    # Mute: gone from bea's timelines and notifications, the follow stays.
    assert (await form_post(bea, f"/social/accounts/{ash_id}/mute")).status_code == 303
    assert "Ash speaking" not in await home_html(bea)
    assert "Ash speaking" not in await home_html(bea, "/social/local")
    assert "Ash speaking" in await home_html(app.test_client(), "/social/local")
    before = await db.scalar(select(func.count()).select_from(SocialNotification))
    await form_post(ash, "/social/statuses", text="@bea are you there?")
    assert await db.scalar(select(func.count()).select_from(SocialNotification)) == before
    assert (await form_post(bea, f"/social/accounts/{ash_id}/unmute")).status_code == 303
    assert "Ash speaking" in await home_html(bea)

    # Block: follows end both ways and cannot start again.
    assert (await form_post(bea, f"/social/accounts/{ash_id}/block")).status_code == 303
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0
    assert (await form_post(ash, f"/social/accounts/{bea_id}/follow")).status_code == 403
    assert "Ash speaking" not in await home_html(bea)
    assert f'action="/social/accounts/{ash_id}/unblock"' in await home_html(
        bea, f"/social/accounts/{ash_id}"
    )


async def test_reports_reach_admins_who_can_suspend(app: RoseQuart, db: AsyncSession) -> None:
    ash = await signed_in(app, db, "ash")
    bea = await signed_in(app, db, "bea")
    admin = await signed_in(app, db, "root", "admin")
    await form_post(ash, "/social/statuses", text="Buy cheap watches")
    status_id = await db.scalar(select(SocialStatus.id))
    ash_id = await _local_id(db, "ash")
    resp = await form_post(
        bea, f"/social/accounts/{ash_id}/report", comment="Spam", status_id=str(status_id)
    )
    assert resp.status_code == 200
    assert (await bea.get("/admin/social/", headers=HTML)).status_code == 403
    page = await home_html(admin, "/admin/social/")
    assert "Spam" in page
    assert "Buy cheap watches" in page
    report_id = int(re.findall(r'data-report-id="(\d+)"', page)[0])
    assert (await form_post(admin, f"/admin/social/accounts/{ash_id}/suspend")).status_code == 303
    # Gone, as Mastodon answers for an account that is no longer available.
    assert (await app.test_client().get("/users/ash", headers=AS)).status_code == 410
    assert "Buy cheap watches" not in await home_html(app.test_client(), "/social/local")
    assert (await form_post(admin, f"/admin/social/reports/{report_id}/resolve")).status_code == 303
    assert "No open reports" in await home_html(admin, "/admin/social/")
    assert (await form_post(admin, f"/admin/social/reports/{report_id}/resolve")).status_code == 404
    assert (await form_post(admin, f"/admin/social/accounts/{ash_id}/unsuspend")).status_code == 303
    assert "Buy cheap watches" in await home_html(app.test_client(), "/social/local")


async def test_a_member_edits_a_post_and_followers_get_the_update(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await signed_in(app, db, "ash")
    bea = await signed_in(app, db, "bea")
    await home_html(ash)
    resp = await send(app, alice, activity(alice, "Follow", f"{FED}/users/ash"), "/users/ash/inbox")
    assert resp.status_code == 202
    await form_post(ash, "/social/statuses", text="Opening at nine")
    status_id = await db.scalar(select(SocialStatus.id))
    edit_page = await home_html(ash, f"/social/statuses/{status_id}/edit")
    assert "Opening at nine" in edit_page
    assert (await bea.get(f"/social/statuses/{status_id}/edit", headers=HTML)).status_code == 404
    assert (
        await form_post(bea, f"/social/statuses/{status_id}/edit", text="hacked")
    ).status_code == 404
    assert (await form_post(ash, f"/social/statuses/{status_id}/edit", text=" ")).status_code == 400
    resp = await form_post(ash, f"/social/statuses/{status_id}/edit", text="Opening at ten")
    assert resp.status_code == 303
    thread = await home_html(bea, f"/social/statuses/{status_id}")
    assert "Opening at ten" in thread
    assert "edited" in thread
    await db.commit()
    remote.received.clear()
    await processor.run_once()
    kinds = [(r.json()["type"], r.json()["object"].get("content")) for r in remote.received]
    assert ("Update", "<p>Opening at ten</p>") in kinds
    note_doc = await (
        await app.test_client().get(
            (await db.scalar(select(SocialStatus.uri)) or "").removeprefix(FED), headers=AS
        )
    ).get_json()
    assert note_doc["content"] == "<p>Opening at ten</p>"
    assert "updated" in note_doc


async def test_articles_events_boosts_and_content_warnings_from_followed_accounts(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, remote: LoopbackServer
) -> None:
    ash = await signed_in(app, db, "ash")
    await follow_remote(app, ash, alice, db)
    article = note(
        alice,
        "<p>Long read</p>",
        type="Article",
        name="Our harvest",
        summary="Food talk",
        sensitive=True,
    )
    event = note(
        alice,
        "<p>Bring a dish</p>",
        type="Event",
        name="Potluck",
        attachment=[
            {
                "type": "Document",
                "mediaType": "image/jpeg",
                "url": "http://10.0.0.5/pic.jpg",
                "name": "A table of food",
            }
        ],
    )
    for obj in (article, event):
        resp = await send(app, alice, activity(alice, "Create", obj), "/ap/inbox")
        assert resp.status_code == 202
    html = await home_html(ash)
    assert "Our harvest" in html
    assert "<summary>Content warning: Food talk</summary>" in html
    assert "Potluck" in html
    # Remote media is a link with its description, never an <img> loaded from its host.
    assert 'href="http://10.0.0.5/pic.jpg"' in html
    assert 'src="http://10.0.0.5' not in html
    # alice boosts another account's post we already know: it shows as her boost.
    bob = make_actor(remote, "bob")
    await send(
        app,
        bob,
        activity(
            bob,
            "Create",
            note(
                bob,
                "<p>Bob's bread</p>",
                cc=[f"{FED}/users/ash"],
                tag=[{"type": "Mention", "href": f"{FED}/users/ash"}],
            ),
        ),
        "/ap/inbox",
    )
    bob_uri = await db.scalar(
        select(SocialStatus.uri).where(SocialStatus.content.contains("Bob's"))
    )
    assert bob_uri is not None
    resp = await send(app, alice, activity(alice, "Announce", bob_uri, to=[PUBLIC]), "/ap/inbox")
    assert resp.status_code == 202
    html = await home_html(ash)
    assert "boosted" in html
