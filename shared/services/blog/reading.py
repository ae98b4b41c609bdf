"""Reading posts and pages for the public site and the editor: the home page, archives by
tag and author, a post by its slug (or an old one), the feeds and the sitemap.

Queries are bounded: a listing is one count, one page of posts, and one query each for
their tags and authors (``selectinload``), whatever the number of posts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    AuthorArchive,
    HomePage,
    PostDTO,
    PostPage,
    SitemapEntry,
    SlugLookup,
    TagArchive,
)
from shared.errors import DomainError, NotFound
from shared.models.blog import (
    POST_KINDS,
    BlogAuthor,
    BlogPost,
    BlogPostAuthor,
    BlogPostTag,
    BlogSlugRedirect,
    BlogTag,
)
from shared.services.blog._base import BlogBase
from shared.services.blog._common import (
    MAX_PER_PAGE,
    author_dto,
    check_paging,
    post_dto,
    published,
    tag_dto,
    with_relations,
)


class BlogReading(BlogBase):
    """Listings, archives and single posts (part of ``SqlBlogService``)."""

    async def _page(
        self,
        session: AsyncSession,
        conditions: Sequence[ColumnElement[bool]],
        page: int,
        per_page: int,
        viewer_is_member: bool,
    ) -> PostPage:
        check_paging(page, per_page)
        total = int(
            await session.scalar(select(func.count()).select_from(BlogPost).where(*conditions)) or 0
        )
        if page > 1 and (page - 1) * per_page >= total:
            raise NotFound("page_out_of_range", "There is no such page.")
        rows = await session.scalars(
            with_relations(select(BlogPost))
            .where(*conditions)
            .order_by(BlogPost.published_at.desc(), BlogPost.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return PostPage(
            posts=tuple(post_dto(p, viewer_is_member) for p in rows),
            page=page,
            per_page=per_page,
            total=total,
        )

    async def editor_posts(
        self, session: AsyncSession, *, kind: str = "post", page: int = 1, per_page: int = 20
    ) -> PostPage:
        """Every post (or page) whatever its status, for the editor: drafts first, then
        the newest publication."""
        if kind not in POST_KINDS:
            raise DomainError("invalid_kind", "A post or a page.")
        return await self._page(session, [BlogPost.kind == kind], page, per_page, True)

    async def home(
        self,
        session: AsyncSession,
        *,
        page: int = 1,
        per_page: int = 10,
        featured_limit: int = 3,
        viewer_is_member: bool = False,
    ) -> HomePage:
        """Featured posts (first page only) and the latest posts, newest first."""
        featured: tuple[PostDTO, ...] = ()
        if page == 1 and featured_limit > 0:
            rows = await session.scalars(
                with_relations(select(BlogPost))
                .where(*published(), BlogPost.featured.is_(True))
                .order_by(BlogPost.published_at.desc(), BlogPost.id.desc())
                .limit(featured_limit)
            )
            featured = tuple(post_dto(p, viewer_is_member) for p in rows)
        latest = await self._page(session, published(), page, per_page, viewer_is_member)
        return HomePage(featured=featured, latest=latest)

    async def get_by_slug(
        self,
        session: AsyncSession,
        slug: str,
        *,
        viewer_is_member: bool = False,
        include_unpublished: bool = False,
    ) -> SlugLookup:
        """The post or page at ``slug``, or the one that used to be there (``moved``)."""
        conditions: list[ColumnElement[bool]] = []
        if not include_unpublished:
            conditions = published(kind=None)
        post = await session.scalar(
            with_relations(select(BlogPost)).where(BlogPost.slug == slug, *conditions)
        )
        moved = False
        if post is None:
            post = await session.scalar(
                with_relations(select(BlogPost))
                .join(BlogSlugRedirect, BlogSlugRedirect.post_id == BlogPost.id)
                .where(BlogSlugRedirect.old_slug == slug, *conditions)
            )
            moved = True
        if post is None:
            raise NotFound("post_not_found", "There is no post or page here.")
        return SlugLookup(post=post_dto(post, viewer_is_member), moved=moved)

    async def related(
        self, session: AsyncSession, post_id: int, *, limit: int = 3, viewer_is_member: bool
    ) -> tuple[PostDTO, ...]:
        """Up to ``limit`` other published posts to read next: those sharing the most tags
        with it (its primary tag first), newest first, then the newest others."""
        if not 1 <= limit <= MAX_PER_PAGE:
            raise DomainError("per_page_out_of_range", f"limit must be 1 to {MAX_PER_PAGE}.")
        own = (
            select(BlogPostTag.tag_id, BlogPostTag.sort_order)
            .join(BlogTag, BlogTag.id == BlogPostTag.tag_id)
            .where(BlogPostTag.post_id == post_id, BlogTag.visibility == "public")
            .subquery()
        )
        primary = select(own.c.tag_id).order_by(own.c.sort_order).limit(1).scalar_subquery()
        sharing = await session.scalars(
            select(BlogPostTag.post_id)
            .join(BlogPost, BlogPost.id == BlogPostTag.post_id)
            .where(
                *published("post"),
                BlogPost.id != post_id,
                BlogPostTag.tag_id.in_(select(own.c.tag_id)),
            )
            .group_by(BlogPostTag.post_id, BlogPost.published_at)
            .order_by(
                func.bool_or(BlogPostTag.tag_id == primary).desc(),
                func.count().desc(),
                BlogPost.published_at.desc(),
                BlogPostTag.post_id.desc(),
            )
            .limit(limit)
        )
        ids = list(sharing)
        if len(ids) < limit:
            ids += await session.scalars(
                select(BlogPost.id)
                .where(*published("post"), BlogPost.id.not_in([post_id, *ids]))
                .order_by(BlogPost.published_at.desc(), BlogPost.id.desc())
                .limit(limit - len(ids))
            )
        if not ids:
            return ()
        rows = {
            p.id: p
            for p in await session.scalars(
                with_relations(select(BlogPost)).where(BlogPost.id.in_(ids))
            )
        }
        return tuple(post_dto(rows[i], viewer_is_member) for i in ids if i in rows)

    async def get_post(self, session: AsyncSession, post_id: int) -> PostDTO:
        """Any post or page by id, whatever its status (for the editor and the sync)."""
        post = await session.scalar(
            with_relations(select(BlogPost))
            .where(BlogPost.id == post_id)
            .execution_options(populate_existing=True)
        )
        if post is None:
            raise NotFound("post_not_found", "There is no such post.")
        return post_dto(post)

    async def tag_archive(
        self,
        session: AsyncSession,
        slug: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> TagArchive:
        tag = await session.scalar(
            select(BlogTag).where(BlogTag.slug == slug, BlogTag.visibility == "public")
        )
        if tag is None:
            raise NotFound("tag_not_found", "There is no such tag.")
        tagged = select(BlogPostTag.post_id).where(BlogPostTag.tag_id == tag.id)
        posts = await self._page(
            session, [*published(), BlogPost.id.in_(tagged)], page, per_page, viewer_is_member
        )
        return TagArchive(tag=tag_dto(tag), posts=posts)

    async def author_archive(
        self,
        session: AsyncSession,
        slug: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> AuthorArchive:
        author = await session.scalar(select(BlogAuthor).where(BlogAuthor.slug == slug))
        if author is None:
            raise NotFound("author_not_found", "There is no such author.")
        written = select(BlogPostAuthor.post_id).where(BlogPostAuthor.author_id == author.id)
        posts = await self._page(
            session, [*published(), BlogPost.id.in_(written)], page, per_page, viewer_is_member
        )
        return AuthorArchive(author=author_dto(author), posts=posts)

    async def feed(self, session: AsyncSession, *, limit: int = 20) -> tuple[PostDTO, ...]:
        """The latest published posts for RSS/Atom, as an anonymous visitor sees them."""
        rows = await session.scalars(
            with_relations(select(BlogPost))
            .where(*published())
            .order_by(BlogPost.published_at.desc(), BlogPost.id.desc())
            .limit(limit)
        )
        return tuple(post_dto(p, viewer_is_member=False) for p in rows)

    async def sitemap(self, session: AsyncSession) -> tuple[SitemapEntry, ...]:
        """Every public URL: published posts and pages, tags and authors that have posts."""
        entries = [
            SitemapEntry(kind=kind, slug=slug, updated_at=updated)
            for kind, slug, updated in (
                await session.execute(
                    select(BlogPost.kind, BlogPost.slug, BlogPost.updated_at)
                    .where(*published(kind=None))
                    .order_by(BlogPost.kind, BlogPost.published_at.desc())
                )
            ).all()
        ]
        live = select(BlogPost.id).where(*published())
        for kind, model, link, column in (
            ("tag", BlogTag, BlogPostTag, BlogPostTag.tag_id),
            ("author", BlogAuthor, BlogPostAuthor, BlogPostAuthor.author_id),
        ):
            conditions: list[ColumnElement[bool]] = [
                model.id.in_(select(column).where(link.post_id.in_(live)))
            ]
            if model is BlogTag:
                conditions.append(BlogTag.visibility == "public")
            slugs = await session.scalars(select(model.slug).where(*conditions).order_by("slug"))
            entries.extend(SitemapEntry(kind=kind, slug=s, updated_at=None) for s in slugs)
        return tuple(entries)

    async def ghost_routes(
        self, session: AsyncSession, ghost_slugs: Iterable[str]
    ) -> dict[str, tuple[str, str]]:
        """Ghost's slug -> (kind, the blog's slug) of the published synced items among
        ``ghost_slugs`` (one query): where Ghost's ``/<slug>/`` now lives."""
        wanted = sorted(set(ghost_slugs))
        if not wanted:
            return {}
        rows = await session.execute(
            select(BlogPost.ghost_slug, BlogPost.kind, BlogPost.slug).where(
                BlogPost.ghost_slug.in_(wanted), BlogPost.status == "published"
            )
        )
        return {str(ghost): (str(kind), str(slug)) for ghost, kind, slug in rows}
