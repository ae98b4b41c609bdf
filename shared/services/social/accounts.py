"""Members' own accounts: made (with a keypair) on first need, found by name, served as a
``Person`` document, and their profiles edited."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ApObjectDTO, SocialAccountDTO, SocialProfileInput
from shared.errors import Conflict, DomainError, FieldErrors, InvalidField, NotFound
from shared.infrastructure import media
from shared.infrastructure.activitypub import members
from shared.infrastructure.activitypub.actors import PUBLIC
from shared.models import SocialAccount, User
from shared.services import audit
from shared.services.social._common import CONTROL, MAX_FIELDS, clean_text, iso, now
from shared.services.social.media import SocialMedia

MAX_BIO_CHARS = 2000


class SocialAccounts(SocialMedia):
    """Members' accounts and profiles."""

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

    async def member_profile(self, session: AsyncSession, user_id: int) -> SocialAccountDTO | None:
        """The member's fediverse profile if their account exists yet (reads only)."""
        row = await session.scalar(select(SocialAccount).where(SocialAccount.user_id == user_id))
        return self._dto(row) if row is not None else None

    async def _viewer(self, session: AsyncSession, user_id: int | None) -> int | None:
        if user_id is None:
            return None
        return (await self._local_row(session, user_id)).id

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
            also_known_as=list(row.also_known_as),
            moved_to=row.moved_to_uri,
        )

    async def update_profile(
        self, session: AsyncSession, user_id: int, profile: SocialProfileInput
    ) -> SocialAccountDTO:
        """Save the member's profile and tell their followers (``Update`` of the Person)."""
        row = await self._local_row(session, user_id)
        if len(profile.fields) > MAX_FIELDS:
            raise DomainError("social_too_many_fields", f"At most {MAX_FIELDS} profile fields.")
        checks = FieldErrors()  # every field checked before any is reported
        if len(profile.bio) > MAX_BIO_CHARS:
            checks.note(
                InvalidField("social_bio_too_long", f"At most {MAX_BIO_CHARS} characters.", "bio")
            )
        if len(profile.display_name) > 100:
            checks.note(
                InvalidField(
                    "social_name_too_long", "A name has at most 100 characters.", "display_name"
                )
            )
        for name, url in (("avatar_url", profile.avatar_url), ("header_url", profile.header_url)):
            if url and not re.fullmatch(r"https?://[^\s<>\"']{1,490}", url):
                checks.note(
                    InvalidField("social_bad_image_url", "Images must be http(s) URLs.", name)
                )
            elif url and url not in (row.avatar_url, row.header_url):
                try:
                    await self._check_own_media(session, user_id, url)
                except DomainError as err:
                    checks.note(InvalidField(err.code, err.message, name, status=err.status))
        # Uploads are checked (and re-encoded) before anything is written.
        prepared: dict[str, Any] = {}
        for name, upload in (("avatar", profile.avatar), ("header", profile.header)):
            if upload is None:
                continue
            try:
                prepared[name] = await media.prepare(upload.data, self.settings.media, name)
            except DomainError as err:
                checks.note(InvalidField(err.code, err.message, name, status=err.status))
        checks.raise_if_any()
        avatar, header = prepared.get("avatar"), prepared.get("header")
        before = {"display_name": row.display_name, "locked": row.locked}
        replaced = {row.avatar_url, row.header_url}
        row.display_name = clean_text(profile.display_name, 100).strip()
        row.summary = _plain_to_html(profile.bio)
        row.avatar_url = profile.avatar_url or None
        row.header_url = profile.header_url or None
        if avatar is not None:
            row.avatar_url = await self._store_image(session, user_id, avatar)
        elif profile.remove_avatar:
            row.avatar_url = None
        if header is not None:
            row.header_url = await self._store_image(session, user_id, header)
        elif profile.remove_header:
            row.header_url = None
        row.fields = [
            {"name": clean_text(n, 100).strip(), "value": clean_text(v, 500).strip()}
            for n, v in profile.fields
            if n.strip()
        ]
        row.locked = profile.locked
        row.hide_followers = profile.hide_followers
        row.discoverable = profile.discoverable
        row.updated_at = now()
        await session.flush()
        # A replaced or removed image's file goes once nothing uses it any more.
        await self._forget_media(
            session,
            user_id,
            {u for u in replaced if u and u not in (row.avatar_url, row.header_url)},
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


def _plain_to_html(value: str) -> str:
    text = CONTROL.sub("", value).strip()
    if not text:
        return ""
    paragraphs = [p for p in re.split(r"\n\s*\n", html.escape(text)) if p.strip()]
    return "".join(f"<p>{p.strip().replace(chr(10), '<br>')}</p>" for p in paragraphs)
