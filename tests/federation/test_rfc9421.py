"""RFC 9421 HTTP Message Signatures: accepted on inboxes (RSA and Ed25519 keys), refused when
tampered or stale; sent with the double knock, falling back to draft-cavage and remembering."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.infrastructure.activitypub import keys, knock, rfc9421
from shared.infrastructure.activitypub.fetch import Fetcher, guarded_client
from shared.services.federation.outbox import OutboxProcessor
from tests.federation.test_inbox import (
    BLOG_INBOX,
    JSON,
    _refused,
    error_code,
    follow,
    followers,
    post,
)
from tests.federation.test_outbox_processor import follower, publish_note
from tests.support.activitypub import LoopbackServer, RemoteActor
from tests.support.settings import AppMaker

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class _Key(HTTPSignatureKeyResolver):
    def __init__(self, key: Any) -> None:
        self.key = key

    def resolve_private_key(self, key_id: str) -> Any:
        return self.key


class _Msg:
    def __init__(self, method: str, url: str, headers: dict[str, str]) -> None:
        self.method, self.url, self.headers = method, url, headers


def sign9421(
    url: str,
    body: bytes,
    *,
    key_id: str,
    key: Any,
    alg: type[algorithms.HTTPSignatureAlgorithm] = algorithms.RSA_V1_5_SHA256,
    created: datetime | None = None,
    expires: datetime | None = None,
    components: Sequence[str] = ("@method", "@target-uri", "@authority", "content-digest"),
) -> dict[str, str]:
    """A request signed as Fedify signs one, made with the library directly (not our code)."""
    msg = _Msg("POST", url, {"Content-Type": "application/activity+json"})
    HTTPMessageSigner(signature_algorithm=alg, key_resolver=_Key(key)).sign(
        msg,
        key_id=key_id,
        created=created or datetime.now(UTC),
        expires=expires,
        label="sig1",
        covered_component_ids=components,
        body=body,
    )
    return msg.headers


def multibase_ed25519(key: ed25519.Ed25519PublicKey) -> str:
    raw = b"\xed\x01" + key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    number, out = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = BASE58[digit] + out
    return "z" + out


async def test_an_rfc9421_signed_follow_is_accepted(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = sign9421(BLOG_INBOX, body, key_id=alice.key_id, key=alice.key)
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    assert resp.status_code == 202, await resp.get_data(as_text=True)
    assert await followers(db) == [alice.id]


async def test_a_tampered_rfc9421_request_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = sign9421(BLOG_INBOX, body, key_id=alice.key_id, key=alice.key)
    # Another body under the same signature and digest.
    tampered = body.replace(b'"Follow"', b'"Block"')
    resp = await post(app, BLOG_INBOX, tampered, {**headers, **JSON})
    await _refused(resp, 401, "digest_mismatch", db)
    # A new digest for the new body: the signature no longer matches.
    forged = dict(headers)
    forged["Content-Digest"] = rfc9421.sign_request(
        "POST", BLOG_INBOX, key_id="x", private_key=alice.key, body=tampered
    )["Content-Digest"]
    resp = await post(app, BLOG_INBOX, tampered, {**forged, **JSON})
    await _refused(resp, 401, "signature_invalid", db)
    # Signed for another inbox: @target-uri differs.
    other = sign9421(
        BLOG_INBOX.replace("/users/blog/inbox", "/inbox"), body, key_id=alice.key_id, key=alice.key
    )
    resp = await post(app, BLOG_INBOX, body, {**other, **JSON})
    await _refused(resp, 401, "signature_invalid", db)


async def test_an_rfc9421_signature_without_the_target_or_digest_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    headers = sign9421(
        BLOG_INBOX,
        body,
        key_id=alice.key_id,
        key=alice.key,
        components=("@method", "content-digest"),
    )
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    await _refused(resp, 401, "signature_headers_insufficient", db)
    headers = sign9421(
        BLOG_INBOX, body, key_id=alice.key_id, key=alice.key, components=("@method", "@target-uri")
    )
    headers.pop("Content-Digest")
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    await _refused(resp, 401, "digest_mismatch", db)


async def test_an_expired_rfc9421_signature_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession, settings: Settings
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    window = timedelta(seconds=settings.activitypub.signature_window_s)
    now = datetime.now(UTC)
    old = sign9421(BLOG_INBOX, body, key_id=alice.key_id, key=alice.key, created=now - 2 * window)
    resp = await post(app, BLOG_INBOX, body, {**old, **JSON})
    await _refused(resp, 401, "signature_expired", db)
    lapsed = sign9421(
        BLOG_INBOX,
        body,
        key_id=alice.key_id,
        key=alice.key,
        created=now - window / 2,
        expires=now - window / 2 + timedelta(seconds=1),
    )
    resp = await post(app, BLOG_INBOX, body, {**lapsed, **JSON})
    await _refused(resp, 401, "signature_expired", db)


@pytest.mark.parametrize(
    "headers",
    [
        {"Signature-Input": "sig1=(", "Signature": "sig1=:AAAA:"},
        {"Signature-Input": 'sig1=("@method");keyid="x"'},
        {
            "Signature-Input": 'a=("@method");keyid="x", b=("@method");keyid="y"',
            "Signature": "a=:AA==:, b=:AA==:",
        },
    ],
)
async def test_a_malformed_rfc9421_signature_is_refused(
    make_app: AppMaker, alice: RemoteActor, db: AsyncSession, headers: dict[str, str]
) -> None:
    app = await make_app("blog")
    body = json.dumps(follow(alice)).encode()
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    assert resp.status_code == 401
    assert await error_code(resp) in ("signature_malformed", "signature_missing")


async def test_an_ed25519_signed_request_from_a_multikey_actor_is_accepted(
    make_app: AppMaker, remote: LoopbackServer, db: AsyncSession
) -> None:
    """A hand-made actor offering an Ed25519 key as a FEP-521a Multikey, as Fedify's do."""
    app = await make_app("blog")
    actor = f"{remote.base()}/users/edna"
    ed_key = ed25519.Ed25519PrivateKey.generate()
    key_id = f"{actor}#ed25519-key"
    remote.documents[actor] = {
        "@context": [
            "https://www.w3.org/ns/activitystreams",
            "https://w3id.org/security/data-integrity/v1",
        ],
        "id": actor,
        "type": "Person",
        "preferredUsername": "edna",
        "inbox": f"{actor}/inbox",
        "assertionMethod": [
            {
                "id": key_id,
                "type": "Multikey",
                "controller": actor,
                "publicKeyMultibase": multibase_ed25519(ed_key.public_key()),
            }
        ],
    }
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/follows/1",
        "type": "Follow",
        "actor": actor,
        "object": "http://127.0.0.1:8001/ap/users/blog",
    }
    body = json.dumps(activity).encode()
    # A signature by another Ed25519 key is refused.
    wrong = sign9421(
        BLOG_INBOX,
        body,
        key_id=key_id,
        key=ed25519.Ed25519PrivateKey.generate(),
        alg=algorithms.ED25519,
    )
    resp = await post(app, BLOG_INBOX, body, {**wrong, **JSON})
    await _refused(resp, 401, "signature_invalid", db)
    headers = sign9421(BLOG_INBOX, body, key_id=key_id, key=ed_key, alg=algorithms.ED25519)
    resp = await post(app, BLOG_INBOX, body, {**headers, **JSON})
    assert resp.status_code == 202, await resp.get_data(as_text=True)
    assert await followers(db) == [actor]


# --- the double knock -----------------------------------------------------------------


async def test_a_delivery_falls_back_to_draft_cavage_and_remembers(
    db: AsyncSession,
    settings: Settings,
    remote: LoopbackServer,
    session_factory: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
) -> None:
    remote.reads = ("draft-cavage",)  # a server that has not learnt RFC 9421
    port = remote.ports[0]
    host = f"127.0.0.1:{port}"
    await redis.delete(knock.PREFIX + host)
    db.add(follower(1, port))
    await publish_note(db, settings)
    pem = keys.public_key_pem(settings)
    async with OutboxProcessor(settings, session_factory, worker_id="knock", redis=redis) as p:
        done = await p.run_once()
        assert done.delivered == 1
        assert [r.scheme for r in remote.refused] == ["rfc9421"]
        [accepted] = remote.received
        assert accepted.scheme == "draft-cavage"
        accepted.verify(pem)
        assert await redis.get(knock.PREFIX + host) in (b"draft-cavage", "draft-cavage")

    # Another worker (the memory is in Redis) goes straight to draft-cavage.
    await publish_note(db, settings)
    async with OutboxProcessor(settings, session_factory, worker_id="knock2", redis=redis) as p:
        assert (await p.run_once()).delivered == 1
    assert len(remote.refused) == 1
    assert [r.scheme for r in remote.received] == ["draft-cavage", "draft-cavage"]

    # The server upgrades and stops reading draft-cavage: the knock follows it.
    remote.reads = ("rfc9421",)
    await publish_note(db, settings)
    async with OutboxProcessor(settings, session_factory, worker_id="knock3", redis=redis) as p:
        assert (await p.run_once()).delivered == 1
    assert remote.received[-1].scheme == "rfc9421"
    assert await redis.get(knock.PREFIX + host) in (b"rfc9421", "rfc9421")
    await redis.delete(knock.PREFIX + host)


async def test_a_server_reading_rfc9421_gets_only_rfc9421(
    db: AsyncSession, settings: Settings, remote: LoopbackServer, processor: OutboxProcessor
) -> None:
    remote.reads = ("rfc9421",)
    db.add(follower(1, remote.ports[0]))
    await publish_note(db, settings)
    assert (await processor.run_once()).delivered == 1
    assert remote.refused == []
    [accepted] = remote.received
    assert accepted.scheme == "rfc9421"
    assert accepted.verify(keys.public_key_pem(settings)).endswith("/ap/users/blog#main-key")


async def test_a_signed_fetch_knocks_twice_and_remembers(
    settings: Settings, remote: LoopbackServer
) -> None:
    remote.reads = ("draft-cavage",)
    doc = {"id": f"{remote.base()}/notes/1", "type": "Note"}
    remote.documents[doc["id"]] = doc
    memory = knock.LocalSchemes()
    async with guarded_client(settings) as client:
        fetcher = Fetcher(
            settings, client, key_id="http://127.0.0.1:8001/ap/users/blog#main-key", memory=memory
        )
        assert await fetcher.get_json(doc["id"]) == doc
        assert len(remote.refused) == 1
        assert await memory.get(f"127.0.0.1:{remote.ports[0]}") == "draft-cavage"
        assert await fetcher.get_json(doc["id"]) == doc
        assert len(remote.refused) == 1


def test_our_signature_verifies_with_the_library_base64() -> None:
    """What we send is standard RFC 9421 (a byte sequence of the right length for RSA-2048)."""
    key = keys._load(keys.generate_private_key_pem())
    headers = rfc9421.sign_request(
        "POST", "https://peer.example/inbox", key_id="k", private_key=key, body=b"{}"
    )
    assert headers["Signature-Input"].startswith('sig1=("@method" "@target-uri" "@authority"')
    assert 'alg="rsa-v1_5-sha256"' in headers["Signature-Input"]
    assert headers["Content-Digest"] == "sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:"
    value = headers["Signature"]
    assert value.startswith("sig1=:")
    assert value.endswith(":")
    assert len(base64.b64decode(value[len("sig1=:") : -1])) == 256
