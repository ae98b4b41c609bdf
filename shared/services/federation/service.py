"""The federation domain (implements :class:`shared.contracts.FederationService`):
what our app actors publish and what they do with what they receive.

Domains announce changes by calling :meth:`SqlFederationService.publish` inside their own
transaction: the activity is written to ``ap_activities`` (the transactional outbox) and exists
exactly when the change committed; the OutboxProcessor (``shared.services.federation.outbox``)
delivers it later. Inbound activities arrive here already verified
(``shared.infrastructure.activitypub.inbox``).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, case, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.config import APP_NAMES, Settings
from shared.contracts import (
    DELIVERY_VIEWS,
    ApActivityDTO,
    ApHostDTO,
    ApObjectDTO,
    AppInteractionDTO,
    ArticleDTO,
    DeliveryAttemptDTO,
    DeliveryDTO,
    DeliveryQueueDTO,
    FollowerDTO,
    OutboxPageDTO,
    ReceivedDTO,
    RemoteActorDTO,
)
from shared.errors import DomainError, NotFound
from shared.infrastructure.activitypub import remote
from shared.infrastructure.activitypub.actors import (
    CONTEXT,
    PUBLIC,
    actor_urls,
    app_of_actor,
    hashtag,
)
from shared.infrastructure.activitypub.remote import id_of, visitor_of
from shared.models import (
    ApActivity,
    ApDelivery,
    ApDeliveryAttempt,
    ApFollower,
    ApHost,
    ApInboundActivity,
    ApRemoteActor,
)
from shared.services.federation import interactions


class SocialInbound(Protocol):
    """The part of the social hub the inbox hands activities to (members' follows, posts)."""

    async def receive(
        self, session: AsyncSession, inbound: ApObjectDTO, sender: RemoteActorDTO
    ) -> ReceivedDTO | None: ...


PUBLISHABLE = ("Create", "Update", "Delete", "Announce")
OBJECT_TYPES = ("Article", "Note", "Event", "Page", "Place")


def _now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SqlFederationService:
    """Implements :class:`shared.contracts.FederationService` on PostgreSQL."""

    def __init__(self, settings: Settings, social: SocialInbound | None = None) -> None:
        # Actor ids, inboxes and object URIs are built from the apps' public URLs.
        self.settings = settings
        # Members' actors (the social hub) take what concerns them first.
        self.social = social

    # --- publishing -----------------------------------------------------------------------

    def new_object_uri(self, actor_app: str) -> str:
        """A fresh object id on the actor's host (served by ``/ap/objects/<uid>``)."""
        return actor_urls(self.settings, actor_app).object(uuid.uuid4().hex)

    def article(self, actor_app: str, article: ArticleDTO) -> ApObjectDTO:
        """An ``Article`` as Mastodon shows it: its name, its summary and a link to its url."""
        urls = actor_urls(self.settings, actor_app)
        obj: dict[str, Any] = {
            "id": article.id,
            "type": "Article",
            "name": article.name,
            "summary": article.summary,
            "content": article.content,
            "url": article.url,
            "published": iso(article.published),
            "attributedTo": urls.id,
            "to": [PUBLIC],
            "cc": [urls.followers],
        }
        if article.updated is not None:
            obj["updated"] = iso(article.updated)
        if article.tags:
            obj["tag"] = [hashtag(t.name, t.href) for t in article.tags]
        return ApObjectDTO(obj)

    async def publish(
        self,
        session: AsyncSession,
        actor_app: str,
        activity_type: str,
        obj: ApObjectDTO | str,
        *,
        deliver: bool = True,
    ) -> ApActivityDTO:
        """Write a public Create/Update/Delete/Announce by ``actor_app`` to the outbox.

        Call it inside the transaction that makes the change; nothing is sent until it commits.
        ``obj`` is the object (``Create``/``Update``), or its id (``Delete``, ``Announce``).
        ``deliver=False`` keeps it in the outbox collection but sends it to no follower.
        """
        if actor_app not in APP_NAMES:
            raise DomainError("ap_unknown_actor", f"{actor_app!r} is not one of our actors.")
        if activity_type not in PUBLISHABLE:
            raise DomainError("ap_bad_activity", f"{activity_type!r} cannot be published.")
        urls = actor_urls(self.settings, actor_app)
        now = _now()
        body_object: Any
        if activity_type in ("Create", "Update"):
            if not isinstance(obj, ApObjectDTO) or obj.type not in OBJECT_TYPES:
                raise DomainError(
                    "ap_bad_object",
                    f"{activity_type} needs an object of type {', '.join(OBJECT_TYPES)}.",
                )
            doc = dict(obj.data)
            doc.setdefault("id", self.new_object_uri(actor_app))
            doc.setdefault("attributedTo", urls.id)
            doc.setdefault("to", [PUBLIC])
            doc.setdefault("cc", [urls.followers])
            if doc["attributedTo"] != urls.id:
                raise DomainError("ap_bad_object", "The object must be attributed to its actor.")
            if activity_type == "Update":
                doc.setdefault("updated", iso(now))
            body_object = doc
            object_uri, object_type = str(doc["id"]), str(doc["type"])
        else:
            object_uri = id_of(obj.data if isinstance(obj, ApObjectDTO) else obj) or ""
            if not object_uri:
                raise DomainError("ap_bad_object", f"{activity_type} needs an object id.")
            if activity_type == "Delete":
                # A Tombstone with the deleted object's id (Mastodon and Fedify read that) and
                # its formerType (Gancio refuses a Delete without it).
                body_object = {
                    "id": object_uri,
                    "type": "Tombstone",
                    "formerType": await _former_type(session, actor_app, object_uri),
                    "deleted": iso(now),
                }
                object_type = "Tombstone"
            else:
                body_object = object_uri
                object_type = None
        uid = uuid.uuid4().hex
        payload: dict[str, Any] = {
            "@context": CONTEXT,
            "id": urls.activity(uid),
            "type": activity_type,
            "actor": urls.id,
            "published": iso(now),
            "to": [PUBLIC],
            "cc": [urls.followers],
            "object": body_object,
        }
        return await _record(
            session,
            actor_app,
            payload,
            object_uri=object_uri,
            object_type=object_type,
            is_public=True,
            to_followers=deliver,
            target_inboxes=[],
        )

    # --- reading ----------------------------------------------------------------------------

    async def outbox_page(
        self, session: AsyncSession, actor_app: str, *, max_id: int | None, limit: int
    ) -> OutboxPageDTO:
        """What stands now of ``actor_app``'s public activities, newest first, ``limit`` per
        page, keyset by id: each live object's ``Create`` carrying its latest version; nothing
        of a deleted or withdrawn object (a server that reads the outbox when it follows must
        not import it), no ``Update`` of a listed ``Create`` and no ``Delete``."""
        base = select(ApActivity).where(*_standing(actor_app))
        total = await self.outbox_count(session, actor_app)
        if max_id is not None:
            base = base.where(ApActivity.id < max_id)
        rows = list(
            (await session.scalars(base.order_by(ApActivity.id.desc()).limit(limit + 1))).all()
        )
        more = len(rows) > limit
        rows = rows[:limit]
        latest = await _latest_versions(
            session, actor_app, [r.object_uri for r in rows if r.activity_type == "Create"]
        )
        items = []
        for row in rows:
            item = _activity(row)
            if row.activity_type == "Create" and row.object_uri in latest:
                payload = dict(row.payload)
                payload["object"] = latest[row.object_uri]
                item = replace(item, payload=payload)
            items.append(item)
        return OutboxPageDTO(tuple(items), total, rows[-1].id if more and rows else None)

    async def outbox_count(self, session: AsyncSession, actor_app: str) -> int:
        return int(
            await session.scalar(
                select(func.count()).select_from(ApActivity).where(*_standing(actor_app))
            )
            or 0
        )

    async def local_post_count(self, session: AsyncSession, actor_app: str) -> int:
        """Public objects standing now (created, not deleted) that the actors on
        ``actor_app``'s host published: the app actor's, and on federation's host the
        members' (NodeInfo's ``localPosts``)."""
        return int(
            await session.scalar(
                select(func.count())
                .select_from(ApActivity)
                .where(
                    ApActivity.actor_app == actor_app,
                    ApActivity.activity_type == "Create",
                    ApActivity.is_public,
                    ~_deleted_later(actor_app),
                )
            )
            or 0
        )

    async def peer_count(self, session: AsyncSession) -> int:
        """How many other servers we know actors of (the Mastodon API's ``domain_count``)."""
        host = func.split_part(ApRemoteActor.uri, "/", 3)
        return int(await session.scalar(select(func.count(func.distinct(func.lower(host))))) or 0)

    async def activity_by_uri(self, session: AsyncSession, uri: str) -> ApActivityDTO | None:
        row = await session.scalar(
            select(ApActivity).where(ApActivity.uri == uri, ApActivity.actor_account_id.is_(None))
        )
        return _activity(row) if row is not None and row.is_public else None

    async def object_by_uri(self, session: AsyncSession, uri: str) -> ApObjectDTO | None:
        """The latest public version of an object we published, a Tombstone once deleted."""
        row = await session.scalar(
            select(ApActivity)
            .where(
                ApActivity.object_uri == uri,
                ApActivity.is_public,
                ApActivity.actor_account_id.is_(None),
            )
            .order_by(ApActivity.id.desc())
            .limit(1)
        )
        if row is None:
            return None
        obj = row.payload.get("object")
        if not isinstance(obj, dict):
            return None
        if row.activity_type == "Delete":
            tombstone = {"id": uri, "type": "Tombstone", "deleted": row.payload.get("published")}
            if isinstance(obj.get("formerType"), str):
                tombstone["formerType"] = obj["formerType"]
            return ApObjectDTO(tombstone)
        return ApObjectDTO(dict(obj))

    async def follower_count(self, session: AsyncSession, actor_app: str) -> int:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(ApFollower)
                .where(ApFollower.actor_app == actor_app)
            )
            or 0
        )

    async def followers_page(
        self, session: AsyncSession, actor_app: str, *, page: int, limit: int
    ) -> list[FollowerDTO]:
        rows = await session.scalars(
            select(ApFollower)
            .where(ApFollower.actor_app == actor_app)
            .order_by(ApFollower.id)
            .offset((page - 1) * limit)
            .limit(limit)
        )
        return [
            FollowerDTO(r.actor_uri, r.inbox_url, r.shared_inbox_url, r.created_at) for r in rows
        ]

    # --- receiving ----------------------------------------------------------------------------

    async def receive(
        self,
        session: AsyncSession,
        recipient_app: str | None,
        activity: ApObjectDTO,
        sender: RemoteActorDTO,
    ) -> ReceivedDTO:
        """Act on an inbound activity whose signature proved ``sender`` to be its actor."""
        doc = dict(activity.data)
        kind = activity.type or ""
        if visitor_of(doc) != sender.uri:
            raise DomainError("ap_sender_not_actor", "The activity's actor did not send it.")
        uri = id_of(doc)
        if uri is not None and not remote.same_origin(uri, sender.uri):
            # An actor names only its own server's activities: an id on another host would
            # let it claim (and so shadow) that host's genuine activity.
            raise DomainError(
                "ap_id_not_actors_host", "The activity's id is not on its actor's server."
            )
        if not await _remember(session, doc, recipient_app):
            return ReceivedDTO("duplicate", kind)
        if kind == "Undo":
            # What is undone may come back with the same id (Gancio reuses its Follow's):
            # it is then a new event, not a duplicate delivery.
            await _forget(session, sender.uri, id_of(doc.get("object")))
        # Likes, boosts and replies of the app actors' objects, for staff to see.
        if kind in ("Undo", "Delete"):
            await interactions.forget(session, sender.uri, id_of(doc.get("object")))
        else:
            await interactions.record(session, doc)
        if self.social is not None:
            handled = await self.social.receive(session, activity, sender)
            if handled is not None:
                return handled
        if kind == "Follow":
            return await self._on_follow(session, recipient_app, doc, sender)
        if kind == "Undo":
            return await self._on_undo(session, recipient_app, doc)
        if kind == "Delete":
            return await _on_delete(session, doc)
        # Accept, Reject, Create, Update, Like, Announce: app actors follow nobody and keep no
        # timeline; members' actors (federation's hub) will read these from
        # ap_inbound_activities.
        return ReceivedDTO("noted", kind)

    async def app_interactions(
        self, session: AsyncSession, *, limit_per_app: int = 50
    ) -> dict[str, list[AppInteractionDTO]]:
        return await interactions.listing(session, limit_per_app=limit_per_app)

    def _target_app(self, recipient_app: str | None, uri: str | None) -> str | None:
        app = app_of_actor(self.settings, uri or "")
        if app is None or (recipient_app is not None and app != recipient_app):
            return None
        return app

    async def _on_follow(
        self,
        session: AsyncSession,
        recipient_app: str | None,
        activity: dict[str, Any],
        follower: RemoteActorDTO,
    ) -> ReceivedDTO:
        app = self._target_app(recipient_app, id_of(activity.get("object")))
        follow_uri = id_of(activity)
        if app is None or follow_uri is None:
            raise DomainError("ap_follow_target", "That Follow is not for an actor here.")
        if follower.inbox_url is None:
            raise DomainError("ap_follower_inbox", "The follower has no inbox.")
        stmt = insert(ApFollower).values(
            actor_app=app,
            actor_uri=follower.uri,
            inbox_url=follower.inbox_url,
            shared_inbox_url=follower.shared_inbox_url,
            follow_activity_uri=follow_uri,
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[ApFollower.actor_app, ApFollower.actor_uri],
                set_={
                    "inbox_url": stmt.excluded.inbox_url,
                    "shared_inbox_url": stmt.excluded.shared_inbox_url,
                    "follow_activity_uri": stmt.excluded.follow_activity_uri,
                },
            )
        )
        # App actors accept every follow, with an Accept embedding the Follow (what Mastodon
        # and Fedify match on), addressed and delivered to the follower alone.
        urls = actor_urls(self.settings, app)
        follow = {k: v for k, v in activity.items() if k != "@context"}
        accept = {
            "@context": CONTEXT,
            "id": urls.activity(uuid.uuid4().hex),
            "type": "Accept",
            "actor": urls.id,
            "to": [follower.uri],
            "object": follow,
        }
        recorded = await _record(
            session,
            app,
            accept,
            object_uri=follow_uri,
            object_type="Follow",
            is_public=False,
            to_followers=False,
            target_inboxes=[follower.inbox_url],
        )
        return ReceivedDTO("followed", "Follow", (recorded.uri,))

    async def _on_undo(
        self, session: AsyncSession, recipient_app: str | None, activity: dict[str, Any]
    ) -> ReceivedDTO:
        inner = activity.get("object")
        actor = visitor_of(activity)
        inner_uri = id_of(inner)
        if isinstance(inner, dict) and inner.get("type") not in (None, "Follow"):
            return ReceivedDTO("noted", "Undo")
        if isinstance(inner, dict) and visitor_of(inner) not in (None, actor):
            raise DomainError("ap_undo_actor", "Only the follower can undo their Follow.")
        condition = ApFollower.actor_uri == actor
        if isinstance(inner, dict) and inner.get("object") is not None:
            app = self._target_app(recipient_app, id_of(inner.get("object")))
            if app is None:
                return ReceivedDTO("noted", "Undo")
            condition = condition & (ApFollower.actor_app == app)
        elif inner_uri is not None:
            condition = condition & (ApFollower.follow_activity_uri == inner_uri)
        result = await session.execute(delete(ApFollower).where(condition))
        return ReceivedDTO("unfollowed" if result.rowcount else "noted", "Undo")  # type: ignore[attr-defined]

    async def mark_host_alive(self, session: AsyncSession, host: str) -> None:
        """A host that talks to us is up again: stop skipping it and release its queue."""
        result = await session.execute(
            update(ApHost)
            .where(ApHost.host == host, ApHost.unavailable_since.is_not(None))
            .values(
                unavailable_since=None,
                next_probe_at=None,
                consecutive_failures=0,
                failing_since=None,
            )
        )
        if result.rowcount:  # type: ignore[attr-defined]
            await session.execute(
                update(ApDelivery)
                .where(ApDelivery.host == host, ApDelivery.status == "pending")
                .values(next_attempt_at=func.now())
            )

    # --- the delivery queue, for staff ----------------------------------------------------------

    async def queue_overview(self, session: AsyncSession) -> DeliveryQueueDTO:
        """Counts by state, and the hosts currently skipped as unavailable."""
        state = case(
            ((ApDelivery.status == "pending") & (ApDelivery.attempts > 0), "retrying"),
            else_=ApDelivery.status,
        )
        counts: dict[str, int] = {
            str(k): int(v)
            for k, v in (await session.execute(select(state, func.count()).group_by(state))).all()
        }
        unfanned = await session.scalar(
            select(func.count()).select_from(ApActivity).where(ApActivity.fanned_out_at.is_(None))
        )
        hosts = await session.scalars(
            select(ApHost).where(ApHost.unavailable_since.is_not(None)).order_by(ApHost.host)
        )
        return DeliveryQueueDTO(
            pending=int(counts.get("pending", 0)),
            retrying=int(counts.get("retrying", 0)),
            delivered=int(counts.get("delivered", 0)),
            dead=int(counts.get("dead", 0)),
            unfanned=int(unfanned or 0),
            unavailable_hosts=tuple(_host(h) for h in hosts),
        )

    async def list_deliveries(
        self, session: AsyncSession, view: str, *, limit: int = 100
    ) -> list[DeliveryDTO]:
        """Deliveries for a staff view: ``failing`` (retrying), ``dead``, ``pending``,
        ``delivered``."""
        if view not in DELIVERY_VIEWS:
            raise DomainError("ap_bad_view", f"Unknown view {view!r}.")
        query = select(ApDelivery, ApActivity).join(
            ApActivity, ApActivity.id == ApDelivery.activity_id
        )
        if view == "failing":
            query = query.where(ApDelivery.status == "pending", ApDelivery.attempts > 0)
        else:
            query = query.where(ApDelivery.status == view)
        order = (
            ApDelivery.next_attempt_at if view in ("failing", "pending") else ApDelivery.id.desc()
        )
        rows = (await session.execute(query.order_by(order).limit(limit))).all()
        return [_delivery(d, a) for d, a in rows]

    async def delivery_detail(
        self, session: AsyncSession, delivery_id: int
    ) -> tuple[DeliveryDTO, list[DeliveryAttemptDTO]]:
        row = (
            await session.execute(
                select(ApDelivery, ApActivity)
                .join(ApActivity, ApActivity.id == ApDelivery.activity_id)
                .where(ApDelivery.id == delivery_id)
            )
        ).first()
        if row is None:
            raise NotFound("ap_delivery_not_found", "There is no such delivery.")
        attempts = await session.scalars(
            select(ApDeliveryAttempt)
            .where(ApDeliveryAttempt.delivery_id == delivery_id)
            .order_by(ApDeliveryAttempt.id)
        )
        return _delivery(*row), [
            DeliveryAttemptDTO(
                a.attempted_at, a.worker, a.status_code, a.error, a.outcome, a.duration_ms
            )
            for a in attempts
        ]

    async def retry_delivery(self, session: AsyncSession, delivery_id: int) -> None:
        """Put a dead or waiting delivery back at the front of the queue with fresh attempts."""
        result = await session.execute(
            update(ApDelivery)
            .where(ApDelivery.id == delivery_id, ApDelivery.status.in_(("pending", "dead")))
            .values(status="pending", attempts=0, next_attempt_at=func.now(), claimed_by=None)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(
                "ap_delivery_not_retryable", "That delivery is delivered or does not exist."
            )

    async def retry_dead(self, session: AsyncSession) -> int:
        """Requeue every dead letter; returns how many."""
        result = await session.execute(
            update(ApDelivery)
            .where(ApDelivery.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=func.now(), claimed_by=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


# --- helpers ----------------------------------------------------------------------------------


async def _record(
    session: AsyncSession,
    actor_app: str,
    payload: dict[str, Any],
    *,
    object_uri: str | None,
    object_type: str | None,
    is_public: bool,
    to_followers: bool,
    target_inboxes: list[str],
) -> ApActivityDTO:
    row = ApActivity(
        uri=payload["id"],
        actor_app=actor_app,
        activity_type=payload["type"],
        object_uri=object_uri,
        object_type=object_type,
        payload=payload,
        is_public=is_public,
        to_followers=to_followers,
        target_inboxes=target_inboxes,
    )
    session.add(row)
    await session.flush()
    return _activity(row)


def _deleted_later(actor_app: str, *, only_app_actor: bool = False) -> ColumnElement[bool]:
    """Whether the row's object was deleted by a later activity on ``actor_app``'s host (by the
    app actor itself when ``only_app_actor``)."""
    later = aliased(ApActivity)
    return exists().where(
        later.actor_app == actor_app,
        *((later.actor_account_id.is_(None),) if only_app_actor else ()),
        later.activity_type == "Delete",
        later.object_uri == ApActivity.object_uri,
        later.id > ApActivity.id,
    )


def _standing(actor_app: str) -> tuple[ColumnElement[bool], ...]:
    """The outbox's conditions: public activities of the app actor itself (members' posts are
    in their own outboxes) that still stand (see ``outbox_page``)."""
    created = aliased(ApActivity)
    return (
        ApActivity.actor_app == actor_app,
        ApActivity.is_public.is_(True),
        ApActivity.actor_account_id.is_(None),
        ApActivity.activity_type != "Delete",
        ~_deleted_later(actor_app, only_app_actor=True),
        ~(
            (ApActivity.activity_type == "Update")
            & exists().where(
                created.actor_app == actor_app,
                created.actor_account_id.is_(None),
                created.is_public,
                created.activity_type == "Create",
                created.object_uri == ApActivity.object_uri,
            )
        ),
    )


async def _latest_versions(
    session: AsyncSession, actor_app: str, uris: list[str | None]
) -> dict[str, Any]:
    """The latest published version of each of these objects, by id."""
    wanted = [u for u in uris if u]
    if not wanted:
        return {}
    rows = await session.execute(
        select(ApActivity.object_uri, ApActivity.payload)
        .where(
            ApActivity.actor_app == actor_app,
            ApActivity.actor_account_id.is_(None),
            ApActivity.is_public,
            ApActivity.activity_type.in_(("Create", "Update")),
            ApActivity.object_uri.in_(wanted),
        )
        .order_by(ApActivity.id.desc())
    )
    latest: dict[str, Any] = {}
    for uri, payload in rows.all():
        if isinstance(payload.get("object"), dict):
            latest.setdefault(str(uri), payload["object"])
    return latest


def _activity(row: ApActivity) -> ApActivityDTO:
    return ApActivityDTO(
        row.id,
        row.uri,
        row.actor_app,
        row.activity_type,
        row.object_uri,
        row.payload,
        row.created_at,
    )


async def _former_type(session: AsyncSession, actor_app: str, object_uri: str) -> str:
    """The type the object had when last published (``Object`` if we never published it)."""
    found = await session.scalar(
        select(ApActivity.object_type)
        .where(
            ApActivity.actor_app == actor_app,
            ApActivity.object_uri == object_uri,
            ApActivity.activity_type.in_(("Create", "Update")),
        )
        .order_by(ApActivity.id.desc())
        .limit(1)
    )
    return found or "Object"


async def _remember(
    session: AsyncSession, activity: dict[str, Any], recipient_app: str | None
) -> bool:
    """Record an inbound activity id; False when it was seen before (a duplicate delivery)."""
    uri = id_of(activity)
    if uri is None:
        return True  # transient activities have no id; nothing to deduplicate on
    stmt = (
        insert(ApInboundActivity)
        .values(
            uri=uri[:500],
            actor_uri=(visitor_of(activity) or "")[:500],
            activity_type=str(activity.get("type"))[:30],
            recipient_app=recipient_app,
        )
        .on_conflict_do_nothing(index_elements=[ApInboundActivity.actor_uri, ApInboundActivity.uri])
        .returning(ApInboundActivity.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def _forget(session: AsyncSession, actor_uri: str, uri: str | None) -> None:
    """Let ``actor_uri``'s activity ``uri`` be processed again (its effect was undone)."""
    if uri is None:
        return
    await session.execute(
        delete(ApInboundActivity).where(
            ApInboundActivity.actor_uri == actor_uri[:500], ApInboundActivity.uri == uri[:500]
        )
    )


async def _on_delete(session: AsyncSession, activity: dict[str, Any]) -> ReceivedDTO:
    actor = visitor_of(activity)
    target = id_of(activity.get("object"))
    if actor is not None and target == actor:
        # The actor deleted themselves: forget their follows and their cached key.
        await session.execute(delete(ApFollower).where(ApFollower.actor_uri == actor))
        await remote.forget_actor(session, actor)
        return ReceivedDTO("actor_deleted", "Delete")
    return ReceivedDTO("noted", "Delete")


def _host(h: ApHost) -> ApHostDTO:
    return ApHostDTO(
        h.host, h.consecutive_failures, h.failing_since, h.unavailable_since, h.next_probe_at
    )


def _delivery(d: ApDelivery, a: ApActivity) -> DeliveryDTO:
    return DeliveryDTO(
        d.id,
        a.uri,
        a.activity_type,
        a.actor_app,
        d.inbox_url,
        d.host,
        d.status,
        d.attempts,
        d.next_attempt_at,
        d.last_status_code,
        d.last_error,
        d.last_attempt_at,
        d.delivered_at,
    )
