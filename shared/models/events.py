"""The events domain: calendars, events (single or recurring), exceptions to a recurrence,
free bookings with their waiting list, ticket types sold through the cart, issued tickets, and
the members' private calendar-feed tokens.

Times are stored in UTC (``timestamptz``) beside the event's IANA zone: a recurrence is
expanded in the zone's wall-clock time (so "10:00 every Tuesday" stays 10:00 local across a
daylight-saving change) and converted back to UTC, never materialised beyond the window asked
for. An occurrence is named by the UTC start its rule gives it (``occurrence_start``, RFC
5545's RECURRENCE-ID): bookings, tickets and exceptions keep pointing at it when staff move
that occurrence.

Capacity is counted, never cached: a free booking or a ticket reservation reads the counts
and writes under :func:`shared.infrastructure.locking.lock_objects` (keys
``("event_capacity", event id)`` and ``("ticket_type", id)``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, created_at_column, one_of, updated_at_column

EVENT_STATUSES = ("draft", "published", "cancelled")
BOOKING_STATUSES = ("pending", "confirmed", "waiting", "cancelled")
TICKET_STATUSES = ("issued", "cancelled")


class EventCalendar(Base):
    """A calendar: one venue or programme, with its own colour and default zone."""

    __tablename__ = "event_calendars"
    __table_args__ = (CheckConstraint("colour ~ '^#[0-9a-f]{6}$'", name="colour_hex"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(191), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(191), nullable=False)
    colour: Mapped[str] = mapped_column(String(7), nullable=False, server_default="#7a3b69")
    # What kind of events it holds, in Mobilizon's categories (EVENT_CATEGORIES).
    category: Mapped[str] = mapped_column(String(32), nullable=False, server_default="MEETING")
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Event(Base):
    """An event, once or recurring (``rrule``: an RFC 5545 RRULE value, expanded from
    ``start_at`` in ``timezone``). ``recur_until`` is the last occurrence's start when the rule
    ends (UNTIL or COUNT), NULL when it repeats for ever: listings find candidate events with it
    without expanding anything. ``uid`` is the iCalendar UID, stable across edits; ``sequence``
    counts the edits (iCalendar SEQUENCE)."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="ends_after_start"),
        CheckConstraint(one_of("status", EVENT_STATUSES), name="status_known"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("per_person_limit >= 1", name="per_person_limit_positive"),
        Index("ix_events_window", "status", "start_at", "recur_until"),
        Index("ix_events_tags", "tags", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    calendar_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("event_calendars.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    slug: Mapped[str] = mapped_column(String(191), nullable=False, unique=True)
    uid: Mapped[str] = mapped_column(String(191), nullable=False, unique=True)
    sequence: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description_html: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    image_url: Mapped[str | None] = mapped_column(String(2000))
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    all_day: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    rrule: Mapped[str | None] = mapped_column(String(500))
    recur_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    location_name: Mapped[str] = mapped_column(String(255), nullable=False, server_default="")
    location_address: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    map_url: Mapped[str | None] = mapped_column(String(2000))
    organiser: Mapped[str] = mapped_column(String(255), nullable=False, server_default="")
    capacity: Mapped[int | None] = mapped_column(Integer)
    per_person_limit: Mapped[int] = mapped_column(Integer, nullable=False, server_default="4")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="draft")
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), nullable=False, server_default=text("'{}'::varchar[]")
    )
    # The ActivityPub object id while the event is announced to the fediverse (None: never,
    # or withdrawn); a new announcement after a Delete gets a new id (Mastodon keeps tombstones).
    ap_object_uri: Mapped[str | None] = mapped_column(String(500), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class EventException(Base):
    """One occurrence of a recurring event cancelled or moved (RFC 5545 EXDATE, or an
    overriding VEVENT with a RECURRENCE-ID)."""

    __tablename__ = "event_exceptions"
    __table_args__ = (
        UniqueConstraint("event_id", "occurrence_start", name="uq_event_exceptions_occurrence"),
        CheckConstraint(
            "cancelled OR (new_start IS NOT NULL AND new_end IS NOT NULL AND new_end > new_start)",
            name="moved_has_times",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )
    occurrence_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    new_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    new_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EventOccurrenceObject(Base):
    """One occurrence of a recurring event as announced to the fediverse: its own ``Event``
    object (``object_uri``), the start and end it was last sent with and a digest of what was
    sent (a change is an ``Update``). ``deleted_at`` is set when its ``Delete`` went out; a
    later announcement of the same occurrence gets a new id (peers keep tombstones). At most one
    standing object per occurrence: a second worker cannot announce it twice."""

    __tablename__ = "event_occurrence_objects"
    __table_args__ = (
        Index(
            "ix_event_occurrence_objects_standing",
            "event_id",
            "occurrence_start",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )
    occurrence_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    object_uri: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class EventTicketType(Base):
    """A kind of paid ticket for one occurrence, sold through the cart (the sellable id).
    ``taken`` counts the tickets reserved by unpaid orders and issued by paid ones; it only
    changes under the ticket type's lock."""

    __tablename__ = "event_ticket_types"
    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("taken >= 0", name="taken_not_negative"),
        CheckConstraint("capacity IS NULL OR taken <= capacity", name="taken_within_capacity"),
        Index("ix_event_ticket_types_occurrence", "event_id", "occurrence_start"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )
    occurrence_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    name: Mapped[str] = mapped_column(String(191), nullable=False)
    price_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, server_default="GBP")
    capacity: Mapped[int | None] = mapped_column(Integer)
    taken: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    available: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))


class EventBooking(Base):
    """A free booking (RSVP) for one occurrence: confirmed, waiting for a freed place (in
    ``id`` order), or cancelled. ``code`` is the unguessable check-in code its QR carries.

    A member's booking has ``user_id``; a guest's has ``guest_email`` (lower-cased) and
    ``guest_name`` instead, and stays ``pending`` (counting for nothing) until the guest
    follows the signed link emailed to them."""

    __tablename__ = "event_bookings"
    __table_args__ = (
        CheckConstraint(one_of("status", BOOKING_STATUSES), name="status_known"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("(user_id IS NULL) <> (guest_email IS NULL)", name="member_or_guest"),
        Index("ix_event_bookings_occurrence", "event_id", "occurrence_start", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )
    occurrence_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    guest_email: Mapped[str | None] = mapped_column(String(320), index=True)
    guest_name: Mapped[str] = mapped_column(String(191), nullable=False, server_default="")
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    code: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class EventTicket(Base):
    """One issued ticket (one admission), from a paid order line. ``(order_line_id, seq)``
    makes issuing idempotent when the payment is reported twice."""

    __tablename__ = "event_tickets"
    __table_args__ = (
        CheckConstraint(one_of("status", TICKET_STATUSES), name="status_known"),
        UniqueConstraint("order_line_id", "seq", name="uq_event_tickets_order_line"),
        Index("ix_event_tickets_occurrence", "event_id", "occurrence_start"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_type_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("event_ticket_types.id", ondelete="RESTRICT"), nullable=False
    )
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.id", ondelete="RESTRICT"), nullable=False
    )
    occurrence_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    holder_email: Mapped[str] = mapped_column(String(320), nullable=False)
    holder_name: Mapped[str] = mapped_column(String(191), nullable=False, server_default="")
    order_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    order_line_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    code: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="issued")
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()


class EventFeedToken(Base):
    """The unguessable token in a member's private feed of booked events (one per member)."""

    __tablename__ = "event_feed_tokens"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = created_at_column()


class EventEmbedOrigin(Base):
    """A partner website allowed to show the events widget (``/embed/`` on the events app):
    its origin, ``https://host[:port]``, put in ``frame-ancestors`` and answered by CORS."""

    __tablename__ = "event_embed_origins"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    origin: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    created_at: Mapped[datetime] = created_at_column()
