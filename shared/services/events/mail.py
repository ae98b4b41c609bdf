"""The events domain's emails: tickets (each with its code, QR code and .ics link), a guest's
booking confirmation link, a guest's booking, and a place freed from the waiting list.

They are built here and sent by :func:`send` once the transaction that made them has
committed (``shared.db.after_commit``): a rolled-back payment or booking emails no one. The
QR codes travel inside the message as PNG images the HTML part shows (``cid:``), so they are
seen without fetching anything; the plain-text part carries each code as text.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape

import segno

from shared.config import Settings
from shared.infrastructure.mail import Mailer

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


def _message(settings: Settings, to: str, subject: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp.from_address
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(text)
    return msg


def tickets_message(
    settings: Settings, to: str, name: str, tickets: Sequence[TicketLine]
) -> EmailMessage:
    """One message with every ticket of a paid order: text, and HTML with inline QR codes."""
    site = settings.site_name
    subject = f"Your ticket{'s' if len(tickets) > 1 else ''}: {tickets[0].title}"
    greeting = f"Hello {name}," if name else "Hello,"
    text = [greeting, "", f"Thank you for your order. Show the code at the door ({site}).", ""]
    html = [
        f"<p>{escape(greeting)}</p>",
        "<p>Thank you for your order. Show the QR code (or read out the code) at the door.</p>",
    ]
    cids = []
    for n, ticket in enumerate(tickets, 1):
        cid = make_msgid(idstring=f"ticket{n}")
        cids.append((cid, ticket.code))
        text += [
            f"Ticket {n}: {ticket.title} — {ticket.ticket_type}",
            f"  When: {when(ticket.local_start)}",
            *([f"  Where: {ticket.location}"] if ticket.location else []),
            f"  Code: {ticket.code}",
            f"  Add to calendar: {ticket.ics_url}",
            f"  Event: {ticket.event_url}",
            "",
        ]
        html.append(
            f'<div class="ticket"><h2>{escape(ticket.title)} — {escape(ticket.ticket_type)}</h2>'
            f"<p>{escape(when(ticket.local_start))}"
            + (f"<br>{escape(ticket.location)}" if ticket.location else "")
            + f'</p><p><img src="cid:{cid[1:-1]}" alt="QR code of ticket {n}" width="180" '
            f'height="180"></p><p>Code: <code>{escape(ticket.code)}</code></p>'
            f'<p><a href="{escape(ticket.ics_url)}">Add to calendar (.ics)</a> · '
            f'<a href="{escape(ticket.event_url)}">The event</a></p></div>'
        )
    msg = _message(settings, to, subject, "\n".join(text))
    msg.add_alternative("\n".join(html), subtype="html")
    html_part = next(part for part in msg.iter_parts() if part.get_content_type() == "text/html")
    assert isinstance(html_part, EmailMessage)
    for cid, code in cids:
        html_part.add_related(qr_png(code), "image", "png", cid=cid, filename=f"{code[:8]}.png")
    return msg


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
) -> EmailMessage:
    places = f"{quantity} place{'s' if quantity > 1 else ''}"
    return _message(
        settings,
        to,
        f"Confirm your booking: {title}",
        f"Hello {name},\n\nTo book {places} for {title} on {when(local_start)}, confirm here "
        f"(within {valid_hours} hours):\n{confirm_url}\n\nUntil you confirm, no place is held "
        "for you. If you did not ask for this, ignore this email.\n",
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
) -> EmailMessage:
    if status == "confirmed":
        head = f"You are booked in for {title} on {when(local_start)}.\nYour code: {code}\n"
    else:
        head = (
            f"{title} on {when(local_start)} is full: you are on the waiting list, and we will "
            "email you if a place comes free.\n"
        )
    msg = _message(
        settings,
        to,
        f"{'Booked' if status == 'confirmed' else 'Waiting list'}: {title}",
        f"Hello {name},\n\n{head}\nAdd to calendar: {ics_url}\nThe event: {event_url}\n\n"
        f"Cannot come? Cancel here, and your place goes to someone else:\n{cancel_url}\n",
    )
    if status == "confirmed":
        msg.add_attachment(qr_png(code), maintype="image", subtype="png", filename="qr-code.png")
    return msg


def place_freed_message(
    settings: Settings, to: str, *, title: str, local_start: datetime, event_url: str
) -> EmailMessage:
    return _message(
        settings,
        to,
        f"A place for you: {title}",
        f"A place came free and your booking for {title} on {when(local_start)} is "
        f"confirmed.\n{event_url}\n",
    )


async def send(settings: Settings, msg: EmailMessage) -> None:
    """Deliver one message, logging (not raising) a failure: runs after the commit."""
    await Mailer(settings).send_message_quietly(msg)
