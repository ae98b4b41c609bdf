"""Moderation across servers, as Mastodon does it: a member's block of a remote account is told
to its server (``Block``, ``Undo``) and a remote account's ``Block`` of a member ends the
follows between them; accounts move (``alsoKnownAs``, ``movedTo``, ``Move``), here, away, and
remote ones with their followers here — through the real app and the real inbox (HTTP
Signatures checked), remote servers on loopback."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from shared.models import ApActivity, SocialAccount, SocialBlock, SocialFollow
from shared.services.federation.outbox import OutboxProcessor
from tests.social.factories import (
    AS,
    FED,
    HTML,
    activity,
    follow_remote,
    form_post,
    home_html,
    local_account_id,
    note,
    remote_account_id,
    send,
    social_member,
)
from tests.support.activitypub import LoopbackServer, RemoteActor, make_actor

ASH = f"{FED}/users/ash"


async def outgoing(db: AsyncSession, kind: str) -> list[dict[str, Any]]:
    """The payloads of the activities of ``kind`` written to the outbox, oldest first."""
    rows = await db.scalars(
        select(ApActivity.payload).where(ApActivity.activity_type == kind).order_by(ApActivity.id)
    )
    return [dict(p) for p in rows]


async def followed_by_alice(app: RoseQuart, alice: RemoteActor) -> None:
    resp = await send(app, alice, activity(alice, "Follow", ASH), "/users/ash/inbox")
    assert resp.status_code == 202, await resp.get_data(as_text=True)


# --- blocks -----------------------------------------------------------------------------------


async def test_blocking_a_remote_account_sends_block_and_unblocking_an_undo(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
    await follow_remote(app, ash, alice, db)
    await followed_by_alice(app, alice)
    await db.commit()
    await processor.run_once()
    remote.received.clear()
    alice_id = await remote_account_id(db, alice.id)

    assert (await form_post(ash, f"/social/accounts/{alice_id}/block")).status_code == 303
    await db.commit()
    [block] = await outgoing(db, "Block")
    assert (block["actor"], block["object"]) == (ASH, alice.id)
    await processor.run_once()
    delivered = [r.json() for r in remote.posts_to("/users/alice/inbox")]
    assert [d["type"] for d in delivered] == ["Undo", "Block"]  # her follow ends, then the block
    assert delivered[0]["object"]["type"] == "Follow"
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0
    # Asked again, the block is the same one: nothing more is sent.
    assert (await form_post(ash, f"/social/accounts/{alice_id}/block")).status_code == 303
    assert len(await outgoing(db, "Block")) == 1

    assert (await form_post(ash, f"/social/accounts/{alice_id}/unblock")).status_code == 303
    await db.commit()
    undos = [u for u in await outgoing(db, "Undo") if u["object"]["type"] == "Block"]
    assert [u["object"]["id"] for u in undos] == [block["id"]]
    assert undos[0]["object"]["object"] == alice.id
    await processor.run_once()
    assert remote.posts_to("/users/alice/inbox")[-1].json()["object"]["type"] == "Block"

    # A mute is ours alone: nothing is sent.
    before = await db.scalar(select(func.count()).select_from(ApActivity))
    assert (await form_post(ash, f"/social/accounts/{alice_id}/mute")).status_code == 303
    assert await db.scalar(select(func.count()).select_from(ApActivity)) == before


async def test_a_remote_block_ends_follows_both_ways_and_hides_their_posts(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
    await follow_remote(app, ash, alice, db)
    await followed_by_alice(app, alice)
    await send(app, alice, activity(alice, "Create", note(alice, "<p>Plot news</p>")), "/ap/inbox")
    assert "Plot news" in await home_html(ash)
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 2
    await db.commit()
    await processor.run_once()
    remote.received.clear()

    block = activity(alice, "Block", ASH)
    resp = await send(app, alice, block, "/users/ash/inbox")
    assert resp.status_code == 202, await resp.get_data(as_text=True)
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0
    alice_id = await remote_account_id(db, alice.id)
    assert "Plot news" not in await home_html(ash)
    assert "Plot news" not in await home_html(ash, f"/social/accounts/{alice_id}")
    assert "Plot news" in await home_html(app.test_client(), f"/social/accounts/{alice_id}")
    assert (await form_post(ash, f"/social/accounts/{alice_id}/follow")).status_code == 403
    # Ash's follow ended as an unfollow does, with an Undo to her server.
    await db.commit()
    await processor.run_once()
    [undo] = [r.json() for r in remote.posts_to("/users/alice/inbox")]
    assert (undo["type"], undo["object"]["type"]) == ("Undo", "Follow")

    # Someone else cannot lift her block; her Undo does.
    bob = make_actor(remote, "bob")
    resp = await send(app, bob, activity(bob, "Undo", {**block, "actor": bob.id}), "/ap/inbox")
    assert await db.scalar(select(func.count()).select_from(SocialBlock)) == 1
    resp = await send(app, alice, activity(alice, "Undo", block), "/users/ash/inbox")
    assert resp.status_code == 202
    assert await db.scalar(select(func.count()).select_from(SocialBlock)) == 0
    assert "Plot news" in await home_html(ash, f"/social/accounts/{alice_id}")
    assert (await form_post(ash, f"/social/accounts/{alice_id}/follow")).status_code == 303


# --- moves ------------------------------------------------------------------------------------


async def test_a_verified_move_takes_local_followers_along_and_an_unverified_one_nothing(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, remote: LoopbackServer
) -> None:
    ash = await social_member(app, db, "ash")
    await follow_remote(app, ash, alice, db)
    alice_id = await remote_account_id(db, alice.id)
    impostor = make_actor(remote, "impostor")  # does not name alice among its aliases
    successor = make_actor(remote, "alicenew")
    remote.documents[successor.id]["alsoKnownAs"] = [alice.id]

    resp = await send(
        app, alice, activity(alice, "Move", alice.id, target=impostor.id), "/users/ash/inbox"
    )
    assert resp.status_code == 202
    assert await db.scalar(select(SocialFollow.target_id)) == alice_id
    assert [f["object"] for f in await outgoing(db, "Follow")] == [alice.id]
    # Nor may anyone move someone else.
    bob = make_actor(remote, "bob")
    await send(app, bob, activity(bob, "Move", alice.id, target=successor.id), "/ap/inbox")
    assert await db.scalar(select(SocialFollow.target_id)) == alice_id

    for _ in range(2):  # a Move received twice moves once
        resp = await send(
            app, alice, activity(alice, "Move", alice.id, target=successor.id), "/users/ash/inbox"
        )
        assert resp.status_code == 202, await resp.get_data(as_text=True)
    successor_id = await remote_account_id(db, successor.id)
    follows = (await db.execute(select(SocialFollow.target_id, SocialFollow.state))).all()
    assert follows == [(successor_id, "pending")]
    assert [f["object"] for f in await outgoing(db, "Follow")] == [alice.id, successor.id]
    [undo] = await outgoing(db, "Undo")
    assert (undo["object"]["type"], undo["object"]["object"]) == ("Follow", alice.id)
    moved = await db.scalar(select(SocialAccount.moved_to_uri).where(SocialAccount.id == alice_id))
    assert moved == successor.id
    page = await home_html(ash, f"/social/accounts/{alice_id}")
    assert f'data-moved-to="{successor.id}"' in page


async def test_moving_away_needs_the_alias_then_tells_followers_and_moves_local_ones(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    await home_html(ash)
    await followed_by_alice(app, alice)
    assert (
        await form_post(bea, f"/social/accounts/{await local_account_id(db, 'ash')}/follow")
    ).status_code == 303
    new = make_actor(remote, "ashnew")

    resp = await form_post(ash, "/social/moving/away", target=new.id)
    assert resp.status_code == 422
    assert 'data-error-code="social_move_not_aliased"' in await resp.get_data(as_text=True)
    assert await outgoing(db, "Move") == []
    person = await (await app.test_client().get("/users/ash", headers=AS)).get_json()
    assert "movedTo" not in person

    remote.documents[new.id]["alsoKnownAs"] = [ASH]
    resp = await form_post(ash, "/social/moving/away", target=new.id)
    assert resp.status_code == 303, await resp.get_data(as_text=True)
    [move] = await outgoing(db, "Move")
    assert (move["actor"], move["object"], move["target"]) == (ASH, ASH, new.id)
    person = await (await app.test_client().get("/users/ash", headers=AS)).get_json()
    assert person["movedTo"] == new.id
    # bea, a follower here, now follows the new account (asked with a Follow), not ash.
    new_id = await remote_account_id(db, new.id)
    bea_id = await local_account_id(db, "bea")
    assert (
        await db.execute(select(SocialFollow.target_id).where(SocialFollow.follower_id == bea_id))
    ).scalars().all() == [new_id]
    assert [f["object"] for f in await outgoing(db, "Follow")] == [new.id]
    # alice's server hears of the move.
    await db.commit()
    await processor.run_once()
    moves = [r.json() for r in remote.received if r.json()["type"] == "Move"]
    assert [m["target"] for m in moves] == [new.id]
    assert f'data-moved-to="{new.id}"' in await home_html(app.test_client(), "/users/ash")


async def test_a_member_names_an_old_account_as_an_alias(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, remote: LoopbackServer
) -> None:
    ash = await social_member(app, db, "ash")
    host = remote.base().split("://", 1)[1]
    assert "No aliases yet" in await home_html(ash, "/social/moving")
    resp = await form_post(ash, "/social/moving/aliases", alias=f"@alice@{host}")
    assert resp.status_code == 303
    person = await (await app.test_client().get("/users/ash", headers=AS)).get_json()
    assert person["alsoKnownAs"] == [alice.id]
    [update] = await outgoing(db, "Update")
    assert update["object"]["alsoKnownAs"] == [alice.id]
    assert f"@alice@{host}" in await home_html(ash, "/social/moving")

    resp = await form_post(ash, "/social/moving/aliases", alias="not a handle")
    assert resp.status_code == 400
    resp = await form_post(ash, "/social/moving/aliases", alias=f"{remote.base()}/users/nobody")
    assert resp.status_code == 404
    resp = await form_post(ash, "/social/moving/aliases/remove", uri="https://elsewhere/x")
    assert resp.status_code == 404
    resp = await form_post(ash, "/social/moving/aliases/remove", uri=alice.id)
    assert resp.status_code == 303
    person = await (await app.test_client().get("/users/ash", headers=AS)).get_json()
    assert "alsoKnownAs" not in person
    assert (await app.test_client().get("/social/moving", headers=HTML)).status_code in (302, 303)
