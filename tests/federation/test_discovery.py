"""WebFinger, host-meta, NodeInfo 2.1 and the actor document, with content negotiation."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import APP_NAMES, Settings
from shared.contracts import ApObjectDTO, FederationService
from shared.infrastructure.activitypub import keys
from shared.models import AuthSession
from tests.identity.factories import make_member
from tests.support.settings import AppMaker, make_settings

AS = {"Accept": "application/activity+json"}
LD = {"Accept": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'}
APPLICATION = "https://www.w3.org/ns/activitystreams#Application"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("name", APP_NAMES)
async def test_webfinger_round_trips_with_the_actor(
    make_app: AppMaker, settings: Settings, name: str
) -> None:
    app = await make_app(name)
    client = app.test_client()
    host = settings.apps[name].public_url.split("://", 1)[1]
    resp = await client.get(
        f"/.well-known/webfinger?resource=acct:{name}@{host}",
        headers={"Accept": "application/jrd+json"},
    )
    assert resp.status_code == 200
    assert resp.mimetype == "application/jrd+json"
    jrd = await resp.get_json()
    assert jrd["subject"] == f"acct:{name}@{host}"
    [self_link] = [link for link in jrd["links"] if link["rel"] == "self"]
    assert self_link["type"] == "application/activity+json"
    actor_id = self_link["href"]
    assert actor_id == f"{settings.apps[name].public_url}/ap/users/{name}"

    # Mastodon's round trip: preferredUsername@<actor host> must WebFinger back to the actor.
    actor = await (await client.get(actor_id.split(host, 1)[1], headers=AS)).get_json()
    assert actor["id"] == actor_id
    back = await client.get(
        f"/.well-known/webfinger?resource=acct:{actor['preferredUsername']}@{host}"
    )
    assert (await back.get_json())["subject"] == jrd["subject"]
    # The actor URL itself is a resource too.
    by_url = await client.get(f"/.well-known/webfinger?resource={actor_id}")
    assert (await by_url.get_json())["subject"] == jrd["subject"]


@pytest.mark.parametrize("prefix", ["", "@"])
async def test_webfinger_takes_a_resource_without_acct(
    make_app: AppMaker, settings: Settings, prefix: str
) -> None:
    """Some servers send ``user@host`` without the ``acct:`` scheme."""
    app = await make_app("events")
    host = settings.apps["events"].public_url.split("://", 1)[1]
    resp = await app.test_client().get(f"/.well-known/webfinger?resource={prefix}events@{host}")
    assert resp.status_code == 200
    assert (await resp.get_json())["subject"] == f"acct:events@{host}"


@pytest.mark.parametrize(
    "resource",
    ["acct:market@127.0.0.1:8001", "acct:blog@elsewhere.example", "acct:nobody@127.0.0.1:8001"],
)
async def test_webfinger_does_not_answer_for_others(make_app: AppMaker, resource: str) -> None:
    app = await make_app("blog")
    resp = await app.test_client().get(f"/.well-known/webfinger?resource={resource}")
    assert resp.status_code == 404


async def test_webfinger_needs_a_resource(make_app: AppMaker) -> None:
    app = await make_app("blog")
    resp = await app.test_client().get("/.well-known/webfinger")
    assert resp.status_code == 400


async def test_host_meta_points_at_webfinger(make_app: AppMaker) -> None:
    app = await make_app("events")
    resp = await app.test_client().get("/.well-known/host-meta")
    assert resp.status_code == 200
    assert resp.mimetype == "application/xrd+xml"
    body = await resp.get_data(as_text=True)
    assert 'rel="lrdd"' in body
    assert 'template="http://127.0.0.1:8004/.well-known/webfinger?resource={uri}"' in body


async def test_nodeinfo_2_1(make_app: AppMaker) -> None:
    app = await make_app("blog")
    client = app.test_client()
    links = await (await client.get("/.well-known/nodeinfo")).get_json()
    [link] = [k for k in links["links"] if k["rel"].startswith("http://nodeinfo.")]
    assert link["rel"] == "http://nodeinfo.diaspora.software/ns/schema/2.1"
    assert link["href"] == "http://127.0.0.1:8001/nodeinfo/2.1"
    resp = await client.get("/nodeinfo/2.1")
    assert resp.status_code == 200
    assert "nodeinfo.diaspora.software/ns/schema/2.1" in resp.headers["Content-Type"]
    info = await resp.get_json()
    assert info["version"] == "2.1"
    assert re.fullmatch(r"[a-z0-9-]+", info["software"]["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["software"]["version"])
    assert info["protocols"] == ["activitypub"]
    assert info["services"] == {"inbound": [], "outbound": []}
    assert info["openRegistrations"] is False
    assert set(info["usage"]["users"]) == {"total", "activeMonth", "activeHalfyear"}
    assert isinstance(info["usage"]["localPosts"], int)
    assert isinstance(info["metadata"], dict)


@pytest.mark.parametrize("accept", [AS, LD])
async def test_the_actor_document(make_app: AppMaker, settings: Settings, accept: dict) -> None:
    app = await make_app("blog")
    resp = await app.test_client().get("/ap/users/blog", headers=accept)
    assert resp.status_code == 200
    assert resp.mimetype == "application/activity+json"
    assert "Accept" in resp.headers["Vary"]
    actor = await resp.get_json()
    base = "http://127.0.0.1:8001/ap/users/blog"
    # Only the two contexts strict servers know offline are named; our terms are inline.
    assert actor["@context"][:2] == [
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
    ]
    assert all(isinstance(c, dict) for c in actor["@context"][2:])
    assert actor["id"] == base
    assert actor["preferredUsername"] == "blog"
    assert actor["name"]
    assert actor["summary"]
    assert actor["inbox"] == f"{base}/inbox"
    assert actor["outbox"] == f"{base}/outbox"
    assert actor["followers"] == f"{base}/followers"
    assert actor["following"] == f"{base}/following"
    assert actor["endpoints"]["sharedInbox"] == "http://127.0.0.1:8001/ap/inbox"
    assert actor["publicKey"]["id"] == f"{base}#main-key"
    assert actor["publicKey"]["owner"] == base
    assert actor["publicKey"]["publicKeyPem"] == keys.public_key_pem(settings)
    assert actor["icon"]["url"].endswith(".png")
    icon = await app.test_client().get(actor["icon"]["url"].split("8001", 1)[1])
    assert icon.status_code == 200
    assert actor["url"]


async def test_every_app_actor_shares_the_one_key(make_app: AppMaker) -> None:
    pems = set()
    for name in APP_NAMES:
        app = await make_app(name)
        actor = await (await app.test_client().get(f"/ap/users/{name}", headers=AS)).get_json()
        pems.add(actor["publicKey"]["publicKeyPem"])
        assert actor["publicKey"]["id"].endswith(f"/ap/users/{name}#main-key")
    assert len(pems) == 1


async def test_browsers_get_the_actor_page(make_app: AppMaker) -> None:
    app = await make_app("blog")
    resp = await app.test_client().get("/ap/users/blog", headers=BROWSER)
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = await resp.get_data(as_text=True)
    assert "@blog@127.0.0.1:8001" in html
    assert '<header class="site-header">' in html


async def test_only_the_apps_own_actor_lives_on_its_host(make_app: AppMaker) -> None:
    app = await make_app("blog")
    client = app.test_client()
    assert (await client.get("/ap/users/market", headers=AS)).status_code == 404
    assert (await client.get("/ap/users/market/outbox", headers=AS)).status_code == 404


async def test_an_app_refuses_to_start_without_the_signing_key(
    database_url: str, redis_url: str
) -> None:
    from blog.app import create_app
    from shared.config import ConfigError

    settings = make_settings(database_url, redis_url, ROSE_AP_PRIVATE_KEY="")
    with pytest.raises(ConfigError, match="ROSE_AP_PRIVATE_KEY"):
        create_app(settings)


@pytest.mark.parametrize("name", APP_NAMES)
async def test_nodeinfo_names_the_hosts_application_actor(
    make_app: AppMaker, settings: Settings, name: str
) -> None:
    """FEP-2677: a server can follow the host by its URL alone."""
    client = (await make_app(name)).test_client()
    links = (await (await client.get("/.well-known/nodeinfo")).get_json())["links"]
    [application] = [k["href"] for k in links if k["rel"] == APPLICATION]
    assert application == f"{settings.apps[name].public_url}/ap/users/{name}"
    actor = await (await client.get(f"/ap/users/{name}", headers=AS)).get_json()
    assert actor["id"] == application
    assert actor["type"] == "Application"


async def test_nodeinfo_reports_each_hosts_own_figures(
    make_app: AppMaker, settings: Settings, db: AsyncSession, federation: FederationService
) -> None:
    def note(text: str) -> ApObjectDTO:
        return ApObjectDTO({"type": "Note", "content": text})

    for n in range(3):
        await federation.publish(db, "blog", "Create", note(f"post {n}"))
    gone = await federation.publish(db, "blog", "Create", note("deleted"))
    await federation.publish(db, "blog", "Delete", gone.object_uri or "")
    await federation.publish(db, "events", "Create", note("an event"))
    # Members: two signed in lately (one this month), one never, one unverified (not counted).
    now = datetime.now(UTC)
    for name, signed_in in (("ash", now), ("bea", now - timedelta(days=90)), ("cy", None)):
        member = await make_member(db, name)
        if signed_in is not None:
            db.add(
                AuthSession(
                    sid=uuid.uuid4().hex,
                    user_id=member.id,
                    created_at=signed_in,
                    expires_at=now + timedelta(days=1),
                )
            )
    await make_member(db, "dee", verified=False)
    await db.commit()

    async def info(name: str, app_settings: Settings | None = None) -> dict[str, Any]:
        app = await make_app(name, app_settings=app_settings)
        return dict(await (await app.test_client().get("/nodeinfo/2.1")).get_json())

    blog, events, fed = await info("blog"), await info("events"), await info("federation")
    assert blog["usage"]["localPosts"] == 3
    assert events["usage"]["localPosts"] == 1
    assert fed["usage"]["localPosts"] == 0
    assert blog["usage"]["users"] == {"total": 1, "activeMonth": 1, "activeHalfyear": 1}
    assert blog["openRegistrations"] is False, "nobody signs up at the blog's host"
    assert fed["usage"]["users"] == {"total": 3, "activeMonth": 1, "activeHalfyear": 2}
    assert fed["openRegistrations"] is True

    closed = replace(settings, accounts=replace(settings.accounts, open_registrations=False))
    assert (await info("federation", closed))["openRegistrations"] is False
    app = await make_app("federation", app_settings=closed)
    assert (await app.test_client().get("/signup")).status_code == 403
    signin = await (await app.test_client().get("/signin")).get_data(as_text=True)
    assert 'href="/signup' not in signin, "no link to a closed sign-up"
