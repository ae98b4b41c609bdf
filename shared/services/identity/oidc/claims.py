"""Who a grant is for, and the claims about them a token's scope lets a client see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.models import User

SCOPES = ("openid", "profile", "email")
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
    "roles",
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

    def get_user_id(self) -> int:
        return self.id

    @classmethod
    def of(cls, user: User, sid: str, auth_time: datetime) -> EndUser:
        return cls(
            id=user.id,
            sid=sid,
            auth_time=auth_time,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            email_verified=user.email_verified_at is not None,
            roles=tuple(user.roles),
        )


def user_claims(user: EndUser, scope: str) -> dict[str, Any]:
    """The claims a token with ``scope`` may see about ``user``."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": str(user.id)}
    if "profile" in scopes:
        claims["name"] = user.display_name or user.username
        claims["preferred_username"] = user.username
        claims["roles"] = list(user.roles)
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    return claims
