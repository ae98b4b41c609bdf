"""The account domain's service (the account app): newsletters and the member's own data.

Newsletters belong to addresses, not accounts: anyone may subscribe, and a subscription is
active only once its address is confirmed (double opt-in: the link in the confirmation email,
or a member's own verified address). Every email carries a signed one-click unsubscribe link
(RFC 8058) that never expires.

Sending is exactly-once by construction: :meth:`SqlNewsletterService.start_sending` writes one
delivery row per recipient (unique per issue and subscription, so starting twice adds no one
twice), and the worker (shared/services/newsletters/sender.py) takes one pending row at a time
with ``FOR UPDATE SKIP LOCKED``, sends it, and records the outcome in the same transaction. A
crash before the SMTP server accepted the message rolls the row back to pending (it is sent
on resume); once it is recorded ``sent`` it is never taken again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import BigInteger, and_, delete, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import ConfigError, NewsletterSettings, Settings
from shared.contracts import (
    DeliveryFailureDTO,
    IssueDTO,
    IssueInput,
    IssueProgressDTO,
    NewsletterDTO,
    OutgoingDTO,
    PersonalDataDTO,
    SubscribeResult,
    SubscriptionDTO,
)
from shared.contracts.errors import NewsletterError
from shared.errors import Conflict, FieldErrors, NotFound
from shared.infrastructure.sanitize import clean_text, sanitize_html, slugify
from shared.models import (
    EmailSuppression,
    Newsletter,
    NewsletterDelivery,
    NewsletterIssue,
    NewsletterSubscription,
)
from shared.services import audit

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_SUBJECT = 200
MAX_NAME = 120
MAX_HTML = 500_000
FAILURES_SHOWN = 50

# What the worker reports for one message (record_delivery): ``refused`` is a permanent
# refusal of the message or by the relay, which says nothing about the recipient.
OUTCOMES = ("sent", "bounced", "retry", "refused")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _newsletter(row: Newsletter, subscribers: int = 0) -> NewsletterDTO:
    return NewsletterDTO(row.id, row.slug, row.name, row.description, subscribers)


def _subscription(row: NewsletterSubscription, newsletter: Newsletter) -> SubscriptionDTO:
    return SubscriptionDTO(
        id=row.id,
        newsletter_id=newsletter.id,
        newsletter_slug=newsletter.slug,
        newsletter_name=newsletter.name,
        email=row.email,
        status=row.status,
        user_id=row.user_id,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
    )


def _issue(row: NewsletterIssue, newsletter: Newsletter) -> IssueDTO:
    return IssueDTO(
        id=row.id,
        newsletter_id=newsletter.id,
        newsletter_slug=newsletter.slug,
        newsletter_name=newsletter.name,
        subject=row.subject,
        html=row.html,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        send_started_at=row.send_started_at,
        sent_at=row.sent_at,
        created_by_id=row.created_by_id,
        paused_reason=row.paused_reason,
    )


def clean_email(email: str) -> str:
    """The address as typed (trimmed), or ``invalid_email``."""
    email = email.strip()
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise NewsletterError("invalid_email", "Enter a valid email address.", "email")
    return email


class SqlNewsletterService:
    """Implements :class:`shared.contracts.NewsletterService`."""

    def __init__(
        self, secret: bytes | None = None, newsletters: NewsletterSettings | None = None
    ) -> None:
        self._secret = secret
        self.settings = newsletters or NewsletterSettings()

    @classmethod
    def from_settings(cls, settings: Settings) -> SqlNewsletterService:
        """Links are signed with a key derived from ``ROSE_SECRET_KEY``."""
        master = settings.secrets.secret_key
        secret = (
            hmac.new(master.encode(), b"account:newsletter-links", hashlib.sha256).digest()
            if master
            else None
        )
        return cls(secret, settings.newsletters)

    # --- signed links ----------------------------------------------------------------------

    def _key(self) -> bytes:
        if self._secret is None:
            raise ConfigError("ROSE_SECRET_KEY (environment variable): needed to sign email links")
        return self._secret

    def unsubscribe_token(self, subscription_id: int) -> str:
        """The one-click unsubscribe token of a subscription (it never expires: old emails
        must keep working)."""
        return str(URLSafeSerializer(self._key(), salt="unsubscribe").dumps(subscription_id))

    def _confirm_token(self, row: NewsletterSubscription) -> str:
        serializer = URLSafeTimedSerializer(self._key(), salt="confirm-subscription")
        return str(serializer.dumps({"s": row.id, "e": row.email.lower()}))

    def _unsubscribe_id(self, token: str) -> int:
        try:
            value = URLSafeSerializer(self._key(), salt="unsubscribe").loads(token)
        except BadSignature:
            raise NewsletterError("token_invalid", "This link is not valid.") from None
        if not isinstance(value, int):
            raise NewsletterError("token_invalid", "This link is not valid.")
        return value

    # --- newsletters -----------------------------------------------------------------------

    async def list_newsletters(self, session: AsyncSession) -> tuple[NewsletterDTO, ...]:
        """Every newsletter, by name, with its count of active subscribers (one query)."""
        active = (
            select(func.count())
            .where(
                NewsletterSubscription.newsletter_id == Newsletter.id,
                NewsletterSubscription.status == "active",
            )
            .correlate(Newsletter)
            .scalar_subquery()
        )
        rows = await session.execute(select(Newsletter, active).order_by(Newsletter.name))
        return tuple(_newsletter(n, count) for n, count in rows.all())

    async def _get_newsletter(self, session: AsyncSession, newsletter_id: int) -> Newsletter:
        row = await session.get(Newsletter, newsletter_id)
        if row is None:
            raise NotFound("newsletter_not_found", "There is no such newsletter.")
        return row

    async def get_newsletter(self, session: AsyncSession, newsletter_id: int) -> NewsletterDTO:
        """One newsletter (NotFound when there is none)."""
        for item in await self.list_newsletters(session):
            if item.id == newsletter_id:
                return item
        raise NotFound("newsletter_not_found", "There is no such newsletter.")

    async def create_newsletter(
        self, session: AsyncSession, name: str, description: str = "", *, actor_id: int
    ) -> NewsletterDTO:
        """A new newsletter (its slug made from the name; a name in use is refused, 409)."""
        name = clean_text(name)
        if not name or len(name) > MAX_NAME:
            raise NewsletterError("invalid_name", "Give the newsletter a name.", "name")
        slug = slugify(name)[:80].rstrip("-")
        if not slug:
            raise NewsletterError("invalid_name", "Use letters or digits in the name.", "name")
        row = (
            await session.execute(
                insert(Newsletter)
                .values(slug=slug, name=name, description=clean_text(description))
                .on_conflict_do_nothing(index_elements=["slug"])
                .returning(Newsletter)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NewsletterError(
                "newsletter_exists", "There is a newsletter with that name already.", "name", 409
            )
        audit.record(
            session,
            "newsletter.created",
            object_type="newsletter",
            object_id=row.id,
            actor_user_id=actor_id,
            after={"slug": slug, "name": name},
        )
        return _newsletter(row)

    # --- subscribing -----------------------------------------------------------------------

    async def subscribe(
        self,
        session: AsyncSession,
        newsletter_id: int,
        email: str,
        *,
        user_id: int | None = None,
        confirmed: bool = False,
    ) -> SubscribeResult:
        """Subscribe an address: pending with a confirmation token, or active at once when
        ``confirmed`` (a member's own verified address). Subscribing again is harmless: an
        active subscription stays as it is and no email is due."""
        email = clean_email(email)
        newsletter = await self._get_newsletter(session, newsletter_id)
        # One row per address and newsletter, even when two sign-ups race.
        await session.execute(
            insert(NewsletterSubscription)
            .values(newsletter_id=newsletter_id, email=email, user_id=user_id)
            .on_conflict_do_nothing(index_elements=["newsletter_id", text("lower(email)")])
        )
        row = (
            await session.execute(
                select(NewsletterSubscription)
                .where(
                    NewsletterSubscription.newsletter_id == newsletter_id,
                    func.lower(NewsletterSubscription.email) == email.lower(),
                )
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        if user_id is not None and row.user_id is None:
            row.user_id = user_id
        token: str | None = None
        if row.status != "active":
            if confirmed:
                self._activate(row)
                await self._unsuppress(session, row.email)
            else:
                row.status = "pending"
                token = self._confirm_token(row)
        await session.flush()
        return SubscribeResult(_subscription(row, newsletter), token)

    @staticmethod
    def _activate(row: NewsletterSubscription) -> None:
        row.status = "active"
        row.confirmed_at = utcnow()
        row.unsubscribed_at = None

    @staticmethod
    async def _unsuppress(session: AsyncSession, email: str) -> None:
        # A confirmed address has just proved it receives mail.
        await session.execute(
            delete(EmailSuppression).where(EmailSuppression.email == email.lower())
        )

    async def _subscription_row(
        self, session: AsyncSession, subscription_id: int
    ) -> tuple[NewsletterSubscription, Newsletter]:
        found = (
            await session.execute(
                select(NewsletterSubscription, Newsletter)
                .join(Newsletter, Newsletter.id == NewsletterSubscription.newsletter_id)
                .where(NewsletterSubscription.id == subscription_id)
                .with_for_update(of=NewsletterSubscription)
            )
        ).first()
        if found is None:
            raise NotFound("subscription_not_found", "There is no such subscription.")
        return found[0], found[1]

    async def confirm_subscription(self, session: AsyncSession, token: str) -> SubscriptionDTO:
        """Activate the subscription in a confirmation link (idempotent)."""
        serializer = URLSafeTimedSerializer(self._key(), salt="confirm-subscription")
        try:
            data = serializer.loads(token, max_age=self.settings.confirm_ttl_s)
        except SignatureExpired:
            raise NewsletterError(
                "token_expired", "This link has expired. Please subscribe again."
            ) from None
        except BadSignature:
            raise NewsletterError("token_invalid", "This link is not valid.") from None
        if not isinstance(data, dict) or not isinstance(data.get("s"), int):
            raise NewsletterError("token_invalid", "This link is not valid.")
        row, newsletter = await self._subscription_row(session, data["s"])
        if row.email.lower() != data.get("e"):
            raise NewsletterError("token_invalid", "This link is not valid.")
        if row.status != "active":
            self._activate(row)
            await self._unsuppress(session, row.email)
            await session.flush()
        return _subscription(row, newsletter)

    async def subscription_for_token(self, session: AsyncSession, token: str) -> SubscriptionDTO:
        """The subscription an unsubscribe link is for (to show before acting)."""
        row, newsletter = await self._subscription_row(session, self._unsubscribe_id(token))
        return _subscription(row, newsletter)

    async def unsubscribe(self, session: AsyncSession, token: str) -> SubscriptionDTO:
        """Unsubscribe through a signed link (one click; idempotent)."""
        row, newsletter = await self._subscription_row(session, self._unsubscribe_id(token))
        self._unsubscribe(row)
        await session.flush()
        return _subscription(row, newsletter)

    @staticmethod
    def _unsubscribe(row: NewsletterSubscription) -> None:
        if row.status in ("active", "pending"):
            row.status = "unsubscribed"
            row.unsubscribed_at = utcnow()

    async def unsubscribe_member(
        self, session: AsyncSession, user_id: int, subscription_id: int
    ) -> SubscriptionDTO:
        """A member ends one of their own subscriptions (anyone else's is NotFound)."""
        row, newsletter = await self._subscription_row(session, subscription_id)
        if row.user_id != user_id:
            raise NotFound("subscription_not_found", "There is no such subscription.")
        self._unsubscribe(row)
        await session.flush()
        return _subscription(row, newsletter)

    async def member_subscriptions(
        self, session: AsyncSession, user_id: int
    ) -> tuple[SubscriptionDTO, ...]:
        """A member's subscriptions (any status), by newsletter name."""
        rows = await session.execute(
            select(NewsletterSubscription, Newsletter)
            .join(Newsletter, Newsletter.id == NewsletterSubscription.newsletter_id)
            .where(NewsletterSubscription.user_id == user_id)
            .order_by(Newsletter.name)
        )
        return tuple(_subscription(s, n) for s, n in rows.all())

    # --- issues ----------------------------------------------------------------------------

    @staticmethod
    def _clean_issue(data: IssueInput) -> tuple[str, str]:
        checks = FieldErrors()  # the subject's and the body's problems, both at once
        subject = clean_text(data.subject)
        if not subject or len(subject) > MAX_SUBJECT:
            checks.note(
                NewsletterError(
                    "invalid_subject",
                    f"Give a subject of at most {MAX_SUBJECT} characters.",
                    "subject",
                )
            )
        html = ""
        if len(data.html) > MAX_HTML:
            checks.note(NewsletterError("issue_too_long", "This issue is too long.", "html"))
        else:
            html = sanitize_html(data.html)
            if not html.strip():
                checks.note(NewsletterError("issue_empty", "Write something in the issue.", "html"))
        checks.raise_if_any()
        return subject, html

    async def list_issues(self, session: AsyncSession, newsletter_id: int) -> tuple[IssueDTO, ...]:
        """A newsletter's issues, newest first."""
        newsletter = await self._get_newsletter(session, newsletter_id)
        rows = await session.scalars(
            select(NewsletterIssue)
            .where(NewsletterIssue.newsletter_id == newsletter_id)
            .order_by(NewsletterIssue.id.desc())
        )
        return tuple(_issue(r, newsletter) for r in rows.all())

    async def _issue_row(
        self, session: AsyncSession, issue_id: int, *, lock: bool = False
    ) -> tuple[NewsletterIssue, Newsletter]:
        stmt = (
            select(NewsletterIssue, Newsletter)
            .join(Newsletter, Newsletter.id == NewsletterIssue.newsletter_id)
            .where(NewsletterIssue.id == issue_id)
        )
        if lock:
            stmt = stmt.with_for_update(of=NewsletterIssue).execution_options(
                populate_existing=True
            )
        found = (await session.execute(stmt)).first()
        if found is None:
            raise NotFound("issue_not_found", "There is no such issue.")
        return found[0], found[1]

    async def get_issue(self, session: AsyncSession, issue_id: int) -> IssueDTO:
        """One issue (NotFound when there is none)."""
        return _issue(*await self._issue_row(session, issue_id))

    async def create_issue(
        self, session: AsyncSession, newsletter_id: int, data: IssueInput, *, actor_id: int
    ) -> IssueDTO:
        """A new draft issue (its HTML sanitized)."""
        subject, html = self._clean_issue(data)
        newsletter = await self._get_newsletter(session, newsletter_id)
        row = NewsletterIssue(
            newsletter_id=newsletter_id, subject=subject, html=html, created_by_id=actor_id
        )
        session.add(row)
        await session.flush()
        await session.refresh(row)
        return _issue(row, newsletter)

    async def update_issue(
        self, session: AsyncSession, issue_id: int, data: IssueInput
    ) -> IssueDTO:
        """Rewrite a draft (an issue being sent or sent is a Conflict)."""
        subject, html = self._clean_issue(data)
        row, newsletter = await self._issue_row(session, issue_id, lock=True)
        if row.status != "draft":
            raise Conflict("issue_not_draft", "This issue has been sent: it cannot change.")
        row.subject, row.html = subject, html
        await session.flush()
        await session.refresh(row)
        return _issue(row, newsletter)

    async def start_sending(
        self, session: AsyncSession, issue_id: int, *, actor_id: int
    ) -> IssueProgressDTO:
        """Queue a draft for every active, unsuppressed subscriber: one delivery row each,
        written now, so the list of recipients is fixed when staff press send. Starting an
        issue that is already sending or sent is a Conflict (and adds no one)."""
        row, newsletter = await self._issue_row(session, issue_id, lock=True)
        if row.status != "draft":
            raise Conflict("issue_already_sent", "This issue has been sent already.")
        now = utcnow()
        row.status, row.send_started_at = "sending", now
        suppressed = select(EmailSuppression.email).where(
            EmailSuppression.email == func.lower(NewsletterSubscription.email)
        )
        recipients = select(literal(issue_id, BigInteger), NewsletterSubscription.id).where(
            NewsletterSubscription.newsletter_id == newsletter.id,
            NewsletterSubscription.status == "active",
            ~suppressed.exists(),
        )
        await session.execute(
            insert(NewsletterDelivery)
            .from_select(["issue_id", "subscription_id"], recipients)
            .on_conflict_do_nothing(constraint="uq_newsletter_deliveries_recipient")
        )
        await self._finish(session, issue_id)
        audit.record(
            session,
            "newsletter_issue.send_started",
            object_type="newsletter_issue",
            object_id=issue_id,
            actor_user_id=actor_id,
            before={"status": "draft"},
            after={"status": "sending"},
        )
        return await self.issue_progress(session, issue_id)

    async def issue_progress(self, session: AsyncSession, issue_id: int) -> IssueProgressDTO:
        """Deliveries of an issue by status, and the failed ones with their reasons."""
        row, newsletter = await self._issue_row(session, issue_id)
        by_status = await session.execute(
            select(NewsletterDelivery.status, func.count())
            .where(NewsletterDelivery.issue_id == issue_id)
            .group_by(NewsletterDelivery.status)
        )
        counts: dict[str, int] = {}
        for status, n in by_status.all():
            counts[status] = n
        failures = await session.execute(
            select(
                NewsletterSubscription.email,
                NewsletterDelivery.last_error,
                NewsletterDelivery.attempts,
            )
            .join(
                NewsletterSubscription,
                NewsletterSubscription.id == NewsletterDelivery.subscription_id,
            )
            .where(NewsletterDelivery.issue_id == issue_id, NewsletterDelivery.status == "failed")
            .order_by(NewsletterDelivery.id)
            .limit(FAILURES_SHOWN)
        )
        return IssueProgressDTO(
            issue=_issue(row, newsletter),
            pending=counts.get("pending", 0),
            sent=counts.get("sent", 0),
            failed=counts.get("failed", 0),
            skipped=counts.get("skipped", 0),
            failures=tuple(DeliveryFailureDTO(e, err or "", n) for e, err, n in failures.all()),
        )

    # --- the worker's side -----------------------------------------------------------------

    async def claim_delivery(
        self, session: AsyncSession, *, now: datetime | None = None
    ) -> OutgoingDTO | None:
        """The next due message, its row locked until the caller's transaction ends (other
        workers skip it); recipients who unsubscribed or bounced meanwhile are marked
        ``skipped`` on the way. None when nothing is due."""
        now = now or utcnow()
        while True:
            found = (
                await session.execute(
                    select(NewsletterDelivery, NewsletterSubscription, NewsletterIssue, Newsletter)
                    .join(
                        NewsletterSubscription,
                        NewsletterSubscription.id == NewsletterDelivery.subscription_id,
                    )
                    .join(NewsletterIssue, NewsletterIssue.id == NewsletterDelivery.issue_id)
                    .join(Newsletter, Newsletter.id == NewsletterIssue.newsletter_id)
                    .where(
                        NewsletterDelivery.status == "pending",
                        NewsletterDelivery.next_attempt_at <= now,
                        # A paused issue's messages wait for staff to resume it.
                        NewsletterIssue.status == "sending",
                    )
                    .order_by(NewsletterDelivery.next_attempt_at, NewsletterDelivery.id)
                    .limit(1)
                    .with_for_update(of=NewsletterDelivery, skip_locked=True)
                    .execution_options(populate_existing=True)
                )
            ).first()
            if found is None:
                return None
            delivery, sub, issue, newsletter = found
            suppressed = await session.get(EmailSuppression, sub.email.lower())
            if sub.status != "active" or suppressed is not None:
                delivery.status = "skipped"
                delivery.last_error = "unsubscribed" if suppressed is None else "suppressed"
                await session.flush()
                continue
            return OutgoingDTO(
                delivery_id=delivery.id,
                issue_id=issue.id,
                subscription_id=sub.id,
                email=sub.email,
                subject=issue.subject,
                html=issue.html,
                newsletter_slug=newsletter.slug,
                newsletter_name=newsletter.name,
                attempts=delivery.attempts,
            )

    async def record_delivery(
        self,
        session: AsyncSession,
        delivery_id: int,
        outcome: str,
        error: str = "",
        *,
        now: datetime | None = None,
    ) -> str:
        """Record what became of a claimed message: ``sent``; ``bounced`` (the recipient's
        permanent failure: failed, and the address suppressed); ``retry`` (a temporary
        failure: pending again later, failed after ``max_attempts``); or ``refused`` (the
        message or the relay refused: retried like ``retry``, the subscriber untouched, and
        ``pause_after_refusals`` of them in a row pause the issue). Returns the delivery's
        status, or ``paused`` when this refusal paused its issue."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        now = now or utcnow()
        delivery = await session.get(NewsletterDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise NotFound("delivery_not_found", "There is no such delivery.")
        delivery.attempts += 1
        delivery.last_error = error[:2000] or None
        paused = False
        if outcome in ("sent", "refused"):
            paused = await self._count_refusal(session, delivery.issue_id, outcome, error)
        if outcome == "sent":
            delivery.status, delivery.sent_at = "sent", now
        elif outcome == "bounced":
            delivery.status = "failed"
            sub = await session.get(NewsletterSubscription, delivery.subscription_id)
            assert sub is not None  # the foreign key
            sub.status = "bounced"
            await session.execute(
                insert(EmailSuppression)
                .values(email=sub.email.lower(), reason=error[:2000] or "bounced")
                .on_conflict_do_nothing(index_elements=["email"])
            )
        elif delivery.attempts >= self.settings.max_attempts:
            # ``retry`` or ``refused``: neither says anything against the address.
            delivery.status = "failed"
        else:
            delivery.status = "pending"
            delivery.next_attempt_at = now + timedelta(
                seconds=self.settings.retry_after_s * delivery.attempts
            )
        await session.flush()
        await self._finish(session, delivery.issue_id)
        return "paused" if paused else delivery.status

    async def _count_refusal(
        self, session: AsyncSession, issue_id: int, outcome: str, error: str
    ) -> bool:
        """Keep the issue's run of refusals (a message sent ends it); True when this refusal
        paused the issue."""
        if outcome == "sent":
            await session.execute(
                update(NewsletterIssue)
                .where(NewsletterIssue.id == issue_id, NewsletterIssue.refusals_in_a_row > 0)
                .values(refusals_in_a_row=0)
            )
            return False
        run = (
            await session.execute(
                update(NewsletterIssue)
                .where(NewsletterIssue.id == issue_id)
                .values(refusals_in_a_row=NewsletterIssue.refusals_in_a_row + 1)
                .returning(NewsletterIssue.refusals_in_a_row)
            )
        ).scalar_one()
        if run < self.settings.pause_after_refusals:
            return False
        paused = await session.execute(
            update(NewsletterIssue)
            .where(NewsletterIssue.id == issue_id, NewsletterIssue.status == "sending")
            .values(status="paused", paused_reason=error[:2000] or "refused")
            .returning(NewsletterIssue.id)
        )
        if paused.first() is None:
            return False
        audit.record(
            session,
            "newsletter_issue.paused",
            object_type="newsletter_issue",
            object_id=issue_id,
            actor_user_id=None,
            before={"status": "sending"},
            after={"status": "paused", "reason": error[:500]},
        )
        return True

    async def resume_sending(
        self, session: AsyncSession, issue_id: int, *, actor_id: int
    ) -> IssueProgressDTO:
        """Send a paused issue again: its waiting messages are due at once (not paused is
        a Conflict)."""
        row, _ = await self._issue_row(session, issue_id, lock=True)
        if row.status != "paused":
            raise Conflict("issue_not_paused", "This issue is not paused.")
        row.status, row.refusals_in_a_row, row.paused_reason = "sending", 0, None
        await session.execute(
            update(NewsletterDelivery)
            .where(NewsletterDelivery.issue_id == issue_id, NewsletterDelivery.status == "pending")
            .values(next_attempt_at=func.now())
        )
        audit.record(
            session,
            "newsletter_issue.resumed",
            object_type="newsletter_issue",
            object_id=issue_id,
            actor_user_id=actor_id,
            before={"status": "paused"},
            after={"status": "sending"},
        )
        await session.flush()
        await self._finish(session, issue_id)
        return await self.issue_progress(session, issue_id)

    async def finish_issues(self, session: AsyncSession) -> int:
        """Mark ``sent`` every sending issue with nothing pending; returns how many."""
        result = await session.execute(
            update(NewsletterIssue)
            .where(NewsletterIssue.status == "sending", ~self._pending_exists())
            .values(status="sent", sent_at=utcnow())
            .returning(NewsletterIssue.id)
        )
        return len(result.all())

    @staticmethod
    def _pending_exists() -> Any:
        return (
            select(NewsletterDelivery.id)
            .where(
                NewsletterDelivery.issue_id == NewsletterIssue.id,
                NewsletterDelivery.status == "pending",
            )
            .exists()
        )

    async def _finish(self, session: AsyncSession, issue_id: int) -> None:
        await session.execute(
            update(NewsletterIssue)
            .where(
                and_(NewsletterIssue.id == issue_id, NewsletterIssue.status == "sending"),
                ~self._pending_exists(),
            )
            .values(status="sent", sent_at=utcnow())
        )

    # --- personal data ---------------------------------------------------------------------

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """The member's newsletter subscriptions, for their data export."""
        subs = await self.member_subscriptions(session, user_id)
        return PersonalDataDTO(
            "newsletters",
            {
                "subscriptions": [
                    {
                        "newsletter": s.newsletter_name,
                        "email": s.email,
                        "status": s.status,
                        "subscribed_at": s.created_at.isoformat(),
                        "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
                    }
                    for s in subs
                ]
            },
        )

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Remove every subscription of the member or of their address (and with them the
        record of what was delivered to it), and the address's suppression if it bounced."""
        await session.execute(
            delete(NewsletterSubscription).where(
                (NewsletterSubscription.user_id == user_id)
                | (func.lower(NewsletterSubscription.email) == email.lower())
            )
        )
        await self._unsuppress(session, email)
