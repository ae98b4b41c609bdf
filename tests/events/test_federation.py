"""Published events are announced by the events actor as ActivityPub ``Event`` objects, in
the transaction that publishes them: Create, Update on every change, Delete when withdrawn
(a recurring event's occurrences: tests/events/test_federated_occurrences.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import EventInput
from shared.models import ApActivity
from shared.services.registry import build_services
from tests.events import factories


async def outbox(db: AsyncSession) -> list[dict[str, Any]]:
    rows = await db.scalars(
        select(ApActivity).where(ApActivity.actor_app == "events").order_by(ApActivity.id)
    )
    return [row.payload for row in rows]


async def test_an_event_is_created_updated_and_withdrawn_on_the_fediverse(
    db: AsyncSession, settings: Settings
) -> None:
    events = build_services(settings).events
    calendar = await factories.calendar(db)
    fields: dict[str, Any] = {
        "calendar_id": calendar.id,
        "title": "Seed swap",
        "timezone": "Europe/London",
        "start_local": datetime(2026, 12, 1, 18),
        "end_local": datetime(2026, 12, 1, 20),
        "location_name": "The Café",
        "location_address": "12 Rose Lane",
        "tags": ("garden",),
    }
    draft = await events.save_event(db, EventInput(**fields))
    assert await outbox(db) == [], "drafts are not announced"
    live = await events.save_event(
        db, EventInput(**{**fields, "status": "published"}), event_id=draft.id
    )
    await events.save_event(
        db, EventInput(**{**fields, "status": "published", "organiser": "Ash"}), event_id=live.id
    )
    await events.save_event(db, EventInput(**fields), event_id=draft.id)
    activities = await outbox(db)
    assert [a["type"] for a in activities] == ["Create", "Update", "Delete"]
    created = activities[0]["object"]
    assert created["type"] == "Event"
    assert created["name"] == "Seed swap"
    assert created["startTime"] == "2026-12-01T18:00:00+00:00"
    assert created["timezone"] == "Europe/London"
    assert created["location"] == {
        "type": "Place",
        "name": "The Café",
        "address": {"type": "PostalAddress", "streetAddress": "12 Rose Lane"},
    }
    assert created["attachment"] == []
    assert created["category"] == "MEETING", "the calendar's category, Mobilizon's default"
    assert created["url"].endswith(f"/events/{draft.slug}")
    assert activities[1]["object"]["id"] == created["id"]
    assert activities[2]["object"]["id"] == created["id"]
    assert activities[0]["actor"].endswith("/ap/users/events")
