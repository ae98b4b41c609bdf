"""Every email Rose Ash sends: built from templates by :func:`build_email`, delivered over SMTP
(``aiosmtplib``), or written to the log when no SMTP host is configured.

An email is a folder ``shared/templates/email/<name>/`` of three templates: ``subject.txt``,
``body.txt`` (the plain-text part) and ``body.html`` (the HTML part, which extends
``_layout.html``). Routes and services only say which email goes to whom with which values;
the words are in the templates (docs/STYLE.md, item 15).

Routes hand a message to :func:`send_later` after their transaction has committed: it is
sent by a background task, so the answer to a request takes the same time whether or not an
email goes out (the password-reset form must not reveal which addresses have accounts).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from quart import current_app

from shared.config import Settings

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "email"

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    # The HTML part is escaped; the subject and the plain-text part are text, sent as written.
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    # A value left out is an error, not a silent gap in an email someone receives.
    undefined=StrictUndefined,
    # Block tags on their own line leave no line behind: the text templates read as they print.
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _nl2br(value: object) -> Markup:
    """Text with line breaks (an address) as HTML: each line escaped, ``<br>`` between."""
    return Markup("<br>\n").join(str(value).splitlines())


_ENV.filters["nl2br"] = _nl2br


class Email(EmailMessage):
    """A built email (:func:`build_email`): a standard message, with its recipient and
    subject at hand."""

    @property
    def to(self) -> str:
        return str(self["To"] or "")

    @property
    def subject(self) -> str:
        return str(self["Subject"] or "")


def _content_id() -> str:
    # Unique within the message is all a Content-ID needs. A fixed domain spares the DNS
    # lookup of this host's name that make_msgid() makes without one, and a short one keeps
    # the header on one line (some readers keep the space a folded header begins with).
    return make_msgid(domain="rose-ash")


@dataclass(frozen=True)
class InlineImage:
    """A picture the HTML part shows without fetching anything: it travels inside the message
    and the template refers to it as ``<img src="{{ image.src }}">``."""

    data: bytes
    filename: str
    subtype: str = "png"
    cid: str = field(default_factory=_content_id)

    @property
    def src(self) -> str:
        return f"cid:{self.cid[1:-1]}"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """One template under ``templates/email`` (a part that is not an email of its own, such
    as the body of a newsletter digest)."""
    return _ENV.get_template(template).render(context)


def render_email(settings: Settings, name: str, context: Mapping[str, Any]) -> RenderedEmail:
    """The subject and both parts of the email ``name``; every template also sees ``site``
    (the site's name) and the bodies see ``subject``."""
    values = {"site": settings.site_name, **context}
    raw_subject = render_template(f"{name}/subject.txt", values)
    # A header is one line.
    subject = " ".join(line.strip() for line in raw_subject.splitlines() if line.strip())
    values["subject"] = subject
    return RenderedEmail(
        subject=subject,
        text=render_template(f"{name}/body.txt", values),
        html=render_template(f"{name}/body.html", values),
    )


def build_email(
    settings: Settings,
    name: str,
    to: str,
    context: Mapping[str, Any],
    *,
    images: Sequence[InlineImage] = (),
    headers: Mapping[str, str] | None = None,
) -> Email:
    """The email ``name`` to ``to``: plain text and HTML alternatives from its templates,
    ``images`` carried with the HTML part (``cid:``), and any extra ``headers``."""
    rendered = render_email(settings, name, context)
    msg = Email()
    msg["From"] = settings.smtp.from_address
    msg["To"] = to
    msg["Subject"] = rendered.subject
    for header, value in (headers or {}).items():
        msg[header] = value
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    if images:
        html_part = msg.get_body(preferencelist=("html",))
        assert html_part is not None
        for image in images:
            html_part.add_related(
                image.data, "image", image.subtype, cid=image.cid, filename=image.filename
            )
    return msg


def plain_text(msg: EmailMessage) -> str:
    """The plain-text part of ``msg`` ("" if it has none)."""
    body = msg.get_body(preferencelist=("plain",))
    return str(body.get_content()) if body is not None else ""


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.smtp = settings.smtp
        self.password = settings.secrets.smtp_password

    async def send(self, msg: EmailMessage) -> None:
        """Deliver one message; raises on SMTP failure."""
        if not self.smtp.host:
            # Dev without an SMTP server: the developer reads links from the log.
            log.info(
                "email (not sent: smtp.host is empty) to %s: %s\n%s",
                msg["To"],
                msg["Subject"],
                plain_text(msg),
            )
            return
        await aiosmtplib.send(
            msg,
            hostname=self.smtp.host,
            port=self.smtp.port,
            start_tls=self.smtp.starttls,
            username=self.smtp.username or None,
            password=self.password if self.smtp.username else None,
            timeout=self.smtp.timeout_s,
        )
        log.info("email sent to %s: %s", msg["To"], msg["Subject"])

    async def send_quietly(self, msg: EmailMessage) -> None:
        """:meth:`send`, logging (not raising) a failure: for background tasks."""
        try:
            await self.send(msg)
        except (aiosmtplib.SMTPException, OSError):
            log.exception("could not send email to %s (%s)", msg["To"], msg["Subject"])


def mailer() -> Mailer:
    return current_app.extensions["mailer"]  # type: ignore[no-any-return]


def send_later(msg: EmailMessage) -> None:
    """Send ``msg`` from a background task of the current app (call after committing)."""
    current_app.add_background_task(mailer().send_quietly, msg)
