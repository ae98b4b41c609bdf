"""A member's own tickets (``/tickets``) and bookings (``/bookings``), each a page of its own,
from events through its contract's ``MemberTickets`` capability: what is still to come,
soonest first, with their QR codes and calendar links, and under "Past" (``?when=past``) those
of events that have ended, latest first. Only the member's own are read (the
capability takes the signed-in member's id); someone not signed in is sent to sign in."""

from __future__ import annotations

from typing import Any, cast

from quart import Blueprint, request

from shared.contracts import MemberTickets, implements
from shared.errors import NotFound
from shared.infrastructure import auth
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import render_page

bp = Blueprint("tickets", __name__)

PRIVATE = {"Cache-Control": "private, no-store"}
# Upcoming tickets and bookings are few; a page shows them all up to this many.
MOST = 500
# Past ones: the latest this many of each kind.
PAST = 200


async def _page(kind: str, heading: str, empty: str) -> Any:
    """The upcoming ones, or with ``?when=past`` those of events that have ended (a "Past"
    tab beside "Upcoming"; anything else in ``when`` is upcoming)."""
    user = auth.current_user()
    assert user is not None  # login_required
    events = services().events
    if not implements(events, MemberTickets):
        raise NotFound("not_found", "There are no tickets here.")
    member = cast(MemberTickets, events)
    past = request.args.get("when") == "past"
    if past:
        found = await member.past_for_member(db_session(), user.id, limit=PAST)
    else:
        found = await member.upcoming_for_member(db_session(), user.id, limit=MOST)
    body = await render_page(
        "tickets.html",
        heading=heading,
        empty=f"No {kind}s for events that have ended." if past else empty,
        entries=[t for t in found if t.kind == kind],
        past=past,
        path=request.path,
    )
    return body, 200, PRIVATE


@bp.get("/tickets")
@auth.login_required
async def tickets() -> Any:
    """The member's tickets for events still to come."""
    return await _page("ticket", "Your tickets", "No tickets for events to come.")


@bp.get("/bookings")
@auth.login_required
async def bookings() -> Any:
    """The member's bookings (free places) for events still to come."""
    return await _page("booking", "Your bookings", "No bookings for events to come.")
