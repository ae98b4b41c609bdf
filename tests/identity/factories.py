"""Small factories for members: a member with a password through the real IdentityService, a
test client signed in as one, and signing in at federation's form with a browser."""

from __future__ import annotations

from quart.typing import TestClientProtocol
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import AccountDTO
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.services.identity.service import SqlIdentityService
from tests.support import Browser, csrf_in, query_of
from tests.support.settings import make_settings

MEMBER_PASSWORD = "correct horse battery staple"


async def make_member(
    db: AsyncSession,
    username: str,
    *,
    email: str | None = None,
    password: str = MEMBER_PASSWORD,
    roles: tuple[str, ...] = (),
    verified: bool = True,
    display_name: str = "",
    settings: Settings | None = None,
) -> AccountDTO:
    """A member with a password (verified unless told otherwise), flushed in ``db``; the
    password is hashed at the cost ``settings`` give (the tests' cheap one by default)."""
    settings = settings or make_settings("postgresql://unused", "redis://unused")
    service = SqlIdentityService.from_settings(settings)
    return await service.create_account(
        db,
        email=email or f"{username}@members.rose-ash.test",
        username=username,
        password=password,
        roles=roles,
        verified=verified,
        display_name=display_name,
    )


async def signed_in(
    app: RoseQuart, db: AsyncSession, username: str, *roles: str, display_name: str = ""
) -> TestClientProtocol:
    """A test client of ``app`` signed in as a new member ``username`` with ``roles``; the
    member's id is on the client as ``user_id``."""
    account = await make_member(db, username, roles=roles, display_name=display_name)
    sign_in = await services().identity.start_session(db, account.id)
    await db.commit()
    client = await client_signed_in(app, account.id, sign_in.sid)
    client.user_id = account.id  # type: ignore[attr-defined]
    return client


async def sign_in_at(browser: Browser, app_url: str, login: str, password: str) -> str:
    """Click "Sign in" at an app and fill in federation's form; returns the final page."""
    page = await browser.get(f"{app_url}/auth/login?next=/%3Fcame%3Dback")
    assert "/signin" in str(page.url), browser.hops
    resp = await browser.post(
        str(page.url).split("?")[0],
        {
            "login": login,
            "password": password,
            "next": query_of(str(page.url))["next"],
            "csrf_token": csrf_in(page.text),
        },
    )
    assert resp.status_code == 200, resp.text
    return resp.text


async def client_signed_in(app: RoseQuart, user_id: int, sid: str) -> TestClientProtocol:
    """A test client of ``app`` whose session carries the sign-in ``sid`` of ``user_id``, as
    after single sign-on's callback."""
    client = app.test_client()
    async with client.session_transaction() as cookie:
        cookie["_auth"] = {"uid": user_id, "sid": sid}
    return client
