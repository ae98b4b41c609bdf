"""The identity domain's demo seeder; the content is in demo.yaml beside it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import User
from shared.services.domain import demo_content


async def seed_identity(session: AsyncSession) -> None:
    """Demo accounts, verified but without passwords: give one a password with
    ``rose-ash user set-password alice`` to sign in as it."""
    for user in demo_content(__file__)["users"]:
        username = user["username"]
        exists = await session.scalar(select(User.id).where(func.lower(User.username) == username))
        if exists is None:
            session.add(
                User(
                    email=user["email"],
                    username=username,
                    display_name=user["display_name"],
                    roles=list(user["roles"]),
                    email_verified_at=datetime.now(UTC),
                )
            )
