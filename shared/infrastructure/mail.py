"""Outgoing email over SMTP (``aiosmtplib``), or to the log when no SMTP host is configured.

Routes hand a message to :func:`send_later` after their transaction has committed: it is
sent by a background task, so the answer to a request takes the same time whether or not an
email goes out (the password-reset form must not reveal which addresses have accounts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
from quart import current_app

from shared.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.smtp = settings.smtp
        self.password = settings.secrets.smtp_password
        self.site_name = settings.site_name

    def build(self, email: Email) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.smtp.from_address
        msg["To"] = email.to
        msg["Subject"] = email.subject
        msg.set_content(email.text)
        return msg

    async def send(self, email: Email) -> None:
        """Deliver one message; raises on SMTP failure."""
        if not self.smtp.host:
            # Dev without an SMTP server: the developer reads links from the log.
            log.info("email (not sent: smtp.host is empty) to %s: %s\n%s", *_fields(email))
            return
        await self.send_message(self.build(email))

    async def send_message(self, msg: EmailMessage) -> None:
        """Deliver a message already built (HTML parts, attachments); raises on SMTP failure."""
        if not self.smtp.host:
            log.info("email (not sent: smtp.host is empty) to %s: %s", msg["To"], msg["Subject"])
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

    async def send_quietly(self, email: Email) -> None:
        """Deliver one message, logging (not raising) a failure: for background tasks."""
        try:
            await self.send(email)
        except (aiosmtplib.SMTPException, OSError):
            log.exception("could not send email to %s (%s)", email.to, email.subject)

    async def send_message_quietly(self, msg: EmailMessage) -> None:
        """:meth:`send_message`, logging (not raising) a failure: for background tasks."""
        try:
            await self.send_message(msg)
        except (aiosmtplib.SMTPException, OSError):
            log.exception("could not send email to %s (%s)", msg["To"], msg["Subject"])


def _fields(email: Email) -> tuple[str, str, str]:
    return email.to, email.subject, email.text


def mailer() -> Mailer:
    return current_app.extensions["mailer"]  # type: ignore[no-any-return]


def send_later(email: Email) -> None:
    """Send ``email`` from a background task of the current app (call after committing)."""
    current_app.add_background_task(mailer().send_quietly, email)
