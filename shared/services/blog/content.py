"""Storing a post's content as the editor and the Ghost sync write it: fields checked and
sanitised, the slug chosen (an old one kept as a redirect), tags created by name and
authors found by slug."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PostInput
from shared.contracts.errors import InvalidPost
from shared.errors import Conflict, FieldErrors, NotFound
from shared.infrastructure.media import stored_image_size
from shared.infrastructure.sanitize import (
    SLUG_MAX,
    SLUG_RE,
    clean_text,
    html_to_text,
    sanitize_html,
    slugify,
)
from shared.models.blog import (
    POST_KINDS,
    VISIBILITIES,
    BlogAuthor,
    BlogPost,
    BlogPostAuthor,
    BlogPostTag,
    BlogSlugRedirect,
    BlogTag,
)
from shared.services.blog._base import BlogBase

# Ghost's paywall card, as its HTML carries it: what stands before it is the teaser that
# visitors read of a members-only item (``BlogPost.paywall_at``).
PAYWALL = "<!--members-only-->"


def _check_url(value: str | None, field: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 2000 or not (
        value.startswith(("https://", "http://")) or re.match(r"^/(?!/)", value)
    ):
        raise InvalidPost("invalid_url", "Use an http(s) address or a path on this site.", field)
    return value


def _limited(value: str | None, limit: int, field: str) -> str | None:
    text = clean_text(value)
    if len(text) > limit:
        raise InvalidPost("too_long", f"At most {limit} characters.", field)
    return text or None


# The text fields with a length limit, and the limit.
_LIMITS = (
    ("meta_title", 300),
    ("meta_description", 500),
    ("og_title", 300),
    ("og_description", 500),
    ("twitter_title", 300),
    ("twitter_description", 500),
)


class BlogContent(BlogBase):
    """Writing a post's fields, slug, tags and authors (part of ``SqlBlogService``)."""

    async def _lock(self, session: AsyncSession, post_id: int) -> BlogPost:
        post = await session.scalar(
            select(BlogPost).where(BlogPost.id == post_id).with_for_update()
        )
        if post is None:
            raise NotFound("post_not_found", "There is no such post.")
        return post

    async def _apply(
        self, session: AsyncSession, post: BlogPost, data: PostInput, *, dedupe_slug: bool
    ) -> None:
        checks = FieldErrors()  # every field checked before any is reported
        title = clean_text(data.title)
        if not title:
            checks.note(InvalidPost("title_required", "Give it a title.", "title"))
        if len(title) > 255:
            checks.note(InvalidPost("too_long", "At most 255 characters.", "title"))
        if data.kind not in POST_KINDS:
            checks.note(InvalidPost("invalid_kind", "A post or a page.", "kind"))
        if data.visibility not in VISIBILITIES:
            checks.note(InvalidPost("invalid_visibility", "Public or members only.", "visibility"))
        teaser, paywall, rest = data.html.partition(PAYWALL)
        if paywall:
            # Each side is cleaned on its own so the teaser's end is an end in the body too.
            head = sanitize_html(teaser)
            body, post.paywall_at = head + sanitize_html(rest), len(head)
        else:
            body, post.paywall_at = sanitize_html(data.html), None
        post.kind = data.kind
        post.title = title
        post.html = body
        post.plaintext = html_to_text(body)
        post.excerpt = clean_text(data.excerpt) or None
        with checks:
            post.feature_image = _check_url(data.feature_image, "feature_image")
        with checks:
            post.feature_image_alt = _limited(data.feature_image_alt, 191, "feature_image_alt")
        post.feature_image_caption = sanitize_html(data.feature_image_caption or "") or None
        size = stored_image_size(post.feature_image, self.media)
        post.feature_image_width, post.feature_image_height = size or (None, None)
        post.featured = data.featured
        post.visibility = data.visibility
        for name, limit in _LIMITS:
            with checks:
                setattr(post, name, _limited(getattr(data, name), limit, name))
        for name in ("og_image", "twitter_image", "canonical_url"):
            with checks:
                setattr(post, name, _check_url(getattr(data, name), name))
        authors: list[int] = []
        with checks:
            authors = await self._authors(session, data.authors)
        with checks:
            await self._set_slug(session, post, data.slug, title, dedupe=dedupe_slug)
        checks.raise_if_any()
        session.add(post)
        await session.flush()
        tags = await self._tags(session, data.tags)
        await session.execute(delete(BlogPostTag).where(BlogPostTag.post_id == post.id))
        await session.execute(delete(BlogPostAuthor).where(BlogPostAuthor.post_id == post.id))
        if tags:
            await session.execute(
                pg_insert(BlogPostTag),
                [{"post_id": post.id, "tag_id": t, "sort_order": i} for i, t in enumerate(tags)],
            )
        if authors:
            await session.execute(
                pg_insert(BlogPostAuthor),
                [
                    {"post_id": post.id, "author_id": a, "sort_order": i}
                    for i, a in enumerate(authors)
                ],
            )

    async def _set_slug(
        self, session: AsyncSession, post: BlogPost, wanted: str, title: str, *, dedupe: bool
    ) -> None:
        if wanted:
            slug = wanted.strip().lower()
            if not SLUG_RE.match(slug) or len(slug) > SLUG_MAX:
                raise InvalidPost(
                    "invalid_slug", "Use lower-case letters, digits and single hyphens.", "slug"
                )
        elif post.slug:
            return
        else:
            slug = slugify(title) or "untitled"
        if slug == post.slug:
            return
        taken = await session.scalar(
            select(BlogPost.id).where(BlogPost.slug == slug, BlogPost.id != post.id)
            if post.id is not None
            else select(BlogPost.id).where(BlogPost.slug == slug)
        )
        if taken is not None:
            if not dedupe:
                raise Conflict("slug_taken", f"Another post already uses the slug {slug!r}.")
            slug = await self._free_slug(session, slug, own=post.slug)
            if slug == post.slug:
                return
        old = post.slug
        post.slug = slug
        # The live slug wins over anyone's old one; the old slug keeps working as a redirect.
        await session.execute(delete(BlogSlugRedirect).where(BlogSlugRedirect.old_slug == slug))
        if old and post.id is not None:
            await session.execute(
                pg_insert(BlogSlugRedirect)
                .values(old_slug=old, post_id=post.id)
                .on_conflict_do_update(
                    index_elements=["old_slug"], set_={"post_id": post.id, "created_at": func.now()}
                )
            )

    async def _free_slug(self, session: AsyncSession, slug: str, own: str | None) -> str:
        """``slug-2``, ``slug-3``, ... the first one free (the item's own counts as free)."""
        base = slug[: SLUG_MAX - 4].rstrip("-")
        used = set(
            await session.scalars(
                select(BlogPost.slug).where(
                    or_(BlogPost.slug == base, BlogPost.slug.like(f"{base}-%"))
                )
            )
        )
        used.discard(own)
        n = 2
        while f"{base}-{n}" in used:
            n += 1
        return f"{base}-{n}"

    async def _tags(self, session: AsyncSession, names: Sequence[str]) -> list[int]:
        wanted: dict[str, str] = {}
        for name in names:
            label = clean_text(name)
            slug = slugify(label)
            if slug and slug not in wanted:
                wanted[slug] = label[:191]
        if not wanted:
            return []
        await session.execute(
            pg_insert(BlogTag)
            .values([{"slug": s, "name": n} for s, n in wanted.items()])
            .on_conflict_do_nothing(index_elements=["slug"])
        )
        ids = dict(
            (
                await session.execute(
                    select(BlogTag.slug, BlogTag.id).where(BlogTag.slug.in_(list(wanted)))
                )
            ).all()
        )
        return [ids[s] for s in wanted]

    async def _authors(self, session: AsyncSession, slugs: Sequence[str]) -> list[int]:
        wanted = list(dict.fromkeys(s.strip().lower() for s in slugs if s.strip()))
        if not wanted:
            return []
        ids = dict(
            (
                await session.execute(
                    select(BlogAuthor.slug, BlogAuthor.id).where(BlogAuthor.slug.in_(wanted))
                )
            ).all()
        )
        missing = [s for s in wanted if s not in ids]
        if missing:
            raise InvalidPost("unknown_author", f"No author {missing[0]!r}.", "authors")
        return [ids[s] for s in wanted]
