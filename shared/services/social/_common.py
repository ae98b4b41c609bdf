"""What the social sections share: limits, the cleaning of text that other servers send, and
the rules on who sees what as SQL (visibility, blocks and mutes, suspended accounts, blocked
and limited domains), used by every page, collection and inbox check."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import nh3
from sqlalchemy import Select, and_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from shared.errors import NotFound
from shared.infrastructure.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, URL_SCHEMES
from shared.models import (
    SocialAccount,
    SocialBlock,
    SocialDomainBlock,
    SocialFollow,
    SocialMention,
    SocialStatus,
)

MAX_SPOILER_CHARS = 500
MAX_FIELDS = 4
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
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sanitize_remote(value: str) -> str:
    return str(_REMOTE_CLEANER.clean(CONTROL.sub("", value))).strip()


def clean_text(value: Any, limit: int) -> str:
    """``value`` if it is a string, without control characters and cut to ``limit``."""
    return CONTROL.sub("", value if isinstance(value, str) else "")[:limit]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def url_or_none(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"https?://\S{1,490}", value):
        return value
    return None


def first_url(value: Any) -> str | None:
    """The URL of an AS2 ``url``/``icon`` value (a string, a Link/Image, or a list of them)."""
    if isinstance(value, list):
        for item in value:
            found = first_url(item)
            if found:
                return found
        return None
    if isinstance(value, dict):
        if value.get("mediaType") not in (None, "text/html") and value.get("type") == "Link":
            return None
        return first_url(value.get("href") or value.get("url"))
    return url_or_none(value)


def mentions(account_id: int) -> ColumnElement[bool]:
    return exists().where(
        SocialMention.status_id == SocialStatus.id, SocialMention.account_id == account_id
    )


def not_hidden(viewer: int | None) -> ColumnElement[bool]:
    """Not by a suspended account, nor by one the viewer blocks or mutes, nor by one that
    blocks the viewer (as Mastodon keeps a blocker's posts from whom they blocked)."""
    suspended = select(SocialAccount.id).where(SocialAccount.suspended_at.is_not(None))
    condition = SocialStatus.account_id.not_in(suspended)
    if viewer is None:
        return condition
    ignored = select(SocialBlock.target_id).where(SocialBlock.account_id == viewer)
    blockers = select(SocialBlock.account_id).where(
        SocialBlock.target_id == viewer, SocialBlock.kind == "block"
    )
    return and_(
        condition,
        SocialStatus.account_id.not_in(ignored),
        SocialStatus.account_id.not_in(blockers),
    )


def visible_to(viewer: int | None) -> ColumnElement[bool]:
    """Who may see a post, as SQL over ``social_statuses``:

    - ``public``: anyone, and listed on the local timeline and in the outbox;
    - ``unlisted``: anyone with the link, in the outbox, never on the local timeline;
    - ``private`` (followers only): the author, accepted followers and mentioned accounts;
    - ``direct``: the author and mentioned accounts.
    """
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
        mentions(viewer),
    )


async def can_see(session: AsyncSession, status: SocialStatus, viewer: int | None) -> bool:
    return bool(
        await session.scalar(
            select(exists().where(SocialStatus.id == status.id, visible_to(viewer)))
        )
    )


async def visible_status(session: AsyncSession, status_id: int, viewer: int | None) -> SocialStatus:
    """The post, if the viewer may see it and it is not hidden from them (else NotFound)."""
    row = await session.scalar(
        select(SocialStatus).where(
            SocialStatus.id == status_id,
            SocialStatus.deleted_at.is_(None),
            visible_to(viewer),
            not_hidden(viewer),
        )
    )
    if row is None:
        raise NotFound("social_no_status", "That post does not exist.")
    return row


async def blocked_between(session: AsyncSession, a: int, b: int, *, mutes: bool = False) -> bool:
    """Whether either account blocks (or, with ``mutes``, mutes) the other."""
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


async def domain_is_blocked(session: AsyncSession, host: str) -> bool:
    """Whether ``host`` (or a domain it is under) is blocked (a limited one is not)."""
    host = host.lower()
    parts = host.split(".")
    candidates = [host] + [".".join(parts[i:]) for i in range(1, len(parts) - 1)]
    return bool(
        await session.scalar(
            select(
                exists().where(
                    SocialDomainBlock.domain.in_(candidates), SocialDomainBlock.severity == "block"
                )
            )
        )
    )


def limited_accounts() -> Select[int]:
    """The ids of the remote accounts on a limited domain (or one under it)."""
    host = func.lower(SocialAccount.domain)
    return select(SocialAccount.id).join(
        SocialDomainBlock,
        and_(
            SocialDomainBlock.severity == "limit",
            or_(
                host == SocialDomainBlock.domain,
                host.like(literal("%.") + SocialDomainBlock.domain),
            ),
        ),
    )


def not_limited(viewer: int | None) -> ColumnElement[bool]:
    """Not by an account on a limited domain, unless the viewer follows it (Mastodon's
    silence): where posts are listed together, a limited account reaches its followers only."""
    condition = SocialStatus.account_id.not_in(limited_accounts())
    if viewer is None:
        return condition
    follows = exists().where(
        SocialFollow.follower_id == viewer,
        SocialFollow.target_id == SocialStatus.account_id,
        SocialFollow.state == "accepted",
    )
    return or_(condition, follows)


async def is_limited(session: AsyncSession, account_id: int) -> bool:
    """Whether the account is on a limited domain."""
    return bool(
        await session.scalar(
            select(exists(limited_accounts().where(SocialAccount.id == account_id)))
        )
    )


async def reaches(session: AsyncSession, account_id: int, from_account_id: int) -> bool:
    """Whether ``from_account_id`` may reach ``account_id`` (a notification): always, unless it
    is on a limited domain and ``account_id`` does not follow it."""
    if not await is_limited(session, from_account_id):
        return True
    return bool(
        await session.scalar(
            select(
                exists().where(
                    SocialFollow.follower_id == account_id,
                    SocialFollow.target_id == from_account_id,
                    SocialFollow.state == "accepted",
                )
            )
        )
    )
