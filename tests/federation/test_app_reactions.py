"""The app actors' received Likes, boosts and replies: recorded once, removed when undone, and
shown to editors (not to members) per app actor, linking the remote actor and our object."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import ApObjectDTO
from shared.models import ApAppInteraction
from tests.federation.factories import federation_for
from tests.federation.test_admin import HTML, signed_in_as
from tests.federation.test_inbox import send
from tests.support.activitypub import RemoteActor
from tests.support.settings import AppMaker


def act(actor: RemoteActor, kind: str, obj: Any) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.id}/{kind.lower()}s/{uuid.uuid4().hex}",
        "type": kind,
        "actor": actor.id,
        "object": obj,
    }


async def count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(ApAppInteraction)) or 0)


async def test_likes_boosts_and_replies_of_an_app_actors_post_reach_editors(
    make_app: AppMaker, db: AsyncSession, settings: Settings, alice: RemoteActor
) -> None:
    blog = await make_app("blog")
    activity = await federation_for(settings).publish(
        db,
        "blog",
        "Create",
        ApObjectDTO({"type": "Article", "name": "Harvest supper", "content": "<p>Friday.</p>"}),
    )
    await db.commit()
    obj = activity.payload["object"]
    post = obj["id"] if isinstance(obj, dict) else obj

    like = act(alice, "Like", post)
    for _ in range(2):  # a repeated delivery adds nothing
        assert (await send(blog, alice, like)).status_code in (200, 202)
    assert (await send(blog, alice, act(alice, "Announce", post))).status_code == 202
    reply = {
        "id": f"{alice.id}/notes/1",
        "type": "Note",
        "attributedTo": alice.id,
        "inReplyTo": post,
        "url": f"{alice.id}/notes/1",
        "content": "<p>Count me in <b>for the supper</b>!</p>",
    }
    assert (await send(blog, alice, act(alice, "Create", reply))).status_code == 202
    # A Like of something that is not ours is not an app actor's reaction.
    other = act(alice, "Like", f"{alice.id}/notes/elsewhere")
    assert (await send(blog, alice, other)).status_code == 202
    assert await count(db) == 3

    federation = await make_app("federation")
    editor = await signed_in_as(federation, db, "rowan", ("editor",))
    member = await signed_in_as(federation, db, "sorrel")
    await db.commit()
    assert (await member.get("/editor/social/reactions", headers=HTML)).status_code == 403
    resp = await editor.get("/editor/social/reactions", headers=HTML)
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)
    section = html.split('data-app="blog"', 1)[1].split("</section>", 1)[0]
    assert section.count('class="app-reaction"') == 3
    for kind in ("like", "boost", "reply"):
        assert f'data-kind="{kind}"' in section
    assert f'href="{alice.id}"' in section
    assert f"@alice@{alice.id.split('/')[2]}" in section
    assert f'<a href="{post}">Harvest supper</a>' in section
    assert "Count me in for the supper!" in section
    assert "<b>" not in section
    assert 'data-app="events"' in html  # every publishing app actor has its section

    # Undoing the Like and deleting the reply take them away.
    assert (await send(blog, alice, act(alice, "Undo", like))).status_code == 202
    tomb = {"id": reply["id"], "type": "Tombstone"}
    assert (await send(blog, alice, act(alice, "Delete", tomb))).status_code == 202
    kinds = (await db.scalars(select(ApAppInteraction.kind))).all()
    assert kinds == ["boost"]


async def test_the_reactions_page_is_for_staff_only(make_app: AppMaker) -> None:
    federation = await make_app("federation")
    resp = await federation.test_client().get("/editor/social/reactions", headers=HTML)
    assert resp.status_code in (302, 303, 401)
