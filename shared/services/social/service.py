"""The social hub (implements :class:`shared.contracts.protocols.SocialService`): members'
fediverse accounts, follows, timelines, posts, likes, boosts and notifications.

Every member has an account here (made with its keypair on first need). What a member does
that other servers must hear of is written to ``ap_activities`` in the same transaction, with
``actor_account_id`` set, and the OutboxProcessor delivers it signed with the member's key
(exactly one delivery per inbox). Local followers need no delivery: timelines are read from
``social_statuses``, where members' own posts and those received from remote accounts that a
member follows (or that mention or answer a member) both live.

Who may see a post (every page and collection goes through :func:`_visible_to`):

- ``public``: anyone, and listed on the local timeline and in the outbox;
- ``unlisted``: anyone with the link, in the outbox, never on the local timeline;
- ``private`` (followers only): the author, accepted followers and mentioned accounts;
- ``direct``: the author and mentioned accounts.
"""

from __future__ import annotations

import contextlib
import html
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import nh3
from quart import current_app, has_app_context
from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from shared.config import APP_NAMES, Settings
from shared.contracts.dtos import (
    SOCIAL_VISIBILITIES,
    ApObjectDTO,
    AttachmentDTO,
    ComposeInput,
    MediaUpload,
    NotificationPageDTO,
    PersonalDataDTO,
    ReceivedDTO,
    RelationshipDTO,
    RemoteActorDTO,
    SocialAccountDTO,
    SocialNotificationDTO,
    SocialOutboxPageDTO,
    SocialProfileInput,
    SocialReportDTO,
    SocialStatusDTO,
    TimelinePageDTO,
)
from shared.contracts.errors import InvalidUpload
from shared.db import after_commit
from shared.errors import Conflict, DomainError, Forbidden, NotFound
from shared.infrastructure import media
from shared.infrastructure.activitypub import members, remote
from shared.infrastructure.activitypub.actors import (
    AS_CONTEXT,
    PUBLIC,
    actor_urls,
    app_of_actor,
)
from shared.infrastructure.activitypub.actors import actor_document as app_actor_document
from shared.infrastructure.activitypub.fetch import Fetcher, guarded_client
from shared.infrastructure.activitypub.remote import id_of, visitor_of
from shared.infrastructure.fragments import invalidate_after_commit
from shared.infrastructure.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, URL_SCHEMES
from shared.infrastructure.visitor import Visitor
from shared.models import (
    ApActivity,
    ApFollower,
    ApRemoteActor,
    SocialAccount,
    SocialBlock,
    SocialDomainBlock,
    SocialFavourite,
    SocialFollow,
    SocialMention,
    SocialNotification,
    SocialReport,
    SocialStatus,
    User,
)
from shared.services import audit

MAX_POST_CHARS = 5000
MAX_SPOILER_CHARS = 500
MAX_BIO_CHARS = 2000
MAX_FIELDS = 4
MAX_MEDIA = media.IMAGES_PER_FORM
MAX_ALT_CHARS = 1500
STATUS_TYPES = ("Note", "Article", "Event", "Page", "Question")
PUBLIC_IDS = (PUBLIC, "as:Public", "Public")
NOTIFICATIONS_FRAGMENT = "federation/notifications"

# Remote HTML: our allow-list without images (remote media is linked, never hot-loaded:
# loading it would tell the remote host who reads what, and could point at private hosts).
_REMOTE_TAGS = set(ALLOWED_TAGS) - {"img"}
_REMOTE_CLEANER = nh3.Cleaner(
    tags=_REMOTE_TAGS,
    clean_content_tags={"script", "style", "template", "noscript", "textarea"},
    attributes={t: set(a) for t, a in ALLOWED_ATTRIBUTES.items() if t != "img"},
    url_schemes=set(URL_SCHEMES),
    link_rel="nofollow noopener noreferrer",
    strip_comments=True,
)
# What compose produces: paragraphs, line breaks, links, mentions and hashtags (Mastodon's
# microformats classes kept, so other servers render mentions as mentions).
_COMPOSED_CLEANER = nh3.Cleaner(
    tags={"p", "br", "a", "span"},
    attributes={"a": {"href", "class", "rel"}, "span": {"class"}},
    url_schemes={"http", "https"},
    link_rel=None,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TOKEN = re.compile(
    r"(?P<url>https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]])"
    r"|(?P<mention>(?<![\w@])@(?P<m_user>[A-Za-z0-9_][A-Za-z0-9_.-]*)"
    r"(?:@(?P<m_host>[A-Za-z0-9.-]+[A-Za-z0-9](?::\d{1,5})?))?)"
    r"|(?P<tag>(?<![\w#&])#(?P<t_name>[^\W_][\w]{0,99}))"
)


def _now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sanitize_remote(value: str) -> str:
    return str(_REMOTE_CLEANER.clean(_CONTROL.sub("", value))).strip()


def _text(value: Any, limit: int) -> str:
    return _CONTROL.sub("", value if isinstance(value, str) else "")[:limit]


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [i for i in (id_of(v) for v in items) if i is not None]


class SqlSocialService:
    """Implements :class:`shared.contracts.protocols.SocialService` on PostgreSQL."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def host(self) -> str:
        return members.member_urls(self.settings, "x").host

    # --- accounts ---------------------------------------------------------------------------

    async def _local_row(self, session: AsyncSession, user_id: int) -> SocialAccount:
        row = await session.scalar(select(SocialAccount).where(SocialAccount.user_id == user_id))
        if row is not None:
            return row
        user = await session.get(User, user_id)
        if user is None or not user.is_active:
            raise NotFound("social_no_member", "There is no such member.")
        public_pem, private_enc = members.new_keypair(self.settings)
        urls = members.member_urls(self.settings, user.username)
        held = await session.scalar(
            select(SocialAccount.id).where(
                SocialAccount.domain.is_(None),
                func.lower(SocialAccount.username) == urls.username,
            )
        )
        if held is not None:
            # An erased member's actor keeps its name and URL (answering 410 Gone), as
            # Mastodon never hands a deleted account's name to someone else: other servers
            # still know that URL as the old actor.
            raise Conflict(
                "social_name_gone",
                "That name belonged to a deleted fediverse account and cannot be used again.",
            )
        stmt = (
            insert(SocialAccount)
            .values(
                user_id=user.id,
                uri=urls.id,
                username=urls.username,
                domain=None,
                display_name=user.display_name or "",
                url=urls.id,
                inbox_url=urls.inbox,
                shared_inbox_url=urls.shared_inbox,
                public_key_pem=public_pem,
                private_key_enc=private_enc,
            )
            .on_conflict_do_nothing(index_elements=[SocialAccount.user_id])
        )
        # Two first requests at once: one insert wins, both read the same row.
        await session.execute(stmt)
        row = await session.scalar(select(SocialAccount).where(SocialAccount.user_id == user_id))
        assert row is not None
        return row

    async def account_for_member(self, session: AsyncSession, user_id: int) -> SocialAccountDTO:
        """The member's own account, made (with its keypair) on first need."""
        return self._dto(await self._local_row(session, user_id))

    async def local_account(self, session: AsyncSession, username: str) -> SocialAccountDTO | None:
        """The account of the member called ``username`` (any case), if there is one."""
        row = await self._local_by_username(session, username)
        return self._dto(row) if row is not None else None

    async def _local_by_username(
        self, session: AsyncSession, username: str
    ) -> SocialAccount | None:
        if not re.fullmatch(r"[A-Za-z0-9_]{1,30}", username):
            return None
        row = await session.scalar(
            select(SocialAccount).where(
                SocialAccount.domain.is_(None),
                func.lower(SocialAccount.username) == username.lower(),
            )
        )
        if row is not None:
            return row
        user_id = await session.scalar(
            select(User.id).where(func.lower(User.username) == username.lower(), User.is_active)
        )
        return await self._local_row(session, user_id) if user_id is not None else None

    async def account(self, session: AsyncSession, account_id: int) -> SocialAccountDTO:
        row = await session.get(SocialAccount, account_id)
        if row is None:
            raise NotFound("social_no_account", "There is no such account.")
        return self._dto(row)

    async def actor_document(self, session: AsyncSession, username: str) -> ApObjectDTO | None:
        """The member's ``Person`` document (None when there is no such member, or when the
        account is suspended)."""
        row = await self._local_by_username(session, username)
        if row is None or row.suspended_at is not None:
            return None
        return ApObjectDTO(self._person(row))

    def _person(self, row: SocialAccount) -> dict[str, Any]:
        assert row.public_key_pem is not None
        return members.actor_document(
            self.settings,
            username=row.username,
            display_name=row.display_name,
            summary_html=row.summary,
            avatar_url=row.avatar_url,
            header_url=row.header_url,
            fields=list(row.fields),
            locked=row.locked,
            discoverable=row.discoverable,
            public_key_pem=row.public_key_pem,
            published=iso(row.created_at),
        )

    async def update_profile(
        self, session: AsyncSession, user_id: int, profile: SocialProfileInput
    ) -> SocialAccountDTO:
        """Save the member's profile and tell their followers (``Update`` of the Person)."""
        row = await self._local_row(session, user_id)
        if len(profile.bio) > MAX_BIO_CHARS:
            raise DomainError("social_bio_too_long", f"At most {MAX_BIO_CHARS} characters.")
        if len(profile.display_name) > 100:
            raise DomainError("social_name_too_long", "A name has at most 100 characters.")
        if len(profile.fields) > MAX_FIELDS:
            raise DomainError("social_too_many_fields", f"At most {MAX_FIELDS} profile fields.")
        for url in (profile.avatar_url, profile.header_url):
            if url and not re.fullmatch(r"https?://[^\s<>\"']{1,490}", url):
                raise DomainError("social_bad_image_url", "Images must be http(s) URLs.")
        # Uploads are checked (and re-encoded) before anything is written.
        avatar = (
            media.prepare_upload(profile.avatar.data, self.settings.media, "avatar")
            if profile.avatar is not None
            else None
        )
        header = (
            media.prepare_upload(profile.header.data, self.settings.media, "header")
            if profile.header is not None
            else None
        )
        before = {"display_name": row.display_name, "locked": row.locked}
        replaced = {row.avatar_url, row.header_url}
        row.display_name = _text(profile.display_name, 100).strip()
        row.summary = _plain_to_html(profile.bio)
        row.avatar_url = profile.avatar_url or None
        row.header_url = profile.header_url or None
        base = self.settings.apps["federation"].public_url
        if avatar is not None:
            row.avatar_url = base + media.store_prepared(avatar, self.settings.media)
        elif profile.remove_avatar:
            row.avatar_url = None
        if header is not None:
            row.header_url = base + media.store_prepared(header, self.settings.media)
        elif profile.remove_header:
            row.header_url = None
        row.fields = [
            {"name": _text(n, 100).strip(), "value": _text(v, 500).strip()}
            for n, v in profile.fields
            if n.strip()
        ]
        row.locked = profile.locked
        row.hide_followers = profile.hide_followers
        row.discoverable = profile.discoverable
        row.updated_at = _now()
        await session.flush()
        # A replaced or removed image's file goes once nothing uses it any more.
        await self._forget_media(
            session, {u for u in replaced if u and u not in (row.avatar_url, row.header_url)}
        )
        await self._publish(
            session,
            row,
            "Update",
            self._person(row),
            object_uri=row.uri,
            is_public=True,
            to_followers=True,
            targets=(),
            to=[PUBLIC],
            cc=[members.member_urls(self.settings, row.username).followers],
        )
        audit.record(
            session,
            "social.profile_updated",
            object_type="social_account",
            object_id=row.id,
            actor_user_id=user_id,
            before=before,
            after={"display_name": row.display_name, "locked": row.locked},
        )
        return self._dto(row)

    # --- finding accounts -------------------------------------------------------------------

    async def resolve_account(self, session: AsyncSession, query: str) -> SocialAccountDTO:
        """The account a handle (``@name@host``) or an actor URL names, fetched if remote."""
        async with self._fetcher() as fetcher:
            return await self._resolve(session, fetcher, query)

    @contextlib.asynccontextmanager
    async def _fetcher(self) -> AsyncIterator[Fetcher]:
        """Signed, SSRF-guarded fetches as the federation actor: through the app's client in a
        request, else through a client of their own (CLI, worker, tests)."""
        key = actor_urls(self.settings, "federation").key_id
        client = current_app.extensions.get("activitypub_client") if has_app_context() else None
        if client is not None:
            yield Fetcher(self.settings, client, key_id=key)
            return
        async with guarded_client(self.settings) as own:
            yield Fetcher(self.settings, own, key_id=key)

    async def _resolve(
        self, session: AsyncSession, fetcher: Fetcher, query: str
    ) -> SocialAccountDTO:
        query = query.strip()
        handle = members.parse_handle(query)
        app = self._app_named(query, handle)
        if app is not None:
            return self._dto(await self._app_actor_row(session, app))
        if handle is not None:
            user, host = handle
            if await self.domain_blocked(session, host):
                raise Forbidden("social_domain_blocked", f"{host} is blocked here.")
            if host == self.host.lower():
                row = await self._local_by_username(session, user)
                if row is None:
                    raise NotFound("social_no_account", f"There is no {user} here.")
                return self._dto(row)
            known = await session.scalar(
                select(SocialAccount).where(
                    func.lower(SocialAccount.username) == user.lower(),
                    func.lower(SocialAccount.domain) == host,
                )
            )
            if known is not None:
                return self._dto(known)
            uri = await members.webfinger(fetcher, user, host)
        elif re.fullmatch(r"https?://\S{1,490}", query):
            uri = query
            if await self.domain_blocked(session, members.host_of(uri)):
                raise Forbidden("social_domain_blocked", "That server is blocked here.")
            local = members.username_of(self.settings, uri)
            if local is not None:
                row = await self._local_by_username(session, local)
                if row is None:
                    raise NotFound("social_no_account", "There is no such member here.")
                return self._dto(row)
        else:
            raise DomainError(
                "social_bad_query", "Enter a handle like @name@example.social or a profile URL."
            )
        return self._dto(await self._remote_account(session, fetcher, uri))

    def _app_named(self, query: str, handle: tuple[str, str] | None) -> str | None:
        """Which of the cooperative's app actors a handle or actor URL names, if any."""
        for app in APP_NAMES:
            urls = actor_urls(self.settings, app)
            if handle is not None and f"{handle[0].lower()}@{handle[1]}" == urls.handle.lower():
                return app
        return app_of_actor(self.settings, query)

    async def _app_actor_row(self, session: AsyncSession, app: str) -> SocialAccount:
        """One of our app actors as an account: mirrored from its document, built here (no
        fetch). Following it is ordinary federation: the Follow goes to the app's inbox, the
        app accepts, and its posts arrive at our inbox like any server's."""
        doc = app_actor_document(self.settings, app)
        existing = await session.scalar(select(SocialAccount).where(SocialAccount.uri == doc["id"]))
        return existing or await self._upsert_remote(session, doc)

    async def app_actors(self, session: AsyncSession) -> list[SocialAccountDTO]:
        """The cooperative's app actors that publish (blog, market, events), followable."""
        return [
            self._dto(await self._app_actor_row(session, app))
            for app in ("blog", "market", "events")
        ]

    async def member_profile(self, session: AsyncSession, user_id: int) -> SocialAccountDTO | None:
        """The member's fediverse profile if their account exists yet (reads only)."""
        row = await session.scalar(select(SocialAccount).where(SocialAccount.user_id == user_id))
        return self._dto(row) if row is not None else None

    async def _remote_account(
        self, session: AsyncSession, fetcher: Fetcher, uri: str
    ) -> SocialAccount:
        existing = await session.scalar(select(SocialAccount).where(SocialAccount.uri == uri))
        if existing is not None:
            return existing
        actor = await remote.fetch_actor(session, fetcher, uri)
        doc = await session.scalar(
            select(ApRemoteActor.document).where(ApRemoteActor.uri == actor.uri)
        )
        return await self._upsert_remote(session, doc or {"id": actor.uri})

    async def _upsert_remote(self, session: AsyncSession, doc: dict[str, Any]) -> SocialAccount:
        """Mirror a remote actor document (already checked to come from its own origin)."""
        uri = id_of(doc)
        if uri is None:
            raise DomainError("social_bad_actor", "That actor has no id.")
        if members.username_of(self.settings, uri) is not None:
            raise DomainError("social_bad_actor", "That is one of our own accounts.")
        endpoints = doc.get("endpoints") if isinstance(doc.get("endpoints"), dict) else {}
        assert isinstance(endpoints, dict)
        icon = doc.get("icon")
        image = doc.get("image")
        fields = [
            {"name": _text(a.get("name"), 100), "value": _text(_plain(a.get("value")), 500)}
            for a in _list(doc.get("attachment"))
            if isinstance(a, dict) and a.get("type") == "PropertyValue"
        ][:MAX_FIELDS]
        values: dict[str, Any] = {
            "uri": uri[:500],
            "username": _text(doc.get("preferredUsername"), 200) or uri.rsplit("/", 1)[-1][:200],
            "domain": (members.host_of(uri) or "unknown")[:255],
            "display_name": _text(doc.get("name"), 200),
            "summary": sanitize_remote(_text(doc.get("summary"), 20000)),
            "url": _first_url(doc.get("url")) or uri[:500],
            "avatar_url": _first_url(icon),
            "header_url": _first_url(image),
            "fields": fields,
            "inbox_url": _url_or_none(doc.get("inbox")),
            "shared_inbox_url": _url_or_none(endpoints.get("sharedInbox")),
            "locked": bool(doc.get("manuallyApprovesFollowers") is True),
            "discoverable": bool(doc.get("discoverable", True) is not False),
            "updated_at": _now(),
        }
        stmt = insert(SocialAccount).values(**values)
        row = (
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[SocialAccount.uri],
                    set_={k: stmt.excluded[k] for k in values if k != "uri"},
                ).returning(SocialAccount),
                execution_options={"populate_existing": True},
            )
        ).scalar_one()
        return row

    async def _sender_account(self, session: AsyncSession, sender: RemoteActorDTO) -> SocialAccount:
        existing = await session.scalar(
            select(SocialAccount).where(SocialAccount.uri == sender.uri)
        )
        if existing is not None:
            return existing
        doc = await session.scalar(
            select(ApRemoteActor.document).where(ApRemoteActor.uri == sender.uri)
        )
        if doc is None:
            doc = {
                "id": sender.uri,
                "preferredUsername": sender.preferred_username,
                "inbox": sender.inbox_url,
                "endpoints": {"sharedInbox": sender.shared_inbox_url},
            }
        return await self._upsert_remote(session, doc)

    # --- following --------------------------------------------------------------------------

    async def relationship(
        self, session: AsyncSession, user_id: int, account_id: int
    ) -> RelationshipDTO:
        me = await self._local_row(session, user_id)
        state = await session.scalar(
            select(SocialFollow.state).where(
                SocialFollow.follower_id == me.id, SocialFollow.target_id == account_id
            )
        )
        followed_by = await session.scalar(
            select(
                exists().where(
                    SocialFollow.follower_id == account_id,
                    SocialFollow.target_id == me.id,
                    SocialFollow.state == "accepted",
                )
            )
        )
        kind = await session.scalar(
            select(SocialBlock.kind).where(
                SocialBlock.account_id == me.id, SocialBlock.target_id == account_id
            )
        )
        return RelationshipDTO(
            state or "none", bool(followed_by), blocking=kind == "block", muting=kind == "mute"
        )

    async def follow(self, session: AsyncSession, user_id: int, account_id: int) -> RelationshipDTO:
        """Follow an account: a remote one is asked with a ``Follow`` (pending until it
        accepts); a local one is followed at once unless it is locked."""
        me = await self._local_row(session, user_id)
        target = await session.get(SocialAccount, account_id)
        if target is None:
            raise NotFound("social_no_account", "There is no such account.")
        if target.id == me.id:
            raise DomainError("social_follow_self", "You cannot follow yourself.")
        if target.suspended_at is not None or await self._blocked_between(
            session, me.id, target.id
        ):
            raise Forbidden("social_follow_blocked", "You cannot follow this account.")
        existing = await session.scalar(
            select(SocialFollow).where(
                SocialFollow.follower_id == me.id, SocialFollow.target_id == target.id
            )
        )
        if existing is not None:
            return await self.relationship(session, user_id, account_id)
        urls = members.member_urls(self.settings, me.username)
        follow_uri = urls.activity(uuid.uuid4().hex)
        state = "pending" if (target.domain is not None or target.locked) else "accepted"
        session.add(
            SocialFollow(follower_id=me.id, target_id=target.id, state=state, follow_uri=follow_uri)
        )
        await session.flush()
        if target.domain is not None:
            if target.inbox_url is None:
                raise DomainError("social_no_inbox", "That account cannot be followed.")
            await self._publish(
                session,
                me,
                "Follow",
                target.uri,
                object_uri=target.uri,
                is_public=False,
                to_followers=False,
                targets=(target.inbox_url,),
                to=[target.uri],
                cc=[],
                uri=follow_uri,
            )
        else:
            await self._notify(
                session,
                target.id,
                "follow" if state == "accepted" else "follow_request",
                me.id,
            )
        audit.record(
            session,
            "social.followed",
            object_type="social_account",
            object_id=target.id,
            actor_user_id=user_id,
            after={"state": state},
        )
        return RelationshipDTO(state, await self._follows(session, target.id, me.id))

    async def _follows(self, session: AsyncSession, follower_id: int, target_id: int) -> bool:
        return bool(
            await session.scalar(
                select(
                    exists().where(
                        SocialFollow.follower_id == follower_id,
                        SocialFollow.target_id == target_id,
                        SocialFollow.state == "accepted",
                    )
                )
            )
        )

    async def unfollow(
        self, session: AsyncSession, user_id: int, account_id: int
    ) -> RelationshipDTO:
        me = await self._local_row(session, user_id)
        row = await session.scalar(
            select(SocialFollow).where(
                SocialFollow.follower_id == me.id, SocialFollow.target_id == account_id
            )
        )
        if row is not None:
            target = await session.get(SocialAccount, account_id)
            assert target is not None
            if target.domain is not None and target.inbox_url is not None:
                await self._publish(
                    session,
                    me,
                    "Undo",
                    {
                        "id": row.follow_uri,
                        "type": "Follow",
                        "actor": me.uri,
                        "object": target.uri,
                    },
                    object_uri=row.follow_uri,
                    is_public=False,
                    to_followers=False,
                    targets=(target.inbox_url,),
                    to=[target.uri],
                    cc=[],
                )
            await session.delete(row)
            await session.flush()
        return await self.relationship(session, user_id, account_id)

    async def follow_requests(self, session: AsyncSession, user_id: int) -> list[SocialAccountDTO]:
        me = await self._local_row(session, user_id)
        rows = await session.scalars(
            select(SocialAccount)
            .join(SocialFollow, SocialFollow.follower_id == SocialAccount.id)
            .where(SocialFollow.target_id == me.id, SocialFollow.state == "pending")
            .order_by(SocialFollow.id)
        )
        return [self._dto(r) for r in rows]

    async def answer_follow_request(
        self, session: AsyncSession, user_id: int, account_id: int, *, accept: bool
    ) -> None:
        """Accept or reject a pending follow of the member's (locked) account."""
        me = await self._local_row(session, user_id)
        row = await session.scalar(
            select(SocialFollow).where(
                SocialFollow.follower_id == account_id,
                SocialFollow.target_id == me.id,
                SocialFollow.state == "pending",
            )
        )
        if row is None:
            raise NotFound("social_no_request", "There is no such follow request.")
        follower = await session.get(SocialAccount, account_id)
        assert follower is not None
        if follower.domain is not None and follower.inbox_url is not None:
            await self._answer_remote_follow(session, me, follower, row.follow_uri, accept)
        if accept:
            row.state = "accepted"
            await self._notify(session, me.id, "follow", follower.id)
        else:
            await session.delete(row)
        await session.flush()

    async def _answer_remote_follow(
        self,
        session: AsyncSession,
        me: SocialAccount,
        follower: SocialAccount,
        follow_uri: str,
        accept: bool,
    ) -> None:
        assert follower.inbox_url is not None
        await self._publish(
            session,
            me,
            "Accept" if accept else "Reject",
            {"id": follow_uri, "type": "Follow", "actor": follower.uri, "object": me.uri},
            object_uri=follow_uri,
            is_public=False,
            to_followers=False,
            targets=(follower.inbox_url,),
            to=[follower.uri],
            cc=[],
        )

    async def followers(
        self, session: AsyncSession, account_id: int, *, page: int, limit: int
    ) -> tuple[list[SocialAccountDTO], int]:
        """Accepted followers, oldest first, and how many there are."""
        return await self._follow_list(session, account_id, page, limit, followers=True)

    async def following(
        self, session: AsyncSession, account_id: int, *, page: int, limit: int
    ) -> tuple[list[SocialAccountDTO], int]:
        return await self._follow_list(session, account_id, page, limit, followers=False)

    async def _follow_list(
        self, session: AsyncSession, account_id: int, page: int, limit: int, *, followers: bool
    ) -> tuple[list[SocialAccountDTO], int]:
        mine = SocialFollow.target_id if followers else SocialFollow.follower_id
        other = SocialFollow.follower_id if followers else SocialFollow.target_id
        condition = and_(mine == account_id, SocialFollow.state == "accepted")
        total = int(
            await session.scalar(select(func.count()).select_from(SocialFollow).where(condition))
            or 0
        )
        rows = await session.scalars(
            select(SocialAccount)
            .join(SocialFollow, other == SocialAccount.id)
            .where(condition)
            .order_by(SocialFollow.id)
            .offset((max(page, 1) - 1) * limit)
            .limit(limit)
        )
        return [self._dto(r) for r in rows], total

    # --- posting ------------------------------------------------------------------------------

    async def compose(
        self, session: AsyncSession, user_id: int, post: ComposeInput
    ) -> SocialStatusDTO:
        """Publish a post: stored, and a ``Create{Note}`` to followers and mentioned accounts."""
        me = await self._local_row(session, user_id)
        text = _CONTROL.sub("", post.text).strip()
        # Every image is checked (and re-encoded, in memory) before anything is written.
        images = self._prepare_media(post.media)
        if not text and not images:
            raise DomainError("social_empty_post", "Write something first.")
        if len(text) > MAX_POST_CHARS:
            raise DomainError("social_post_too_long", f"At most {MAX_POST_CHARS} characters.")
        if post.visibility not in SOCIAL_VISIBILITIES:
            raise DomainError("social_bad_visibility", "Choose who can see the post.")
        spoiler = _CONTROL.sub("", post.spoiler_text).strip()
        if len(spoiler) > MAX_SPOILER_CHARS:
            raise DomainError("social_spoiler_too_long", "The content warning is too long.")
        parent: SocialStatus | None = None
        if post.in_reply_to_id is not None:
            parent = await session.get(SocialStatus, post.in_reply_to_id)
            if parent is None or parent.deleted_at is not None:
                raise NotFound("social_no_status", "That post does not exist.")
            if not await self._can_see(session, parent, me.id):
                raise NotFound("social_no_status", "That post does not exist.")
        async with self._fetcher() as fetcher:
            content, mentioned, tags = await self._render(session, fetcher, text)
        if parent is not None:
            author = await session.get(SocialAccount, parent.account_id)
            if author is not None and author.id != me.id and author not in mentioned:
                mentioned.append(author)
        urls = members.member_urls(self.settings, me.username)
        uid = uuid.uuid4().hex
        now = _now()
        status = SocialStatus(
            uri=urls.status(uid),
            url=urls.status(uid),
            account_id=me.id,
            is_local=True,
            object_type="Note",
            content=content,
            spoiler_text=spoiler,
            sensitive=bool(spoiler),
            visibility=post.visibility,
            in_reply_to_uri=parent.uri if parent is not None else None,
            tags=tags,
            attachments=self._store_media(images),
            published_at=now,
        )
        session.add(status)
        await session.flush()
        for account in mentioned:
            session.add(SocialMention(status_id=status.id, account_id=account.id))
            if account.domain is None and account.id != me.id:
                kind = (
                    "reply" if parent is not None and parent.account_id == account.id else "mention"
                )
                await self._notify(session, account.id, kind, me.id, status.id)
        note = self._note(me, status, mentioned)
        await self._publish(
            session,
            me,
            "Create",
            note,
            object_uri=status.uri,
            is_public=post.visibility in ("public", "unlisted"),
            to_followers=post.visibility != "direct",
            targets=tuple(a.inbox_url for a in mentioned if a.domain is not None and a.inbox_url),
            to=note["to"],
            cc=note["cc"],
        )
        [dto] = await self._hydrate(session, [status], me.id)
        return dto

    def _note(
        self, me: SocialAccount, status: SocialStatus, mentioned: Sequence[SocialAccount]
    ) -> dict[str, Any]:
        urls = members.member_urls(self.settings, me.username)
        mention_uris = [a.uri for a in mentioned]
        if status.visibility == "public":
            to, cc = [PUBLIC], [urls.followers, *mention_uris]
        elif status.visibility == "unlisted":
            to, cc = [urls.followers], [PUBLIC, *mention_uris]
        elif status.visibility == "private":
            to, cc = [urls.followers], mention_uris
        else:
            to, cc = mention_uris, []
        tag: list[dict[str, Any]] = [
            {"type": "Mention", "href": a.uri, "name": f"@{self._acct(a)}"} for a in mentioned
        ]
        base = self.settings.apps["federation"].public_url
        tag += [
            {"type": "Hashtag", "href": f"{base}/social/tags/{t}", "name": f"#{t}"}
            for t in status.tags
        ]
        note: dict[str, Any] = {
            "id": status.uri,
            "type": "Note",
            "attributedTo": me.uri,
            "content": status.content,
            "url": status.url,
            "published": iso(status.published_at),
            "to": to,
            "cc": cc,
            "sensitive": status.sensitive,
            "summary": status.spoiler_text or None,
            "inReplyTo": status.in_reply_to_uri,
            "tag": tag,
        }
        if status.attachments:
            # As Mastodon sends media: a Document per image, its alt text as ``name``.
            note["attachment"] = [
                {
                    "type": "Document",
                    "mediaType": a.get("media_type") or "application/octet-stream",
                    "url": a["url"],
                    "name": a.get("description") or None,
                    **({"width": a["width"], "height": a["height"]} if a.get("width") else {}),
                }
                for a in status.attachments
            ]
        if status.edited_at is not None:
            note["updated"] = iso(status.edited_at)
        return note

    def _prepare_media(
        self, uploads: Sequence[MediaUpload]
    ) -> list[tuple[media.PreparedImage, str]]:
        """Check and re-encode a post's images (in memory; nothing is written)."""
        if len(uploads) > MAX_MEDIA:
            raise InvalidUpload(
                "social_too_many_media", f"At most {MAX_MEDIA} images per post.", "media"
            )
        prepared = []
        for i, upload in enumerate(uploads):
            alt = _CONTROL.sub("", upload.description).strip()
            if len(alt) > MAX_ALT_CHARS:
                raise InvalidUpload(
                    "social_alt_too_long",
                    f"Image descriptions have at most {MAX_ALT_CHARS} characters.",
                    f"alt_{i}",
                )
            prepared.append((media.prepare_upload(upload.data, self.settings.media, "media"), alt))
        return prepared

    def _store_media(self, images: Sequence[tuple[media.PreparedImage, str]]) -> list[Any]:
        """Store checked images; the attachments as a status keeps them."""
        base = self.settings.apps["federation"].public_url
        return [
            {
                "url": base + media.store_prepared(image, self.settings.media),
                "media_type": image.media_type,
                "description": alt,
                "width": image.width,
                "height": image.height,
                "local": True,
            }
            for image, alt in images
        ]

    async def _render(
        self, session: AsyncSession, fetcher: Fetcher, text: str
    ) -> tuple[str, list[SocialAccount], list[str]]:
        """Plain text to HTML: links, mentions (resolved, else left as text) and hashtags."""
        mentioned: list[SocialAccount] = []
        tags: list[str] = []
        base = self.settings.apps["federation"].public_url
        pieces: list[str] = []
        pos = 0
        for match in _TOKEN.finditer(text):
            pieces.append(html.escape(text[pos : match.start()]))
            pos = match.end()
            raw = match.group(0)
            if match["url"]:
                url = html.escape(raw, quote=True)
                pieces.append(f'<a href="{url}" rel="nofollow noopener noreferrer">{url}</a>')
            elif match["mention"]:
                account = await self._mention_target(
                    session, fetcher, match["m_user"], match["m_host"]
                )
                if account is None:
                    pieces.append(html.escape(raw))
                    continue
                if account not in mentioned:
                    mentioned.append(account)
                href = html.escape(account.url or account.uri, quote=True)
                pieces.append(
                    f'<span class="h-card"><a href="{href}" class="u-url mention">'
                    f"@{html.escape(account.username)}</a></span>"
                )
            else:
                name = match["t_name"]
                if name.lower() not in tags:
                    tags.append(name.lower())
                href = html.escape(f"{base}/social/tags/{name.lower()}", quote=True)
                pieces.append(
                    f'<a href="{href}" class="mention hashtag" rel="tag">#{html.escape(name)}</a>'
                )
        pieces.append(html.escape(text[pos:]))
        body = "".join(pieces)
        paragraphs = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
        rendered = "".join(f"<p>{p.strip().replace(chr(10), '<br>')}</p>" for p in paragraphs)
        # Our own markup, sanitized all the same (it is stored and rendered as-is).
        return str(_COMPOSED_CLEANER.clean(rendered)), mentioned, tags

    async def _mention_target(
        self, session: AsyncSession, fetcher: Fetcher, user: str, host: str | None
    ) -> SocialAccount | None:
        if host is None or host.lower() == self.host.lower():
            return await self._local_by_username(session, user)
        known = await session.scalar(
            select(SocialAccount).where(
                func.lower(SocialAccount.username) == user.lower(),
                func.lower(SocialAccount.domain) == host.lower(),
            )
        )
        if known is not None:
            return known
        try:
            uri = await members.webfinger(fetcher, user, host.lower())
            return await self._remote_account(session, fetcher, uri)
        except DomainError:
            return None  # an unknown handle stays plain text

    async def edit_status(
        self, session: AsyncSession, user_id: int, status_id: int, post: ComposeInput
    ) -> SocialStatusDTO:
        """Edit one of the member's posts (text and content warning; who can see it stays as
        it was) and federate the ``Update``. Another member's post is a 404."""
        me = await self._local_row(session, user_id)
        status = await session.get(SocialStatus, status_id)
        if (
            status is None
            or status.account_id != me.id
            or status.deleted_at is not None
            or status.reblog_of_id is not None
        ):
            raise NotFound("social_no_status", "That post does not exist.")
        text = _CONTROL.sub("", post.text).strip()
        if not text and not status.attachments:
            raise DomainError("social_empty_post", "Write something first.")
        if len(text) > MAX_POST_CHARS:
            raise DomainError("social_post_too_long", f"At most {MAX_POST_CHARS} characters.")
        spoiler = _CONTROL.sub("", post.spoiler_text).strip()
        if len(spoiler) > MAX_SPOILER_CHARS:
            raise DomainError("social_spoiler_too_long", "The content warning is too long.")
        async with self._fetcher() as fetcher:
            content, mentioned, tags = await self._render(session, fetcher, text)
        known = set(
            await session.scalars(
                select(SocialMention.account_id).where(SocialMention.status_id == status.id)
            )
        )
        for account in mentioned:
            if account.id not in known:
                session.add(SocialMention(status_id=status.id, account_id=account.id))
        everyone = list(
            await session.scalars(
                select(SocialAccount)
                .join(SocialMention, SocialMention.account_id == SocialAccount.id)
                .where(SocialMention.status_id == status.id)
            )
        ) + [a for a in mentioned if a.id not in known]
        status.content = content
        status.tags = tags
        status.spoiler_text = spoiler
        status.sensitive = bool(spoiler)
        status.edited_at = _now()
        await session.flush()
        note = self._note(me, status, everyone)
        await self._publish(
            session,
            me,
            "Update",
            note,
            object_uri=status.uri,
            is_public=status.visibility in ("public", "unlisted"),
            to_followers=status.visibility != "direct",
            targets=tuple(a.inbox_url for a in everyone if a.domain is not None and a.inbox_url),
            to=note["to"],
            cc=note["cc"],
        )
        [dto] = await self._hydrate(session, [status], me.id)
        return dto

    async def delete_status(self, session: AsyncSession, user_id: int, status_id: int) -> None:
        """Delete one of the member's posts (another's is a 404) and federate the ``Delete``."""
        me = await self._local_row(session, user_id)
        status = await session.get(SocialStatus, status_id)
        if status is None or status.account_id != me.id or status.deleted_at is not None:
            raise NotFound("social_no_status", "That post does not exist.")
        status.deleted_at = _now()
        if status.reblog_of_id is not None:
            target = await session.get(SocialStatus, status.reblog_of_id)
            assert target is not None
            await self._undo_boost(session, me, status, target)
            return
        mentioned = list(
            await session.scalars(
                select(SocialAccount)
                .join(SocialMention, SocialMention.account_id == SocialAccount.id)
                .where(SocialMention.status_id == status.id)
            )
        )
        await self._publish(
            session,
            me,
            "Delete",
            {"id": status.uri, "type": "Tombstone"},
            object_uri=status.uri,
            is_public=status.visibility in ("public", "unlisted"),
            to_followers=status.visibility != "direct",
            targets=tuple(a.inbox_url for a in mentioned if a.domain is not None and a.inbox_url),
            to=[PUBLIC] if status.visibility in ("public", "unlisted") else [],
            cc=[members.member_urls(self.settings, me.username).followers],
        )
        audit.record(
            session,
            "social.status_deleted",
            object_type="social_status",
            object_id=status.id,
            actor_user_id=user_id,
        )

    async def favourite(
        self, session: AsyncSession, user_id: int, status_id: int, *, undo: bool = False
    ) -> SocialStatusDTO:
        """Like (or unlike) a post the member can see; a remote author hears of it."""
        me = await self._local_row(session, user_id)
        status = await self._visible_status(session, status_id, me.id)
        author = await session.get(SocialAccount, status.account_id)
        assert author is not None
        existing = await session.scalar(
            select(SocialFavourite).where(
                SocialFavourite.account_id == me.id, SocialFavourite.status_id == status.id
            )
        )
        urls = members.member_urls(self.settings, me.username)
        remote_inbox = (author.inbox_url,) if author.domain is not None and author.inbox_url else ()
        if not undo and existing is None:
            uri = urls.activity(uuid.uuid4().hex)
            session.add(SocialFavourite(account_id=me.id, status_id=status.id, uri=uri))
            await session.flush()
            if author.domain is None and author.id != me.id:
                await self._notify(session, author.id, "like", me.id, status.id)
            if remote_inbox:
                await self._publish(
                    session,
                    me,
                    "Like",
                    status.uri,
                    object_uri=status.uri,
                    is_public=False,
                    to_followers=False,
                    targets=remote_inbox,
                    to=[author.uri],
                    cc=[],
                    uri=uri,
                )
        elif undo and existing is not None:
            if remote_inbox:
                await self._publish(
                    session,
                    me,
                    "Undo",
                    {"id": existing.uri, "type": "Like", "actor": me.uri, "object": status.uri},
                    object_uri=existing.uri,
                    is_public=False,
                    to_followers=False,
                    targets=remote_inbox,
                    to=[author.uri],
                    cc=[],
                )
            await session.delete(existing)
            await session.flush()
        [dto] = await self._hydrate(session, [status], me.id)
        return dto

    async def boost(
        self, session: AsyncSession, user_id: int, status_id: int, *, undo: bool = False
    ) -> SocialStatusDTO:
        """Boost (or un-boost) a public or unlisted post: an ``Announce`` to followers."""
        me = await self._local_row(session, user_id)
        status = await self._visible_status(session, status_id, me.id)
        if status.reblog_of_id is not None:
            raise DomainError("social_boost_boost", "Boost the original post instead.")
        if status.visibility not in ("public", "unlisted"):
            raise Forbidden("social_boost_private", "Only public posts can be boosted.")
        author = await session.get(SocialAccount, status.account_id)
        assert author is not None
        existing = await session.scalar(
            select(SocialStatus).where(
                SocialStatus.account_id == me.id,
                SocialStatus.reblog_of_id == status.id,
                SocialStatus.deleted_at.is_(None),
            )
        )
        urls = members.member_urls(self.settings, me.username)
        if not undo and existing is None:
            # A boost deleted earlier keeps its row (and unique key): revive it.
            old = await session.scalar(
                select(SocialStatus).where(
                    SocialStatus.account_id == me.id, SocialStatus.reblog_of_id == status.id
                )
            )
            if old is not None:
                await session.delete(old)
                await session.flush()
            uri = urls.activity(uuid.uuid4().hex)
            boost = SocialStatus(
                uri=uri,
                account_id=me.id,
                is_local=True,
                object_type=status.object_type,
                visibility="public",
                reblog_of_id=status.id,
                published_at=_now(),
            )
            session.add(boost)
            await session.flush()
            if author.domain is None and author.id != me.id:
                await self._notify(session, author.id, "boost", me.id, status.id)
            await self._publish(
                session,
                me,
                "Announce",
                status.uri,
                object_uri=status.uri,
                is_public=True,
                to_followers=True,
                targets=(author.inbox_url,)
                if author.domain is not None and author.inbox_url
                else (),
                to=[PUBLIC],
                cc=[author.uri, urls.followers],
                uri=uri,
            )
        elif undo and existing is not None:
            existing.deleted_at = _now()
            await self._undo_boost(session, me, existing, status)
        [dto] = await self._hydrate(session, [status], me.id)
        return dto

    async def _undo_boost(
        self, session: AsyncSession, me: SocialAccount, boost: SocialStatus, target: SocialStatus
    ) -> None:
        author = await session.get(SocialAccount, target.account_id)
        assert author is not None
        urls = members.member_urls(self.settings, me.username)
        await self._publish(
            session,
            me,
            "Undo",
            {"id": boost.uri, "type": "Announce", "actor": me.uri, "object": target.uri},
            object_uri=boost.uri,
            is_public=False,
            to_followers=True,
            targets=(author.inbox_url,) if author.domain is not None and author.inbox_url else (),
            to=[PUBLIC],
            cc=[urls.followers],
        )
        await session.flush()

    # --- reading ----------------------------------------------------------------------------

    async def home_timeline(
        self, session: AsyncSession, user_id: int, *, max_id: int | None, limit: int
    ) -> TimelinePageDTO:
        """The member's own posts, those of accounts they follow and those addressed to them."""
        me = await self._local_row(session, user_id)
        followed = select(SocialFollow.target_id).where(
            SocialFollow.follower_id == me.id, SocialFollow.state == "accepted"
        )
        condition = or_(
            SocialStatus.account_id == me.id,
            and_(
                SocialStatus.account_id.in_(followed),
                SocialStatus.visibility.in_(("public", "unlisted", "private")),
            ),
            _mentions(me.id),
        )
        return await self._page(session, condition, me.id, max_id, limit)

    async def local_timeline(
        self, session: AsyncSession, viewer_user_id: int | None, *, max_id: int | None, limit: int
    ) -> TimelinePageDTO:
        """Public posts of the cooperative's members, newest first."""
        viewer = await self._viewer(session, viewer_user_id)
        condition = and_(
            SocialStatus.is_local,
            SocialStatus.visibility == "public",
            SocialStatus.reblog_of_id.is_(None),
        )
        return await self._page(session, condition, viewer, max_id, limit)

    async def account_statuses(
        self,
        session: AsyncSession,
        account_id: int,
        viewer_user_id: int | None,
        *,
        max_id: int | None,
        limit: int,
    ) -> TimelinePageDTO:
        """An account's posts that the viewer may see (a profile page)."""
        viewer = await self._viewer(session, viewer_user_id)
        condition = and_(SocialStatus.account_id == account_id, _visible_to(viewer))
        return await self._page(session, condition, viewer, max_id, limit)

    async def status(
        self, session: AsyncSession, status_id: int, viewer_user_id: int | None
    ) -> SocialStatusDTO:
        """One post, if the viewer may see it (else NotFound: its existence is not told)."""
        viewer = await self._viewer(session, viewer_user_id)
        row = await self._visible_status(session, status_id, viewer)
        [dto] = await self._hydrate(session, [row], viewer)
        return dto

    async def replies(
        self, session: AsyncSession, status_id: int, viewer_user_id: int | None
    ) -> list[SocialStatusDTO]:
        viewer = await self._viewer(session, viewer_user_id)
        row = await self._visible_status(session, status_id, viewer)
        rows = list(
            await session.scalars(
                select(SocialStatus)
                .where(
                    SocialStatus.in_reply_to_uri == row.uri,
                    SocialStatus.deleted_at.is_(None),
                    _visible_to(viewer),
                )
                .order_by(SocialStatus.id)
                .limit(200)
            )
        )
        return await self._hydrate(session, rows, viewer)

    async def local_status_document(
        self, session: AsyncSession, username: str, uid: str
    ) -> ApObjectDTO | None:
        """A member's public or unlisted post as a ``Note`` (a Tombstone once deleted); None
        for anything a stranger may not see."""
        me = await self._local_by_username(session, username)
        if me is None:
            return None
        uri = members.member_urls(self.settings, me.username).status(uid)
        status = await session.scalar(
            select(SocialStatus).where(
                SocialStatus.uri == uri,
                SocialStatus.account_id == me.id,
                SocialStatus.reblog_of_id.is_(None),
            )
        )
        if status is None or status.visibility not in ("public", "unlisted"):
            return None
        if status.deleted_at is not None:
            return ApObjectDTO({"id": uri, "type": "Tombstone", "deleted": iso(status.deleted_at)})
        mentioned = list(
            await session.scalars(
                select(SocialAccount)
                .join(SocialMention, SocialMention.account_id == SocialAccount.id)
                .where(SocialMention.status_id == status.id)
            )
        )
        return ApObjectDTO(self._note(me, status, mentioned))

    async def status_id_by_uri(self, session: AsyncSession, username: str, uid: str) -> int | None:
        me = await self._local_by_username(session, username)
        if me is None:
            return None
        uri = members.member_urls(self.settings, me.username).status(uid)
        return await session.scalar(
            select(SocialStatus.id).where(SocialStatus.uri == uri, SocialStatus.account_id == me.id)
        )

    async def outbox(
        self, session: AsyncSession, username: str, *, max_id: int | None, limit: int
    ) -> SocialOutboxPageDTO:
        """A member's public activities (public and unlisted posts only), newest first:
        (page, total, next max_id)."""
        me = await self._local_by_username(session, username)
        if me is None:
            raise NotFound("social_no_account", "There is no such member.")
        condition = and_(
            ApActivity.actor_account_id == me.id,
            ApActivity.is_public,
            ApActivity.activity_type.in_(("Create", "Announce")),
        )
        total = int(
            await session.scalar(select(func.count()).select_from(ApActivity).where(condition)) or 0
        )
        query = select(ApActivity).where(condition)
        if max_id is not None:
            query = query.where(ApActivity.id < max_id)
        rows = list(await session.scalars(query.order_by(ApActivity.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        # A post deleted since is not served from the outbox any more.
        deleted = set(
            await session.scalars(
                select(SocialStatus.uri).where(
                    SocialStatus.uri.in_([r.object_uri for r in rows if r.object_uri]),
                    SocialStatus.deleted_at.is_not(None),
                )
            )
        )
        items = tuple(
            ApObjectDTO({k: v for k, v in r.payload.items() if k != "@context"})
            for r in rows
            if r.object_uri not in deleted and r.uri not in deleted
        )
        return SocialOutboxPageDTO(items, total, rows[-1].id if more and rows else None)

    # --- notifications ------------------------------------------------------------------------

    async def notifications(
        self, session: AsyncSession, user_id: int, *, max_id: int | None, limit: int
    ) -> NotificationPageDTO:
        me = await self._local_row(session, user_id)
        query = select(SocialNotification).where(SocialNotification.account_id == me.id)
        if max_id is not None:
            query = query.where(SocialNotification.id < max_id)
        rows = list(
            await session.scalars(query.order_by(SocialNotification.id.desc()).limit(limit + 1))
        )
        more = len(rows) > limit
        rows = rows[:limit]
        accounts = await self._accounts(session, {r.from_account_id for r in rows})
        status_rows = list(
            await session.scalars(
                select(SocialStatus).where(
                    SocialStatus.id.in_({r.status_id for r in rows if r.status_id}),
                    SocialStatus.deleted_at.is_(None),
                )
            )
        )
        statuses = {s.id: s for s in await self._hydrate(session, status_rows, me.id)}
        items = tuple(
            SocialNotificationDTO(
                r.id,
                r.kind,
                accounts[r.from_account_id],
                statuses.get(r.status_id) if r.status_id else None,
                r.created_at,
                r.read_at is None,
            )
            for r in rows
        )
        return NotificationPageDTO(items, rows[-1].id if more and rows else None)

    async def unread_count(self, session: AsyncSession, user_id: int) -> int:
        account_id = await session.scalar(
            select(SocialAccount.id).where(SocialAccount.user_id == user_id)
        )
        if account_id is None:
            return 0
        return int(
            await session.scalar(
                select(func.count())
                .select_from(SocialNotification)
                .where(
                    SocialNotification.account_id == account_id,
                    SocialNotification.read_at.is_(None),
                )
            )
            or 0
        )

    async def mark_notifications_read(self, session: AsyncSession, user_id: int) -> int:
        me = await self._local_row(session, user_id)
        result = await session.execute(
            update(SocialNotification)
            .where(SocialNotification.account_id == me.id, SocialNotification.read_at.is_(None))
            .values(read_at=func.now())
        )
        if has_app_context():
            invalidate_after_commit(session, NOTIFICATIONS_FRAGMENT, Visitor(user_id=user_id))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # --- receiving ----------------------------------------------------------------------------

    async def receive(
        self, session: AsyncSession, inbound: ApObjectDTO, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        """Act on a verified inbound activity that concerns members; None when it does not
        (an app actor's follow, say), so the app actors' handling takes it."""
        activity = dict(inbound.data)
        kind = str(activity.get("type") or "")
        suspended = await session.scalar(
            select(SocialAccount.id).where(
                SocialAccount.uri == sender.uri, SocialAccount.suspended_at.is_not(None)
            )
        )
        if suspended is not None:
            return ReceivedDTO("suspended", kind)
        obj = activity.get("object")
        if kind == "Follow":
            member = await self._local_target(session, id_of(obj))
            if member is None:
                return None
            return await self._on_follow(session, member, activity, sender)
        if kind in ("Accept", "Reject"):
            return await self._on_answer(session, kind, obj, sender)
        if kind == "Undo":
            return await self._on_undo(session, obj, sender)
        if kind in ("Create", "Update"):
            if isinstance(obj, dict) and obj.get("type") in STATUS_TYPES:
                return await self._on_status(session, kind, obj, activity, sender)
            if kind == "Update" and isinstance(obj, dict) and id_of(obj) == sender.uri:
                existing = await session.scalar(
                    select(SocialAccount.id).where(SocialAccount.uri == sender.uri)
                )
                if existing is not None:
                    await self._upsert_remote(session, obj)
                    return ReceivedDTO("profile_updated", kind)
            return None
        if kind == "Delete":
            return await self._on_delete(session, obj, sender)
        if kind == "Like":
            return await self._on_like(session, activity, sender)
        if kind == "Announce":
            return await self._on_announce(session, activity, sender)
        return None

    async def _local_target(self, session: AsyncSession, uri: str | None) -> SocialAccount | None:
        username = members.username_of(self.settings, uri or "")
        return await self._local_by_username(session, username) if username else None

    async def _on_follow(
        self,
        session: AsyncSession,
        member: SocialAccount,
        activity: dict[str, Any],
        sender: RemoteActorDTO,
    ) -> ReceivedDTO:
        follow_uri = id_of(activity)
        if follow_uri is None:
            raise DomainError("ap_follow_id", "A Follow needs an id.")
        follower = await self._sender_account(session, sender)
        if follower.inbox_url is None:
            raise DomainError("ap_follower_inbox", "The follower has no inbox.")
        if member.suspended_at is not None or await self._blocked_between(
            session, member.id, follower.id, mutes=False
        ):
            await self._answer_remote_follow(session, member, follower, follow_uri, False)
            return ReceivedDTO("follow_refused", "Follow")
        state = "pending" if member.locked else "accepted"
        stmt = insert(SocialFollow).values(
            follower_id=follower.id, target_id=member.id, state=state, follow_uri=follow_uri
        )
        inserted = (
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[SocialFollow.follower_id, SocialFollow.target_id],
                    set_={"follow_uri": stmt.excluded.follow_uri},
                ).returning(SocialFollow.state, SocialFollow.created_at)
            )
        ).one()
        state = inserted.state
        if state == "accepted":
            await self._answer_remote_follow(session, member, follower, follow_uri, True)
        await self._notify(
            session, member.id, "follow" if state == "accepted" else "follow_request", follower.id
        )
        return ReceivedDTO("followed" if state == "accepted" else "follow_requested", "Follow")

    async def _on_answer(
        self, session: AsyncSession, kind: str, obj: Any, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        follow_uri = id_of(obj)
        if follow_uri is None:
            return None
        target = await session.scalar(select(SocialAccount).where(SocialAccount.uri == sender.uri))
        if target is None:
            return None
        condition = and_(SocialFollow.follow_uri == follow_uri, SocialFollow.target_id == target.id)
        if kind == "Accept":
            result = await session.execute(
                update(SocialFollow).where(condition).values(state="accepted")
            )
            outcome = "follow_accepted"
        else:
            result = await session.execute(delete(SocialFollow).where(condition))
            outcome = "follow_rejected"
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return ReceivedDTO(outcome, kind)

    async def _on_undo(
        self, session: AsyncSession, obj: Any, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        inner_uri = id_of(obj)
        inner_type = obj.get("type") if isinstance(obj, dict) else None
        if isinstance(obj, dict) and visitor_of(obj) not in (None, sender.uri):
            raise DomainError("ap_undo_actor", "Only the actor can undo their activity.")
        account = await session.scalar(select(SocialAccount).where(SocialAccount.uri == sender.uri))
        if account is None or inner_uri is None:
            return None
        if inner_type in (None, "Follow"):
            condition = SocialFollow.follower_id == account.id
            target = await self._local_target(
                session, id_of(obj.get("object")) if isinstance(obj, dict) else None
            )
            if target is not None:
                condition = condition & (SocialFollow.target_id == target.id)
            else:
                condition = condition & (SocialFollow.follow_uri == inner_uri)
            result = await session.execute(delete(SocialFollow).where(condition))
            if result.rowcount:  # type: ignore[attr-defined]
                return ReceivedDTO("unfollowed", "Undo")
            return None
        if inner_type == "Like":
            result = await session.execute(
                delete(SocialFavourite).where(
                    SocialFavourite.uri == inner_uri, SocialFavourite.account_id == account.id
                )
            )
            return ReceivedDTO("unliked" if result.rowcount else "noted", "Undo")  # type: ignore[attr-defined]
        if inner_type == "Announce":
            result = await session.execute(
                delete(SocialStatus).where(
                    SocialStatus.uri == inner_uri, SocialStatus.account_id == account.id
                )
            )
            return ReceivedDTO("unboosted" if result.rowcount else "noted", "Undo")  # type: ignore[attr-defined]
        return None

    async def _on_status(
        self,
        session: AsyncSession,
        kind: str,
        obj: dict[str, Any],
        activity: dict[str, Any],
        sender: RemoteActorDTO,
    ) -> ReceivedDTO | None:
        uri = id_of(obj)
        if uri is None or not remote.same_origin(uri, sender.uri):
            raise DomainError("ap_object_origin", "An actor can only post objects of its own.")
        if id_of(obj.get("attributedTo")) not in (None, sender.uri):
            raise DomainError("ap_object_author", "The object is attributed to someone else.")
        existing = await session.scalar(select(SocialStatus).where(SocialStatus.uri == uri))
        if kind == "Update":
            if existing is None:
                return None
            author = await session.get(SocialAccount, existing.account_id)
            if author is None or author.uri != sender.uri:
                raise DomainError("ap_object_author", "Only the author can edit a post.")
            self._apply_object(existing, obj)
            existing.edited_at = _parse_time(obj.get("updated")) or _now()
            return ReceivedDTO("status_updated", kind)
        if existing is not None:
            return ReceivedDTO("noted", kind)
        # Is it anybody's business here? Followed author, addressed member, or a reply to us.
        addressed = set(_ids(obj.get("to"))) | set(_ids(obj.get("cc")))
        addressed |= set(_ids(activity.get("to"))) | set(_ids(activity.get("cc")))
        mention_uris = {
            href
            for t in _list(obj.get("tag"))
            if isinstance(t, dict)
            and t.get("type") == "Mention"
            and isinstance((href := t.get("href")), str)
        }
        local_targets = [
            a
            for a in [
                await self._local_target(session, u)
                for u in sorted(addressed | mention_uris)
                if members.username_of(self.settings, u)
            ]
            if a is not None
        ]
        in_reply_to = id_of(obj.get("inReplyTo"))
        parent = (
            await session.scalar(select(SocialStatus).where(SocialStatus.uri == in_reply_to))
            if in_reply_to
            else None
        )
        author = await self._sender_account(session, sender)
        followed = bool(
            await session.scalar(
                select(
                    exists().where(
                        SocialFollow.target_id == author.id, SocialFollow.state == "accepted"
                    )
                )
            )
        )
        local_parent = parent is not None and parent.is_local
        if not (followed or local_targets or local_parent):
            return ReceivedDTO("noted", kind)
        if addressed & set(PUBLIC_IDS):
            visibility = "public" if set(_ids(obj.get("to"))) & set(PUBLIC_IDS) else "unlisted"
        else:
            followers_uri = await session.scalar(
                select(ApRemoteActor.document["followers"].astext).where(
                    ApRemoteActor.uri == sender.uri
                )
            )
            visibility = (
                "private"
                if (followers_uri and followers_uri in addressed)
                or any(a.endswith("/followers") for a in addressed)
                else "direct"
            )
        status = SocialStatus(
            uri=uri[:500],
            account_id=author.id,
            is_local=False,
            visibility=visibility,
            in_reply_to_uri=in_reply_to[:500] if in_reply_to else None,
            published_at=_parse_time(obj.get("published")) or _now(),
        )
        self._apply_object(status, obj)
        session.add(status)
        await session.flush()
        notified: set[int] = set()
        if parent is not None and parent.is_local and parent.account_id != author.id:
            await self._notify(session, parent.account_id, "reply", author.id, status.id)
            notified.add(parent.account_id)
        for account in {a.id: a for a in local_targets}.values():
            session.add(SocialMention(status_id=status.id, account_id=account.id))
            if account.id not in notified and account.uri in mention_uris:
                await self._notify(session, account.id, "mention", author.id, status.id)
        return ReceivedDTO("status_created", kind)

    def _apply_object(self, status: SocialStatus, obj: dict[str, Any]) -> None:
        status.object_type = str(obj.get("type"))[:20]
        status.name = _text(obj.get("name"), 500) or None
        content = obj.get("content")
        if not isinstance(content, str):
            content_map = obj.get("contentMap")
            content = next(iter(content_map.values()), "") if isinstance(content_map, dict) else ""
        status.content = sanitize_remote(_text(content, 100_000))
        status.spoiler_text = _text(obj.get("summary"), MAX_SPOILER_CHARS)
        status.sensitive = obj.get("sensitive") is True or bool(status.spoiler_text)
        status.url = _first_url(obj.get("url")) or status.uri
        attachments = obj.get("attachment")
        status.attachments = [
            {
                "url": url,
                "media_type": _text(a.get("mediaType"), 100),
                "description": _text(a.get("name"), 1500),
            }
            for a in (attachments if isinstance(attachments, list) else [attachments])
            if isinstance(a, dict) and (url := _first_url(a.get("url")))
        ][:8]
        status.tags = [
            _text(t.get("name"), 100).lstrip("#").lower()
            for t in _list(obj.get("tag"))
            if isinstance(t, dict) and t.get("type") == "Hashtag" and t.get("name")
        ][:20]

    async def _on_delete(
        self, session: AsyncSession, obj: Any, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        target = id_of(obj)
        account = await session.scalar(select(SocialAccount).where(SocialAccount.uri == sender.uri))
        if account is None or target is None:
            return None
        if target == sender.uri:
            await session.delete(account)  # their follows, posts and likes go with it
            await session.flush()
            return None  # the app actors forget the actor too
        result = await session.execute(
            update(SocialStatus)
            .where(SocialStatus.uri == target, SocialStatus.account_id == account.id)
            .values(deleted_at=func.now())
        )
        return ReceivedDTO("status_deleted" if result.rowcount else "noted", "Delete")  # type: ignore[attr-defined]

    async def _on_like(
        self, session: AsyncSession, activity: dict[str, Any], sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        like_uri = id_of(activity)
        status = await session.scalar(
            select(SocialStatus).where(
                SocialStatus.uri == (id_of(activity.get("object")) or ""), SocialStatus.is_local
            )
        )
        if status is None or like_uri is None:
            return None
        account = await self._sender_account(session, sender)
        if not await self._can_see(session, status, account.id):
            return ReceivedDTO("noted", "Like")
        inserted = await session.scalar(
            insert(SocialFavourite)
            .values(account_id=account.id, status_id=status.id, uri=like_uri[:500])
            .on_conflict_do_nothing()
            .returning(SocialFavourite.id)
        )
        if inserted is not None:
            await self._notify(session, status.account_id, "like", account.id, status.id)
        return ReceivedDTO("liked", "Like")

    async def _on_announce(
        self, session: AsyncSession, activity: dict[str, Any], sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        uri = id_of(activity)
        target = await session.scalar(
            select(SocialStatus).where(
                SocialStatus.uri == (id_of(activity.get("object")) or ""),
                SocialStatus.reblog_of_id.is_(None),
                SocialStatus.deleted_at.is_(None),
                SocialStatus.visibility.in_(("public", "unlisted")),
            )
        )
        if target is None or uri is None:
            return None
        account = await self._sender_account(session, sender)
        followed = await session.scalar(
            select(exists().where(SocialFollow.target_id == account.id))
        )
        if not (target.is_local or followed):
            return ReceivedDTO("noted", "Announce")
        inserted = await session.scalar(
            insert(SocialStatus)
            .values(
                uri=uri[:500],
                account_id=account.id,
                is_local=False,
                object_type=target.object_type,
                visibility="public",
                reblog_of_id=target.id,
                published_at=_parse_time(activity.get("published")) or _now(),
            )
            .on_conflict_do_nothing()
            .returning(SocialStatus.id)
        )
        if inserted is not None and target.is_local:
            await self._notify(session, target.account_id, "boost", account.id, target.id)
        return ReceivedDTO("boosted", "Announce")

    # --- moderation ---------------------------------------------------------------------------

    async def block(
        self,
        session: AsyncSession,
        user_id: int,
        account_id: int,
        *,
        kind: str = "block",
        undo: bool = False,
    ) -> RelationshipDTO:
        """Block (no follows either way, nothing from them) or mute (nothing from them in
        timelines or notifications) an account, or undo it."""
        if kind not in ("block", "mute"):
            raise DomainError("social_bad_block", "Block or mute.")
        me = await self._local_row(session, user_id)
        target = await session.get(SocialAccount, account_id)
        if target is None:
            raise NotFound("social_no_account", "There is no such account.")
        if target.id == me.id:
            raise DomainError("social_block_self", "You cannot block or mute yourself.")
        await session.execute(
            delete(SocialBlock).where(
                SocialBlock.account_id == me.id, SocialBlock.target_id == target.id
            )
        )
        if not undo:
            session.add(SocialBlock(account_id=me.id, target_id=target.id, kind=kind))
            if kind == "block":
                await self.unfollow(session, user_id, target.id)
                await session.execute(
                    delete(SocialFollow).where(
                        SocialFollow.follower_id == target.id, SocialFollow.target_id == me.id
                    )
                )
        await session.flush()
        return await self.relationship(session, user_id, account_id)

    async def _blocked_between(
        self, session: AsyncSession, a: int, b: int, *, mutes: bool = False
    ) -> bool:
        kinds = ("block", "mute") if mutes else ("block",)
        return bool(
            await session.scalar(
                select(
                    exists().where(
                        or_(
                            and_(SocialBlock.account_id == a, SocialBlock.target_id == b),
                            and_(SocialBlock.account_id == b, SocialBlock.target_id == a),
                        ),
                        SocialBlock.kind.in_(kinds),
                    )
                )
            )
        )

    async def report(
        self,
        session: AsyncSession,
        user_id: int,
        account_id: int,
        status_id: int | None,
        comment: str,
    ) -> None:
        """Report an account (and one of its posts the member can see) to the admins."""
        me = await self._local_row(session, user_id)
        target = await session.get(SocialAccount, account_id)
        if target is None or target.id == me.id:
            raise NotFound("social_no_account", "There is no such account.")
        if status_id is not None:
            status = await self._visible_status(session, status_id, me.id)
            if status.account_id != target.id:
                raise NotFound("social_no_status", "That post does not exist.")
        if len(comment) > 1000:
            raise DomainError("social_report_too_long", "At most 1000 characters.")
        session.add(
            SocialReport(
                reporter_id=me.id,
                target_account_id=target.id,
                status_id=status_id,
                comment=_text(comment, 1000).strip(),
            )
        )
        await session.flush()

    async def reports(self, session: AsyncSession, *, open_only: bool) -> list[SocialReportDTO]:
        """Reports for the admins, newest first."""
        query = select(SocialReport).order_by(SocialReport.id.desc()).limit(200)
        if open_only:
            query = query.where(SocialReport.resolved_at.is_(None))
        rows = list(await session.scalars(query))
        accounts = await self._accounts(
            session, {r.reporter_id for r in rows} | {r.target_account_id for r in rows}
        )
        status_rows = list(
            await session.scalars(
                select(SocialStatus).where(
                    SocialStatus.id.in_({r.status_id for r in rows if r.status_id})
                )
            )
        )
        statuses = {s.id: s for s in await self._hydrate(session, status_rows, None)}
        return [
            SocialReportDTO(
                r.id,
                accounts[r.reporter_id],
                accounts[r.target_account_id],
                statuses.get(r.status_id) if r.status_id else None,
                r.comment,
                r.created_at,
                r.resolved_at is not None,
            )
            for r in rows
        ]

    async def resolve_report(
        self, session: AsyncSession, admin_user_id: int, report_id: int
    ) -> None:
        result = await session.execute(
            update(SocialReport)
            .where(SocialReport.id == report_id, SocialReport.resolved_at.is_(None))
            .values(resolved_at=func.now(), resolved_by=admin_user_id)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound("social_no_report", "There is no such open report.")
        audit.record(
            session,
            "social.report_resolved",
            object_type="social_report",
            object_id=report_id,
            actor_user_id=admin_user_id,
        )

    async def suspend(
        self, session: AsyncSession, admin_user_id: int, account_id: int, *, undo: bool = False
    ) -> SocialAccountDTO:
        """Suspend an account (or lift it): its posts are hidden everywhere, a local actor
        disappears for other servers and a remote one is ignored at the inbox."""
        row = await session.get(SocialAccount, account_id)
        if row is None:
            raise NotFound("social_no_account", "There is no such account.")
        row.suspended_at = None if undo else _now()
        await session.flush()
        audit.record(
            session,
            "social.account_unsuspended" if undo else "social.account_suspended",
            object_type="social_account",
            object_id=account_id,
            actor_user_id=admin_user_id,
        )
        return self._dto(row)

    async def domain_blocks(self, session: AsyncSession) -> list[str]:
        return list(
            await session.scalars(
                select(SocialDomainBlock.domain).order_by(SocialDomainBlock.domain)
            )
        )

    async def domain_blocked(self, session: AsyncSession, host: str) -> bool:
        """Whether ``host`` (or a domain it is under) is blocked."""
        host = host.lower()
        parts = host.split(".")
        candidates = [host] + [".".join(parts[i:]) for i in range(1, len(parts) - 1)]
        return bool(
            await session.scalar(select(exists().where(SocialDomainBlock.domain.in_(candidates))))
        )

    async def block_domain(
        self, session: AsyncSession, admin_user_id: int, domain: str, *, undo: bool = False
    ) -> None:
        """Block a whole domain: its activities are dropped at the inbox from now on, and its
        accounts (their follows, posts, likes) and its followers of our app actors removed."""
        domain = domain.strip().lower()
        if not re.fullmatch(r"[a-z0-9.-]{1,253}(?::\d{1,5})?", domain) or "." not in domain + ":":
            raise DomainError("social_bad_domain", "Enter a domain like example.social.")
        if undo:
            await session.execute(
                delete(SocialDomainBlock).where(SocialDomainBlock.domain == domain)
            )
        else:
            await session.execute(
                insert(SocialDomainBlock)
                .values(domain=domain, created_by=admin_user_id)
                .on_conflict_do_nothing()
            )
            under = or_(
                func.lower(SocialAccount.domain) == domain,
                func.lower(SocialAccount.domain).like(f"%.{domain}"),
            )
            await session.execute(
                delete(SocialAccount).where(SocialAccount.domain.is_not(None), under)
            )
            follower_host = func.lower(func.split_part(ApFollower.actor_uri, "/", 3))
            await session.execute(
                delete(ApFollower).where(
                    or_(follower_host == domain, follower_host.like(f"%.{domain}"))
                )
            )
        audit.record(
            session,
            "social.domain_unblocked" if undo else "social.domain_blocked",
            object_type="domain",
            object_id=domain,
            actor_user_id=admin_user_id,
        )

    # --- personal data (the PersonalData capability) ----------------------------------------

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """The member's fediverse account: profile, posts (with their media), follows,
        followers, blocks and mutes."""
        row = await session.scalar(select(SocialAccount).where(SocialAccount.user_id == user_id))
        if row is None:
            return PersonalDataDTO("social", {"account": None})
        posts = list(
            await session.scalars(
                select(SocialStatus)
                .where(SocialStatus.account_id == row.id, SocialStatus.deleted_at.is_(None))
                .order_by(SocialStatus.id)
            )
        )
        boosted = {
            s.id: s.uri
            for s in await session.scalars(
                select(SocialStatus).where(
                    SocialStatus.id.in_({p.reblog_of_id for p in posts if p.reblog_of_id})
                )
            )
        }

        async def related(mine: Any, other: Any) -> list[Any]:
            return list(
                (
                    await session.execute(
                        select(SocialAccount.uri, SocialFollow.state)
                        .join(SocialFollow, other == SocialAccount.id)
                        .where(mine == row.id)
                        .order_by(SocialFollow.id)
                    )
                ).all()
            )

        following = await related(SocialFollow.follower_id, SocialFollow.target_id)
        followers = await related(SocialFollow.target_id, SocialFollow.follower_id)
        blocks = list(
            (
                await session.execute(
                    select(SocialAccount.uri, SocialBlock.kind)
                    .join(SocialBlock, SocialBlock.target_id == SocialAccount.id)
                    .where(SocialBlock.account_id == row.id)
                    .order_by(SocialAccount.id)
                )
            ).all()
        )
        own_media = [a["url"] for p in posts for a in p.attachments if a.get("local")]
        profile_media = [u for u in (row.avatar_url, row.header_url) if u]
        return PersonalDataDTO(
            "social",
            {
                "account": {
                    "handle": self._acct(row),
                    "uri": row.uri,
                    "display_name": row.display_name,
                    "bio": row.summary,
                    "avatar_url": row.avatar_url,
                    "header_url": row.header_url,
                    "fields": [dict(f) for f in row.fields],
                    "locked": row.locked,
                    "hide_followers": row.hide_followers,
                    "discoverable": row.discoverable,
                    "created_at": row.created_at.isoformat(),
                },
                "posts": [
                    {
                        "uri": p.uri,
                        "visibility": p.visibility,
                        "published_at": p.published_at.isoformat(),
                        "edited_at": p.edited_at.isoformat() if p.edited_at else None,
                        **(
                            {"boost_of": boosted.get(p.reblog_of_id)}
                            if p.reblog_of_id is not None
                            else {
                                "content": p.content,
                                "content_warning": p.spoiler_text,
                                "in_reply_to": p.in_reply_to_uri,
                                "tags": list(p.tags),
                                "media": [
                                    {"url": a["url"], "description": a.get("description", "")}
                                    for a in p.attachments
                                ],
                            }
                        ),
                    }
                    for p in posts
                ],
                "following": [{"uri": u, "state": st} for u, st in following],
                "followers": [{"uri": u, "state": st} for u, st in followers],
                "blocks": [{"uri": u, "kind": k} for u, k in blocks],
                "media": own_media + profile_media,
            },
        )

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Erase the member's fediverse account as Mastodon deletes one: each post deleted
        and the ``Delete`` sent to the followers and mentioned accounts that had it, then a
        ``Delete`` of the actor itself; follows both ways, blocks, likes, notifications and
        uploaded media removed. The row stays as a tombstone (suspended, emptied): its URL
        answers 410 Gone and its key still signs the Deletes waiting in the outbox, as
        Mastodon keeps a deleted account's key to sign its deletion."""
        row = await session.scalar(select(SocialAccount).where(SocialAccount.user_id == user_id))
        if row is None:
            return
        urls = members.member_urls(self.settings, row.username)
        # The followers are fixed now: the follows are gone by the time the worker fans out.
        follower_inboxes = sorted(
            {
                shared or own
                for own, shared in await session.execute(
                    select(SocialAccount.inbox_url, SocialAccount.shared_inbox_url)
                    .join(SocialFollow, SocialFollow.follower_id == SocialAccount.id)
                    .where(
                        SocialFollow.target_id == row.id,
                        SocialFollow.state == "accepted",
                        SocialAccount.domain.is_not(None),
                        SocialAccount.inbox_url.is_not(None),
                    )
                )
                if own
            }
        )
        posts = list(
            await session.scalars(
                select(SocialStatus)
                .where(SocialStatus.account_id == row.id, SocialStatus.deleted_at.is_(None))
                .order_by(SocialStatus.id)
            )
        )
        media_urls = {a["url"] for p in posts for a in p.attachments if a.get("local")}
        media_urls |= {u for u in (row.avatar_url, row.header_url) if u}
        for status in posts:
            status.deleted_at = _now()
            if status.reblog_of_id is not None:
                continue  # the actor's Delete below ends its boosts on other servers
            mentioned = [
                inbox
                for inbox in await session.scalars(
                    select(SocialAccount.inbox_url)
                    .join(SocialMention, SocialMention.account_id == SocialAccount.id)
                    .where(
                        SocialMention.status_id == status.id,
                        SocialAccount.domain.is_not(None),
                        SocialAccount.inbox_url.is_not(None),
                    )
                )
                if inbox
            ]
            targets = mentioned + (follower_inboxes if status.visibility != "direct" else [])
            if targets:
                await self._publish(
                    session,
                    row,
                    "Delete",
                    {"id": status.uri, "type": "Tombstone"},
                    object_uri=status.uri,
                    is_public=False,
                    to_followers=False,
                    targets=targets,
                    to=[PUBLIC] if status.visibility in ("public", "unlisted") else [],
                    cc=[urls.followers],
                )
        # Remote accounts we followed: an Undo each, so they stop sending to a gone actor.
        followed: list[tuple[str, str, str]] = [
            (follow_uri, target_uri, inbox)
            for follow_uri, target_uri, inbox in await session.execute(
                select(SocialFollow.follow_uri, SocialAccount.uri, SocialAccount.inbox_url)
                .join(SocialAccount, SocialAccount.id == SocialFollow.target_id)
                .where(
                    SocialFollow.follower_id == row.id,
                    SocialAccount.domain.is_not(None),
                    SocialAccount.inbox_url.is_not(None),
                )
            )
            if inbox
        ]
        for follow_uri, target_uri, inbox in followed:
            await self._publish(
                session,
                row,
                "Undo",
                {"id": follow_uri, "type": "Follow", "actor": row.uri, "object": target_uri},
                object_uri=follow_uri,
                is_public=False,
                to_followers=False,
                targets=(inbox,),
                to=[target_uri],
                cc=[],
            )
        everyone = sorted(set(follower_inboxes) | {i for _, _, i in followed})
        if everyone:
            await self._publish(
                session,
                row,
                "Delete",
                row.uri,
                object_uri=row.uri,
                is_public=False,
                to_followers=False,
                targets=everyone,
                to=[PUBLIC],
                cc=[],
            )
        for model, column in (
            (SocialFollow, SocialFollow.follower_id),
            (SocialFollow, SocialFollow.target_id),
            (SocialBlock, SocialBlock.account_id),
            (SocialFavourite, SocialFavourite.account_id),
            (SocialNotification, SocialNotification.account_id),
        ):
            await session.execute(delete(model).where(column == row.id))
        # Posts keep their (emptied) rows: their URLs answer 410 like the actor's.
        await session.execute(
            update(SocialStatus)
            .where(SocialStatus.account_id == row.id)
            .values(content="", spoiler_text="", name=None, attachments=[], tags=[])
        )
        row.display_name = ""
        row.summary = ""
        row.avatar_url = None
        row.header_url = None
        row.fields = []
        row.discoverable = False
        row.suspended_at = row.suspended_at or _now()
        await session.flush()
        await self._forget_media(session, media_urls)
        audit.record(
            session,
            "social.account_erased",
            object_type="social_account",
            object_id=row.id,
            actor_user_id=user_id,
        )

    async def _forget_media(self, session: AsyncSession, urls: set[str]) -> None:
        """Remove stored files once the transaction commits, unless something else still
        uses them (a file is named by its content, so two members may share one)."""
        settings = self.settings.media
        # Only our own files: an image URL a member typed may look like one of ours on
        # another host, and must never remove the file of the same name here.
        ours = f"{self.settings.apps['federation'].public_url}{settings.url_path}/"
        unused = []
        for url in sorted(u for u in urls if u.startswith(ours)):
            in_use = await session.scalar(
                select(
                    exists().where(
                        or_(
                            SocialAccount.avatar_url == url,
                            SocialAccount.header_url == url,
                        )
                    )
                )
            ) or await session.scalar(
                select(
                    exists().where(
                        SocialStatus.deleted_at.is_(None),
                        SocialStatus.attachments.contains([{"url": url}]),
                    )
                )
            )
            if not in_use:
                unused.append(url)
        if not unused:
            return

        async def remove() -> None:
            for url in unused:
                media.delete_stored(url, settings)

        after_commit(session, remove)

    # --- helpers ------------------------------------------------------------------------------

    async def _publish(
        self,
        session: AsyncSession,
        me: SocialAccount,
        activity_type: str,
        obj: dict[str, Any] | str,
        *,
        object_uri: str | None,
        is_public: bool,
        to_followers: bool,
        targets: Iterable[str],
        to: list[str],
        cc: list[str],
        uri: str | None = None,
    ) -> None:
        """Write one of the member's activities to the outbox (delivered after commit)."""
        urls = members.member_urls(self.settings, me.username)
        payload: dict[str, Any] = {
            "@context": AS_CONTEXT,
            "id": uri or urls.activity(uuid.uuid4().hex),
            "type": activity_type,
            "actor": me.uri,
            "published": iso(_now()),
            "to": to,
            "cc": cc,
            "object": obj,
        }
        session.add(
            ApActivity(
                uri=payload["id"],
                actor_app="federation",
                actor_account_id=me.id,
                activity_type=activity_type,
                object_uri=object_uri,
                object_type=obj.get("type") if isinstance(obj, dict) else None,
                payload=payload,
                is_public=is_public,
                to_followers=to_followers,
                target_inboxes=sorted(set(targets)),
            )
        )
        await session.flush()

    async def _notify(
        self,
        session: AsyncSession,
        account_id: int,
        kind: str,
        from_account_id: int,
        status_id: int | None = None,
    ) -> None:
        local = await session.scalar(
            select(SocialAccount.user_id).where(SocialAccount.id == account_id)
        )
        if local is None:
            return
        ignored = await session.scalar(
            select(
                exists().where(
                    SocialBlock.account_id == account_id, SocialBlock.target_id == from_account_id
                )
            )
        )
        if ignored:
            return  # blocked or muted: nothing from them reaches the member
        session.add(
            SocialNotification(
                account_id=account_id,
                kind=kind,
                from_account_id=from_account_id,
                status_id=status_id,
            )
        )
        await session.flush()
        if has_app_context():
            # The unread count in the member's header (outside a request, e.g. the CLI, the
            # count's short TTL catches up).
            invalidate_after_commit(session, NOTIFICATIONS_FRAGMENT, Visitor(user_id=local))

    async def _viewer(self, session: AsyncSession, user_id: int | None) -> int | None:
        if user_id is None:
            return None
        return (await self._local_row(session, user_id)).id

    async def _can_see(
        self, session: AsyncSession, status: SocialStatus, viewer: int | None
    ) -> bool:
        return bool(
            await session.scalar(
                select(exists().where(SocialStatus.id == status.id, _visible_to(viewer)))
            )
        )

    async def _visible_status(
        self, session: AsyncSession, status_id: int, viewer: int | None
    ) -> SocialStatus:
        row = await session.scalar(
            select(SocialStatus).where(
                SocialStatus.id == status_id,
                SocialStatus.deleted_at.is_(None),
                _visible_to(viewer),
                _not_hidden(viewer),
            )
        )
        if row is None:
            raise NotFound("social_no_status", "That post does not exist.")
        return row

    async def _page(
        self,
        session: AsyncSession,
        condition: ColumnElement[bool],
        viewer: int | None,
        max_id: int | None,
        limit: int,
    ) -> TimelinePageDTO:
        query = select(SocialStatus).where(
            condition, SocialStatus.deleted_at.is_(None), _not_hidden(viewer)
        )
        if max_id is not None:
            query = query.where(SocialStatus.id < max_id)
        rows = list(await session.scalars(query.order_by(SocialStatus.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        items = await self._hydrate(session, rows, viewer)
        return TimelinePageDTO(tuple(items), rows[-1].id if more and rows else None)

    async def _hydrate(
        self, session: AsyncSession, rows: Sequence[SocialStatus], viewer: int | None
    ) -> list[SocialStatusDTO]:
        """DTOs for ``rows`` in a fixed number of queries (no N+1 on timelines)."""
        if not rows:
            return []
        boosted_ids = {r.reblog_of_id for r in rows if r.reblog_of_id is not None}
        boosted = (
            {
                s.id: s
                for s in await session.scalars(
                    select(SocialStatus).where(
                        SocialStatus.id.in_(boosted_ids), SocialStatus.deleted_at.is_(None)
                    )
                )
            }
            if boosted_ids
            else {}
        )
        every = list(rows) + list(boosted.values())
        ids = {s.id for s in every}
        uris = {s.uri for s in every}
        accounts = await self._accounts(session, {s.account_id for s in every})
        fav_counts = dict(
            (
                await session.execute(
                    select(SocialFavourite.status_id, func.count())
                    .where(SocialFavourite.status_id.in_(ids))
                    .group_by(SocialFavourite.status_id)
                )
            ).all()
        )
        boost_counts = dict(
            (
                await session.execute(
                    select(SocialStatus.reblog_of_id, func.count())
                    .where(SocialStatus.reblog_of_id.in_(ids), SocialStatus.deleted_at.is_(None))
                    .group_by(SocialStatus.reblog_of_id)
                )
            ).all()
        )
        reply_counts = dict(
            (
                await session.execute(
                    select(SocialStatus.in_reply_to_uri, func.count())
                    .where(
                        SocialStatus.in_reply_to_uri.in_(uris), SocialStatus.deleted_at.is_(None)
                    )
                    .group_by(SocialStatus.in_reply_to_uri)
                )
            ).all()
        )
        mine_fav: set[int] = set()
        mine_boost: set[int] = set()
        if viewer is not None:
            mine_fav = set(
                await session.scalars(
                    select(SocialFavourite.status_id).where(
                        SocialFavourite.account_id == viewer, SocialFavourite.status_id.in_(ids)
                    )
                )
            )
            mine_boost = {
                i
                for i in await session.scalars(
                    select(SocialStatus.reblog_of_id).where(
                        SocialStatus.account_id == viewer,
                        SocialStatus.reblog_of_id.in_(ids),
                        SocialStatus.deleted_at.is_(None),
                    )
                )
                if i is not None
            }

        def one(s: SocialStatus, reblog: SocialStatusDTO | None) -> SocialStatusDTO:
            return SocialStatusDTO(
                id=s.id,
                uri=s.uri,
                url=s.url,
                account=accounts[s.account_id],
                object_type=s.object_type,
                name=s.name,
                content=s.content,
                spoiler_text=s.spoiler_text,
                sensitive=s.sensitive,
                visibility=s.visibility,
                in_reply_to_uri=s.in_reply_to_uri,
                published_at=s.published_at,
                edited_at=s.edited_at,
                attachments=tuple(
                    AttachmentDTO(
                        a["url"],
                        a.get("media_type", ""),
                        a.get("description", ""),
                        a.get("width"),
                        a.get("height"),
                        # Only what we stored ourselves is shown inline (s.is_local: a
                        # remote post cannot claim it).
                        s.is_local and a.get("local") is True,
                    )
                    for a in s.attachments
                ),
                tags=tuple(s.tags),
                reblog=reblog,
                favourites_count=int(fav_counts.get(s.id, 0)),
                reblogs_count=int(boost_counts.get(s.id, 0)),
                replies_count=int(reply_counts.get(s.uri, 0)),
                favourited=s.id in mine_fav,
                reblogged=s.id in mine_boost,
            )

        out: list[SocialStatusDTO] = []
        for s in rows:
            if s.reblog_of_id is not None:
                target = boosted.get(s.reblog_of_id)
                if target is None:
                    continue  # the boosted post was deleted
                out.append(one(s, one(target, None)))
            else:
                out.append(one(s, None))
        return out

    async def _accounts(self, session: AsyncSession, ids: set[int]) -> dict[int, SocialAccountDTO]:
        if not ids:
            return {}
        rows = await session.scalars(select(SocialAccount).where(SocialAccount.id.in_(ids)))
        return {r.id: self._dto(r) for r in rows}

    def _acct(self, row: SocialAccount) -> str:
        return f"{row.username}@{row.domain or self.host}"

    def _dto(self, row: SocialAccount) -> SocialAccountDTO:
        return SocialAccountDTO(
            id=row.id,
            uri=row.uri,
            acct=self._acct(row),
            username=row.username,
            display_name=row.display_name,
            summary=row.summary,
            url=row.url,
            avatar_url=row.avatar_url,
            header_url=row.header_url,
            fields=tuple((str(f.get("name", "")), str(f.get("value", ""))) for f in row.fields),
            is_local=row.domain is None,
            locked=row.locked,
            hide_followers=row.hide_followers,
            discoverable=row.discoverable,
            suspended=row.suspended_at is not None,
        )


def _mentions(account_id: int) -> ColumnElement[bool]:
    return exists().where(
        SocialMention.status_id == SocialStatus.id, SocialMention.account_id == account_id
    )


def _not_hidden(viewer: int | None) -> ColumnElement[bool]:
    """Not by a suspended account, nor by one the viewer blocks or mutes."""
    suspended = select(SocialAccount.id).where(SocialAccount.suspended_at.is_not(None))
    condition = SocialStatus.account_id.not_in(suspended)
    if viewer is None:
        return condition
    ignored = select(SocialBlock.target_id).where(SocialBlock.account_id == viewer)
    return and_(condition, SocialStatus.account_id.not_in(ignored))


def _visible_to(viewer: int | None) -> ColumnElement[bool]:
    """The visibility rule, as SQL over ``social_statuses`` (see the module docstring)."""
    open_to_all = SocialStatus.visibility.in_(("public", "unlisted"))
    if viewer is None:
        return open_to_all
    follows = exists().where(
        SocialFollow.follower_id == viewer,
        SocialFollow.target_id == SocialStatus.account_id,
        SocialFollow.state == "accepted",
    )
    return or_(
        open_to_all,
        SocialStatus.account_id == viewer,
        and_(SocialStatus.visibility == "private", follows),
        _mentions(viewer),
    )


def _plain(value: Any) -> str:
    """Text of a small HTML value (profile field values arrive as HTML)."""
    if not isinstance(value, str):
        return ""
    return html.unescape(nh3.clean(value, tags=set()))


def _plain_to_html(value: str) -> str:
    text = _CONTROL.sub("", value).strip()
    if not text:
        return ""
    paragraphs = [p for p in re.split(r"\n\s*\n", html.escape(text)) if p.strip()]
    return "".join(f"<p>{p.strip().replace(chr(10), '<br>')}</p>" for p in paragraphs)


def _url_or_none(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"https?://\S{1,490}", value):
        return value
    return None


def _first_url(value: Any) -> str | None:
    """The URL of an AS2 ``url``/``icon`` value (a string, a Link/Image, or a list of them)."""
    if isinstance(value, list):
        for item in value:
            found = _first_url(item)
            if found:
                return found
        return None
    if isinstance(value, dict):
        if value.get("mediaType") not in (None, "text/html") and value.get("type") == "Link":
            return None
        return _first_url(value.get("href") or value.get("url"))
    return _url_or_none(value)
