"""The events domain's parts: calendars, recurring events, bookings and tickets."""

from __future__ import annotations

from shared.config import Settings
from shared.contracts.widgets import WidgetParam, WidgetType
from shared.services.domain import Domain, Lazy, ServiceParts
from shared.services.events.service import SqlEventService


def build(settings: Settings, built: ServiceParts) -> ServiceParts:
    events = SqlEventService(
        settings.apps["events"].public_url, built["federation"], settings=settings
    )
    return {"events": events}


# The events app's widgets (its fragments, events/bp/fragments): what's on next, by calendar or
# tag; this month's calendar; one event's card with its Book button.
WIDGETS = (
    WidgetType(
        "events/upcoming",
        "Upcoming events",
        "events/upcoming",
        (WidgetParam("calendar", "calendar"), WidgetParam("tag", "tag"),
         WidgetParam("count", "count", maximum=20)),
        ttl_s=120,
    ),
    WidgetType(
        "events/calendar-month",
        "Month calendar",
        "events/calendar-month",
        (WidgetParam("calendar", "calendar"),),
    ),
    WidgetType(
        "events/event-card",
        "Event",
        "events/event-card",
        (WidgetParam("event", "event", required=True),),
    ),
)  # fmt: skip

DOMAIN = Domain(
    name="events",
    build=build,
    worker_stages=Lazy("shared.services.events.stages:worker_stages"),
    demo_seeders=(Lazy("shared.services.events.demo:seed_events"),),
    widgets=WIDGETS,
)
