"""The market on the fediverse (issue #20, item 6): the ``market`` actor announces new
products and published market pages to its followers, re-sends them when what a follower sees
changes (price, availability, text, pictures), and withdraws them when they leave the shop.

Writes do not federate as they happen: a product's row changes with every sale, import and
edit, and a burst of them must reach followers as one ``Update``, not twenty. Each row
remembers what was last sent (a digest) and when the fediverse was last brought in line with
it (``ap_synced_at``, the row's ``updated_at`` as it was then); the worker's stage
(:meth:`MarketFederating.federate_due`) takes the rows changed since and quiet for
``activitypub.object_quiet_s``, and sends ``Create``, ``Update`` or ``Delete`` only when what
a follower would see is different. The object ids are the pages' URLs, as a lookup by URL
answers (shared/services/market/fediverse.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ApObjectDTO, FederationService
from shared.models.market import MarketPage, Product
from shared.services.market.fediverse import MarketFediverse

ACTOR = "market"
# What changes on every send and says nothing new to a follower.
_UNSIGNED = ("published", "updated")


def digest(obj: dict[str, Any]) -> str:
    """What a follower sees of ``obj``, as a SHA-256 hex digest."""
    shown = {k: v for k, v in obj.items() if k not in _UNSIGNED}
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


Row = TypeVar("Row", Product, MarketPage)


async def _due(
    session: AsyncSession, model: type[Row], settled: datetime, limit: int
) -> Sequence[Row]:
    """Rows changed since they were last in line, and quiet since ``settled``."""
    pending = or_(model.ap_synced_at.is_(None), model.updated_at > model.ap_synced_at)
    return (
        await session.scalars(
            select(model)
            .where(pending, model.updated_at <= settled)
            .order_by(model.updated_at, model.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()


class MarketFederating(MarketFediverse):
    """Bringing the fediverse in line with the catalogue (part of ``SqlCatalogService``)."""

    federation: FederationService | None

    async def federate_due(
        self, session: AsyncSession, *, settled: datetime, limit: int = 50
    ) -> int:
        """Send what changed on products and market pages, for the rows whose last change
        is older than ``settled``; returns how many activities were written to the outbox.
        Rows are claimed with SKIP LOCKED, so workers side by side share them."""
        if self.federation is None:
            return 0
        sent = 0
        for product in await _due(session, Product, settled, limit):
            note = self._product_note(await self.product_by_id(session, product.id))
            sent += await self._bring_in_line(session, product, note if product.available else None)
        for page in await _due(session, MarketPage, settled, limit):
            article = self._page_article(await self.get_market_page(session, page.id))
            sent += await self._bring_in_line(session, page, article if page.published else None)
        return sent

    async def _bring_in_line(
        self, session: AsyncSession, row: Product | MarketPage, obj: dict[str, Any] | None
    ) -> int:
        assert self.federation is not None
        model = type(row)
        sent = 0
        values: dict[str, Any] = {}
        if obj is None:
            if row.ap_object_uri is not None:
                await self.federation.publish(session, ACTOR, "Delete", row.ap_object_uri)
                values = {"ap_object_uri": None, "ap_digest": None}
                sent = 1
        else:
            shown = digest(obj)
            if row.ap_object_uri not in (None, obj["id"]):
                # Its address changed (a new slug): the old object goes, the new one comes.
                await self.federation.publish(session, ACTOR, "Delete", row.ap_object_uri)
                sent += 1
                row_uri: str | None = None
            else:
                row_uri = row.ap_object_uri
            if row_uri is None:
                await self.federation.publish(session, ACTOR, "Create", ApObjectDTO(obj))
                sent += 1
            elif shown != row.ap_digest:
                await self.federation.publish(session, ACTOR, "Update", ApObjectDTO(obj))
                sent += 1
            values = {"ap_object_uri": obj["id"], "ap_digest": shown}
        # In line as of the row's own time: a write that commits after this read moves
        # updated_at past it, and the row is due again. updated_at itself stays as it was.
        await session.execute(
            update(model)
            .where(model.id == row.id)
            .values(**values, ap_synced_at=row.updated_at, updated_at=row.updated_at)
        )
        return sent
