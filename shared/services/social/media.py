"""A member's uploaded images: checked and re-encoded before anything is written, stored,
and queued for erasure once nothing uses them (the worker's stage removes them from the social
hub's store: shared/infrastructure/media_erasure.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import MediaUpload
from shared.contracts.errors import InvalidUpload
from shared.errors import DomainError
from shared.infrastructure import media
from shared.models import SocialAccount, SocialStatus
from shared.services.social._base import SocialBase
from shared.services.social._common import CONTROL

MAX_MEDIA = media.IMAGES_PER_FORM
MAX_ALT_CHARS = 1500


class SocialMedia(SocialBase):
    """Uploaded images, for posts and profiles."""

    async def _prepare_media(
        self, uploads: Sequence[MediaUpload]
    ) -> list[tuple[media.PreparedImage, str]]:
        """Check and re-encode a post's images (in memory; nothing is written)."""
        if len(uploads) > MAX_MEDIA:
            raise InvalidUpload(
                "social_too_many_media", f"At most {MAX_MEDIA} images per post.", "media"
            )
        prepared = []
        for i, upload in enumerate(uploads):
            alt = CONTROL.sub("", upload.description).strip()
            if len(alt) > MAX_ALT_CHARS:
                raise InvalidUpload(
                    "social_alt_too_long",
                    f"Image descriptions have at most {MAX_ALT_CHARS} characters.",
                    f"alt_{i}",
                )
            prepared.append((await media.prepare(upload.data, self.settings.media, "media"), alt))
        return prepared

    async def _store_media(
        self,
        session: AsyncSession,
        user_id: int,
        images: Sequence[tuple[media.PreparedImage, str]],
    ) -> list[Any]:
        """Store checked images as member ``user_id``'s; the attachments as a status keeps
        them."""
        attachments = []
        for image, alt in images:
            url = await self._store_image(session, user_id, image)
            attachments.append(
                {
                    "url": url,
                    "media_type": image.media_type,
                    "description": alt,
                    "width": image.width,
                    "height": image.height,
                    "local": True,
                }
            )
        return attachments

    async def _store_image(
        self, session: AsyncSession, user_id: int, image: media.PreparedImage
    ) -> str:
        """Store one checked image as member ``user_id``'s upload; its absolute URL."""
        path = await media.store_owned(session, image, self.settings.media, "social", user_id)
        return self.settings.apps["federation"].public_url + path

    def _media_name(self, url: str) -> str | None:
        """The stored file an image URL points at, when it is one of ours (on any app)."""
        origins = [a.public_url for a in self.settings.apps.values()]
        return media.stored_name(url, self.settings.media, origins)

    async def _check_own_media(self, session: AsyncSession, user_id: int, url: str) -> None:
        """A member may point at a file of ours only if they uploaded it."""
        name = self._media_name(url)
        if name is not None and not await media.owned_by(session, name, user_id):
            raise DomainError(
                "social_not_your_image",
                "Upload the image: a stored image can only be used by whoever uploaded it.",
            )

    async def _forget_media(self, session: AsyncSession, user_id: int, urls: set[str]) -> None:
        """Member ``user_id``'s images no longer used by their profile or posts: their
        ownership goes, and each file with it once nobody owns or refers to it (a file is
        named by its content, so two members, or the blog and a member, may share one)."""
        for url in sorted(urls):
            name = self._media_name(url)
            if name is None:
                continue
            in_use = await session.scalar(
                select(
                    exists().where(
                        SocialAccount.user_id == user_id,
                        or_(SocialAccount.avatar_url == url, SocialAccount.header_url == url),
                    )
                )
            ) or await session.scalar(
                select(
                    exists().where(
                        SocialStatus.deleted_at.is_(None),
                        SocialStatus.account_id == SocialAccount.id,
                        SocialAccount.user_id == user_id,
                        SocialStatus.attachments.contains([{"url": url}]),
                    )
                )
            )
            if not in_use:
                await media.release(session, name, "social", user_id)
