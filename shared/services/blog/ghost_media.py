"""Copying the Ghost site's images into the media store, so switching Ghost off breaks none.

Feature images and every ``<img>`` of a synced body (inline images, galleries) that live on
the Ghost site are fetched once from the configured ``ghost.url`` (whatever host Ghost's own
``url`` names: same path), checked like an upload (an image by its first bytes, at most
``media.max_bytes``), re-encoded and stored by content (:func:`shared.infrastructure.media.store`);
the stored post then points at ``/media/images/<sha256>.<ext>``. Each copy is remembered in
``ghost_state`` (``media:<hash of the address>``), so a later run does not fetch it again.
Connections go through the address guard (:mod:`shared.infrastructure.netguard`), which lets
through only the configured Ghost host's own addresses. Images elsewhere (an image CDN)
are left where they are. An image that cannot be copied keeps Ghost's address and is logged:
it never stops the sync.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from urllib.parse import urljoin, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.errors import DomainError
from shared.infrastructure import media
from shared.infrastructure.netguard import GuardedTransport, parse_networks, resolve
from shared.infrastructure.sanitize import rewrite_urls
from shared.models.blog import GhostState
from shared.services.blog.ghost_links import Site, ghost_path

log = logging.getLogger(__name__)

MEDIA_PREFIX = "media:"


def _state_name(url: str) -> str:
    return MEDIA_PREFIX + hashlib.sha256(url.encode()).hexdigest()[:64]


def body_images(html: str) -> set[str]:
    """Every ``<img src>`` address of ``html``."""
    found: set[str] = set()

    def collect(tag: str, attribute: str, value: str) -> str:
        if tag == "img" and attribute == "src":
            found.add(value)
        return value

    rewrite_urls(html, collect)
    return found


class ImageCopier:
    """Copies images from one Ghost site; one per sync run or webhook."""

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
        *,
        session: AsyncSession | None = None,
    ) -> None:
        self.settings = settings
        self.base = (settings.ghost.url or "").rstrip("/")
        self._factory = session_factory
        self._session = session
        self.copied = 0
        self.failed = 0

    def ghost_image_path(self, url: str, sites: Sequence[Site]) -> str | None:
        """The path on the Ghost site of an image address, or None when it lives elsewhere."""
        return ghost_path(url, sites, relative=False) if self.base else None

    async def copy(self, urls: Iterable[str], sites: Sequence[Site]) -> dict[str, str]:
        """Ghost's address -> the media store's, for the images among ``urls`` that live on
        the Ghost site and could be copied (now or by an earlier run)."""
        wanted = {u: p for u in set(urls) if (p := self.ghost_image_path(u, sites)) is not None}
        if not wanted:
            return {}
        names = {u: _state_name(u) for u in wanted}
        known = await self._known(list(names.values()))
        copies = {u: known[n] for u, n in names.items() if n in known}
        missing = [u for u in wanted if u not in copies]
        if missing:
            fetched = await self._fetch_all(missing, wanted)
            if fetched:
                await self._remember({names[u]: stored for u, stored in fetched.items()})
            copies.update(fetched)
        return copies

    async def _known(self, names: list[str]) -> dict[str, str]:
        stmt = select(GhostState.name, GhostState.value).where(GhostState.name.in_(names))
        if self._session is not None:
            rows = (await self._session.execute(stmt)).all()
        else:
            assert self._factory is not None
            async with self._factory() as session:
                rows = (await session.execute(stmt)).all()
        return {name: str(value["path"]) for name, value in rows if value.get("path")}

    async def _remember(self, stored: dict[str, str]) -> None:
        rows = [{"name": n, "value": {"path": p}} for n, p in stored.items()]
        stmt = pg_insert(GhostState).values(rows).on_conflict_do_nothing(index_elements=["name"])
        if self._session is not None:
            await self._session.execute(stmt)
            return
        assert self._factory is not None
        async with self._factory() as session, session.begin():
            await session.execute(stmt)

    async def _fetch_all(self, urls: list[str], paths: dict[str, str]) -> dict[str, str]:
        parts = urlsplit(self.base)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await resolve(parts.hostname or "", port)
        except (OSError, DomainError) as err:
            log.warning("ghost images: cannot resolve %s: %s", parts.hostname, err)
            self.failed += len(urls)
            return {}
        transport = GuardedTransport(
            allow_private=False,
            max_connections=4,
            per_host=4,
            allowed_networks=parse_networks(",".join(addresses)),
        )
        out: dict[str, str] = {}
        async with httpx.AsyncClient(
            transport=transport, timeout=self.settings.ghost.timeout_s, follow_redirects=False
        ) as client:
            for url in urls:
                stored = await self._fetch(client, url, paths[url])
                if stored is not None:
                    out[url] = stored
        return out

    async def _fetch(self, client: httpx.AsyncClient, url: str, path: str) -> str | None:
        source = urljoin(self.base + "/", path.lstrip("/"))
        limit = self.settings.media.max_bytes
        try:
            async with client.stream("GET", source) as response:
                if response.status_code != 200:
                    raise ValueError(f"Ghost answered {response.status_code}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data.extend(chunk)
                    if len(data) > limit:
                        raise ValueError(f"larger than {limit} bytes")
            # Decoded, checked and re-encoded like any upload (off the event loop).
            image = await media.prepare(bytes(data), self.settings.media, "image")
            stored = await media.store(image, self.settings.media)
        except (httpx.HTTPError, DomainError, ValueError, OSError) as err:
            log.warning("ghost images: kept Ghost's %s (%s)", url, err)
            self.failed += 1
            return None
        self.copied += 1
        return stored
