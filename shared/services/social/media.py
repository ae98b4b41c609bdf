"""A member's uploaded images: checked and re-encoded before anything is written, stored,
and removed once nothing uses them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import MediaUpload
from shared.contracts.errors import InvalidUpload
from shared.db import after_commit
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

    async def _store_media(self, images: Sequence[tuple[media.PreparedImage, str]]) -> list[Any]:
        """Store checked images; the attachments as a status keeps them."""
        base = self.settings.apps["federation"].public_url
        return [
            {
                "url": base + await media.store(image, self.settings.media),
                "media_type": image.media_type,
                "description": alt,
                "width": image.width,
                "height": image.height,
                "local": True,
            }
            for image, alt in images
        ]

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
