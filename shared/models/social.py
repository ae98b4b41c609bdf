"""The federation social hub: members' fediverse accounts, follows, statuses, notifications.

``social_accounts`` holds every account the hub knows, local and remote, in one table (as
Mastodon does): a local one belongs to a member (``user_id``) and carries its own keypair, the
private half encrypted at rest; a remote one mirrors a fetched actor (its key lives in
``ap_remote_actors``, which the inbox already maintains). ``social_statuses`` holds the posts
that timelines are made of: the members' own and those received from accounts they follow.
Cursors are status ids: a new status always gets a larger id, so a page never shifts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, created_at_column, one_of, updated_at_column

VISIBILITIES = ("public", "unlisted", "private", "direct")
FOLLOW_STATES = ("pending", "accepted")
NOTIFICATION_KINDS = ("follow", "follow_request", "mention", "reply", "like", "boost")
BLOCK_KINDS = ("block", "mute")
# A limited domain (Mastodon's "silence") is heard only by its accounts' followers; a blocked
# one ("suspend") not at all.
DOMAIN_SEVERITIES = ("limit", "block")


class SocialAccount(Base):
    """A fediverse account: a member's own (``user_id`` set) or a remote one."""

    __tablename__ = "social_accounts"
    __table_args__ = (
        # One local account per member; remote handles are unique per domain.
        Index(
            "uq_social_accounts_local_username",
            text("lower(username)"),
            unique=True,
            postgresql_where=text("domain IS NULL"),
        ),
        Index("ix_social_accounts_handle", text("lower(username)"), text("lower(domain)")),
        CheckConstraint("(user_id IS NULL) = (domain IS NOT NULL)", name="local_iff_member"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    uri: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    username: Mapped[str] = mapped_column(String(200), nullable=False)
    # None for our own members; the remote host (with port) otherwise.
    domain: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    # Sanitized HTML (a local bio is plain text turned into HTML when saved).
    summary: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    url: Mapped[str | None] = mapped_column(String(500))
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    header_url: Mapped[str | None] = mapped_column(String(500))
    # [{"name": ..., "value": ...}] profile fields, values plain text.
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    inbox_url: Mapped[str | None] = mapped_column(String(500))
    shared_inbox_url: Mapped[str | None] = mapped_column(String(500))
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    hide_followers: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    discoverable: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    public_key_pem: Mapped[str | None] = mapped_column(Text)
    # AES-GCM(nonce || ciphertext) of the PKCS#8 PEM, under a key derived from the secret key.
    private_key_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Suspended by an admin: the actor is gone for other servers, the posts hidden everywhere.
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The actor URIs this account is also known as (``alsoKnownAs``): for a member, the old
    # accounts they name so that those may move here; for a remote account, as it said.
    also_known_as: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")
    # The account this one moved to (``movedTo``), by URI: a member who moved away, or a
    # remote account whose verified ``Move`` we received.
    moved_to_uri: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class SocialFollow(Base):
    """``follower`` follows ``target``: pending until accepted (locked accounts, remote ones)."""

    __tablename__ = "social_follows"
    __table_args__ = (
        UniqueConstraint("follower_id", "target_id"),
        CheckConstraint(one_of("state", FOLLOW_STATES), name="state_known"),
        CheckConstraint("follower_id <> target_id", name="not_self"),
        Index("ix_social_follows_target", "target_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    follower_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    target_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    state: Mapped[str] = mapped_column(String(10), nullable=False, server_default="pending")
    # The Follow activity's id (ours for outgoing follows, theirs for incoming ones).
    follow_uri: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    created_at: Mapped[datetime] = created_at_column()


class SocialStatus(Base):
    """A post (Note, Article, Event) or a boost of one (``reblog_of_id``)."""

    __tablename__ = "social_statuses"
    __table_args__ = (
        CheckConstraint(one_of("visibility", VISIBILITIES), name="visibility_known"),
        Index("ix_social_statuses_account", "account_id", "id"),
        Index("ix_social_statuses_in_reply_to", "in_reply_to_uri"),
        Index(
            "ix_social_statuses_local_timeline",
            "id",
            postgresql_where=text("is_local AND visibility = 'public' AND deleted_at IS NULL"),
        ),
        UniqueConstraint("account_id", "reblog_of_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    is_local: Mapped[bool] = mapped_column(Boolean, nullable=False)
    object_type: Mapped[str] = mapped_column(String(20), nullable=False, server_default="Note")
    url: Mapped[str | None] = mapped_column(String(500))
    name: Mapped[str | None] = mapped_column(String(500))
    # Sanitized HTML.
    content: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # The content warning (``summary``); ``sensitive`` hides media and text behind it.
    spoiler_text: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    visibility: Mapped[str] = mapped_column(String(10), nullable=False)
    in_reply_to_uri: Mapped[str | None] = mapped_column(String(500))
    reblog_of_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("social_statuses.id", ondelete="CASCADE")
    )
    # Remote attachments, linked (never hot-loaded): [{"url", "media_type", "description"}].
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default="[]"
    )
    tags: Mapped[list[str]] = mapped_column(JSONB, nullable=False, server_default="[]")
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()


class SocialMention(Base):
    """An account mentioned by (or addressed by) a status: who may see a direct post."""

    __tablename__ = "social_mentions"
    __table_args__ = (Index("ix_social_mentions_account", "account_id", "status_id"),)

    status_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_statuses.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), primary_key=True
    )


class SocialFavourite(Base):
    """A like."""

    __tablename__ = "social_favourites"
    __table_args__ = (UniqueConstraint("account_id", "status_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    status_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_statuses.id", ondelete="CASCADE"), nullable=False
    )
    uri: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    created_at: Mapped[datetime] = created_at_column()


class SocialNotification(Base):
    """Something that happened to a member's account."""

    __tablename__ = "social_notifications"
    __table_args__ = (
        CheckConstraint(one_of("kind", NOTIFICATION_KINDS), name="kind_known"),
        Index("ix_social_notifications_account", "account_id", "id"),
        Index(
            "ix_social_notifications_unread",
            "account_id",
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    from_account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    status_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("social_statuses.id", ondelete="CASCADE")
    )
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()


class SocialBlock(Base):
    """A member blocks (no follows either way, nothing from them) or mutes (nothing from them
    in timelines or notifications) an account; or a remote account blocked a member (its
    ``Block`` received: no follows either way, and nothing of theirs shown to the member)."""

    __tablename__ = "social_blocks"
    __table_args__ = (
        CheckConstraint(one_of("kind", BLOCK_KINDS), name="kind_known"),
        Index("ix_social_blocks_target", "target_id", "kind"),
    )

    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    target_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    # The ``Block`` activity's id: ours when a member blocks a remote account, theirs when a
    # remote account blocks a member (None for mutes and local blocks).
    uri: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()


class SocialDomainBlock(Base):
    """A whole remote domain blocked by an admin (its activities dropped at the inbox) or
    limited (its accounts' posts and notifications reach only those who follow them)."""

    __tablename__ = "social_domain_blocks"
    __table_args__ = (
        CheckConstraint(one_of("severity", DOMAIN_SEVERITIES), name="severity_known"),
    )

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    severity: Mapped[str] = mapped_column(String(10), nullable=False, server_default="block")
    created_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at_column()


class SocialReport(Base):
    """A report to the admins about one of the hub's accounts: by a member (``reporter_id``,
    one post at most) or by another server's moderators (a received ``Flag``: ``origin_*``,
    the posts it names in ``status_ids``). A member's report of a remote account can be
    forwarded to that account's server (``forwarded_at``)."""

    __tablename__ = "social_reports"
    __table_args__ = (
        Index("ix_social_reports_open", "id", postgresql_where=text("resolved_at IS NULL")),
        CheckConstraint(
            "reporter_id IS NOT NULL OR origin_domain IS NOT NULL", name="reporter_or_origin"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The member who reported; None for a report another server sent.
    reporter_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE")
    )
    # The server a received Flag came from, and the actor (its instance actor) that sent it.
    origin_domain: Mapped[str | None] = mapped_column(String(255))
    origin_actor_uri: Mapped[str | None] = mapped_column(String(500))
    target_account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    )
    status_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("social_statuses.id", ondelete="SET NULL")
    )
    # The target's posts a received Flag named (ids of social_statuses; gone ones are skipped).
    status_ids: Mapped[list[int]] = mapped_column(JSONB, nullable=False, server_default="[]")
    comment: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    created_at: Mapped[datetime] = created_at_column()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    # When an admin forwarded the member's report to the remote account's server, and who.
    forwarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    forwarded_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
