"""A member's own data: the JSON export gathers every domain's part through its contract,
and deleting the account removes or anonymises it everywhere and ends every sign-in."""

from __future__ import annotations

import json

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import AccountDTO, SignUpRequest
from shared.contracts.errors import IdentityError
from shared.errors import Conflict
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import (
    AuthSession,
    BlogAuthor,
    EmailSuppression,
    NewsletterSubscription,
    OAuthToken,
    User,
)
from tests.blog import factories
from tests.identity.factories import MEMBER_PASSWORD, client_signed_in, make_member
from tests.support import csrf_in, errors_beside_fields
from tests.support.settings import AppMaker


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("account")


async def member_with_data(db: AsyncSession, username: str) -> AccountDTO:
    """A member with a confirmed subscription, one kept by address only, and a byline
    with a published post."""
    member = await make_member(db, username, display_name="Rose Hip")
    staff = await make_member(db, f"{username}_staff", roles=("editor",))
    weekly = await services().newsletters.create_newsletter(db, "Weekly market", actor_id=staff.id)
    events = await services().newsletters.create_newsletter(db, "Events", actor_id=staff.id)
    await services().newsletters.subscribe(
        db, weekly.id, member.email, user_id=member.id, confirmed=True
    )
    await services().newsletters.subscribe(db, events.id, member.email.upper(), confirmed=True)
    await services().newsletters.subscribe(
        db, events.id, "someone.else@example.test", confirmed=True
    )
    db.add(EmailSuppression(email=member.email.lower(), reason="550 once bounced"))
    byline = await factories.author(db, slug=f"{username}-hip", name="Rose Hip")
    byline.user_id = member.id
    await factories.post(db, "Hedgerow jelly", authors=(byline.slug,))
    await db.flush()
    return member


async def signed_in(app: RoseQuart, db: AsyncSession, member: AccountDTO) -> tuple[Client, str]:
    sign_in = await services().identity.start_session(db, member.id)
    await db.commit()
    client = await client_signed_in(app, member.id, sign_in.sid)
    return client, sign_in.sid


async def test_the_export_holds_every_domains_part(app: RoseQuart, db: AsyncSession) -> None:
    member = await member_with_data(db, "rosehip")
    client, _ = await signed_in(app, db, member)
    resp = await client.get("/data/export")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="rose-ash-rosehip.json"'
    assert "no-store" in resp.headers["Cache-Control"]
    data = json.loads(await resp.get_data(as_text=True))
    assert data["format"] == "rose-ash-export/1"
    assert data["profile"]["email"] == member.email
    assert data["profile"]["display_name"] == "Rose Hip"
    subs = data["newsletters"]["subscriptions"]
    assert [(s["newsletter"], s["status"]) for s in subs] == [("Weekly market", "active")]
    assert [p["title"] for p in data["blog"]["posts"]] == ["Hedgerow jelly"]
    assert data["blog"]["authors"][0]["name"] == "Rose Hip"
    # Nothing of anyone else's.
    assert "someone.else@example.test" not in await resp.get_data(as_text=True)


async def test_the_export_is_for_signed_in_members_only(app: RoseQuart) -> None:
    resp = await app.test_client().get("/data/export")
    assert resp.status_code == 401


async def test_deleting_needs_the_password_and_the_box_and_changes_nothing_otherwise(
    app: RoseQuart, db: AsyncSession
) -> None:
    member = await member_with_data(db, "sloe")
    client, sid = await signed_in(app, db, member)
    html = await (await client.get("/data/delete")).get_data(as_text=True)
    token = csrf_in(html)
    for form, code in (
        ({"password": "wrong password!", "confirm": "delete"}, "invalid_credentials"),
        ({"password": MEMBER_PASSWORD}, "not_confirmed"),
    ):
        resp = await client.post("/data/delete", form={"csrf_token": token, **form})
        assert resp.status_code in (400, 401), form
        assert f'data-error-code="{code}"' in await resp.get_data(as_text=True)
    # Both at once, each beside its field.
    resp = await client.post("/data/delete", form={"csrf_token": token, "password": "wrong!"})
    assert resp.status_code in (400, 401)
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {"confirm", "password"}
    db.expire_all()
    user = await db.get(User, member.id)
    assert user is not None
    assert user.email == member.email
    assert await services().identity.get_session(db, sid) is not None


async def test_deleting_the_account_erases_it_everywhere_and_signs_out_everywhere(
    app: RoseQuart, db: AsyncSession
) -> None:
    member = await member_with_data(db, "bramble")
    client, sid = await signed_in(app, db, member)
    other_browser = await services().identity.start_session(db, member.id)
    await db.commit()
    html = await (await client.get("/data/delete")).get_data(as_text=True)
    resp = await client.post(
        "/data/delete",
        form={"csrf_token": csrf_in(html), "password": MEMBER_PASSWORD, "confirm": "delete"},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/deleted"

    db.expire_all()
    user = await db.get(User, member.id)
    assert user is not None  # kept, emptied, for records kept by law
    assert user.email == f"erased-{member.id}@erased.invalid"
    assert user.username == "bramble"  # reserved: the name of an actor gone for good
    with pytest.raises(Conflict) as taken:
        await services().identity.sign_up(
            db, SignUpRequest("newcomer@members.rose-ash.test", "Bramble", MEMBER_PASSWORD)
        )
    assert taken.value.code == "username_taken"
    assert user.display_name == ""
    assert user.password_hash is None
    assert user.is_active is False
    # Every sign-in ended, this browser's and the other one's.
    open_sessions = await db.scalar(
        select(func.count())
        .select_from(AuthSession)
        .where(AuthSession.user_id == member.id, AuthSession.revoked_at.is_(None))
    )
    assert open_sessions == 0
    assert await services().identity.get_session(db, other_browser.sid) is None
    assert (
        await db.scalar(
            select(func.count()).select_from(OAuthToken).where(OAuthToken.user_id == member.id)
        )
        == 0
    )
    # Subscriptions by account and by address are gone; other people's stay.
    left = (await db.scalars(select(NewsletterSubscription.email))).all()
    assert left == ["someone.else@example.test"]
    assert await db.get(EmailSuppression, member.email.lower()) is None
    # The byline stays on what was published, no longer linked to the account.
    byline = await db.scalar(select(BlogAuthor).where(BlogAuthor.slug == "bramble-hip"))
    assert byline is not None
    assert byline.user_id is None
    # Signed out here, and the old credentials open nothing.
    page = await (await client.get("/")).get_data(as_text=True)
    assert "to see your dashboard" in page
    with pytest.raises(IdentityError):
        await services().identity.authenticate(db, member.email, MEMBER_PASSWORD)
    assert sid not in {
        s.sid for s in (await db.scalars(select(AuthSession))).all() if s.revoked_at is None
    }


async def test_an_unverified_member_can_delete_their_account(
    app: RoseQuart, db: AsyncSession
) -> None:
    member = await make_member(db, "unverified_ivy", verified=False)
    client, _ = await signed_in(app, db, member)
    html = await (await client.get("/data/delete")).get_data(as_text=True)
    resp = await client.post(
        "/data/delete",
        form={"csrf_token": csrf_in(html), "password": MEMBER_PASSWORD, "confirm": "delete"},
    )
    assert resp.status_code == 302
    db.expire_all()
    user = await db.get(User, member.id)
    assert user is not None
    assert user.is_active is False
