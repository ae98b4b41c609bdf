"""Small helpers for the social hub's tests: members signed in at federation, remote actors'
activities sent to an inbox signed as them, the forms and pages a member uses, and the ids of
the hub's accounts."""

from __future__ import annotations

import json
import uuid
from typing import Any

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from shared.models import ApActivity, SocialAccount, SocialFollow
from tests.identity.factories import signed_in
from tests.support import BROWSER_ACCEPT, csrf_in
from tests.support.activitypub import RemoteActor

FED = "http://127.0.0.1:8005"
AS = {"Accept": "application/activity+json"}
HTML = {"Accept": BROWSER_ACCEPT}
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


async def social_member(app: RoseQuart, db: AsyncSession, username: str, *roles: str) -> Client:
    """A test client of ``app`` signed in as a new member ``username`` whose display name is
    the username, title-cased (``user_id`` on the client is the member's id)."""
    return await signed_in(app, db, username, *roles, display_name=username.title())


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


async def remote_account_id(db: AsyncSession, uri: str) -> int:
    """The hub's id for the remote account at ``uri``."""
    found = await db.scalar(select(SocialAccount.id).where(SocialAccount.uri == uri))
    assert found is not None
    return int(found)


async def local_account_id(db: AsyncSession, username: str) -> int:
    """The hub's id for the member ``username``."""
    found = await db.scalar(
        select(SocialAccount.id).where(
            SocialAccount.username == username, SocialAccount.domain.is_(None)
        )
    )
    assert found is not None
    return int(found)
