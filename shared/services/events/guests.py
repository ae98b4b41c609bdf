"""Guests' bookings: free events booked without an account, confirmed by email.

A guest gives a name and an address; the booking is written "pending" and counts for nothing
(a stranger typing addresses cannot hold places) until the guest follows the signed link
emailed to them, valid GUEST_CONFIRM_HOURS. Confirming takes the same capacity lock as a
member's booking and the same rules: the per-person limit per address, confirmed while places
remain, else the waiting list. The email that follows carries a signed link to cancel."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import BookingDTO, EventDTO
from shared.contracts.errors import InvalidEvent
from shared.errors import DomainError, FieldErrors, NotFound
from shared.infrastructure.locking import lock_objects
from shared.infrastructure.sanitize import clean_text
from shared.models import EventBooking
from shared.services import audit
from shared.services.events import mail as event_mail
from shared.services.events.bookings import Bookings
from shared.services.events.common import booking_dto, capacity_lock_key, new_code, now_utc, zoned
from shared.services.events.tickets import Tickets

# A guest's confirmation link is good for a day; their cancel link until the event is over.
GUEST_CONFIRM_HOURS = 24
GUEST_CANCEL_MAX_AGE = timedelta(days=800)
GUEST_TOKEN_SALT = "events:guest-booking"  # noqa: S105 - a salt, not a secret
EMAIL_RE = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


class GuestBookings(Bookings, Tickets):
    """Requesting, confirming and cancelling a guest's booking through signed links."""

    def _guest_serializer(self) -> URLSafeTimedSerializer:
        secret = self.settings.secrets.secret_key if self.settings is not None else None
        if not secret:
            raise DomainError("guest_booking_unavailable", "Guest booking is not available.")
        return URLSafeTimedSerializer(secret, salt=GUEST_TOKEN_SALT)

    def guest_token(self, booking: BookingDTO, action: str) -> str:
        """The signed token of a guest's confirm or cancel link."""
        return str(
            self._guest_serializer().dumps({"b": booking.id, "a": action, "e": booking.guest_email})
        )

    async def _guest_row(
        self, session: AsyncSession, token: str, action: str, *, lock: bool = False
    ) -> EventBooking:
        max_age = (
            GUEST_CONFIRM_HOURS * 3600
            if action == "confirm"
            else int(GUEST_CANCEL_MAX_AGE.total_seconds())
        )
        try:
            data = self._guest_serializer().loads(token[:500], max_age=max_age)
        except SignatureExpired as err:
            raise DomainError("token_expired", "This link has expired.") from err
        except BadSignature as err:
            raise DomainError("token_invalid", "This link is not valid.") from err
        if not isinstance(data, dict) or data.get("a") != action:
            raise DomainError("token_invalid", "This link is not valid.")
        row = await session.get(EventBooking, data.get("b"), populate_existing=True)
        if row is None or row.guest_email is None or row.guest_email != data.get("e"):
            raise NotFound("booking_not_found", "No such booking.")
        if lock:
            await lock_objects(session, [capacity_lock_key(row.event_id)])
            await session.refresh(row)
        return row

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
        """A guest asks for free places: a pending booking, and an email (sent after the
        commit) with the signed link that confirms it."""
        now = now or now_utc()
        checks = FieldErrors()  # every field checked before any is reported
        name = clean_text(name)[:191]
        if not name:
            checks.note(InvalidEvent("name_required", "Give your name.", "name"))
        email = email.strip().lower()
        if len(email) > 320 or not EMAIL_RE.match(email):
            checks.note(InvalidEvent("invalid_email", "Give a valid email address.", "email"))
        with checks:
            bookable = await self._bookable(session, event_id, key, quantity, now)
        checks.raise_if_any()
        event = bookable
        occurrence = await self.occurrence(session, event, key)
        assert occurrence is not None
        if await self.ticket_types(session, event_id, key):
            raise DomainError("tickets_only", "This event is ticketed: buy a ticket instead.")
        row = EventBooking(
            event_id=event_id,
            occurrence_start=key,
            guest_email=email,
            guest_name=name,
            quantity=quantity,
            status="pending",
            code=new_code(),
        )
        session.add(row)
        await session.flush()
        await session.refresh(row)
        audit.record(
            session,
            "booking.requested_by_guest",
            object_type="event_booking",
            object_id=row.id,
            after={"event_id": event_id, "occurrence": key.isoformat(), "quantity": quantity},
        )
        booking = booking_dto(row)
        if self.settings is not None:
            self._email_after_commit(
                session,
                event_mail.guest_confirm_message(
                    self.settings,
                    email,
                    name=name,
                    title=event.title,
                    local_start=zoned(occurrence),
                    quantity=quantity,
                    confirm_url=f"{self.public_url}/guest-bookings/confirm/"
                    f"{self.guest_token(booking, 'confirm')}",
                    valid_hours=GUEST_CONFIRM_HOURS,
                ),
            )
        return booking

    async def guest_booking(
        self, session: AsyncSession, token: str, action: str
    ) -> tuple[BookingDTO, EventDTO]:
        """The guest's booking a confirm or cancel link names, with its event (for the page
        that asks before acting); a forged or expired link is refused with a code."""
        if action not in ("confirm", "cancel"):
            raise DomainError("token_invalid", "This link is not valid.")
        row = await self._guest_row(session, token, action)
        event = await self.get_event(session, row.event_id)
        assert event is not None
        return booking_dto(row), event

    async def confirm_guest_booking(
        self, session: AsyncSession, token: str, *, now: datetime | None = None
    ) -> BookingDTO:
        """Confirm a guest's pending booking under the capacity lock: confirmed while places
        remain, else the waiting list; the same link again changes nothing."""
        now = now or now_utc()
        row = await self._guest_row(session, token, "confirm", lock=True)
        if row.status != "pending":
            return booking_dto(row)
        event = await self._bookable(session, row.event_id, row.occurrence_start, row.quantity, now)
        assert row.guest_email is not None
        status = await self._place_status(
            session, event, row.occurrence_start, row.quantity, email=row.guest_email
        )
        row.status = status
        await session.flush()
        audit.record(
            session,
            "booking.confirmed_by_guest",
            object_type="event_booking",
            object_id=row.id,
            before={"status": "pending"},
            after={"status": status},
        )
        booking = booking_dto(row)
        occurrence = await self.occurrence(session, event, row.occurrence_start)
        if self.settings is not None and occurrence is not None:
            self._email_after_commit(
                session,
                event_mail.guest_booked_message(
                    self.settings,
                    row.guest_email,
                    name=row.guest_name,
                    title=event.title,
                    local_start=zoned(occurrence),
                    status=status,
                    code=row.code,
                    event_url=self._occurrence_url(event, row.occurrence_start),
                    ics_url=self._ics_url(event),
                    cancel_url=f"{self.public_url}/guest-bookings/cancel/"
                    f"{self.guest_token(booking, 'cancel')}",
                ),
            )
        return booking

    async def cancel_guest_booking(self, session: AsyncSession, token: str) -> list[BookingDTO]:
        """Cancel a guest's booking through their signed link; freed places go to the waiting
        list in order (returned, and emailed). Cancelling twice changes nothing."""
        row = await self._guest_row(session, token, "cancel", lock=True)
        if row.status == "cancelled":
            return []
        before, row.status = row.status, "cancelled"
        await session.flush()
        audit.record(
            session,
            "booking.cancelled",
            object_type="event_booking",
            object_id=row.id,
            before={"status": before},
            after={"status": "cancelled"},
        )
        return await self._offer_freed_places(session, row.event_id, row.occurrence_start)
