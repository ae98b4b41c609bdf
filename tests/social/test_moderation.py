"""The social hub at federation, moderation: a blocked domain is dropped at the inbox and its
accounts removed, members block and mute accounts, reports reach admins who can suspend —
through the real app and the real inbox (HTTP Signatures checked), remote servers on
loopback."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from shared.models import (
    ApFollower,
    SocialFollow,
    SocialNotification,
    SocialStatus,
)
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
    send,
    social_member,
)
from tests.support.activitypub import LoopbackServer, RemoteActor

# --- moderation -----------------------------------------------------------------------------------


async def test_a_blocked_domain_is_dropped_at_the_inbox_and_its_accounts_removed(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, remote: LoopbackServer
) -> None:
    ash = await social_member(app, db, "ash")
    admin = await social_member(app, db, "rowan", "admin")
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
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    await home_html(ash)
    await home_html(bea)
    ash_id, bea_id = await local_account_id(db, "ash"), await local_account_id(db, "bea")
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
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    admin = await social_member(app, db, "rowan", "admin")
    await form_post(ash, "/social/statuses", text="Buy cheap watches")
    status_id = await db.scalar(select(SocialStatus.id))
    ash_id = await local_account_id(db, "ash")
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
