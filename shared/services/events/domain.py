"""The events domain's parts: calendars, recurring events, bookings and tickets."""

from __future__ import annotations

from shared.config import Settings
from shared.services.domain import Domain, Lazy, ServiceParts
from shared.services.events.service import SqlEventService


def build(settings: Settings, built: ServiceParts) -> ServiceParts:
    events = SqlEventService(
        settings.apps["events"].public_url, built["federation"], settings=settings
    )
    return {"events": events}


DOMAIN = Domain(
    name="events",
    build=build,
    demo_seeders=(Lazy("shared.services.events.demo:seed_events"),),
)
