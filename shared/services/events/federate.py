"""Events on the fediverse: what the events actor announces, and what a server asking an
event's page for ActivityStreams gets.

A single event is one ``Event`` object (``events.ap_object_uri``): ``Create`` when it is first
published, ``Update`` on every change, ``Delete`` when it is taken back to draft.

A recurring event is announced as its occurrences, each its own ``Event`` with its own times,
because no server reads a recurrence rule (Mobilizon, Gancio and Mastodon read ``startTime``
and ``endTime``; decision 0111). The occurrences that start within ``HORIZON`` of now, at most
``MAX_ANNOUNCED`` of them, are announced; each names the series (``superEvent``, the event's
page) and has an id under the series' ``ap_object_uri`` with its RECURRENCE-ID
(``…/occurrences/20270302T180000Z``). ``event_occurrence_objects`` remembers what was sent, so
that after a change only the difference goes out (``Delete`` of what is no longer an
occurrence, ``Create`` of a new one, ``Update`` of a changed one), and the worker's stage
(:func:`shared.services.events.stages.occurrence_federation`) announces the occurrences that
come within the horizon as time passes. Occurrences that have ended stay as they were sent,
until the series is taken back to draft: then every one is deleted.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ApObjectDTO, EventDTO
from shared.infrastructure.activitypub.actors import hashtag
from shared.models import Event, EventException, EventOccurrenceObject
from shared.services.events import recurrence as rec
from shared.services.events.common import PUBLIC_STATUSES, now_utc
from shared.services.events.core import EventServiceCore

# The actor that announces events.
ACTOR = "events"
# How far ahead a recurring event's occurrences are announced, and at most how many at once:
# a season of a weekly event, three dates of a monthly one, 24 days of a daily one (decision 0111).
HORIZON = timedelta(weeks=12)
MAX_ANNOUNCED = 24


def occurrence_key(moment: datetime) -> str:
    """An occurrence's RECURRENCE-ID as it appears in URLs: ``YYYYMMDDTHHMMSSZ``."""
    return f"{moment:%Y%m%dT%H%M%SZ}"


class Federating(EventServiceCore):
    """Bringing the fediverse in line with an event, and reading what was announced."""

    async def _federate(
        self, session: AsyncSession, row: Event, *, now: datetime | None = None
    ) -> EventDTO:
        """Bring the fediverse in line with the event after a write (the row is locked): a
        published (or cancelled) single event is announced (``Create``, under a fresh object
        id) and re-sent on every change (``Update``); a recurring one as its occurrences; one
        taken back to draft is withdrawn (``Delete``, of every occurrence too)."""
        event = await self.get_event(session, row.id)
        assert event is not None
        if self.federation is None:
            return event
        now = now or now_utc()
        public = event.status in PUBLIC_STATUSES
        if not public and row.ap_object_uri is None:
            return event
        fresh = row.ap_object_uri is None
        if fresh:
            row.ap_object_uri = self.federation.new_object_uri(ACTOR)
            await session.flush()
        assert row.ap_object_uri is not None
        sent = None if fresh else await self.federation.object_by_uri(session, row.ap_object_uri)
        standing = sent is not None and sent.type != "Tombstone"
        if not public or event.recurring:
            # The series itself is no Event on the fediverse: its occurrences are.
            if standing:
                await self._retire_series(session, row)
            await self._federate_occurrences(session, row, event if public else None, now)
            if not public:
                row.ap_object_uri = None
                await session.flush()
            return event
        await self._federate_occurrences(session, row, None, now)
        if sent is not None and sent.type == "Tombstone":
            row.ap_object_uri = self.federation.new_object_uri(ACTOR)
            await session.flush()
        activity = "Update" if standing else "Create"
        await self.federation.publish(session, ACTOR, activity, self._ap_event(row, event))
        return event

    async def federate_occurrences(self, session: AsyncSession, *, now: datetime) -> int:
        """Announce the occurrences of the public recurring events that have come within the
        horizon by ``now`` (and the changes a moved or cancelled date made); returns how many
        activities were published. Each event is locked while it is looked at, and one being
        edited is skipped (its edit announces it): workers side by side send nothing twice."""
        if self.federation is None:
            return 0
        published = 0
        rows = await session.scalars(
            select(Event)
            .where(
                Event.status.in_(PUBLIC_STATUSES),
                Event.rrule.is_not(None),
                Event.ap_object_uri.is_not(None),
                or_(
                    Event.recur_until.is_(None),
                    Event.recur_until + (Event.end_at - Event.start_at) > now,
                    Event.id.in_(
                        select(EventException.event_id).where(EventException.new_end > now)
                    ),
                ),
            )
            .order_by(Event.id)
            .with_for_update(skip_locked=True)
        )
        for row in rows.all():
            event = await self.get_event(session, row.id)
            assert event is not None
            assert row.ap_object_uri is not None
            sent = await self.federation.object_by_uri(session, row.ap_object_uri)
            if sent is not None and sent.type != "Tombstone":
                # Announced as one Event before its occurrences were (or before it repeated).
                await self._retire_series(session, row)
                published += 1
            published += await self._federate_occurrences(session, row, event, now)
        return published

    async def _retire_series(self, session: AsyncSession, row: Event) -> None:
        """Delete the one ``Event`` a now recurring event was announced as; its occurrences'
        ids go under a new id (peers keep the tombstone)."""
        assert self.federation is not None
        assert row.ap_object_uri is not None
        await self.federation.publish(session, ACTOR, "Delete", row.ap_object_uri)
        row.ap_object_uri = self.federation.new_object_uri(ACTOR)
        await session.flush()

    async def _federate_occurrences(
        self, session: AsyncSession, row: Event, event: EventDTO | None, now: datetime
    ) -> int:
        """Send the difference between the occurrences announced and those that should be
        (none when ``event`` is None: every one is deleted); returns how many activities."""
        assert self.federation is not None
        assert row.ap_object_uri is not None
        sent = list(
            await session.scalars(
                select(EventOccurrenceObject)
                .where(
                    EventOccurrenceObject.event_id == row.id,
                    EventOccurrenceObject.deleted_at.is_(None),
                )
                .order_by(EventOccurrenceObject.occurrence_start)
            )
        )
        slots: dict[datetime, rec.Slot] = {}
        if event is not None:
            until = max([now + HORIZON, *(s.start_at + timedelta(days=1) for s in sent)])
            slots = {s.key: s for s in await self._slots(session, event, now, until)}
        count = 0
        for obj in sent:
            slot = slots.get(obj.occurrence_start)
            if event is not None and obj.end_at <= now and slot is None:
                continue  # it took place: it stays as it was announced
            if event is None or slot is None:
                await self.federation.publish(session, ACTOR, "Delete", obj.object_uri)
                obj.deleted_at = now
                count += 1
                continue
            doc = self._ap_occurrence(row, event, slot, obj.object_uri)
            if _digest(doc) != obj.digest:
                await self.federation.publish(session, ACTOR, "Update", ApObjectDTO(doc))
                obj.digest, obj.start_at, obj.end_at = _digest(doc), slot.start, slot.end
                count += 1
        if event is not None:
            standing = {obj.occurrence_start for obj in sent if obj.deleted_at is None}
            due = [s for s in slots.values() if s.start < now + HORIZON]
            for slot in sorted(due, key=lambda s: (s.start, s.key))[:MAX_ANNOUNCED]:
                if slot.key in standing:
                    continue
                uri = await self._occurrence_uri(session, row, slot.key)
                doc = self._ap_occurrence(row, event, slot, uri)
                await self.federation.publish(session, ACTOR, "Create", ApObjectDTO(doc))
                session.add(
                    EventOccurrenceObject(
                        event_id=row.id,
                        occurrence_start=slot.key,
                        object_uri=uri,
                        start_at=slot.start,
                        end_at=slot.end,
                        digest=_digest(doc),
                    )
                )
                count += 1
        await session.flush()
        return count

    async def _slots(
        self, session: AsyncSession, event: EventDTO, now: datetime, until: datetime
    ) -> list[rec.Slot]:
        """The event's occurrences that have not ended by ``now`` and start before ``until``."""
        changes = {
            r.occurrence_start: rec.Moved(
                None if r.cancelled else r.new_start, None if r.cancelled else r.new_end
            )
            for r in await session.scalars(
                select(EventException).where(EventException.event_id == event.id)
            )
        }
        return rec.expand(
            start=event.start,
            end=event.end,
            timezone=event.timezone,
            rule=event.rrule,
            window_start=now,
            window_end=until,
            exceptions=changes,
        )

    async def _occurrence_uri(self, session: AsyncSession, row: Event, key: datetime) -> str:
        """The id of a new announcement of the occurrence ``key``: under the series' id, with
        a number after a first one was deleted (peers would ignore a Create of a tombstone)."""
        before = await session.scalar(
            select(func.count())
            .select_from(EventOccurrenceObject)
            .where(
                EventOccurrenceObject.event_id == row.id,
                EventOccurrenceObject.occurrence_start == key,
            )
        )
        uri = f"{row.ap_object_uri}/occurrences/{occurrence_key(key)}"
        return f"{uri}-{before + 1}" if before else uri

    async def activitypub_object(
        self, session: AsyncSession, slug: str, *, at: datetime | None = None
    ) -> ApObjectDTO | None:
        """The federated ``Event`` of the public event at ``slug``, as last sent (what
        Mastodon's search by URL gets at ``/events/<slug>``), or None. For a recurring event,
        the occurrence ``at`` (its RECURRENCE-ID), or else the next one announced."""
        row = (
            await session.execute(
                select(Event.id, Event.ap_object_uri, Event.rrule).where(
                    Event.slug == slug, Event.status.in_(PUBLIC_STATUSES)
                )
            )
        ).first()
        if row is None or row.ap_object_uri is None or self.federation is None:
            return None
        if row.rrule is None:
            return await self.federation.object_by_uri(session, row.ap_object_uri)
        query = select(EventOccurrenceObject.object_uri).where(
            EventOccurrenceObject.event_id == row.id, EventOccurrenceObject.deleted_at.is_(None)
        )
        if at is not None:
            query = query.where(EventOccurrenceObject.occurrence_start == at)
        else:
            query = query.order_by(
                (EventOccurrenceObject.end_at <= now_utc()), EventOccurrenceObject.start_at
            )
        uri = await session.scalar(query.limit(1))
        return await self.federation.object_by_uri(session, uri) if uri is not None else None

    def _ap_occurrence(
        self, row: Event, event: EventDTO, slot: rec.Slot, uri: str
    ) -> dict[str, Any]:
        """One occurrence as its own ``Event``: the series' fields, its own id, times and page,
        and the series it belongs to (``superEvent``: the event's page)."""
        doc = dict(self._ap_event(row, event).data)
        page = f"{self.public_url}/events/{event.slug}"
        url = self._occurrence_url(event, slot.key)
        doc.update(
            id=uri,
            startTime=slot.start.isoformat(),
            endTime=slot.end.isoformat(),
            url=url,
            externalParticipationUrl=url,
            superEvent=page,
            content=event.description_html
            + f'<p>One date of a series: <a href="{page}">every date</a>.</p>',
        )
        return doc

    def _ap_event(self, row: Event, event: EventDTO) -> ApObjectDTO:
        """The event as an ActivityStreams ``Event`` with the fields Mobilizon and Gancio read
        (time zone, a ``Place`` with a ``PostalAddress``, join mode, tags linked to their
        listing, the image) in the terms our JSON-LD context defines for them."""
        url = f"{self.public_url}/events/{event.slug}"
        doc: dict[str, Any] = {
            "id": row.ap_object_uri,
            "type": "Event",
            "name": event.title,
            "content": event.description_html,
            "mediaType": "text/html",
            "startTime": event.start.isoformat(),
            "endTime": event.end.isoformat(),
            "timezone": event.timezone,
            "url": url,
            "updated": event.updated_at.isoformat(),
            # Places are booked here, not by a Join: Mobilizon shows a link to the page.
            "joinMode": "external",
            "externalParticipationUrl": url,
            # The calendar's kind of events, in Mobilizon's categories.
            "category": event.calendar.category,
            # Gancio refuses an Event without an attachment array (issue #20, item 15).
            "attachment": [],
        }
        if event.capacity is not None:
            doc["maximumAttendeeCapacity"] = event.capacity
        if event.image_url:
            # Mobilizon takes the first attachment as the event's picture; Mastodon shows it.
            media_type = mimetypes.guess_type(urlsplit(event.image_url).path)[0] or "image/jpeg"
            doc["image"] = {"type": "Image", "url": event.image_url, "mediaType": media_type}
            doc["attachment"].append(
                {
                    "type": "Document",
                    "mediaType": media_type,
                    "url": event.image_url,
                    "name": event.title,
                }
            )
        if event.location_name or event.location_address:
            place: dict[str, Any] = {
                "type": "Place",
                "name": event.location_name or event.location_address,
            }
            if event.location_address:
                # One free-text line: Mobilizon reads a PostalAddress, Gancio its text.
                place["address"] = {
                    "type": "PostalAddress",
                    "streetAddress": event.location_address,
                }
            doc["location"] = place
        if event.status == "cancelled":
            doc["name"] = f"Cancelled: {event.title}"
        if event.tags:
            doc["tag"] = [
                hashtag(t, f"{self.public_url}/?{urlencode({'tag': t})}") for t in event.tags
            ]
        return ApObjectDTO(doc)


def _digest(doc: dict[str, Any]) -> str:
    """What an occurrence says, to tell a change from none (its ``updated`` is no change)."""
    said = {k: v for k, v in doc.items() if k != "updated"}
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()
