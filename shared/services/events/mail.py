"""The events domain's emails: tickets (each with its code, QR code and .ics link), a guest's
booking confirmation link, a guest's booking, and a place freed from the waiting list.

Their words are in ``shared/templates/email/`` (``event_tickets``, ``guest_booking_confirm``,
``guest_booked``, ``waiting_list_place``). They are built here and sent by :func:`send` once
the transaction that made them has committed (``shared.db.after_commit``): a rolled-back
payment or booking emails no one. The QR codes travel inside the message as PNG images the
HTML part shows (``cid:``), so they are seen without fetching anything; the plain-text part
carries each code as text.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

import segno

from shared.config import Settings
from shared.infrastructure.mail import Email, InlineImage, Mailer, build_email

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TicketLine:
    """One issued ticket as its email shows it."""

    code: str
    title: str
    ticket_type: str
    local_start: datetime
    location: str
    event_url: str
    ics_url: str


def when(local_start: datetime) -> str:
    return f"{local_start:%A %-d %B %Y, %H:%M} ({local_start.tzname()})"


def qr_png(code: str) -> bytes:
    """The QR code of ``code`` as a PNG (mail clients show PNG, not always SVG)."""
    out = io.BytesIO()
    segno.make(code, error="m").save(out, kind="png", scale=5, border=2)
    return out.getvalue()


def tickets_message(settings: Settings, to: str, name: str, tickets: Sequence[TicketLine]) -> Email:
    """One message with every ticket of a paid order: text, and HTML with inline QR codes."""
    qr_codes = [InlineImage(qr_png(ticket.code), f"{ticket.code[:8]}.png") for ticket in tickets]
    items = [
        {"ticket": ticket, "when": when(ticket.local_start), "qr": qr}
        for ticket, qr in zip(tickets, qr_codes, strict=True)
    ]
    return build_email(
        settings, "event_tickets", to, {"name": name, "tickets": items}, images=qr_codes
    )


def guest_confirm_message(
    settings: Settings,
    to: str,
    *,
    name: str,
    title: str,
    local_start: datetime,
    quantity: int,
    confirm_url: str,
    valid_hours: int,
) -> Email:
    """The link a guest confirms their booking with (no place is held until they do)."""
    return build_email(
        settings,
        "guest_booking_confirm",
        to,
        {
            "name": name,
            "title": title,
            "when": when(local_start),
            "quantity": quantity,
            "link": confirm_url,
            "valid_hours": valid_hours,
        },
    )


def guest_booked_message(
    settings: Settings,
    to: str,
    *,
    name: str,
    title: str,
    local_start: datetime,
    status: str,
    code: str,
    event_url: str,
    ics_url: str,
    cancel_url: str,
) -> Email:
    """A guest's booking once confirmed (with its code and QR code) or on the waiting list,
    with the link that cancels it."""
    confirmed = status == "confirmed"
    qr = InlineImage(qr_png(code), "qr-code.png") if confirmed else None
    return build_email(
        settings,
        "guest_booked",
        to,
        {
            "name": name,
            "title": title,
            "when": when(local_start),
            "confirmed": confirmed,
            "code": code,
            "qr": qr,
            "event_url": event_url,
            "ics_url": ics_url,
            "cancel_link": cancel_url,
        },
        images=[qr] if qr else [],
    )


def place_freed_message(
    settings: Settings, to: str, *, title: str, local_start: datetime, event_url: str
) -> Email:
    """A place came free and went to someone on the waiting list."""
    return build_email(
        settings,
        "waiting_list_place",
        to,
        {"title": title, "when": when(local_start), "event_url": event_url},
    )


async def send(settings: Settings, msg: EmailMessage) -> None:
    """Deliver one message, logging (not raising) a failure: runs after the commit."""
    await Mailer(settings).send_quietly(msg)
