"""The events domain's contract: calendars, events and occurrences, bookings, tickets and
check-in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.common import Money, SellableProvider
from shared.contracts.federation import ApObjectDTO


@dataclass(frozen=True)
class CalendarDTO:
    """A calendar (a venue or programme); ``colour`` is ``#rrggbb``, ``timezone`` IANA,
    ``category`` one of :data:`EVENT_CATEGORIES` (sent to the fediverse with its events)."""

    id: int
    slug: str
    name: str
    colour: str
    description: str
    timezone: str
    category: str = "MEETING"


@dataclass(frozen=True)
class CalendarInput:
    """What staff give to create or change a calendar (``slug`` empty: from the name)."""

    name: str
    timezone: str
    slug: str = ""
    colour: str = "#7a3b69"
    description: str = ""
    category: str = "MEETING"


# Mobilizon's event categories (what its servers and Gancio file an event under), with the
# words staff choose them by.
EVENT_CATEGORIES: dict[str, str] = {
    "MEETING": "Meeting",
    "FOOD_DRINK": "Food and drink",
    "LEARNING": "Learning",
    "CRAFTS": "Crafts",
    "MUSIC": "Music",
    "ARTS": "Arts",
    "THEATRE": "Theatre",
    "FILM_MEDIA": "Film and media",
    "BOOK_CLUBS": "Book clubs",
    "COMEDY": "Comedy",
    "FAMILY": "Family",
    "FESTIVALS": "Festivals",
    "GAMES": "Games",
    "HEALTH": "Health",
    "LANGUAGE_CULTURE": "Language and culture",
    "MOVEMENTS_POLITICS": "Movements and politics",
    "CAUSES": "Causes",
    "NETWORKING": "Networking",
    "OUTDOORS_ADVENTURE": "Outdoors and adventure",
    "PARTY": "Party",
    "PERFORMING_VISUAL_ARTS": "Performing and visual arts",
    "PETS": "Pets",
    "PHOTOGRAPHY": "Photography",
    "SCIENCE_TECH": "Science and technology",
    "SPIRITUALITY_RELIGION": "Spirituality and religion",
    "SPORTS": "Sports",
    "BUSINESS": "Business",
    "AUDITIONS": "Auditions",
    "LGBTQ": "LGBTQ",
}


@dataclass(frozen=True)
class EventDTO:
    """An event. ``start``/``end`` are UTC (the first occurrence of a recurring one);
    ``rrule`` is the RFC 5545 RRULE value or None; ``uid`` is its stable iCalendar UID."""

    id: int
    calendar: CalendarDTO
    slug: str
    uid: str
    sequence: int
    title: str
    description_html: str
    image_url: str | None
    timezone: str
    start: datetime
    end: datetime
    all_day: bool
    rrule: str | None
    location_name: str
    location_address: str
    map_url: str | None
    organiser: str
    capacity: int | None
    per_person_limit: int
    status: str
    tags: tuple[str, ...]
    updated_at: datetime

    @property
    def recurring(self) -> bool:
        return self.rrule is not None


@dataclass(frozen=True)
class EventInput:
    """What staff give to create or change an event. ``start_local``/``end_local`` are naive
    wall-clock times in ``timezone`` (the service converts them to UTC); for an all-day event
    only their dates count (``end_local``'s date is the last day). ``description_html`` may be
    anything: the service sanitizes it. ``rrule`` empty: a single event."""

    calendar_id: int
    title: str
    timezone: str
    start_local: datetime
    end_local: datetime
    slug: str = ""
    description_html: str = ""
    image_url: str | None = None
    all_day: bool = False
    rrule: str = ""
    location_name: str = ""
    location_address: str = ""
    map_url: str | None = None
    organiser: str = ""
    capacity: int | None = None
    per_person_limit: int = 4
    status: str = "draft"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class OccurrenceDTO:
    """One occurrence of an event. ``occurrence_start`` (UTC) names it (its RECURRENCE-ID:
    what the rule gives, kept when staff move it); ``start``/``end`` (UTC) are when it
    really happens; ``local_start``/``local_end`` are those in the event's zone."""

    event: EventDTO
    occurrence_start: datetime
    start: datetime
    end: datetime
    local_start: datetime
    local_end: datetime
    moved: bool = False

    @property
    def key(self) -> str:
        """The occurrence in a URL: its RECURRENCE-ID as ``YYYYMMDDTHHMMSSZ``."""
        return self.occurrence_start.strftime("%Y%m%dT%H%M%SZ")

    @property
    def cancelled(self) -> bool:
        return self.event.status == "cancelled"


@dataclass(frozen=True)
class OccurrenceException:
    """A cancelled (``new_start`` None) or moved occurrence of a recurring event."""

    occurrence_start: datetime
    cancelled: bool
    new_start: datetime | None = None
    new_end: datetime | None = None


@dataclass(frozen=True)
class AvailabilityDTO:
    """Places of one occurrence: ``capacity`` None is unlimited; ``taken`` counts confirmed
    bookings and tickets (reserved or issued); ``waiting`` the places on the waiting list."""

    capacity: int | None
    taken: int
    waiting: int

    @property
    def remaining(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.taken)

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.taken >= self.capacity


@dataclass(frozen=True)
class TicketTypeDTO:
    """A kind of paid ticket for one occurrence (the cart's sellable id is ``id``)."""

    id: int
    event_id: int
    occurrence_start: datetime
    name: str
    price: Money
    capacity: int | None
    taken: int
    available: bool

    @property
    def remaining(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.taken)


@dataclass(frozen=True)
class TicketTypeInput:
    """What staff give to add a ticket type (price in minor units)."""

    name: str
    occurrence_start: datetime
    price_minor: int
    currency: str = "GBP"
    capacity: int | None = None


@dataclass(frozen=True)
class BookingDTO:
    """A member's free booking of one occurrence: ``status`` confirmed, waiting or cancelled;
    ``code`` is the check-in code (confirmed bookings show it as a QR code)."""

    id: int
    event_id: int
    occurrence_start: datetime
    user_id: int | None  # None for a guest's booking
    quantity: int
    status: str
    code: str
    checked_in_at: datetime | None
    created_at: datetime
    # A guest's booking (no account): their address and name; ``status`` is "pending"
    # until they confirm through the emailed link.
    guest_email: str | None = None
    guest_name: str = ""


@dataclass(frozen=True)
class MemberEntryDTO:
    """One of a member's upcoming admissions, for their dashboard: a free booking or a paid
    ticket. ``code`` is what the QR code carries (``qr_svg_data_uri`` renders it, an
    ``<img src>`` the site's CSP allows); ``ics_url`` downloads the event."""

    kind: str  # "booking" or "ticket"
    id: int
    title: str
    event_url: str
    ics_url: str
    start: datetime
    end: datetime
    timezone: str
    local_start: datetime
    location_name: str
    quantity: int
    status: str
    code: str | None
    qr_svg_data_uri: str | None
    ticket_type: str | None = None


@dataclass(frozen=True)
class AttendeeDTO:
    """One line of an occurrence's attendee list (a booking or a ticket)."""

    kind: str
    name: str
    email: str
    quantity: int
    status: str
    code: str
    checked_in_at: datetime | None
    ticket_type: str | None = None


@dataclass(frozen=True)
class CheckInResult:
    """What scanning a code said: ``ok`` when this scan admitted it; otherwise
    ``checked_in_at`` says when it was used before."""

    ok: bool
    kind: str
    code: str
    title: str
    start: datetime
    holder: str
    quantity: int
    checked_in_at: datetime


class EventService(SellableProvider, Protocol):
    """Calendars, events and their occurrences, free bookings with a waiting list, tickets
    sold through the cart (kind ``"ticket"``, ids are ticket-type ids), check-in and
    iCalendar feeds (the events app).

    Times are aware UTC datetimes; an occurrence is named by its RECURRENCE-ID (``key``, the
    UTC start its rule gives it). Refusals are :class:`~shared.contracts.errors.InvalidEvent`
    (staff input), ``NotFound`` (another member's booking too), ``DomainError`` with codes
    ``booking_limit``/``booking_closed``, ``SoldOut``/``Unavailable`` for tickets.
    """

    # -- the events widget on partner websites (staff list the origins allowed) --

    async def embed_origins(self, session: AsyncSession) -> tuple[str, ...]:
        """The origins (``https://host[:port]``) allowed to show the ``/embed/`` pages, sorted."""
        ...

    async def add_embed_origin(self, session: AsyncSession, origin: str) -> str:
        """Allow an origin (normalised and returned); ``InvalidField`` (``bad_origin``) when
        it is not one; adding it again changes nothing."""
        ...

    async def remove_embed_origin(self, session: AsyncSession, origin: str) -> None:
        """No longer allow ``origin``."""
        ...

    # -- calendars and events (staff write, everyone reads) --

    async def calendars(self, session: AsyncSession) -> list[CalendarDTO]:
        """Every calendar, by name."""
        ...

    async def calendar_by_slug(self, session: AsyncSession, slug: str) -> CalendarDTO | None:
        """The calendar with this slug, or None."""
        ...

    async def save_calendar(
        self,
        session: AsyncSession,
        data: CalendarInput,
        *,
        calendar_id: int | None = None,
        actor_user_id: int | None = None,
    ) -> CalendarDTO:
        """Create a calendar (``calendar_id`` None) or change one."""
        ...

    async def get_event(self, session: AsyncSession, event_id: int) -> EventDTO | None:
        """The event with this id, whatever its status (for staff), or None."""
        ...

    async def activitypub_object(
        self, session: AsyncSession, slug: str, *, at: datetime | None = None
    ) -> ApObjectDTO | None:
        """The federated ``Event`` of the public event at ``slug`` (what a server asking for
        ActivityStreams gets at its page), or None; of a recurring event, the announced
        occurrence ``at`` (its RECURRENCE-ID), or else the next one."""
        ...

    async def federate_occurrences(self, session: AsyncSession, *, now: datetime) -> int:
        """Announce the occurrences of recurring events that came within the horizon by
        ``now`` (the worker's stage); returns how many activities were published."""
        ...

    async def event_by_slug(
        self, session: AsyncSession, slug: str, *, include_drafts: bool = False
    ) -> EventDTO | None:
        """The public event with this slug (drafts too for staff), or None."""
        ...

    async def staff_events(self, session: AsyncSession) -> list[EventDTO]:
        """Every event, the latest first."""
        ...

    async def save_event(
        self,
        session: AsyncSession,
        data: EventInput,
        *,
        event_id: int | None = None,
        actor_user_id: int | None = None,
    ) -> EventDTO:
        """Create an event or change one (the UID is kept, SEQUENCE bumped)."""
        ...

    async def exceptions(self, session: AsyncSession, event_id: int) -> list[OccurrenceException]:
        """The cancelled and moved occurrences of an event."""
        ...

    async def set_exception(
        self,
        session: AsyncSession,
        event_id: int,
        change: OccurrenceException,
        *,
        actor_user_id: int | None = None,
    ) -> None:
        """Cancel or move one occurrence of a recurring event."""
        ...

    # -- occurrences (expanded within a window, never stored) --

    async def occurrences(
        self,
        session: AsyncSession,
        window_start: datetime,
        window_end: datetime,
        *,
        calendar_slug: str | None = None,
        tag: str | None = None,
        event_id: int | None = None,
    ) -> list[OccurrenceDTO]:
        """Every public occurrence overlapping the window, in order."""
        ...

    async def upcoming(
        self,
        session: AsyncSession,
        *,
        now: datetime | None = None,
        limit: int = 10,
        calendar_slug: str | None = None,
        tag: str | None = None,
    ) -> list[OccurrenceDTO]:
        """The next ``limit`` occurrences that have not ended."""
        ...

    async def past(
        self,
        session: AsyncSession,
        *,
        now: datetime | None = None,
        limit: int = 50,
        calendar_slug: str | None = None,
        tag: str | None = None,
    ) -> list[OccurrenceDTO]:
        """The latest occurrences that have ended, latest first."""
        ...

    async def occurrence(
        self, session: AsyncSession, event: EventDTO, key: datetime
    ) -> OccurrenceDTO | None:
        """The occurrence of ``event`` named ``key``, or None (no such date, or cancelled)."""
        ...

    # -- free bookings --

    async def availability(
        self, session: AsyncSession, event: EventDTO, key: datetime
    ) -> AvailabilityDTO:
        """Places, places taken and places waiting of one occurrence."""
        ...

    async def book(
        self,
        session: AsyncSession,
        user_id: int,
        event_id: int,
        key: datetime,
        quantity: int = 1,
        *,
        now: datetime | None = None,
    ) -> BookingDTO:
        """Book free places for a member: confirmed, or on the waiting list when full."""
        ...

    async def cancel_booking(
        self, session: AsyncSession, user_id: int, booking_id: int
    ) -> list[BookingDTO]:
        """Cancel a member's own booking; returns the waiting bookings it confirmed."""
        ...

    async def member_bookings(
        self, session: AsyncSession, user_id: int, event_id: int
    ) -> list[BookingDTO]:
        """A member's bookings of one event, newest first."""
        ...

    async def member_upcoming(
        self,
        session: AsyncSession,
        user_id: int,
        *,
        now: datetime | None = None,
        past: bool = False,
        limit: int | None = None,
    ) -> list[MemberEntryDTO]:
        """A member's upcoming bookings and tickets, soonest first, each with QR and .ics; with
        ``past``, those already over, latest first (at most ``limit``)."""
        ...

    # -- ticket types --

    async def ticket_types(
        self, session: AsyncSession, event_id: int, key: datetime | None = None
    ) -> list[TicketTypeDTO]:
        """An event's ticket types (of one occurrence when ``key`` is given)."""
        ...

    async def add_ticket_type(
        self,
        session: AsyncSession,
        event_id: int,
        data: TicketTypeInput,
        *,
        actor_user_id: int | None = None,
    ) -> TicketTypeDTO:
        """A new ticket type for one occurrence."""
        ...

    # -- staff: attendees and check-in --

    async def attendees(
        self, session: AsyncSession, event_id: int, key: datetime
    ) -> list[AttendeeDTO]:
        """Everyone booked, waiting or ticketed for an occurrence."""
        ...

    async def check_in(
        self,
        session: AsyncSession,
        code: str,
        *,
        actor_user_id: int | None = None,
        now: datetime | None = None,
    ) -> CheckInResult:
        """Admit the booking or ticket with this code once; a later scan says when."""
        ...

    # -- iCalendar --

    async def feed_token(self, session: AsyncSession, user_id: int) -> str:
        """The member's private feed token (made on first use)."""
        ...

    async def ical(
        self,
        session: AsyncSession,
        *,
        calendar_slug: str | None = None,
        event_slug: str | None = None,
        feed_token: str | None = None,
        now: datetime | None = None,
    ) -> str | None:
        """An RFC 5545 calendar of all, one calendar's, one or a member's events (None when
        unknown)."""
        ...

    # -- guests' bookings of free events (confirmed through a signed link emailed to them) --

    def guest_token(self, booking: BookingDTO, action: str) -> str:
        """The signed token of a guest's ``"confirm"`` or ``"cancel"`` link."""
        ...

    async def request_guest_booking(
        self,
        session: AsyncSession,
        event_id: int,
        key: datetime,
        *,
        name: str,
        email: str,
        quantity: int = 1,
        now: datetime | None = None,
    ) -> BookingDTO:
        """A pending booking (holding no place) and the email with its confirmation link."""
        ...

    async def guest_booking(
        self, session: AsyncSession, token: str, action: str
    ) -> tuple[BookingDTO, EventDTO]:
        """The booking a guest's link names (``token_invalid``/``token_expired`` refused)."""
        ...

    async def confirm_guest_booking(
        self, session: AsyncSession, token: str, *, now: datetime | None = None
    ) -> BookingDTO:
        """Confirm it under the capacity lock: confirmed, or the waiting list when full."""
        ...

    async def cancel_guest_booking(self, session: AsyncSession, token: str) -> list[BookingDTO]:
        """Cancel it; returns the waiting bookings it confirmed."""
        ...
