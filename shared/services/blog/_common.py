"""What the parts of the blog service share: the fediverse actor, the current time, and the
helpers that turn rows into DTOs and bound listings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import selectinload

from shared.contracts import AuthorDTO, PostDTO, TagDTO
from shared.errors import DomainError, NotFound
from shared.models.blog import BlogAuthor, BlogPost, BlogTag

EXCERPT_CHARS = 200
MAX_PER_PAGE = 50
# The fediverse actor that announces the blog's posts (blog@<blog host>).
ACTOR = "blog"


def now_utc() -> datetime:
    return datetime.now(UTC)


def _excerpt_from(text: str) -> str:
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text[:EXCERPT_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.- ") + "…"


# Ghost's reading time (@tryghost/helpers readingTime): 275 words a minute, and 12 seconds
# for the first image, one less for each next one down to 3.
WORDS_PER_MINUTE = 275
_IMG = re.compile(r"<img\b", re.IGNORECASE)


def reading_minutes(plaintext: str, html: str, has_feature_image: bool) -> int:
    """How many minutes a post takes to read, never less than one."""
    seconds = len(plaintext.split()) * 60 / WORDS_PER_MINUTE
    images = len(_IMG.findall(html)) + (1 if has_feature_image else 0)
    seconds += sum(max(12 - i, 3) for i in range(images))
    return max(1, round(seconds / 60))


def tag_dto(tag: BlogTag) -> TagDTO:
    return TagDTO(
        id=tag.id,
        slug=tag.slug,
        name=tag.name,
        description=tag.description,
        visibility=tag.visibility,
    )


def author_dto(author: BlogAuthor) -> AuthorDTO:
    return AuthorDTO(
        id=author.id,
        slug=author.slug,
        name=author.name,
        bio=author.bio,
        profile_image=author.profile_image,
        website=author.website,
        user_id=author.user_id,
    )


def post_dto(post: BlogPost, viewer_is_member: bool = True) -> PostDTO:
    locked = post.visibility == "members" and not viewer_is_member
    return PostDTO(
        id=post.id,
        kind=post.kind,
        title=post.title,
        slug=post.slug,
        # A locked item gives only what stood before its paywall (nothing without one).
        html=(post.html[: post.paywall_at or 0] if locked else post.html),
        # A members-only body is not teased: without its own excerpt, a locked post has none.
        excerpt=post.excerpt or ("" if locked else _excerpt_from(post.plaintext)),
        feature_image=post.feature_image,
        feature_image_alt=post.feature_image_alt,
        status=post.status,
        published_at=post.published_at,
        created_at=post.created_at,
        updated_at=post.updated_at,
        featured=post.featured,
        visibility=post.visibility,
        meta_title=post.meta_title,
        meta_description=post.meta_description,
        og_title=post.og_title,
        og_description=post.og_description,
        og_image=post.og_image,
        canonical_url=post.canonical_url,
        ghost_id=post.ghost_id,
        tags=tuple(tag_dto(t) for t in post.tags if t.visibility == "public"),
        authors=tuple(author_dto(a) for a in post.authors),
        locked=locked,
        twitter_title=post.twitter_title,
        twitter_description=post.twitter_description,
        twitter_image=post.twitter_image,
        feature_image_caption=post.feature_image_caption,
        feature_image_width=post.feature_image_width,
        feature_image_height=post.feature_image_height,
        reading_time=reading_minutes(post.plaintext, post.html, bool(post.feature_image)),
    )


def with_relations(stmt: Select[Any]) -> Select[Any]:
    return stmt.options(selectinload(BlogPost.tags), selectinload(BlogPost.authors))


def published(kind: str | None = "post") -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [BlogPost.status == "published"]
    if kind is not None:
        conditions.append(BlogPost.kind == kind)
    return conditions


def check_paging(page: int, per_page: int) -> None:
    if page < 1:
        raise NotFound("page_out_of_range", "There is no such page.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise DomainError("per_page_out_of_range", f"per_page must be 1 to {MAX_PER_PAGE}.")
