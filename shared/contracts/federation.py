"""The ActivityPub hub's contract: what our app actors publish, their followers, what they
receive, and the delivery queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ApObjectDTO:
    """An ActivityStreams document as JSON: an object a domain publishes (an ``Article``, an
    ``Event``), or an activity received from another server."""

    data: Mapping[str, Any]

    @property
    def type(self) -> str | None:
        value = self.data.get("type")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class HashtagDTO:
    """A hashtag on something we publish: its name (as shown) and the page listing what
    carries it (Mastodon links the tag there)."""

    name: str
    href: str


@dataclass(frozen=True)
class ArticleDTO:
    """A blog post as the fediverse sees it: ``id`` is its object URI (stable across edits),
    ``url`` its public page, ``content`` HTML."""

    id: str
    name: str
    summary: str
    content: str
    url: str
    published: datetime
    updated: datetime | None = None
    tags: tuple[HashtagDTO, ...] = ()


@dataclass(frozen=True)
class ApActivityDTO:
    """An activity one of our actors published (``payload`` is its JSON as delivered)."""

    id: int
    uri: str
    actor_app: str
    activity_type: str
    object_uri: str | None
    payload: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class OutboxPageDTO:
    """One page of an actor's outbox, newest first; ``next_max_id`` continues it."""

    items: tuple[ApActivityDTO, ...]
    total: int
    next_max_id: int | None


@dataclass(frozen=True)
class FollowerDTO:
    actor_uri: str
    inbox_url: str
    shared_inbox_url: str | None
    created_at: datetime


@dataclass(frozen=True)
class AppInteractionDTO:
    """A Like, boost or reply one of our app actors' objects received, with who sent it (their
    handle when their actor is cached) and what it was about (the object's title when known)."""

    id: int
    actor_app: str
    kind: str  # like, boost or reply
    actor_uri: str
    actor_handle: str | None
    object_uri: str
    object_title: str | None
    reply_url: str | None
    reply_text: str | None
    received_at: datetime


@dataclass(frozen=True)
class RemoteActorDTO:
    """An actor on another server, as fetched (and cached) with its public key."""

    uri: str
    key_id: str | None
    public_key_pem: str | None
    inbox_url: str | None
    shared_inbox_url: str | None
    preferred_username: str | None
    actor_type: str | None
    fetched_at: datetime

    @property
    def delivery_inbox(self) -> str | None:
        """Where to deliver public activities: the shared inbox when there is one."""
        return self.shared_inbox_url or self.inbox_url


@dataclass(frozen=True)
class ReceivedDTO:
    """What handling an inbound activity did (``outcome`` is a stable word for tests and logs:
    duplicate, followed, unfollowed, actor_deleted, noted); ``published`` are the activities
    it wrote to the outbox in reply (an Accept)."""

    outcome: str
    activity_type: str
    published: tuple[str, ...] = field(default=())


# The staff views of the delivery queue: retrying, dead letters, waiting, delivered.
DELIVERY_VIEWS = ("failing", "dead", "pending", "delivered")


@dataclass(frozen=True)
class DeliveryDTO:
    """One activity on its way to one inbox."""

    id: int
    activity_uri: str
    activity_type: str
    actor_app: str
    inbox_url: str
    host: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeliveryAttemptDTO:
    attempted_at: datetime
    worker: str
    status_code: int | None
    error: str | None
    outcome: str
    duration_ms: int


@dataclass(frozen=True)
class ApHostDTO:
    """A remote host we deliver to, and how reachable it has been."""

    host: str
    consecutive_failures: int
    failing_since: datetime | None
    unavailable_since: datetime | None
    next_probe_at: datetime | None


@dataclass(frozen=True)
class DeliveryQueueDTO:
    """Deliveries by state, activities not yet fanned out, and the hosts being skipped."""

    pending: int
    retrying: int
    delivered: int
    dead: int
    unfanned: int
    unavailable_hosts: tuple[ApHostDTO, ...]


class FederationService(Protocol):
    """ActivityPub: what our app actors publish, who follows them, what they receive, and the
    delivery queue staff watch (the federation app; every app is an actor).

    Domains announce a change by calling :meth:`publish` inside the transaction that makes it
    (the transactional outbox): the activity exists exactly when the change committed, and the
    OutboxProcessor (``rose-ash worker``) delivers it afterwards. Refusals are DomainErrors with
    an ``ap_*`` code.
    """

    # -- publishing --

    def new_object_uri(self, actor_app: str) -> str:
        """A fresh object id on the actor's host (served at ``/ap/objects/<uid>``)."""
        ...

    def article(self, actor_app: str, article: ArticleDTO) -> ApObjectDTO:
        """The ``Article`` for a post: attributed to the actor, to Public, cc its followers."""
        ...

    async def publish(
        self,
        session: AsyncSession,
        actor_app: str,
        activity_type: str,
        obj: ApObjectDTO | str,
        *,
        deliver: bool = True,
    ) -> ApActivityDTO:
        """Write a public Create/Update (``obj`` the object) or Delete/Announce (``obj`` its
        id) by ``actor_app`` to the outbox; nothing is sent before the session commits.
        ``deliver=False`` puts it in the outbox collection without sending it to followers
        (a back catalogue imported at once is not news)."""
        ...

    # -- what our actors published, and who follows them --

    async def outbox_page(
        self, session: AsyncSession, actor_app: str, *, max_id: int | None, limit: int
    ) -> OutboxPageDTO:
        """Public activities of ``actor_app``, newest first, below ``max_id``."""
        ...

    async def outbox_count(self, session: AsyncSession, actor_app: str) -> int:
        """How many public activities ``actor_app`` has published."""
        ...

    async def local_post_count(self, session: AsyncSession, actor_app: str) -> int:
        """Public objects standing now (created, not deleted) that the actors on
        ``actor_app``'s host published: the app actor's, and on federation's host the
        members' (NodeInfo's ``localPosts``)."""
        ...

    async def peer_count(self, session: AsyncSession) -> int:
        """How many other servers we know actors of (the Mastodon API's ``domain_count``)."""
        ...

    async def activity_by_uri(self, session: AsyncSession, uri: str) -> ApActivityDTO | None:
        """A public activity we published, or None."""
        ...

    async def object_by_uri(self, session: AsyncSession, uri: str) -> ApObjectDTO | None:
        """The latest version of an object we published; a Tombstone once deleted."""
        ...

    async def follower_count(self, session: AsyncSession, actor_app: str) -> int:
        """How many remote actors follow ``actor_app``."""
        ...

    async def followers_page(
        self, session: AsyncSession, actor_app: str, *, page: int, limit: int
    ) -> list[FollowerDTO]:
        """Followers of ``actor_app``, oldest first, ``limit`` per page (from 1)."""
        ...

    # -- receiving --

    async def receive(
        self,
        session: AsyncSession,
        recipient_app: str | None,
        activity: ApObjectDTO,
        sender: RemoteActorDTO,
    ) -> ReceivedDTO:
        """Act on an inbound activity whose signature proved ``sender`` to be its actor
        (``recipient_app`` None: it came to the shared inbox)."""
        ...

    async def app_interactions(
        self, session: AsyncSession, *, limit_per_app: int = 50
    ) -> dict[str, list[AppInteractionDTO]]:
        """The newest Likes, boosts and replies each app actor's objects received, by app."""
        ...

    async def mark_host_alive(self, session: AsyncSession, host: str) -> None:
        """A host that talks to us is up: stop skipping it and release its queue."""
        ...

    # -- the delivery queue, for staff --

    async def queue_overview(self, session: AsyncSession) -> DeliveryQueueDTO:
        """Deliveries by state, and the hosts currently skipped as unavailable."""
        ...

    async def list_deliveries(
        self, session: AsyncSession, view: str, *, limit: int = 100
    ) -> list[DeliveryDTO]:
        """The deliveries of one of ``DELIVERY_VIEWS``."""
        ...

    async def delivery_detail(
        self, session: AsyncSession, delivery_id: int
    ) -> tuple[DeliveryDTO, list[DeliveryAttemptDTO]]:
        """One delivery and every attempt at it (NotFound when there is none)."""
        ...

    async def retry_delivery(self, session: AsyncSession, delivery_id: int) -> None:
        """Put a dead or waiting delivery back at the front of the queue, attempts reset."""
        ...

    async def retry_dead(self, session: AsyncSession) -> int:
        """Requeue every dead letter; returns how many."""
        ...
