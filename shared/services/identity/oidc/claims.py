"""Who a grant is for, and the claims about them a token's scope lets a client see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.models import SocialAccount, User

# ``roles`` is a scope of its own (a tool that only needs to know who you are does not learn
# your roles); its claim is also sent as ``groups``, the name many tools read.
SCOPES = ("openid", "profile", "email", "roles")
CLAIMS = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "at_hash",
    "name",
    "preferred_username",
    "picture",
    "roles",
    "groups",
    "email",
    "email_verified",
)


@dataclass
class EndUser:
    """The signed-in person behind a grant, with the sign-in (sid) it belongs to."""

    id: int
    sid: str
    auth_time: datetime
    username: str = ""
    display_name: str = ""
    email: str = ""
    email_verified: bool = False
    roles: tuple[str, ...] = ()
    picture: str = ""

    def get_user_id(self) -> int:
        return self.id

    @classmethod
    def of(cls, user: User, sid: str, auth_time: datetime, picture: str | None = None) -> EndUser:
        return cls(
            id=user.id,
            sid=sid,
            auth_time=auth_time,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            email_verified=user.email_verified_at is not None,
            roles=tuple(user.roles),
            picture=picture or "",
        )


def user_claims(user: EndUser, scope: str) -> dict[str, Any]:
    """The claims a token with ``scope`` may see about ``user``."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": str(user.id)}
    if "profile" in scopes:
        claims["name"] = user.display_name or user.username
        claims["preferred_username"] = user.username
        if user.picture:
            claims["picture"] = user.picture
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    if "roles" in scopes:
        claims["roles"] = list(user.roles)
        claims["groups"] = list(user.roles)
    return claims


def _picture_query(user_id: int) -> Any:
    return select(SocialAccount.avatar_url).where(SocialAccount.user_id == user_id)


def picture_of(db: Session, user_id: int) -> str | None:
    """The member's avatar (their social profile's), for the ``picture`` claim."""
    picture: str | None = db.scalar(_picture_query(user_id))
    return picture


async def picture_of_async(db: AsyncSession, user_id: int) -> str | None:
    picture: str | None = await db.scalar(_picture_query(user_id))
    return picture
