"""The social hub's contract: members' fediverse accounts, follows, timelines, posts and
notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.federation import ApObjectDTO, ReceivedDTO, RemoteActorDTO
from shared.models.social import DOMAIN_SEVERITIES, VISIBILITIES

# Who may see a post; the one list is the model's, which its CHECK constraint is built from.
SOCIAL_VISIBILITIES = VISIBILITIES
# What the admins do to a remote domain: limit it or block it.
SOCIAL_DOMAIN_SEVERITIES = DOMAIN_SEVERITIES


@dataclass(frozen=True)
class SocialAccountDTO:
    """A fediverse account, a member's own (``is_local``) or a remote one; ``acct`` is
    ``name@host`` and ``summary`` sanitized HTML."""

    id: int
    uri: str
    acct: str
    username: str
    display_name: str
    summary: str
    url: str | None
    avatar_url: str | None
    header_url: str | None
    fields: tuple[tuple[str, str], ...]
    is_local: bool
    locked: bool
    hide_followers: bool
    discoverable: bool
    # Suspended by an admin, or the member's account was erased: gone for other servers.
    suspended: bool = False

    @property
    def name(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True)
class AttachmentDTO:
    """An attachment: a member's own image (``is_local``, shown inline) or a remote one
    (linked, never loaded from its host by our pages)."""

    url: str
    media_type: str
    description: str
    width: int | None = None
    height: int | None = None
    is_local: bool = False


@dataclass(frozen=True)
class SocialStatusDTO:
    """A post as a timeline shows it; ``reblog`` is the boosted post when this is a boost.
    ``content`` is sanitized HTML; ``spoiler_text`` the content warning."""

    id: int
    uri: str
    url: str | None
    account: SocialAccountDTO
    object_type: str
    name: str | None
    content: str
    spoiler_text: str
    sensitive: bool
    visibility: str
    in_reply_to_uri: str | None
    published_at: datetime
    edited_at: datetime | None
    attachments: tuple[AttachmentDTO, ...]
    tags: tuple[str, ...]
    reblog: SocialStatusDTO | None
    favourites_count: int
    reblogs_count: int
    replies_count: int
    favourited: bool
    reblogged: bool


@dataclass(frozen=True)
class TimelinePageDTO:
    """One page of a timeline, newest first; ``next_max_id`` continues it (a stable cursor:
    newer posts never shift an older page)."""

    items: tuple[SocialStatusDTO, ...]
    next_max_id: int | None


@dataclass(frozen=True)
class SocialNotificationDTO:
    id: int
    kind: str
    account: SocialAccountDTO
    status: SocialStatusDTO | None
    created_at: datetime
    unread: bool


@dataclass(frozen=True)
class NotificationPageDTO:
    items: tuple[SocialNotificationDTO, ...]
    next_max_id: int | None


@dataclass(frozen=True)
class RelationshipDTO:
    """How the viewer stands with an account: ``following`` is none, pending or accepted."""

    following: str
    followed_by: bool
    blocking: bool = False
    muting: bool = False


@dataclass(frozen=True)
class MovingDTO:
    """A member's moves: the old accounts they named as aliases (so those may move here),
    each as (actor URI, handle or URI to show), and the account they moved to, if they did."""

    aliases: tuple[tuple[str, str], ...]
    moved_to: SocialAccountDTO | None


@dataclass(frozen=True)
class SocialProfileInput:
    display_name: str
    bio: str
    avatar_url: str
    header_url: str
    fields: tuple[tuple[str, str], ...]
    locked: bool
    hide_followers: bool
    discoverable: bool
    # Uploaded images replacing the avatar or header (checked and re-encoded by the service);
    # ``remove_*`` clears one.
    avatar: MediaUpload | None = None
    header: MediaUpload | None = None
    remove_avatar: bool = False
    remove_header: bool = False


@dataclass(frozen=True)
class ComposeInput:
    """A new post: plain text (mentions, hashtags and links become links), its visibility,
    an optional content warning, and the post it replies to."""

    text: str
    visibility: str = "public"
    spoiler_text: str = ""
    in_reply_to_id: int | None = None
    # Up to four images, each with its alt text.
    media: tuple[MediaUpload, ...] = ()


@dataclass(frozen=True)
class SocialOutboxPageDTO:
    """One page of a member's outbox (their public activities), newest first."""

    items: tuple[ApObjectDTO, ...]
    total: int
    next_max_id: int | None


@dataclass(frozen=True)
class SocialReportDTO:
    """A report to the admins: who reported whom (and which posts), why, and whether it is
    dealt with. ``reporter`` is the member who reported, or None when another server's
    moderators sent it (``origin``: that server's domain). ``forward_to`` is the domain a
    member's report of a remote account can be forwarded to, ``forwarded`` whether it was."""

    id: int
    reporter: SocialAccountDTO | None
    target: SocialAccountDTO
    statuses: tuple[SocialStatusDTO, ...]
    comment: str
    created_at: datetime
    resolved: bool
    origin: str | None = None
    forward_to: str | None = None
    forwarded: bool = False


@dataclass(frozen=True)
class DomainBlockDTO:
    """A remote domain the admins block (nothing from it is heard) or limit (its accounts
    reach only their followers)."""

    domain: str
    severity: str
    created_at: datetime


@dataclass(frozen=True)
class MediaUpload:
    """An uploaded file as the member sent it (the service checks that it is an image) and
    its description (alt text)."""

    data: bytes
    description: str = ""


class SocialService(Protocol):
    """The social hub at federation: members' fediverse accounts (each an actor with a keypair
    of its own), follows, timelines, posts, likes, boosts and notifications. What a member
    does that other servers must hear of goes through the outbox in the same transaction;
    inbound activities that concern members reach :meth:`receive` through the inbox.
    """

    async def account_for_member(self, session: AsyncSession, user_id: int) -> SocialAccountDTO:
        """The member's own account, made (with its keypair) on first need."""
        ...

    async def local_account(self, session: AsyncSession, username: str) -> SocialAccountDTO | None:
        """The account of the member called ``username`` (any case), if there is one."""
        ...

    async def account(self, session: AsyncSession, account_id: int) -> SocialAccountDTO: ...

    async def actor_document(self, session: AsyncSession, username: str) -> ApObjectDTO | None:
        """The member's ``Person`` document (None when there is no such member, or when the
        account is suspended)."""
        ...

    async def update_profile(
        self, session: AsyncSession, user_id: int, profile: SocialProfileInput
    ) -> SocialAccountDTO:
        """Save the member's profile and tell their followers (``Update`` of the Person)."""
        ...

    async def moving(self, session: AsyncSession, user_id: int) -> MovingDTO:
        """The member's aliases and where they moved, for their settings."""
        ...

    async def add_alias(self, session: AsyncSession, user_id: int, query: str) -> MovingDTO:
        """Name an old account (handle or actor URL, resolved) as the member's alias, so that
        it may move here; followers hear of it (``Update`` of the Person)."""
        ...

    async def remove_alias(self, session: AsyncSession, user_id: int, uri: str) -> MovingDTO: ...

    async def move_away(self, session: AsyncSession, user_id: int, query: str) -> MovingDTO:
        """Move the member to the account ``query`` names, which must list the member among
        its aliases: ``Move`` to every follower, local followers moved here."""
        ...

    async def moved_to(self, session: AsyncSession, account_id: int) -> SocialAccountDTO | None:
        """The account an account moved to, if it moved (and we know the new one)."""
        ...

    async def resolve_account(self, session: AsyncSession, query: str) -> SocialAccountDTO:
        """The account a handle (``@name@host``) or an actor URL names, fetched if remote."""
        ...

    async def relationship(
        self, session: AsyncSession, user_id: int, account_id: int
    ) -> RelationshipDTO: ...

    async def follow(self, session: AsyncSession, user_id: int, account_id: int) -> RelationshipDTO:
        """Follow an account: a remote one is asked with a ``Follow`` (pending until it
        accepts); a local one is followed at once unless it is locked."""
        ...

    async def unfollow(
        self, session: AsyncSession, user_id: int, account_id: int
    ) -> RelationshipDTO: ...

    async def follow_requests(
        self, session: AsyncSession, user_id: int
    ) -> list[SocialAccountDTO]: ...

    async def answer_follow_request(
        self, session: AsyncSession, user_id: int, account_id: int, *, accept: bool
    ) -> None:
        """Accept or reject a pending follow of the member's (locked) account."""
        ...

    async def followers(
        self, session: AsyncSession, account_id: int, *, page: int, limit: int
    ) -> tuple[list[SocialAccountDTO], int]:
        """Accepted followers, oldest first, and how many there are."""
        ...

    async def following(
        self, session: AsyncSession, account_id: int, *, page: int, limit: int
    ) -> tuple[list[SocialAccountDTO], int]: ...

    async def compose(
        self, session: AsyncSession, user_id: int, post: ComposeInput
    ) -> SocialStatusDTO:
        """Publish a post: stored, and a ``Create{Note}`` to followers and mentioned accounts."""
        ...

    async def edit_status(
        self, session: AsyncSession, user_id: int, status_id: int, post: ComposeInput
    ) -> SocialStatusDTO:
        """Edit one of the member's posts (text and content warning; who can see it stays as
        it was) and federate the ``Update``. Another member's post is a 404."""
        ...

    async def delete_status(self, session: AsyncSession, user_id: int, status_id: int) -> None:
        """Delete one of the member's posts (another's is a 404) and federate the ``Delete``."""
        ...

    async def favourite(
        self, session: AsyncSession, user_id: int, status_id: int, *, undo: bool = False
    ) -> SocialStatusDTO:
        """Like (or unlike) a post the member can see; a remote author hears of it."""
        ...

    async def boost(
        self, session: AsyncSession, user_id: int, status_id: int, *, undo: bool = False
    ) -> SocialStatusDTO:
        """Boost (or un-boost) a public or unlisted post: an ``Announce`` to followers."""
        ...

    async def home_timeline(
        self, session: AsyncSession, user_id: int, *, max_id: int | None, limit: int
    ) -> TimelinePageDTO:
        """The member's own posts, those of accounts they follow and those addressed to them."""
        ...

    async def local_timeline(
        self, session: AsyncSession, viewer_user_id: int | None, *, max_id: int | None, limit: int
    ) -> TimelinePageDTO:
        """Public posts of the cooperative's members, newest first."""
        ...

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
        ...

    async def status(
        self, session: AsyncSession, status_id: int, viewer_user_id: int | None
    ) -> SocialStatusDTO:
        """One post, if the viewer may see it (else NotFound: its existence is not told)."""
        ...

    async def replies(
        self, session: AsyncSession, status_id: int, viewer_user_id: int | None
    ) -> list[SocialStatusDTO]: ...

    async def local_status_document(
        self, session: AsyncSession, username: str, uid: str
    ) -> ApObjectDTO | None:
        """A member's public or unlisted post as a ``Note`` (a Tombstone once deleted); None
        for anything a stranger may not see."""
        ...

    async def status_id_by_uri(
        self, session: AsyncSession, username: str, uid: str
    ) -> int | None: ...

    async def outbox(
        self, session: AsyncSession, username: str, *, max_id: int | None, limit: int
    ) -> SocialOutboxPageDTO:
        """A member's public activities (public and unlisted posts only), newest first:
        (page, total, next max_id)."""
        ...

    async def notifications(
        self, session: AsyncSession, user_id: int, *, max_id: int | None, limit: int
    ) -> NotificationPageDTO: ...

    async def unread_count(self, session: AsyncSession, user_id: int) -> int: ...

    async def mark_notifications_read(self, session: AsyncSession, user_id: int) -> int: ...

    async def receive(
        self, session: AsyncSession, inbound: ApObjectDTO, sender: RemoteActorDTO
    ) -> ReceivedDTO | None:
        """Act on a verified inbound activity that concerns members; None when it does not
        (an app actor's follow, say), so the app actors' handling takes it."""
        ...

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
        timelines or notifications) an account, or undo it; a remote account's server hears of
        a block and of its end (``Block``, ``Undo``), never of a mute."""
        ...

    async def report(
        self,
        session: AsyncSession,
        user_id: int,
        account_id: int,
        status_id: int | None,
        comment: str,
    ) -> None:
        """Report an account (and one of its posts the member can see) to the admins."""
        ...

    async def reports(self, session: AsyncSession, *, open_only: bool) -> list[SocialReportDTO]:
        """Reports for the admins, newest first."""
        ...

    async def resolve_report(
        self, session: AsyncSession, admin_user_id: int, report_id: int
    ) -> None: ...

    async def suspend(
        self, session: AsyncSession, admin_user_id: int, account_id: int, *, undo: bool = False
    ) -> SocialAccountDTO:
        """Suspend an account (or lift it): its posts are hidden everywhere, a local actor
        disappears for other servers and a remote one is ignored at the inbox."""
        ...

    async def forward_report(
        self, session: AsyncSession, admin_user_id: int, report_id: int
    ) -> bool:
        """Send a member's report of a remote account to that account's server, as a ``Flag``
        by the federation actor (the member is not named), through the outbox. False when it
        was forwarded before (nothing more is sent)."""
        ...

    async def domain_blocks(self, session: AsyncSession) -> list[DomainBlockDTO]:
        """The blocked and limited domains, by name."""
        ...

    async def domain_blocked(self, session: AsyncSession, host: str) -> bool:
        """Whether ``host`` (or a domain it is under) is blocked (not merely limited)."""
        ...

    async def block_domain(
        self,
        session: AsyncSession,
        admin_user_id: int,
        domain: str,
        *,
        severity: str = "block",
        undo: bool = False,
    ) -> None:
        """Block a whole domain (its activities are dropped at the inbox from now on, and its
        accounts — their follows, posts, likes — and its followers of our app actors removed),
        limit it (its accounts' posts and notifications reach only their followers, and their
        follows wait for approval), or lift either (``undo``)."""
        ...

    async def member_profile(self, session: AsyncSession, user_id: int) -> SocialAccountDTO | None:
        """The member's fediverse profile (display name, bio, avatar) if they have one yet;
        reads only (the account dashboard shows it)."""
        ...

    async def app_actors(self, session: AsyncSession) -> list[SocialAccountDTO]:
        """The cooperative's own app actors (blog, market, events ...) as accounts a member
        can follow."""
        ...
