"""A recurring event reaches the fediverse as its occurrences, each its own ``Event`` (decision
0111): the next twelve weeks' (at most 24), each with its own id under the series', naming the
series; a change sends only the difference; the worker's stage announces what comes within the
horizon as time passes, and nothing twice; withdrawing the series deletes every occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import EventDTO, EventInput, EventService, OccurrenceException
from shared.models import ApActivity
from shared.services.events.stages import occurrence_federation
from shared.services.registry import build_services
from tests.events import factories
from tests.support.settings import AppMaker

ACTIVITY_JSON = "application/activity+json"
# A Tuesday; British Summer Time begins on Sunday 31 March 2030.
FIRST = datetime(2030, 3, 5, 18)
LOOKED_AT = datetime(2030, 3, 1, tzinfo=UTC)


async def activities(db: AsyncSession, after: int = 0) -> list[dict[str, Any]]:
    rows = await db.scalars(
        select(ApActivity)
        .where(ApActivity.actor_app == "events", ApActivity.id > after)
        .order_by(ApActivity.id)
    )
    return [row.payload for row in rows]


async def last_id(db: AsyncSession) -> int:
    return int(await db.scalar(select(ApActivity.id).order_by(ApActivity.id.desc())) or 0)


def fields(calendar_id: int, **changes: Any) -> EventInput:
    values: dict[str, Any] = {
        "calendar_id": calendar_id,
        "title": "Folk night",
        "slug": "folk-night",
        "timezone": "Europe/London",
        "start_local": FIRST,
        "end_local": FIRST + timedelta(hours=2),
        "location_name": "The Café",
        "rrule": "FREQ=WEEKLY",
        "status": "published",
        **changes,
    }
    return EventInput(**values)


async def weekly(db: AsyncSession, events: EventService) -> EventDTO:
    """A weekly event in 2030, announced as the worker sees it on 1 March 2030."""
    calendar = await factories.calendar(db)
    event = await events.save_event(db, fields(calendar.id))
    assert await activities(db) == [], "nothing of 2030 is within the horizon today"
    assert await events.federate_occurrences(db, now=LOOKED_AT) == 12
    return event


async def test_a_weekly_event_is_announced_as_its_next_twelve_weeks_in_its_zone(
    db: AsyncSession, settings: Settings
) -> None:
    events = build_services(settings).events
    event = await weekly(db, events)
    sent = await activities(db)
    assert [a["type"] for a in sent] == ["Create"] * 12, "no Event for the series itself"
    objects = [a["object"] for a in sent]
    # 18:00 in London: GMT before 31 March, BST (17:00 UTC) after.
    starts = [o["startTime"] for o in objects]
    assert starts[:4] == [f"2030-03-{d:02d}T18:00:00+00:00" for d in (5, 12, 19, 26)]
    assert starts[4] == "2030-04-02T17:00:00+00:00"
    assert starts[-1] == "2030-05-21T17:00:00+00:00"
    assert objects[4]["endTime"] == "2030-04-02T19:00:00+00:00"
    assert {o["timezone"] for o in objects} == {"Europe/London"}
    events_url = settings.apps["events"].public_url
    first = objects[0]
    assert first["id"].startswith(f"{events_url}/ap/objects/")
    assert first["id"].endswith("/occurrences/20300305T180000Z")
    assert objects[4]["id"].endswith("/occurrences/20300402T170000Z")
    assert len({o["id"] for o in objects}) == 12
    assert first["url"] == f"{events_url}/events/folk-night?at=20300305T180000Z"
    assert first["superEvent"] == f"{events_url}/events/folk-night"
    assert first["name"] == "Folk night"
    assert first["location"]["name"] == "The Café"
    # The same ids when looked at again: nothing new.
    assert await events.federate_occurrences(db, now=LOOKED_AT) == 0
    # The series' page answers a server with the next occurrence, or the one asked for.
    page = await events.activitypub_object(db, event.slug)
    assert page is not None
    assert page.data["id"] == first["id"]
    chosen = await events.activitypub_object(
        db, event.slug, at=datetime(2030, 4, 2, 17, tzinfo=UTC)
    )
    assert chosen is not None
    assert chosen.data["id"] == objects[4]["id"]


async def test_a_rule_change_sends_only_the_difference(
    db: AsyncSession, settings: Settings
) -> None:
    events = build_services(settings).events
    event = await weekly(db, events)
    created = {a["object"]["startTime"]: a["object"]["id"] for a in await activities(db)}
    mark = await last_id(db)

    # Every other week: the six weeks between are deleted, the others untouched.
    await events.save_event(
        db, fields(event.calendar.id, rrule="FREQ=WEEKLY;INTERVAL=2"), event_id=event.id
    )
    sent = await activities(db, mark)
    assert [a["type"] for a in sent] == ["Delete"] * 6
    gone = {a["object"]["id"] for a in sent}
    assert gone == {created[s] for s in sorted(created)[1::2]}
    assert {a["object"]["formerType"] for a in sent} == {"Event"}
    assert await events.federate_occurrences(db, now=LOOKED_AT) == 0

    # One date moved an hour later: one Update; one cancelled: one Delete.
    mark = await last_id(db)
    moved_key = datetime(2030, 3, 19, 18, tzinfo=UTC)
    await events.set_exception(
        db,
        event.id,
        OccurrenceException(
            moved_key, False, moved_key + timedelta(hours=1), moved_key + timedelta(hours=3)
        ),
    )
    await events.set_exception(
        db, event.id, OccurrenceException(datetime(2030, 4, 2, 17, tzinfo=UTC), True)
    )
    sent = await activities(db, mark)
    assert [a["type"] for a in sent] == ["Update", "Delete"]
    assert sent[0]["object"]["id"] == created["2030-03-19T18:00:00+00:00"]
    assert sent[0]["object"]["startTime"] == "2030-03-19T19:00:00+00:00"
    assert sent[1]["object"]["id"] == created["2030-04-02T17:00:00+00:00"]

    # Weekly again: the weeks between come back under new ids (peers keep the tombstones).
    mark = await last_id(db)
    await events.save_event(db, fields(event.calendar.id), event_id=event.id)
    assert await events.federate_occurrences(db, now=LOOKED_AT) == 6
    sent = await activities(db, mark)
    assert [a["type"] for a in sent] == ["Create"] * 6
    assert {a["object"]["id"] for a in sent} == {f"{uri}-2" for uri in gone}

    # The outbox shows what stands: eleven occurrences (one is cancelled).
    outbox = await build_services(settings).federation.outbox_page(
        db, "events", max_id=None, limit=50
    )
    assert outbox.total == 11
    assert {item.activity_type for item in outbox.items} == {"Create"}


async def test_the_stage_announces_what_comes_within_the_horizon_once(
    db: AsyncSession, settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    events = build_services(settings).events
    calendar = await factories.calendar(db)
    await events.save_event(db, fields(calendar.id))
    now = LOOKED_AT

    stage = occurrence_federation(session_factory, events, every_s=0, clock=lambda: now)
    second_worker = occurrence_federation(session_factory, events, every_s=0, clock=lambda: now)
    assert await stage() == 12
    assert await stage() == 0
    assert await second_worker() == 0
    # A week later one more Tuesday has come within the horizon; the past ones stay.
    now = LOOKED_AT + timedelta(weeks=1)
    mark = await last_id(db)
    assert await second_worker() == 1
    assert await stage() == 0
    [created] = await activities(db, mark)
    assert created["type"] == "Create"
    assert created["object"]["startTime"] == "2030-05-28T17:00:00+00:00"


async def test_withdrawing_the_series_deletes_every_occurrence(
    db: AsyncSession, settings: Settings
) -> None:
    events = build_services(settings).events
    event = await weekly(db, events)
    ids = {a["object"]["id"] for a in await activities(db)}
    mark = await last_id(db)
    await events.save_event(db, fields(event.calendar.id, status="draft"), event_id=event.id)
    sent = await activities(db, mark)
    assert [a["type"] for a in sent] == ["Delete"] * 12
    assert {a["object"]["id"] for a in sent} == ids
    assert {a["object"]["type"] for a in sent} == {"Tombstone"}
    federation = build_services(settings).federation
    assert (await federation.outbox_page(db, "events", max_id=None, limit=50)).total == 0
    assert await events.federate_occurrences(db, now=LOOKED_AT) == 0


async def test_a_single_event_made_recurring_is_replaced_by_its_occurrences(
    db: AsyncSession, settings: Settings
) -> None:
    events = build_services(settings).events
    calendar = await factories.calendar(db)
    event = await events.save_event(db, fields(calendar.id, rrule=""))
    [single] = await activities(db)
    assert single["type"] == "Create"
    assert "superEvent" not in single["object"]
    await events.save_event(db, fields(calendar.id), event_id=event.id)
    assert await events.federate_occurrences(db, now=LOOKED_AT) == 12
    sent = await activities(db, await last_id(db) - 13)
    assert sent[0]["type"] == "Delete"
    assert sent[0]["object"]["id"] == single["object"]["id"]
    assert not any(a["object"]["id"].startswith(single["object"]["id"]) for a in sent[1:])


async def test_an_occurrences_id_answers_a_server_with_it_and_a_browser_with_its_page(
    make_app: AppMaker, db: AsyncSession, settings: Settings
) -> None:
    app = await make_app("events")
    events = build_services(settings).events
    event = await weekly(db, events)
    await db.commit()
    sent = [a["object"] for a in await activities(db)]
    events_url = settings.apps["events"].public_url
    client: Client = app.test_client()
    path = sent[4]["id"].removeprefix(events_url)

    resp = await client.get(path, headers={"Accept": ACTIVITY_JSON})
    assert resp.status_code == 200
    doc = await resp.get_json()
    assert doc["id"] == sent[4]["id"]
    assert doc["startTime"] == "2030-04-02T17:00:00+00:00"
    assert isinstance(doc["@context"], list)

    browser = await client.get(path)
    assert browser.status_code == 303
    assert browser.headers["Location"] == sent[4]["url"]
    page = await client.get(sent[4]["url"].removeprefix(events_url))
    assert page.status_code == 200
    # The occurrence's page is its object too.
    looked_up = await client.get(
        sent[4]["url"].removeprefix(events_url), headers={"Accept": ACTIVITY_JSON}
    )
    assert (await looked_up.get_json())["id"] == sent[4]["id"]

    await events.save_event(db, fields(event.calendar.id, status="draft"), event_id=event.id)
    await db.commit()
    gone = await client.get(path, headers={"Accept": ACTIVITY_JSON})
    assert gone.status_code == 410
    assert (await gone.get_json())["formerType"] == "Event"
    assert (
        await client.get(
            path.replace("20300402T170000Z", "20300403T170000Z"), headers={"Accept": ACTIVITY_JSON}
        )
    ).status_code == 404
