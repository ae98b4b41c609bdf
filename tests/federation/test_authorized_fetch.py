"""Authorized fetch ("secure mode"): off by default; when on, ActivityPub JSON only to signed
GETs from servers that are not blocked, while discovery and the app actors stay public. And the
other way: our own fetches are signed by the app's (application) actor, so servers in secure
mode answer them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.infrastructure.activitypub import keys, rfc9421
from shared.infrastructure.activitypub.actors import actor_urls
from shared.infrastructure.activitypub.fetch import Fetcher, FetchError, guarded_client
from shared.infrastructure.activitypub.signatures import sign_request
from shared.models import SocialDomainBlock
from tests.federation.factories import federation_for, note
from tests.support.activitypub import LoopbackServer, Received, RemoteActor
from tests.support.settings import AppMaker, make_settings

BLOG = "http://127.0.0.1:8001"
AS = {"Accept": "application/activity+json"}


@pytest.fixture
def secure(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url, ROSE_ACTIVITYPUB__AUTHORIZED_FETCH="true")


def signed_get(actor: RemoteActor, path: str, *, rfc: bool = False) -> dict[str, str]:
    sign = rfc9421.sign_request if rfc else sign_request
    return {**sign("GET", BLOG + path, key_id=actor.key_id, private_key=actor.key), **AS}


async def published_object(db: AsyncSession, settings: Settings) -> str:
    activity = await federation_for(settings).publish(db, "blog", "Create", note("Bread."))
    await db.commit()
    obj = activity.payload["object"]
    return str(obj["id"] if isinstance(obj, dict) else obj).removeprefix(BLOG)


async def test_off_by_default_everything_public_is_readable_unsigned(
    make_app: AppMaker, db: AsyncSession, settings: Settings
) -> None:
    assert settings.activitypub.authorized_fetch is False
    app = await make_app("blog")
    path = await published_object(db, settings)
    client = app.test_client()
    for url in (path, "/ap/users/blog/outbox", "/ap/users/blog/followers"):
        resp = await client.get(url, headers=AS)
        assert resp.status_code == 200, url


async def test_secure_mode_answers_only_signed_gets(
    make_app: AppMaker, db: AsyncSession, secure: Settings, alice: RemoteActor
) -> None:
    app = await make_app("blog", app_settings=secure)
    client = app.test_client()
    path = await published_object(db, secure)
    protected = [
        path,
        "/ap/users/blog/outbox",
        "/ap/users/blog/outbox?page=true",
        "/ap/users/blog/followers",
        "/ap/users/blog/following",
    ]
    for url in protected:
        resp = await client.get(url, headers=AS)
        assert resp.status_code == 401, url
        assert "This request is not signed." in await resp.get_data(as_text=True)
        # Signed by a server we know (either scheme): answered.
        for rfc in (False, True):
            resp = await client.get(url, headers=signed_get(alice, url, rfc=rfc))
            assert resp.status_code == 200, (url, rfc, await resp.get_data(as_text=True))
    # A signature for another URL does not open this one.
    resp = await client.get(path, headers=signed_get(alice, "/ap/users/blog/outbox", rfc=True))
    assert resp.status_code == 401
    # The object's page, for browsers, stays public; so does discovery and the app actor.
    assert (await client.get(path)).status_code == 200
    public = [
        "/ap/users/blog",
        "/.well-known/webfinger?resource=acct:blog@127.0.0.1:8001",
        "/.well-known/nodeinfo",
        "/nodeinfo/2.1",
    ]
    for url in public:
        resp = await client.get(url, headers=AS)
        assert resp.status_code == 200, url
    doc = await (await client.get("/ap/users/blog", headers=AS)).get_json()
    assert doc["type"] == "Application"
    assert doc["publicKey"]["publicKeyPem"]


async def test_secure_mode_refuses_a_blocked_server(
    make_app: AppMaker,
    db: AsyncSession,
    secure: Settings,
    alice: RemoteActor,
    remote: LoopbackServer,
) -> None:
    app = await make_app("blog", app_settings=secure)
    client = app.test_client()
    url = "/ap/users/blog/outbox"
    assert (await client.get(url, headers=signed_get(alice, url))).status_code == 200
    db.add(SocialDomainBlock(domain=remote.base().split("://", 1)[1]))
    await db.commit()
    resp = await client.get(url, headers=signed_get(alice, url))
    assert resp.status_code == 401
    assert "This server may not read this." in await resp.get_data(as_text=True)


async def test_our_fetches_are_signed_by_the_application_actor(
    settings: Settings, remote: LoopbackServer
) -> None:
    """A stand-in server in secure mode: it answers only GETs signed by a key it can check
    (here our blog actor's, whose document is public), as Mastodon's does."""
    blog = actor_urls(settings, "blog")
    doc = {"id": f"{remote.base()}/notes/1", "type": "Note", "content": "hi"}

    def secure_server(req: Received) -> tuple[int, bytes, str]:
        try:
            assert req.verify(keys.public_key_pem(settings)) == blog.key_id
        except Exception:  # unsigned or not verifiable: refused
            return 401, b"{}", "application/json"
        return 200, json.dumps(doc).encode(), "application/activity+json"

    remote.responder = secure_server
    async with guarded_client(settings) as client:
        assert await Fetcher(settings, client, key_id=blog.key_id).get_json(doc["id"]) == doc
        with pytest.raises(FetchError) as err:
            await Fetcher(settings, client).get_json(doc["id"])
        assert err.value.status == 401
