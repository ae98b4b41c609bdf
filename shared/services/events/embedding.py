"""The partner websites allowed to show the events widget (``/embed/`` on the events app)."""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import InvalidField
from shared.models import EventEmbedOrigin
from shared.services.events.core import EventServiceCore

# An origin as a browser sends it: scheme, host, optional port; nothing else.
_ORIGIN = re.compile(
    r"^https?://(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?::[1-9][0-9]{0,4})?$"
)
MAX_ORIGINS = 200


def normalise_origin(value: str) -> str:
    """``value`` as an origin (``https://host[:port]``, lower case, no slash); InvalidField
    when it is not one (a path, a query, a wildcard, another scheme)."""
    origin = value.strip().lower().removesuffix("/")
    if len(origin) > 200 or not _ORIGIN.match(origin):
        raise InvalidField(
            "bad_origin",
            "Give the website's origin only: https://example.org (a port if it has one).",
            "origin",
        )
    return origin


class Embedding(EventServiceCore):
    """The staff-managed list of origins allowed to embed the events widget."""

    async def embed_origins(self, session: AsyncSession) -> tuple[str, ...]:
        """The allowed origins, sorted."""
        rows = await session.scalars(select(EventEmbedOrigin.origin).order_by("origin"))
        return tuple(rows)

    async def add_embed_origin(self, session: AsyncSession, origin: str) -> str:
        """Allow ``origin`` (normalised; InvalidField when it is not an origin); adding one
        already there changes nothing."""
        origin = normalise_origin(origin)
        count = len(await self.embed_origins(session))
        if count >= MAX_ORIGINS:
            raise InvalidField("too_many_origins", "The list is full: remove one first.", "origin")
        await session.execute(
            insert(EventEmbedOrigin).values(origin=origin).on_conflict_do_nothing()
        )
        return origin

    async def remove_embed_origin(self, session: AsyncSession, origin: str) -> None:
        """No longer allow ``origin`` (nothing happens when it was not allowed)."""
        await session.execute(
            delete(EventEmbedOrigin).where(EventEmbedOrigin.origin == origin.strip().lower())
        )
