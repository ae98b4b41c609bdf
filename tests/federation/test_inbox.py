"""Inboxes: HTTP Signatures are checked strictly; Follow, Undo and Delete do what they say."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.infrastructure.activitypub import keys
from shared.infrastructure.activitypub.actors import actor_urls
from shared.models import ApActivity, ApFollower, ApInboundActivity, ApRemoteActor
from shared.services.federation.outbox import OutboxProcessor
from tests.support.activitypub import LoopbackServer, RemoteActor, make_actor, peer_key
from tests.support.settings import AppMaker

BLOG_INBOX = "http://127.0.0.1:8001/ap/users/blog/inbox"
BLOG_ACTOR = "http://127.0.0.1:8001/ap/users/blog"


def follow(actor: RemoteActor, target: str = BLOG_ACTOR) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.id}/follows/{uuid.uuid4().hex}",
        "type": "Follow",
        "actor": actor.id,
        "object": target,
    }


async def post(app: Any, url: str, body: bytes, headers: dict[str, str]) -> Any:
    path = url.split("127.0.0.1:8001", 1)[1]
    return await app.test_client().post(path, data=body, headers=headers)


async def send(
    app: Any, actor: RemoteActor, activity: dict[str, Any], url: str = BLOG_INBOX
) -> Any:
    body = json.dumps(activity).encode()
    return await post(app, url, body, {**actor.sign(url, body), **JSON})


JSON = {"Accept": "application/json"}


async def error_code(resp: Any) -> str:
    return str(json.loads(await resp.get_data(as_text=True))["error"]["code"])


async def followers(db: AsyncSession) -> list[str]:
    return list((await db.scalars(select(ApFollower.actor_uri).order_by(ApFollower.id))).all())


# --- refusals -------------------------------------------------------------------------


async def _refused(resp: Any, status: int, code: str, db: AsyncSession) -> None:
    assert resp.status_code == status, await resp.get_data(as_text=True)
    assert await error_code(resp) == code
    assert await followers(db) == [], "a refused request changes nothing"
    assert await db.scalar(select(func.count()).select_from(ApInboundActivity)) == 0


async def test_an_unsigned_request_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    resp = await post(app, BLOG_INBOX, body, {"Content-Type": "application/activity+json", **JSON})
    await _refused(resp, 401, "signature_missing", db)


async def test_a_request_signed_with_the_wrong_key_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = alice.sign(BLOG_INBOX, body, key=peer_key("mallory"))
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    await _refused(resp, 401, "signature_invalid", db)


async def test_a_tampered_body_fails_its_digest(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = alice.sign(BLOG_INBOX, body)
    tampered = body.replace(b'"Follow"', b'"Block"')
    resp = await post(app, BLOG_INBOX, tampered, {**headers, **JSON})
    await _refused(resp, 401, "digest_mismatch", db)


async def test_a_tampered_digest_header_fails_the_signature(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    """Swapping body and Digest together still fails: the Digest header is signed."""
    from shared.infrastructure.activitypub.signatures import body_digest

    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = alice.sign(BLOG_INBOX, body)
    tampered = body.replace(b'"Follow"', b'"Block"')
    headers["Digest"] = body_digest(tampered)
    resp = await post(app, BLOG_INBOX, tampered, {**headers, **JSON})
    await _refused(resp, 401, "signature_invalid", db)


async def test_a_tampered_signed_header_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = alice.sign(BLOG_INBOX, body)
    headers["Content-Type"] = "application/json"
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    await _refused(resp, 401, "signature_invalid", db)


async def test_a_request_for_another_path_does_not_verify_here(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    """(request-target) is signed: a request replayed at another inbox fails."""
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = alice.sign("http://127.0.0.1:8001/ap/inbox", body)
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    await _refused(resp, 401, "signature_invalid", db)


@pytest.mark.parametrize("skew", [timedelta(hours=-2), timedelta(hours=2)])
async def test_a_date_outside_the_window_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession, skew: timedelta
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = alice.sign(BLOG_INBOX, body, now=datetime.now(UTC) + skew)
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    await _refused(resp, 401, "date_outside_window", db)


async def test_a_signer_who_is_not_the_actor_is_refused(
    make_app: AppMaker, remote: LoopbackServer, alice: RemoteActor, db: AsyncSession
) -> None:
    bob = make_actor(remote, "bob")
    app = await make_app("blog")
    body = json.dumps(follow(bob)).encode()  # bob's Follow...
    headers = alice.sign(BLOG_INBOX, body)  # ...signed by alice
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    await _refused(resp, 401, "signer_not_actor", db)


async def test_an_oversize_body_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession, settings: Settings
) -> None:
    app = await make_app("blog")
    activity = follow(alice)
    activity["padding"] = "x" * settings.activitypub.max_body_bytes
    body = json.dumps(activity).encode()
    resp = await post(app, BLOG_INBOX, body, {**alice.sign(BLOG_INBOX, body), **JSON})
    await _refused(resp, 413, "body_too_large", db)


async def test_signature_header_must_cover_the_digest_for_a_body(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    """A signature over (request-target) host date alone would let anyone swap the body."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from shared.infrastructure.activitypub.signatures import http_date, signing_string

    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = {"Host": "127.0.0.1:8001", "Date": http_date()}
    text = signing_string(
        ("(request-target)", "host", "date"), "POST", "/ap/users/blog/inbox", headers
    )
    sig = base64.b64encode(alice.key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()))
    headers["Signature"] = (
        f'keyId="{alice.key_id}",algorithm="rsa-sha256",headers="(request-target) host date",'
        f'signature="{sig.decode()}"'
    )
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    await _refused(resp, 401, "signature_headers_insufficient", db)


async def test_a_signer_whose_key_cannot_be_fetched_is_refused(
    make_app: AppMaker, remote: LoopbackServer, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    del remote.documents[alice.id]
    resp = await send(app, alice, follow(alice))
    assert resp.status_code == 401
    assert await error_code(resp) == "key_unavailable"


# --- Follow / Accept / Undo -----------------------------------------------------------


async def test_follow_stores_the_follower_and_delivers_a_signed_accept(
    make_app: AppMaker,
    remote: LoopbackServer,
    alice: RemoteActor,
    db: AsyncSession,
    processor: OutboxProcessor,
    settings: Settings,
) -> None:
    app = await make_app("blog")
    activity = follow(alice)
    resp = await send(app, alice, activity)
    assert resp.status_code == 202, await resp.get_data(as_text=True)
    assert await followers(db) == [alice.id]
    row = await db.scalar(select(ApFollower))
    assert row is not None
    assert row.shared_inbox_url == f"{remote.base()}/inbox"

    done = await processor.run_once()
    assert done.delivered == 1
    [accept_post] = remote.posts_to("/users/alice/inbox")
    accept = accept_post.json()
    assert accept["type"] == "Accept"
    assert accept["actor"] == BLOG_ACTOR
    assert accept["object"]["id"] == activity["id"]
    assert accept["object"]["type"] == "Follow"
    # The Accept is signed by the blog's key, over the body.
    # RFC 9421 first, to a server not known to refuse it.
    assert accept_post.scheme == "rfc9421"
    covered = accept_post.headers["Signature-Input"]
    assert all(c in covered for c in ('"@method"', '"@target-uri"', '"content-digest"'))
    key_id = accept_post.verify(keys.public_key_pem(settings), window_s=60)
    assert key_id == actor_urls(settings, "blog").key_id
    # An Accept is not a public post: the outbox does not list it.
    resp = await app.test_client().get(
        "/ap/users/blog/outbox?page=true", headers={"Accept": "application/activity+json"}
    )
    assert (await resp.get_json())["orderedItems"] == []


async def test_a_duplicate_follow_delivery_changes_nothing(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    activity = follow(alice)
    assert (await send(app, alice, activity)).status_code == 202
    assert (await send(app, alice, activity)).status_code == 200
    assert await followers(db) == [alice.id]
    accepts = await db.scalar(
        select(func.count()).select_from(ApActivity).where(ApActivity.activity_type == "Accept")
    )
    assert accepts == 1


async def test_follow_through_the_shared_inbox(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    resp = await send(app, alice, follow(alice), url="http://127.0.0.1:8001/ap/inbox")
    assert resp.status_code == 202
    assert await followers(db) == [alice.id]


async def test_a_follow_for_someone_else_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    resp = await send(app, alice, follow(alice, target="http://127.0.0.1:8002/ap/users/market"))
    assert resp.status_code == 400
    assert await followers(db) == []


@pytest.mark.parametrize("embedded", [True, False])
async def test_undo_follow_removes_the_follower(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession, embedded: bool
) -> None:
    app = await make_app("blog")
    activity = follow(alice)
    await send(app, alice, activity)
    undo = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{alice.id}/undo/{uuid.uuid4().hex}",
        "type": "Undo",
        "actor": alice.id,
        "object": {k: v for k, v in activity.items() if k != "@context"}
        if embedded
        else activity["id"],
    }
    resp = await send(app, alice, undo)
    assert resp.status_code == 202
    assert await followers(db) == []


async def test_someone_else_cannot_undo_a_follow(
    make_app: AppMaker, remote: LoopbackServer, alice: RemoteActor, db: AsyncSession
) -> None:
    bob = make_actor(remote, "bob")
    app = await make_app("blog")
    activity = follow(alice)
    await send(app, alice, activity)
    undo = {
        "id": f"{bob.id}/undo/1",
        "type": "Undo",
        "actor": bob.id,
        "object": {k: v for k, v in activity.items() if k != "@context"},
    }
    resp = await send(app, bob, undo)
    assert resp.status_code == 400
    assert await followers(db) == [alice.id]


async def test_an_actor_deleting_themselves_removes_their_follows(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    blog, events = await make_app("blog"), await make_app("events")
    await send(blog, alice, follow(alice))
    events_inbox = "http://127.0.0.1:8004/ap/users/events/inbox"
    body = json.dumps(follow(alice, target="http://127.0.0.1:8004/ap/users/events")).encode()
    resp = await events.test_client().post(
        "/ap/users/events/inbox", data=body, headers=alice.sign(events_inbox, body)
    )
    assert resp.status_code == 202
    assert len(await followers(db)) == 2
    delete = {"id": f"{alice.id}#delete", "type": "Delete", "actor": alice.id, "object": alice.id}
    assert (await send(blog, alice, delete)).status_code == 202
    assert await followers(db) == []
    assert await db.scalar(select(ApRemoteActor).where(ApRemoteActor.uri == alice.id)) is None


async def test_a_rotated_key_is_refetched_once(
    make_app: AppMaker, remote: LoopbackServer, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    assert (await send(app, alice, follow(alice))).status_code == 202  # key now cached
    alice.key = peer_key("alice-rotated")
    alice.publish()
    resp = await send(app, alice, follow(alice))
    assert resp.status_code == 202, await resp.get_data(as_text=True)
    cached = await db.scalar(select(ApRemoteActor).where(ApRemoteActor.uri == alice.id))
    assert cached is not None
    assert "BEGIN PUBLIC KEY" in (cached.public_key_pem or "")
    # The old key no longer verifies.
    body = json.dumps(follow(alice)).encode()
    headers = alice.sign(BLOG_INBOX, body, key=peer_key("alice"))
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    assert resp.status_code == 401


# --- ids belong to their actor ----------------------------------------------------------


async def test_an_activity_whose_id_is_on_another_host_is_refused(
    make_app: AppMaker, remote: LoopbackServer, alice: RemoteActor, db: AsyncSession
) -> None:
    """Mallory (another host) cannot claim alice's next Follow id and so shadow it."""
    [other_port] = await remote.start()
    mallory = make_actor(remote, "mallory", port=other_port)
    app = await make_app("blog")
    genuine = follow(alice)
    forged = {**follow(mallory), "id": genuine["id"]}
    resp = await send(app, mallory, forged)
    assert resp.status_code == 400
    assert await error_code(resp) == "ap_id_not_actors_host"
    assert await db.scalar(select(func.count()).select_from(ApInboundActivity)) == 0
    assert await followers(db) == []
    # alice's genuine Follow with that id is not a "duplicate": it is followed and accepted.
    resp = await send(app, alice, genuine)
    assert resp.status_code == 202
    assert await followers(db) == [alice.id]
    assert (
        await db.scalar(
            select(func.count()).select_from(ApActivity).where(ApActivity.activity_type == "Accept")
        )
        == 1
    )


async def test_the_duplicate_check_is_per_sending_actor(
    make_app: AppMaker, remote: LoopbackServer, alice: RemoteActor, db: AsyncSession
) -> None:
    """On one host too, an id one actor sent first does not shadow another actor's."""
    bob = make_actor(remote, "bob")
    app = await make_app("blog")
    genuine = follow(alice)
    assert (await send(app, bob, {**follow(bob), "id": genuine["id"]})).status_code == 202
    resp = await send(app, alice, genuine)
    assert resp.status_code == 202
    assert sorted(await followers(db)) == sorted([bob.id, alice.id])


async def test_a_follow_that_comes_back_after_its_undo_is_accepted_again(
    make_app: AppMaker,
    remote: LoopbackServer,
    alice: RemoteActor,
    db: AsyncSession,
    processor: OutboxProcessor,
) -> None:
    """Gancio reuses its Follow's id after an Undo: the second Follow is a new one."""
    app = await make_app("blog")
    activity = follow(alice)
    assert (await send(app, alice, activity)).status_code == 202
    undo = {
        "id": f"{alice.id}/undo/{uuid.uuid4().hex}",
        "type": "Undo",
        "actor": alice.id,
        "object": {k: v for k, v in activity.items() if k != "@context"},
    }
    assert (await send(app, alice, undo)).status_code == 202
    assert await followers(db) == []
    resp = await send(app, alice, activity)
    assert resp.status_code == 202, "the same Follow id after its Undo is not a duplicate"
    assert await followers(db) == [alice.id]
    await processor.run_once()
    accepts = [p.json() for p in remote.posts_to("/users/alice/inbox")]
    assert [a["type"] for a in accepts] == ["Accept", "Accept"]
    assert all(a["object"]["id"] == activity["id"] for a in accepts)
    # Delivered twice without an Undo between, it is still a duplicate.
    assert (await send(app, alice, activity)).status_code == 200


async def test_bad_signatures_do_not_make_us_fetch_the_key_again_and_again(
    make_app: AppMaker, remote: LoopbackServer, alice: RemoteActor, db: AsyncSession
) -> None:
    """A failing cached key is refetched once per interval, and kept: anyone can send a
    request in alice's name, and each must not cost a fetch (nor lose her key)."""
    fetches: list[str] = []

    def respond(req: Any) -> tuple[int, bytes, str]:
        fetches.append(req.path)
        return 200, json.dumps(remote.documents[alice.id]).encode(), "application/activity+json"

    remote.responder = respond
    app = await make_app("blog")
    assert (await send(app, alice, follow(alice))).status_code == 202
    assert len(fetches) == 1  # the key, now cached
    for _ in range(3):
        body = json.dumps(follow(alice)).encode()
        headers = alice.sign(BLOG_INBOX, body, key=peer_key("mallory"))
        resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
        assert resp.status_code == 401
        assert await error_code(resp) == "signature_invalid"
    assert len(fetches) == 2, "refetched once (a rotation?), not for every bad request"
    cached = await db.scalar(select(ApRemoteActor).where(ApRemoteActor.uri == alice.id))
    assert cached is not None
    assert cached.public_key_pem == remote.documents[alice.id]["publicKey"]["publicKeyPem"]
    assert (await send(app, alice, follow(alice))).status_code == 202
    assert len(fetches) == 2
