"""The newsletters' contract: newsletters, subscriptions, issues and their sending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.common import PersonalDataDTO


@dataclass(frozen=True)
class NewsletterDTO:
    """A newsletter; ``subscribers`` counts the confirmed (active) ones."""

    id: int
    slug: str
    name: str
    description: str
    subscribers: int = 0


@dataclass(frozen=True)
class SubscriptionDTO:
    """One address on one newsletter: ``pending`` (awaiting confirmation), ``active``,
    ``unsubscribed`` or ``bounced``."""

    id: int
    newsletter_id: int
    newsletter_slug: str
    newsletter_name: str
    email: str
    status: str
    user_id: int | None
    created_at: datetime
    confirmed_at: datetime | None


@dataclass(frozen=True)
class SubscribeResult:
    """``confirm_token`` is set when a confirmation email must go out (double opt-in); None
    when the address is already subscribed or was confirmed already (a member's own)."""

    subscription: SubscriptionDTO
    confirm_token: str | None


@dataclass(frozen=True)
class IssueInput:
    """What staff write: ``html`` may be anything, the service sanitizes it."""

    subject: str
    html: str = ""


@dataclass(frozen=True)
class IssueDTO:
    """An issue of a newsletter (``html`` sanitized): ``draft``, ``sending``, ``paused`` (the
    mail relay kept refusing; ``paused_reason`` is its last answer) or ``sent``."""

    id: int
    newsletter_id: int
    newsletter_slug: str
    newsletter_name: str
    subject: str
    html: str
    status: str
    created_at: datetime
    updated_at: datetime
    send_started_at: datetime | None
    sent_at: datetime | None
    created_by_id: int | None = None
    paused_reason: str | None = None


@dataclass(frozen=True)
class DeliveryFailureDTO:
    """A recipient an issue could not reach, and why (the SMTP server's answer)."""

    email: str
    error: str
    attempts: int


@dataclass(frozen=True)
class IssueProgressDTO:
    """How far the sending of an issue has come (deliveries by status)."""

    issue: IssueDTO
    pending: int
    sent: int
    failed: int
    skipped: int
    failures: tuple[DeliveryFailureDTO, ...] = ()

    @property
    def total(self) -> int:
        return self.pending + self.sent + self.failed + self.skipped


@dataclass(frozen=True)
class OutgoingDTO:
    """One message the worker is to send now (its delivery row is locked meanwhile)."""

    delivery_id: int
    issue_id: int
    subscription_id: int
    email: str
    subject: str
    html: str
    newsletter_slug: str
    newsletter_name: str
    attempts: int


class NewsletterService(Protocol):
    """Newsletters and the member's own data (the account app).

    Refusals are :class:`~shared.contracts.errors.NewsletterError` (``field`` says which form
    field), ``NotFound`` (another member's subscription too) or ``Conflict``.
    """

    def unsubscribe_token(self, subscription_id: int) -> str:
        """The signed one-click unsubscribe token of a subscription (never expires)."""
        ...

    # -- newsletters and subscribing --

    async def list_newsletters(self, session: AsyncSession) -> tuple[NewsletterDTO, ...]:
        """Every newsletter, by name, with its count of active subscribers."""
        ...

    async def get_newsletter(self, session: AsyncSession, newsletter_id: int) -> NewsletterDTO:
        """One newsletter (NotFound when there is none)."""
        ...

    async def create_newsletter(
        self, session: AsyncSession, name: str, description: str = "", *, actor_id: int
    ) -> NewsletterDTO:
        """A new newsletter (slug from the name; a name in use is a Conflict); audited."""
        ...

    async def subscribe(
        self,
        session: AsyncSession,
        newsletter_id: int,
        email: str,
        *,
        user_id: int | None = None,
        confirmed: bool = False,
    ) -> SubscribeResult:
        """Subscribe an address: pending with a confirmation token (double opt-in), or active
        at once when ``confirmed`` (a member's own verified address)."""
        ...

    async def confirm_subscription(self, session: AsyncSession, token: str) -> SubscriptionDTO:
        """Activate the subscription in a confirmation link (idempotent)."""
        ...

    async def subscription_for_token(self, session: AsyncSession, token: str) -> SubscriptionDTO:
        """The subscription an unsubscribe link is for."""
        ...

    async def unsubscribe(self, session: AsyncSession, token: str) -> SubscriptionDTO:
        """Unsubscribe through a signed link (one click; idempotent)."""
        ...

    async def unsubscribe_member(
        self, session: AsyncSession, user_id: int, subscription_id: int
    ) -> SubscriptionDTO:
        """A member ends one of their own subscriptions (anyone else's is NotFound)."""
        ...

    async def member_subscriptions(
        self, session: AsyncSession, user_id: int
    ) -> tuple[SubscriptionDTO, ...]:
        """A member's subscriptions (any status), by newsletter name."""
        ...

    # -- issues (staff) --

    async def list_issues(self, session: AsyncSession, newsletter_id: int) -> tuple[IssueDTO, ...]:
        """A newsletter's issues, newest first."""
        ...

    async def get_issue(self, session: AsyncSession, issue_id: int) -> IssueDTO:
        """One issue (NotFound when there is none)."""
        ...

    async def create_issue(
        self, session: AsyncSession, newsletter_id: int, data: IssueInput, *, actor_id: int
    ) -> IssueDTO:
        """A new draft issue (its HTML sanitized)."""
        ...

    async def update_issue(
        self, session: AsyncSession, issue_id: int, data: IssueInput
    ) -> IssueDTO:
        """Rewrite a draft (one being sent or sent is a Conflict)."""
        ...

    async def start_sending(
        self, session: AsyncSession, issue_id: int, *, actor_id: int
    ) -> IssueProgressDTO:
        """Queue a draft for every active, unsuppressed subscriber (one delivery row each);
        an issue already sending or sent is a Conflict and adds no one."""
        ...

    async def resume_sending(
        self, session: AsyncSession, issue_id: int, *, actor_id: int
    ) -> IssueProgressDTO:
        """Send a paused issue again (one not paused is a Conflict)."""
        ...

    async def issue_progress(self, session: AsyncSession, issue_id: int) -> IssueProgressDTO:
        """Deliveries of an issue by status, and the failed ones with their reasons."""
        ...

    # -- sending (the worker, shared/services/newsletters/sender.py) --

    async def claim_delivery(
        self, session: AsyncSession, *, now: datetime | None = None
    ) -> OutgoingDTO | None:
        """The next due message, its row locked until the caller's transaction ends."""
        ...

    async def record_delivery(
        self,
        session: AsyncSession,
        delivery_id: int,
        outcome: str,
        error: str = "",
        *,
        now: datetime | None = None,
    ) -> str:
        """Record ``sent``, ``bounced`` (suppresses the address), ``retry`` or ``refused`` (the
        message or the relay, not the recipient); returns the delivery's status, or
        ``paused`` when a run of refusals paused the issue."""
        ...

    async def finish_issues(self, session: AsyncSession) -> int:
        """Mark ``sent`` every sending issue with nothing pending; returns how many."""
        ...

    # -- personal data --

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """The member's newsletter subscriptions, for their data export."""
        ...

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Remove every subscription of the member or of their address."""
        ...
