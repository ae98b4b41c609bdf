"""Ghost's posts, pages, tags and authors as the blog stores them: validated, then made whole.

:func:`parse_item` checks one item of the Content API completely (GhostMalformed when it is
not one). :class:`Bodies` then makes a page of them ready to store:

- a members-only item arrives from the Content API cut at the paywall (or empty) with
  ``access: false``; with an Admin API key its whole body is read from the Admin API
  (``formats=html``), where Ghost's paywall card is ``<!--members-only-->``, which the blog
  keeps as the end of the teaser visitors read. With only a Content API key the cut body is
  all there is: it is stored as the teaser, and counted (``without_body``).
- images on the Ghost site are copied into the media store (:mod:`.ghost_media`);
- links to the Ghost site lead to the blog's routes (:mod:`.ghost_links`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PostInput, SyncedAuthor, SyncedTag
from shared.infrastructure.context import services
from shared.infrastructure.sanitize import SLUG_RE, slugify
from shared.services.blog.content import PAYWALL
from shared.services.blog.ghost import GhostAdminClient, GhostMalformed, parse_datetime
from shared.services.blog.ghost_links import Site, body_link_slugs, rewrite_body_links
from shared.services.blog.ghost_media import ImageCopier, body_images

KINDS = {"posts": "post", "pages": "page"}
# Ghost's ids are opaque: ObjectIds (24 hex) mostly, but its owner is user "1". The bound is
# the column's (``ghost_id`` is 24 characters).
GHOST_ID = re.compile(r"^[0-9A-Za-z_-]{1,24}$")
ADMIN_BODY_PARAMS: dict[str, str | int] = {"formats": "html"}


def _str(item: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        if required:
            raise GhostMalformed(f"{key} is missing")
        return None
    if not isinstance(value, str):
        raise GhostMalformed(f"{key}: expected text, got {type(value).__name__}")
    return value


def ghost_id_of(item: dict[str, Any]) -> str:
    ghost_id = _str(item, "id", required=True)
    if ghost_id is None or not GHOST_ID.match(ghost_id):
        raise GhostMalformed(f"id {ghost_id!r} is not a Ghost id")
    return ghost_id


def _slug(item: dict[str, Any]) -> str:
    slug = _str(item, "slug", required=True) or ""
    return slug if SLUG_RE.match(slug) else slugify(slug) or "untitled"


def parse_tag(item: dict[str, Any]) -> SyncedTag | None:
    """A tag as the blog stores it; None for Ghost's internal (``#hash``) tags."""
    visibility = item.get("visibility", "public")
    slug = _slug(item)
    if visibility != "public" or slug.startswith("hash-"):
        return None
    return SyncedTag(
        ghost_id=ghost_id_of(item),
        slug=slug,
        name=(_str(item, "name") or slug)[:191],
        description=_str(item, "description"),
    )


def parse_author(item: dict[str, Any]) -> SyncedAuthor:
    slug = _slug(item)
    return SyncedAuthor(
        ghost_id=ghost_id_of(item),
        slug=slug,
        name=(_str(item, "name") or slug)[:191],
        bio=_str(item, "bio"),
        profile_image=_str(item, "profile_image"),
        website=_str(item, "website"),
    )


@dataclass(frozen=True)
class GhostItem:
    """A post or page from Ghost, validated."""

    ghost_id: str
    updated_at: datetime
    published_at: datetime
    data: PostInput
    tags: tuple[SyncedTag, ...] = ()
    authors: tuple[SyncedAuthor, ...] = ()
    # False when the Content API cut the body at the paywall (a members-only item).
    access: bool = True

    @property
    def ghost_slug(self) -> str:
        return self.data.slug


def _http_url(value: str | None) -> str | None:
    return value if value and value.startswith(("https://", "http://", "/")) else None


def parse_item(item: dict[str, Any], kind: str) -> GhostItem:
    """Validate one post or page from the Content API (GhostMalformed when it is not one)."""
    ghost_id = ghost_id_of(item)
    try:
        updated_at = parse_datetime(item.get("updated_at"), "updated_at")
        published_raw = item.get("published_at") or item.get("created_at") or item["updated_at"]
        published_at = parse_datetime(published_raw, "published_at")
        tags = tuple(t for t in (parse_tag(t) for t in _list(item, "tags")) if t is not None)
        authors = tuple(parse_author(a) for a in _list(item, "authors"))
        title = _str(item, "title") or "(untitled)"
        data = PostInput(
            title=title[:255],
            html=_str(item, "html") or "",
            kind=kind,
            slug=_slug(item),
            excerpt=_str(item, "custom_excerpt") or _str(item, "excerpt") or "",
            feature_image=_http_url(_str(item, "feature_image")),
            feature_image_alt=(_str(item, "feature_image_alt") or "")[:191] or None,
            featured=bool(item.get("featured", False)),
            # Ghost's members, paid and tier-restricted posts are all "members" here.
            visibility="public" if item.get("visibility", "public") == "public" else "members",
            tags=tuple(t.slug for t in tags),
            authors=tuple(a.slug for a in authors),
            meta_title=(_str(item, "meta_title") or "")[:300] or None,
            meta_description=(_str(item, "meta_description") or "")[:500] or None,
            og_title=(_str(item, "og_title") or "")[:300] or None,
            og_description=(_str(item, "og_description") or "")[:500] or None,
            og_image=_http_url(_str(item, "og_image")),
            twitter_title=(_str(item, "twitter_title") or "")[:300] or None,
            twitter_description=(_str(item, "twitter_description") or "")[:500] or None,
            twitter_image=_http_url(_str(item, "twitter_image")),
            feature_image_caption=_str(item, "feature_image_caption"),
            canonical_url=_http_url(_str(item, "canonical_url")),
        )
    except GhostMalformed as err:
        raise GhostMalformed(f"{kind} {ghost_id}: {err}") from None
    return GhostItem(
        ghost_id=ghost_id,
        updated_at=updated_at,
        published_at=published_at,
        data=data,
        tags=tags,
        authors=authors,
        access=item.get("access", True) is not False,
    )


def _list(item: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = item.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise GhostMalformed(f"{key}: expected a list of objects")
    return value


@dataclass
class Bodies:
    """Makes validated items whole before they are stored (see the module's docstring)."""

    sites: list[Site]
    admin: GhostAdminClient | None = None
    images: ImageCopier | None = None
    without_body: int = 0

    async def complete(
        self, session: AsyncSession, items: list[GhostItem], resource: str
    ) -> list[GhostItem]:
        """``items`` with whole bodies, copied images and links to the blog's routes."""
        bodies: list[str] = []
        for item in items:
            html = item.data.html
            if not item.access:
                if self.admin is not None:
                    full = await self.admin.read(resource, item.ghost_id, ADMIN_BODY_PARAMS)
                    html = _str(full, "html") or ""
                else:
                    # All Ghost gave: the teaser, for members too.
                    self.without_body += 1
                    html += PAYWALL
            bodies.append(html)
        wanted = {
            image
            for i in items
            for image in (i.data.feature_image, i.data.og_image)
            if image is not None
        }
        for html in bodies:
            wanted |= body_images(html)
        copies = await self.images.copy(wanted, self.sites) if self.images else {}
        slugs: set[str] = set()
        for html in bodies:
            slugs |= body_link_slugs(html, self.sites)
        routes = await services().blog.ghost_routes(session, slugs)
        done: list[GhostItem] = []
        for item, html in zip(items, bodies, strict=True):
            teaser, paywall, rest = html.partition(PAYWALL)
            body = rewrite_body_links(teaser, self.sites, routes, copies)
            if paywall:
                body += paywall + rewrite_body_links(rest, self.sites, routes, copies)
            feature, og = item.data.feature_image, item.data.og_image
            data = replace(
                item.data,
                html=body,
                feature_image=copies.get(feature or "", feature),
                og_image=copies.get(og or "", og),
            )
            done.append(replace(item, data=data))
        return done
