"""The events domain's service (the events app): calendars, events and their occurrences,
free bookings with a waiting list, ticket types sold through the cart, tickets, check-in and
iCalendar feeds.

Places are scarce: every change that takes one (a booking, a ticket reservation) first locks
``("event_capacity", event id)`` — and ``("ticket_type", id)`` for tickets — with
:func:`shared.infrastructure.locking.lock_objects`, then counts and writes in the same
transaction, so capacity holds whatever the concurrency. Freed places go to the waiting list
in the order it was joined.

The service is one object assembled from one class per part, each in its own module:

* :mod:`~shared.services.events.core` — settings, and the reads every part builds on;
* :mod:`~shared.services.events.calendars` — calendars;
* :mod:`~shared.services.events.schedule` — events and their cancelled or moved occurrences;
* :mod:`~shared.services.events.listings` — occurrences in a window, upcoming and past;
* :mod:`~shared.services.events.feeds` — iCalendar feeds;
* :mod:`~shared.services.events.bookings` — members' bookings and the waiting list;
* :mod:`~shared.services.events.guests` — guests' bookings, confirmed by email;
* :mod:`~shared.services.events.tickets` — ticket types and tickets sold through the cart;
* :mod:`~shared.services.events.checkin` — attendee lists and check-in;
* :mod:`~shared.services.events.embedding` — the websites allowed to show the events widget;
* :mod:`~shared.services.events.members` — what a member has, and the capabilities other
  domains ask for (member tickets, upcoming events, personal data).

What they share (statuses, lock keys, row-to-DTO mapping) is in
:mod:`~shared.services.events.common`.
"""

from __future__ import annotations

from shared.services.events.bookings import Bookings
from shared.services.events.calendars import Calendars
from shared.services.events.checkin import CheckIn
from shared.services.events.embedding import Embedding
from shared.services.events.feeds import Feeds
from shared.services.events.guests import GuestBookings
from shared.services.events.listings import Listings
from shared.services.events.members import Members
from shared.services.events.schedule import Schedule
from shared.services.events.tickets import Tickets

__all__ = ["SqlEventService"]


# A part that builds on another comes before it (Python's method resolution order).
class SqlEventService(
    GuestBookings,
    Members,
    Feeds,
    Bookings,
    Tickets,
    Listings,
    Calendars,
    Schedule,
    CheckIn,
    Embedding,
):
    """Implements :class:`shared.contracts.EventService` (and the capabilities
    ``SellableProvider``, ``MemberTickets``, ``UpcomingEvents`` and ``PersonalData``)."""
