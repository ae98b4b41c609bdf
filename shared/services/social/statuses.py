"""A member's posts: composed (links, mentions and hashtags rendered, images attached), edited
and deleted, each federated; and each public post as the ``Note`` other servers fetch."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Sequence
from typing import Any

import nh3
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import SOCIAL_VISIBILITIES, ApObjectDTO, ComposeInput, SocialStatusDTO
from shared.errors import DomainError, FieldErrors, InvalidField, NotFound
from shared.infrastructure.activitypub import members
from shared.infrastructure.activitypub.actors import PUBLIC
from shared.infrastructure.activitypub.fetch import Fetcher
from shared.models import SocialAccount, SocialMention, SocialStatus
from shared.services import audit
from shared.services.social._common import CONTROL, MAX_SPOILER_CHARS, can_see, iso, now
from shared.services.social.interactions import SocialInteractions
from shared.services.social.remote_accounts import SocialRemoteAccounts

MAX_POST_CHARS = 5000

# What compose produces: paragraphs, line breaks, links, mentions and hashtags (Mastodon's
# microformats classes kept, so other servers render mentions as mentions).
_COMPOSED_CLEANER = nh3.Cleaner(
    tags={"p", "br", "a", "span"},
    attributes={"a": {"href", "class", "rel"}, "span": {"class"}},
    url_schemes={"http", "https"},
    link_rel=None,
)
_TOKEN = re.compile(
    r"(?P<url>https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]])"
    r"|(?P<mention>(?<![\w@])@(?P<m_user>[A-Za-z0-9_][A-Za-z0-9_.-]*)"
    r"(?:@(?P<m_host>[A-Za-z0-9.-]+[A-Za-z0-9](?::\d{1,5})?))?)"
    r"|(?P<tag>(?<![\w#&])#(?P<t_name>[^\W_][\w]{0,99}))"
)


class SocialStatuses(SocialRemoteAccounts, SocialInteractions):
    """Writing posts, and serving them as ActivityPub objects."""

    async def compose(
        self, session: AsyncSession, user_id: int, post: ComposeInput
    ) -> SocialStatusDTO:
        """Publish a post: stored, and a ``Create{Note}`` to followers and mentioned accounts."""
        me = await self._local_row(session, user_id)
        text = CONTROL.sub("", post.text).strip()
        # Every image is checked (and re-encoded, in memory) before anything is written.
        checks = FieldErrors()  # every field checked before any is reported
        images: list[Any] = []
        try:
            images = list(await self._prepare_media(post.media))
        except DomainError as err:
            checks.note(InvalidField(err.code, err.message, "media0", status=err.status))
        spoiler = _checked_post(checks, text, post.spoiler_text, empty=not images)
        if post.visibility not in SOCIAL_VISIBILITIES:
            checks.note(
                InvalidField("social_bad_visibility", "Choose who can see the post.", "visibility")
            )
        checks.raise_if_any()
        parent: SocialStatus | None = None
        if post.in_reply_to_id is not None:
            parent = await session.get(SocialStatus, post.in_reply_to_id)
            if parent is None or parent.deleted_at is not None:
                raise NotFound("social_no_status", "That post does not exist.")
            if not await can_see(session, parent, me.id):
                raise NotFound("social_no_status", "That post does not exist.")
        async with self._fetcher() as fetcher:
            content, mentioned, tags = await self._render(session, fetcher, text)
        if parent is not None:
            author = await session.get(SocialAccount, parent.account_id)
            if author is not None and author.id != me.id and author not in mentioned:
                mentioned.append(author)
        urls = members.member_urls(self.settings, me.username)
        uid = uuid.uuid4().hex
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
            attachments=await self._store_media(session, user_id, images),
            published_at=now(),
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
        text = CONTROL.sub("", post.text).strip()
        checks = FieldErrors()
        spoiler = _checked_post(checks, text, post.spoiler_text, empty=not status.attachments)
        checks.raise_if_any()
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
        status.edited_at = now()
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
        status.deleted_at = now()
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
            {"id": status.uri, "type": "Tombstone", "formerType": "Note"},
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
            return ApObjectDTO(
                {
                    "id": uri,
                    "type": "Tombstone",
                    "formerType": "Note",
                    "deleted": iso(status.deleted_at),
                }
            )
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


def _checked_post(checks: FieldErrors, text: str, spoiler_text: str, *, empty: bool) -> str:
    """A post's text and content warning checked (each problem noted under its field); the
    content warning as stored."""
    if not text and empty:
        checks.note(InvalidField("social_empty_post", "Write something first.", "text"))
    if len(text) > MAX_POST_CHARS:
        checks.note(
            InvalidField("social_post_too_long", f"At most {MAX_POST_CHARS} characters.", "text")
        )
    spoiler = CONTROL.sub("", spoiler_text).strip()
    if len(spoiler) > MAX_SPOILER_CHARS:
        checks.note(
            InvalidField(
                "social_spoiler_too_long", "The content warning is too long.", "spoiler_text"
            )
        )
    return spoiler
