"""The identity service on its own: passwords, email links, sessions."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import AccountSettings, load_settings
from shared.contracts import SignUpRequest
from shared.contracts.errors import InvalidSignUp
from shared.errors import DomainError
from shared.models import User
from shared.services.identity.service import Passwords, SqlIdentityService
from tests.identity.factories import MEMBER_PASSWORD, make_member

SECRET = b"identity-test-secret"


@pytest.fixture
def service() -> SqlIdentityService:
    cheap = AccountSettings(argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1)
    return SqlIdentityService(SECRET, cheap)


def test_the_configured_password_hash_is_argon2id_at_rfc_9106_cost() -> None:
    accounts = load_settings(environ={}).accounts
    hashed = Passwords.from_settings(accounts).hasher.hash("x" * 12)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


async def test_a_weaker_hash_is_upgraded_at_sign_in(
    service: SqlIdentityService, db: AsyncSession
) -> None:
    account = await make_member(db, "ash")
    user = await db.get(User, account.id)
    assert user is not None
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(
        MEMBER_PASSWORD
    )
    await db.flush()
    await service.authenticate(db, "ash", MEMBER_PASSWORD)
    assert "m=8192,t=1,p=1" in user.password_hash


async def test_sign_up_makes_an_unverified_member(
    service: SqlIdentityService, db: AsyncSession
) -> None:
    result = await service.sign_up(
        db, SignUpRequest(email=" bo@example.test ", username="bo", password=MEMBER_PASSWORD)
    )
    assert result.account is not None
    assert result.account.email == "bo@example.test"
    assert result.account.display_name == "bo"
    assert result.account.roles == ("member",)
    assert not result.account.email_verified
    with pytest.raises(DomainError) as caught:
        await service.authenticate(db, "bo", MEMBER_PASSWORD)
    assert caught.value.code == "email_unverified"


@pytest.mark.parametrize("username", ["federation", "EVENTS", "account", "admin", "root", "www"])
async def test_sign_up_refuses_a_reserved_username(
    service: SqlIdentityService, db: AsyncSession, username: str
) -> None:
    """A member named like an app actor would break both actors' WebFinger round trips."""
    with pytest.raises(InvalidSignUp) as caught:
        await service.sign_up(
            db,
            SignUpRequest(email="x@example.test", username=username, password=MEMBER_PASSWORD),
        )
    assert "reserved" in caught.value.errors["username"]


async def test_verification_links_expire_and_follow_the_address(
    service: SqlIdentityService, db: AsyncSession
) -> None:
    account = await make_member(db, "cy", verified=False)

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * 86_400

    old = URLSafeTimedSerializer(SECRET, salt="verify-email", signer=LongAgo).dumps(
        {"u": account.id, "e": account.email}
    )
    with pytest.raises(DomainError) as caught:
        await service.verify_email(db, str(old))
    assert caught.value.code == "token_expired"

    token = service.verification_token(account)
    user = await db.get(User, account.id)
    assert user is not None
    user.email = "cy@elsewhere.test"
    await db.flush()
    with pytest.raises(DomainError) as caught:
        await service.verify_email(db, token)
    assert caught.value.code == "token_invalid"

    with pytest.raises(DomainError) as caught:
        await SqlIdentityService(b"another secret").verify_email(db, token)
    assert caught.value.code == "token_invalid"


async def test_a_verification_link_is_the_verifying_one_once(
    service: SqlIdentityService, db: AsyncSession
) -> None:
    account = await make_member(db, "dana", verified=False)
    token = service.verification_token(account)
    verified, first = await service.verify_email(db, token)
    assert (verified.email_verified, first) == (True, True)
    again, first = await service.verify_email(db, token)
    assert (again.email_verified, first) == (True, False)  # signs nobody in a second time


async def test_a_reset_link_works_once_and_ends_every_sign_in(
    service: SqlIdentityService, db: AsyncSession
) -> None:
    account = await make_member(db, "di")
    first = await service.start_session(db, account.id)
    second = await service.start_session(db, account.id)
    found = await service.reset_token(db, account.email)
    assert found is not None
    _, token = found
    _, ended = await service.reset_password(db, token, "a new long password")
    assert sorted(ended) == sorted([first.sid, second.sid])
    assert await service.session_user(db, first.sid) is None
    with pytest.raises(DomainError) as caught:
        await service.reset_password(db, token, "yet another password")
    assert caught.value.code == "token_invalid"
    assert (await service.authenticate(db, "di", "a new long password")).id == account.id


async def test_changing_the_password_keeps_only_the_current_sign_in(
    service: SqlIdentityService, db: AsyncSession
) -> None:
    account = await make_member(db, "ed")
    here = await service.start_session(db, account.id)
    there = await service.start_session(db, account.id)
    ended = await service.change_password(
        db, account.id, MEMBER_PASSWORD, "another good password", keep_sid=here.sid
    )
    assert ended == [there.sid]
    assert await service.session_user(db, here.sid) is not None
    assert await service.session_user(db, there.sid) is None


async def test_roles_are_known_ones_and_always_include_member(
    service: SqlIdentityService, db: AsyncSession
) -> None:
    admin = await make_member(db, "fi", roles=("admin",))
    member = await make_member(db, "gus")
    updated = await service.set_roles(db, admin.user(), member.id, ["editor", "editor"])
    assert updated.roles == ("member", "editor")
    with pytest.raises(DomainError) as caught:
        await service.set_roles(db, admin.user(), member.id, ["owner"])
    assert caught.value.code == "unknown_role"
    assert admin.user().has_role("editor"), "admins hold every role"
    assert not updated.user().has_role("admin")
