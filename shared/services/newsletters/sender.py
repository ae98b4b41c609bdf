"""Newsletter emails: the message one recipient gets, the digest built from recent posts and
upcoming events, and the worker stage that sends what is queued.

Every message has an HTML and a plain-text part, and the headers a mail client needs to offer
unsubscribing in one click (RFC 2369 ``List-Unsubscribe``, RFC 8058
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``) and to group the list (``List-Id``).
The mail relay is expected to DKIM-sign them (RFC 8058 asks for a signature covering both
headers); that is the relay's configuration, not ours.

Sending (:class:`NewsletterSender`, one stage of ``rose-ash worker``) is throttled to
``newsletters.rate_per_s`` across every worker (a pace kept in Redis) and takes one message per
transaction: claim the row (``SKIP LOCKED``), hand the message to the SMTP server, record the
answer, commit. Only a crash in the instant between the server's final "250" and our commit
could repeat a message: SMTP offers no way to ask a server whether it already holds one, so
that window is kept as short as it can be.

The server's answers are read by their enhanced status codes (RFC 3463, ``5.1.1`` and the
like): only the recipient's permanent failure (:func:`classify`) bounces and suppresses the
address. A refusal of the message or by the relay (``554`` to DATA, ``550 5.7.1 Relaying
denied``) says nothing about the subscriber: it is retried, and a run of them pauses the issue
and tells every member of staff who can resume it, so a relay misconfigured for an hour never
unsubscribes the list.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiosmtplib
from markupsafe import Markup

from shared.config import Settings
from shared.contracts import EventSummaryDTO, IssueDTO, OutgoingDTO, PostDTO
from shared.infrastructure.context import services
from shared.infrastructure.mail import Email, Mailer, build_email, render_email, render_template
from shared.infrastructure.pace import LocalPace, Pace

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.contracts import NewsletterService

log = logging.getLogger("rose_ash.newsletters")
# Who may send and resume newsletters: the role the account app's newsletter desk requires
# (admins hold every role). A paused issue is told to every active account holding it.
NEWSLETTER_ROLE = "editor"


def digest_html(
    posts: Sequence[PostDTO],
    events: Sequence[EventSummaryDTO],
    *,
    blog_url: str,
    intro: str = "",
) -> str:
    """The body of an issue built from recent posts and upcoming events (escaped text and
    our own markup only; the newsletters service sanitizes it again when storing)."""

    def post_url(post: PostDTO) -> str:
        return f"{blog_url}/{'pages' if post.kind == 'page' else 'posts'}/{post.slug}"

    return render_template(
        "_newsletter_digest.html",
        {"posts": posts, "events": events, "intro": intro, "post_url": post_url},
    )


class _PlainText(HTMLParser):
    """Readable plain text from sanitized HTML: blocks on their own lines, links with their
    address in brackets, list items with a dash."""

    BLOCKS = frozenset(
        {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "figure", "table"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS or tag in ("ul", "ol"):
            self.out.append("\n\n")
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "hr":
            self.out.append("\n\n----\n\n")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "a" and self.href:
            href = self.href.pop()
            if href and href.startswith(("http://", "https://", "mailto:")):
                self.out.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        self.out.append(" ".join(data.split("\n")))


def html_to_plain(html: str) -> str:
    """The plain-text part of an email made from ``html``."""
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.out).split("\n")]
    text, blank = [], False
    for line in lines:
        if line:
            text.append(line)
            blank = False
        elif not blank and text:
            text.append("")
            blank = True
    return "\n".join(text).strip() + "\n"


def _issue_context(
    *, subject: str, html: str, newsletter_name: str, unsubscribe_url: str | None, test: bool
) -> dict[str, object]:
    return {
        "issue_subject": subject,
        "newsletter_name": newsletter_name,
        "body": Markup(html),  # noqa: S704 - sanitized by the newsletters service before storing
        "plain": html_to_plain(html),
        "unsubscribe_url": unsubscribe_url,
        "test": test,
    }


def issue_email(
    settings: Settings,
    *,
    to: str,
    subject: str,
    html: str,
    newsletter_slug: str,
    newsletter_name: str,
    unsubscribe_url: str | None,
    message_key: str,
    test: bool = False,
) -> Email:
    """One recipient's issue: plain text and HTML, the list headers and a Message-ID made
    from ``message_key`` (stable per delivery, so a repeat would be recognisable). A
    ``test`` goes to its author alone, without an unsubscribe link."""
    host = urlsplit(settings.apps["account"].public_url).hostname or "localhost"
    headers = {
        "Message-ID": make_msgid(idstring=message_key, domain=host),
        "List-Id": formataddr((newsletter_name, f"{newsletter_slug}.{host}")),
    }
    if unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    context = _issue_context(
        subject=subject,
        html=html,
        newsletter_name=newsletter_name,
        unsubscribe_url=unsubscribe_url,
        test=test,
    )
    return build_email(settings, "newsletter_issue", to, context, headers=headers)


def issue_test_email(settings: Settings, issue: IssueDTO, to: str) -> Email:
    """The issue sent to its author only (no unsubscribe link: there is no subscription)."""
    return issue_email(
        settings,
        to=to,
        subject=issue.subject,
        html=issue.html,
        newsletter_slug=issue.newsletter_slug,
        newsletter_name=issue.newsletter_name,
        unsubscribe_url=None,
        message_key=f"issue{issue.id}.test",
        test=True,
    )


def issue_preview_html(settings: Settings, issue: IssueDTO) -> str:
    """The HTML part of an issue exactly as subscribers will see it."""
    context = _issue_context(
        subject=issue.subject,
        html=issue.html,
        newsletter_name=issue.newsletter_name,
        unsubscribe_url="#unsubscribe",
        test=False,
    )
    return render_email(settings, "newsletter_issue", context).html


def issue_paused_email(
    settings: Settings, to: str, issue: IssueDTO, *, refusals: int, reason: str
) -> Email:
    """Tells a member of staff that an issue's sending paused, why, and where to resume it."""
    desk = f"{settings.apps['account'].public_url}/editor/newsletters/issues/{issue.id}"
    return build_email(
        settings,
        "newsletter_paused",
        to,
        {
            "issue_subject": issue.subject,
            "refusals": refusals,
            "reason": reason,
            "progress_link": f"{desk}/progress",
        },
    )


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{settings.apps['account'].public_url}/newsletters/unsubscribe/{token}"


def confirm_url(settings: Settings, token: str) -> str:
    return f"{settings.apps['account'].public_url}/newsletters/confirm/{token}"


def message_for(settings: Settings, newsletters: NewsletterService, out: OutgoingDTO) -> Email:
    return issue_email(
        settings,
        to=out.email,
        subject=out.subject,
        html=out.html,
        newsletter_slug=out.newsletter_slug,
        newsletter_name=out.newsletter_name,
        unsubscribe_url=unsubscribe_url(
            settings, newsletters.unsubscribe_token(out.subscription_id)
        ),
        message_key=f"issue{out.issue_id}.delivery{out.delivery_id}",
    )


class NewsletterSender:
    """The worker stage that sends queued newsletter messages, one transaction each."""

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        newsletters: NewsletterService,
        *,
        pace: Pace | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.factory = session_factory
        self.newsletters = newsletters
        # The worker's is shared by every worker (Redis); without one, this sender's own, on
        # ``clock`` and ``sleep`` (a test gives a clock of its own, not seconds).
        self.pace: Pace = pace or LocalPace(clock, sleep)
        self._smtp: aiosmtplib.SMTP | None = None

    async def __call__(self) -> int:
        """Send up to ``newsletters.batch`` due messages; returns how many were handled."""
        handled = 0
        try:
            for _ in range(self.settings.newsletters.batch):
                if not await self._one():
                    break
                handled += 1
            async with self.factory() as session, session.begin():
                await self.newsletters.finish_issues(session)
        finally:
            await self._close()
        return handled

    async def _one(self) -> bool:
        async with self.factory() as session, session.begin():
            out = await self.newsletters.claim_delivery(session)
            if out is None:
                return False
            await self._throttle()
            outcome, error = await self._deliver(message_for(self.settings, self.newsletters, out))
            status = await self.newsletters.record_delivery(
                session, out.delivery_id, outcome, error
            )
        log.info("newsletter issue %s to %s: %s %s", out.issue_id, out.email, status, error)
        if status == "paused":
            await self._tell_staff(out.issue_id, error)
        return True

    async def _tell_staff(self, issue_id: int, error: str) -> None:
        """Say that the issue paused: in the log, and by email to every active account that
        can resume it (the desk's role; the same relay may refuse these too: the desk shows
        the pause either way)."""
        refusals = self.settings.newsletters.pause_after_refusals
        log.error(
            "newsletter issue %s paused: the mail relay refused %s messages in a row (%s)",
            issue_id,
            refusals,
            error,
        )
        async with self.factory() as session:
            issue = await self.newsletters.get_issue(session, issue_id)
            staff = await services().identity.accounts_with_role(session, NEWSLETTER_ROLE)
        mailer = Mailer(self.settings)
        for address in dict.fromkeys(account.email.lower() for account in staff):
            msg = issue_paused_email(self.settings, address, issue, refusals=refusals, reason=error)
            await mailer.send_quietly(msg)

    async def _throttle(self) -> None:
        """At most ``rate_per_s`` messages a second (the relay's limit), every worker together."""
        await self.pace.wait(self.settings.newsletters.rate_per_s)

    async def _deliver(self, msg: EmailMessage) -> tuple[str, str]:
        """Hand one message to the SMTP server: ("sent", ""), ("bounced", why) for a
        permanent refusal of the recipient or message, ("retry", why) otherwise."""
        smtp = self.settings.smtp
        if not smtp.host:
            log.info(
                "newsletter (not sent: smtp.host is empty) to %s: %s", msg["To"], msg["Subject"]
            )
            return "sent", "not sent: no SMTP server configured"
        try:
            client = await self._client()
            await client.send_message(msg)
        except aiosmtplib.SMTPRecipientsRefused as err:
            refusal = err.recipients[0]
            return classify(refusal.code, refusal.message, recipient=True)
        except aiosmtplib.SMTPServerDisconnected as err:
            await self._close()
            return "retry", str(err)
        except aiosmtplib.SMTPResponseException as err:
            # MAIL FROM, DATA or the end of the message: the sender, relay or message.
            await self._close()
            return classify(err.code, err.message, recipient=False)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            await self._close()
            return "retry", str(err) or type(err).__name__
        return "sent", ""

    async def _client(self) -> aiosmtplib.SMTP:
        """One connection for the whole batch."""
        if self._smtp is None or not self._smtp.is_connected:
            smtp = self.settings.smtp
            client = aiosmtplib.SMTP(
                hostname=smtp.host,
                port=smtp.port,
                start_tls=smtp.starttls,
                timeout=smtp.timeout_s,
            )
            await client.connect()
            if smtp.username:
                await client.login(smtp.username, self.settings.secrets.smtp_password or "")
            self._smtp = client
        return self._smtp

    async def _close(self) -> None:
        client, self._smtp = self._smtp, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


# RFC 3463: class.subject.detail at the start of the reply's text.
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")
# Without an enhanced code, words that say a refusal is the relay's policy, not the mailbox.
_POLICY = re.compile(r"relay|policy|spam|block|listed|reputation|authenticat", re.IGNORECASE)


def classify(code: int, message: str, *, recipient: bool) -> tuple[str, str]:
    """What an SMTP refusal means for one message: ``bounced`` only for the recipient's
    permanent failure (answered to RCPT TO: ``5.1.x`` addressing, but not ``5.1.7``/``5.1.8``
    which are the sender's, or ``5.2.1`` mailbox disabled; without an enhanced code ``550``,
    ``551`` or ``553`` that does not speak of policy); ``refused`` for any other permanent
    refusal (the message, the sender, the relay: ``554`` to DATA, ``5.7.1``); ``retry``
    for a temporary one. With the reason, as the server said it."""
    reason = f"{code} {message}".strip()
    if not 500 <= code < 600:
        return "retry", reason
    enhanced = _ENHANCED.match(message)
    if enhanced is not None:
        klass, subject, detail = (int(part) for part in enhanced.groups())
        if klass == 4:
            return "retry", reason
        mailbox = (subject == 1 and detail not in (7, 8)) or (subject, detail) == (2, 1)
        return ("bounced" if recipient and mailbox else "refused"), reason
    if recipient and code in (550, 551, 553) and not _POLICY.search(message):
        return "bounced", reason
    return "refused", reason
