"""Codes and tokens in identity's tables: stored hashed, read back as the records Authlib's
grants and endpoints expect, revoked a chain (``family_id``) at a time."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.models import AuthSession, OAuthAuthorizationCode, OAuthToken, User
from shared.services.identity.oidc.clients import Client


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


class CodeRecord:
    """An authorization code row, as Authlib's grants read it."""

    def __init__(self, row: OAuthAuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


class TokenRecord:
    """An OAuth token row, as Authlib's grants and endpoints read it."""

    def __init__(self, row: OAuthToken, *, matched: str = "access_token") -> None:
        self.row = row
        self.matched = matched

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.row.access_expires_at - utcnow()).total_seconds()))

    def is_expired(self) -> bool:
        return self.row.access_expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


def revoke_family(db: Session, family_id: str) -> None:
    db.execute(
        update(OAuthToken)
        .where(OAuthToken.family_id == family_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def active_user(db: Session, user_id: int, sid: str) -> User | None:
    """The user, if both the account and the sign-in it was granted under are still live."""
    return db.scalar(
        select(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            User.id == user_id,
            User.is_active.is_(True),
            AuthSession.sid == sid,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
    )


async def bearer_user(db: AsyncSession, access_token: str) -> tuple[User, OAuthToken] | None:
    """The user and token row behind a live access token (not revoked, not expired, its
    sign-in still active)."""
    now = utcnow()
    found = (
        await db.execute(
            select(User, OAuthToken)
            .join(OAuthToken, OAuthToken.user_id == User.id)
            .join(AuthSession, AuthSession.sid == OAuthToken.sid)
            .where(
                OAuthToken.access_token_hash == token_hash(access_token),
                OAuthToken.revoked_at.is_(None),
                OAuthToken.access_expires_at > now,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
                User.is_active.is_(True),
            )
        )
    ).first()
    if found is None:
        return None
    return found[0], found[1]
