"""The social hub at federation, members as actors and following: webfinger and actor
documents for every member (a key of their own), profile options, following a remote account
(signed Follow, Accept, its posts on the home timeline, Undo), search through the address
guard, and members following members with locked accounts approving — through the real app,
the real inbox (HTTP Signatures checked) and the real OutboxProcessor delivering to remote
servers on loopback."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from shared.models import (
    ApActivity,
    SocialAccount,
    SocialFollow,
    SocialNotification,
    SocialStatus,
)
from shared.services.federation.outbox import OutboxProcessor
from tests.identity.factories import make_member
from tests.social.factories import (
    AS,
    FED,
    HTML,
    activity,
    form_post,
    home_html,
    local_account_id,
    note,
    remote_account_id,
    send,
    social_member,
)
from tests.support.activitypub import LoopbackServer, RemoteActor, make_actor
from tests.support.settings import AppMaker, make_settings

# --- members as actors ----------------------------------------------------------------------------


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
    # Without the acct: scheme, as some servers ask.
    resp = await client.get("/.well-known/webfinger?resource=ash@127.0.0.1:8005")
    assert (await resp.get_json())["subject"] == "acct:ash@127.0.0.1:8005"
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
    ash = await social_member(app, db, "ash")
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


# --- following a remote account and reading it ----------------------------------------------------


async def test_follow_a_remote_account_it_accepts_and_its_posts_reach_the_home_timeline(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
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
    key_id = delivered.verify(person["publicKey"]["publicKeyPem"], window_s=60)
    assert key_id == f"{FED}/users/ash#main-key"
    follow = delivered.json()
    assert follow["type"] == "Follow"
    assert follow["object"] == alice.id
    assert follow["actor"] == f"{FED}/users/ash"

    # Until alice accepts, the follow is pending.
    account_page = await (
        await ash.get(f"/social/accounts/{await remote_account_id(db, alice.id)}", headers=HTML)
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
    # Removed, not kept soft-deleted for ever.
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 0

    # Unfollowing sends an Undo and stops the timeline.
    resp = await form_post(
        ash, f"/social/accounts/{await remote_account_id(db, alice.id)}/unfollow"
    )
    assert resp.status_code == 303
    await db.commit()
    await processor.run_once()
    assert remote.posts_to("/users/alice/inbox")[-1].json()["type"] == "Undo"
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0


async def test_search_refuses_what_is_not_a_handle_and_reports_unknown_accounts(
    app: RoseQuart, db: AsyncSession, remote: LoopbackServer
) -> None:
    ash = await social_member(app, db, "ash")
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
    ash = await social_member(guarded, db, "ash")
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


# --- members following members --------------------------------------------------------------------


async def test_members_follow_each_other_and_locked_accounts_approve(
    app: RoseQuart, db: AsyncSession
) -> None:
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    resp = await form_post(ash, "/social/statuses", text="Hello co-op", visibility="private")
    assert resp.status_code == 303
    assert "Hello co-op" not in await home_html(bea)
    assert (
        await form_post(bea, f"/social/accounts/{await local_account_id(db, 'ash')}/follow")
    ).status_code == 303
    assert "Hello co-op" in await home_html(bea)

    # ash locks the account: cal's follow waits for approval.
    await form_post(ash, "/social/profile", locked="on", discoverable="on")
    cal = await social_member(app, db, "cal")
    await form_post(cal, f"/social/accounts/{await local_account_id(db, 'ash')}/follow")
    assert "Hello co-op" not in await home_html(cal)
    requests = await home_html(ash, "/social/follow-requests")
    assert "@cal@127.0.0.1:8005" in requests
    # bea cannot answer ash's requests (there are none for her: 404).
    cal_id = await local_account_id(db, "cal")
    assert (await form_post(bea, f"/social/accounts/{cal_id}/accept")).status_code == 404
    assert (await form_post(ash, f"/social/accounts/{cal_id}/accept")).status_code == 303
    assert "Hello co-op" in await home_html(cal)
    kinds = sorted(await db.scalars(select(SocialNotification.kind)))
    assert kinds == ["follow", "follow", "follow_request"]
    # Following oneself is refused.
    assert (
        await form_post(ash, f"/social/accounts/{await local_account_id(db, 'ash')}/follow")
    ).status_code == 400


async def test_a_locked_member_holds_remote_follow_requests_until_accepted(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
    await form_post(ash, "/social/profile", locked="on")
    await db.commit()
    await processor.run_once()
    remote.received.clear()
    resp = await send(app, alice, activity(alice, "Follow", f"{FED}/users/ash"), "/users/ash/inbox")
    assert resp.status_code == 202
    await processor.run_once()
    assert remote.received == []
    assert (
        await form_post(ash, f"/social/accounts/{await remote_account_id(db, alice.id)}/accept")
    ).status_code == 303
    await db.commit()
    await processor.run_once()
    [accept] = [r.json() for r in remote.received]
    assert accept["type"] == "Accept"
    assert accept["actor"] == f"{FED}/users/ash"
