"""Moderation across servers: another server's report (a signed ``Flag``) reaches our admins,
an admin forwards a member's report of a remote account to its server (a ``Flag`` by the
federation actor, delivered by the worker), and a limited domain's accounts reach only their
followers — through the real app, the real inbox (signatures checked) and the real worker,
remote servers on loopback."""

from __future__ import annotations

import json
import re

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from shared.models import (
    ApActivity,
    SocialDomainBlock,
    SocialFollow,
    SocialNotification,
    SocialReport,
    SocialStatus,
)
from shared.services.federation.outbox import OutboxProcessor
from tests.social.factories import (
    AS,
    FED,
    activity,
    follow_remote,
    form_post,
    home_html,
    local_account_id,
    note,
    send,
    social_member,
)
from tests.support.activitypub import LoopbackServer, RemoteActor, make_actor


async def _reports(db: AsyncSession) -> list[SocialReport]:
    db.expire_all()
    return list(await db.scalars(select(SocialReport).order_by(SocialReport.id)))


async def _status_of(db: AsyncSession, text: str) -> Row[tuple[int, str, int]]:
    """The post containing ``text``: its id, uri and account_id (plain values that outlive the
    session's expiry)."""
    row = (
        await db.execute(
            select(SocialStatus.id, SocialStatus.uri, SocialStatus.account_id).where(
                SocialStatus.content.contains(text)
            )
        )
    ).one_or_none()
    assert row is not None, text
    return row


# --- reports from other servers ------------------------------------------------------------------


async def test_a_flag_from_another_server_becomes_a_report_naming_it_and_the_posts(
    app: RoseQuart, db: AsyncSession, remote: LoopbackServer
) -> None:
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    admin = await social_member(app, db, "rowan", "admin")
    await form_post(ash, "/social/statuses", text="Buy cheap watches")
    await form_post(ash, "/social/statuses", text="A harmless loaf")
    await form_post(bea, "/social/statuses", text="Bea's own post")
    spam = await _status_of(db, "Buy cheap watches")
    beas = await _status_of(db, "Bea's own post")
    host = remote.base().split("://", 1)[1]
    # Mastodon reports as its instance actor, an Application named after its host.
    moderators = make_actor(remote, "instance")

    # Ash and one of ash's posts are named; bea's post (bea is not named) and a stranger's
    # object are ignored. The comment arrives as HTML from some servers: kept as plain text.
    flag = activity(
        moderators,
        "Flag",
        [f"{FED}/users/ash", spam.uri, beas.uri, "https://elsewhere.example/notes/1"],
        content="<p>Spam &amp; scams</p><script>alert(1)</script>",
    )
    resp = await send(app, moderators, flag, "/ap/inbox")
    assert resp.status_code == 202, await resp.get_data(as_text=True)
    [report] = await _reports(db)
    assert report.reporter_id is None
    assert report.origin_domain == host
    assert report.origin_actor_uri == moderators.id
    assert report.target_account_id == await local_account_id(db, "ash")
    assert report.status_ids == [spam.id]
    assert report.comment == "Spam & scams"

    # The admins see it beside members' reports, labelled with the server it came from.
    await form_post(bea, f"/social/accounts/{report.target_account_id}/report", comment="Mine")
    page = await home_html(admin, "/admin/social/")
    assert f'data-origin="{host}"' in page
    assert f"From {host}" in page
    assert "Spam &amp; scams" in page
    assert "<script>alert(1)" not in page
    assert "Buy cheap watches" in page
    assert "Bea&#39;s own post" not in page
    assert "Bea's own post" not in page
    assert "A harmless loaf" not in page
    # A report from another server cannot be forwarded anywhere.
    assert f"/admin/social/reports/{report.id}/forward" not in page
    resp = await form_post(admin, f"/admin/social/reports/{report.id}/forward")
    assert resp.status_code == 400
    # It is resolved like any other.
    resp = await form_post(admin, f"/admin/social/reports/{report.id}/resolve")
    assert resp.status_code == 303
    assert f'data-origin="{host}"' not in await home_html(admin, "/admin/social/")


async def test_a_flag_about_what_is_not_ours_or_from_a_blocked_server_makes_no_report(
    app: RoseQuart, db: AsyncSession, remote: LoopbackServer, alice: RemoteActor
) -> None:
    ash = await social_member(app, db, "ash")
    await home_html(ash)  # ash's account, as when another server has read ash's actor
    admin = await social_member(app, db, "rowan", "admin")
    moderators = make_actor(remote, "instance")
    for obj in (
        [alice.id, f"{alice.id}/notes/1"],  # someone else's account and post
        "https://elsewhere.example/users/ash",  # an account of the same name elsewhere
        f"{FED}/users/nobody",  # no such member
        f"{FED}/ap/users/blog",  # an app actor is not a member's account
    ):
        resp = await send(app, moderators, activity(moderators, "Flag", obj), "/ap/inbox")
        assert resp.status_code == 202
    assert await _reports(db) == []

    # Of a Flag naming ours and someone else's, ours alone is reported.
    flag = activity(moderators, "Flag", [alice.id, f"{FED}/users/ash"], content="Both")
    assert (await send(app, moderators, flag, "/ap/inbox")).status_code == 202
    [report] = await _reports(db)
    assert report.target_account_id == await local_account_id(db, "ash")

    # A blocked server's Flag is dropped at the inbox, as anything else it sends.
    domain = remote.base().split("://", 1)[1]
    assert (await form_post(admin, "/admin/social/domains", domain=domain)).status_code == 303
    flag = activity(moderators, "Flag", [f"{FED}/users/ash"], content="Blocked")
    assert (await send(app, moderators, flag, "/ap/inbox")).status_code == 202
    assert len(await _reports(db)) == 1


# --- forwarding a member's report ----------------------------------------------------------------


async def test_an_admin_forwards_a_members_report_once_as_the_federation_actor(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
    admin = await social_member(app, db, "rowan", "admin")
    await follow_remote(app, ash, alice, db)
    created = note(alice, "<p>Nasty words</p>")
    assert (
        await send(app, alice, activity(alice, "Create", created), "/ap/inbox")
    ).status_code == 202
    status = await _status_of(db, "Nasty words")
    resp = await form_post(
        ash,
        f"/social/accounts/{status.account_id}/report",
        comment="Harassing me",
        status_id=str(status.id),
    )
    assert resp.status_code == 200
    await db.commit()
    await processor.run_once()  # the Follow goes out first; only the Flag matters below
    host = remote.base().split("://", 1)[1]
    [report] = await _reports(db)
    forward = f"/admin/social/reports/{report.id}/forward"
    page = await home_html(admin, "/admin/social/")
    assert f'action="{forward}"' in page
    assert f"Forward to {host}" in page

    # Only admins forward; an unknown report is a 404.
    assert (await form_post(ash, forward)).status_code == 403
    assert (await form_post(admin, "/admin/social/reports/999999/forward")).status_code == 404
    assert (await form_post(admin, forward)).status_code == 303
    # Forwarding again sends nothing more.
    assert (await form_post(admin, forward)).status_code == 303
    db.expire_all()
    [flag] = list(await db.scalars(select(ApActivity).where(ApActivity.activity_type == "Flag")))
    # To alice's server (its shared inbox), by the federation actor; the member is not named.
    assert flag.target_inboxes == [f"{remote.base()}/inbox"]
    assert flag.actor_account_id is None
    assert not flag.is_public
    payload = dict(flag.payload)
    assert payload["type"] == "Flag"
    assert payload["actor"] == f"{FED}/ap/users/federation"
    assert payload["object"] == [alice.id, status.uri]
    assert payload["content"] == "Harassing me"
    assert "/users/ash" not in json.dumps(payload)
    page = await home_html(admin, "/admin/social/")
    assert f"Forwarded to {host}" in page
    assert f'action="{forward}"' not in page
    # Not served to anyone who asks for it.
    assert (await app.test_client().get(flag.uri, headers=AS)).status_code == 404

    # The worker delivers it once, signed with the federation actor's key.
    await db.commit()
    done = await processor.run_once()
    assert done.delivered == 1
    [delivered] = [r for r in remote.posts_to("/inbox") if r.json()["type"] == "Flag"]
    actor = await (await app.test_client().get("/ap/users/federation", headers=AS)).get_json()
    key_id = delivered.verify(actor["publicKey"]["publicKeyPem"], window_s=60)
    assert key_id == f"{FED}/ap/users/federation#main-key"
    assert delivered.json() == payload

    # A report of one of our own members has nowhere to go.
    bea = await social_member(app, db, "bea")
    ash_id = await local_account_id(db, "ash")
    await form_post(bea, f"/social/accounts/{ash_id}/report", comment="Local matter")
    local = (await _reports(db))[-1]
    page = await home_html(admin, "/admin/social/")
    assert f"/admin/social/reports/{local.id}/forward" not in page
    assert (await form_post(admin, f"/admin/social/reports/{local.id}/forward")).status_code == 400
    assert (await _reports(db))[-1].forwarded_at is None


# --- limited domains -----------------------------------------------------------------------------


async def test_a_limited_domain_reaches_only_its_followers_and_the_limit_lifts(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, remote: LoopbackServer
) -> None:
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    admin = await social_member(app, db, "rowan", "admin")
    await follow_remote(app, ash, alice, db)  # ash follows alice; bea does not
    await form_post(ash, "/social/statuses", text="What bread today?")
    question = await _status_of(db, "What bread today?")
    domain = remote.base().split("://", 1)[1]

    # Bad input changes nothing: an unknown severity, a malformed domain.
    resp = await form_post(admin, "/admin/social/domains", domain=domain, severity="silence")
    assert resp.status_code == 400
    resp = await form_post(admin, "/admin/social/domains", domain="not a domain", severity="limit")
    assert resp.status_code == 400
    assert await db.scalar(select(func.count()).select_from(SocialDomainBlock)) == 0
    assert (await form_post(ash, "/admin/social/domains", domain=domain)).status_code == 403

    resp = await form_post(admin, "/admin/social/domains", domain=domain, severity="limit")
    assert resp.status_code == 303
    page = await home_html(admin, "/admin/social/")
    assert f'data-domain="{domain}" data-severity="limit"' in page
    # Limited, not blocked: ash's follow of alice stands, and alice still talks to us.
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 1

    # Alice answers ash's post and mentions bea.
    reply = note(
        alice,
        "<p>Rye, @bea</p>",
        inReplyTo=question.uri,
        cc=[f"{FED}/users/bea"],
        tag=[{"type": "Mention", "href": f"{FED}/users/bea", "name": "@bea"}],
    )
    resp = await send(app, alice, activity(alice, "Create", reply), "/ap/inbox")
    assert resp.status_code == 202
    thread = f"/social/statuses/{question.id}"
    # Ash follows alice: the reply is in ash's home timeline and thread, with its notification.
    assert "Rye, @bea" in await home_html(ash)
    assert "Rye, @bea" in await home_html(ash, thread)
    # Where posts are listed for everyone else, a limited account does not appear.
    assert "Rye, @bea" not in await home_html(app.test_client(), thread)
    assert "Rye, @bea" not in await home_html(bea, thread)
    assert "Rye, @bea" not in await home_html(bea)
    db.expire_all()
    received = (
        await db.execute(select(SocialNotification.account_id, SocialNotification.kind))
    ).all()
    ash_id, bea_id = await local_account_id(db, "ash"), await local_account_id(db, "bea")
    assert (ash_id, "reply") in received
    assert not [r for r in received if r.account_id == bea_id]

    # A limited account's follow waits for the member's approval (as Mastodon's silence).
    bob = make_actor(remote, "bob")
    resp = await send(app, bob, activity(bob, "Follow", f"{FED}/users/bea"), "/users/bea/inbox")
    assert resp.status_code == 202
    db.expire_all()
    follow = await db.scalar(select(SocialFollow).where(SocialFollow.target_id == bea_id))
    assert follow is not None
    assert follow.state == "pending"
    assert (
        await db.scalar(
            select(SocialNotification.kind).where(SocialNotification.account_id == bea_id)
        )
        == "follow_request"
    )

    # Lifting the limit: the reply shows to everyone again.
    resp = await form_post(admin, "/admin/social/domains", domain=domain, undo="1")
    assert resp.status_code == 303
    assert f'data-domain="{domain}"' not in await home_html(admin, "/admin/social/")
    assert "Rye, @bea" in await home_html(app.test_client(), thread)
    assert "Rye, @bea" in await home_html(bea)


async def test_a_limit_becomes_a_block_and_a_block_a_limit(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, remote: LoopbackServer
) -> None:
    ash = await social_member(app, db, "ash")
    admin = await social_member(app, db, "rowan", "admin")
    await follow_remote(app, ash, alice, db)
    domain = remote.base().split("://", 1)[1]
    await form_post(admin, "/admin/social/domains", domain=domain, severity="limit")
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 1
    # Blocking what was limited removes its accounts, as a block always did.
    await form_post(admin, "/admin/social/domains", domain=domain, severity="block")
    page = await home_html(admin, "/admin/social/")
    assert f'data-domain="{domain}" data-severity="block"' in page
    assert re.search(r"Blocked</span>", page)
    db.expire_all()
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0
    await form_post(admin, "/admin/social/domains", domain=domain, severity="limit")
    assert f'data-domain="{domain}" data-severity="limit"' in await home_html(
        admin, "/admin/social/"
    )
    # Limited again, its activities are heard.
    resp = await send(app, alice, activity(alice, "Follow", f"{FED}/users/ash"), "/users/ash/inbox")
    assert resp.status_code == 202
    db.expire_all()
    assert await db.scalar(select(SocialFollow.state)) == "pending"
