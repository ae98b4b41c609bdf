"""The blog domain: reading posts and pages for the public site, writing them for the editor
and the Ghost sync, search, scheduled publishing, and the site navigation every header shows.

Posts live on the fediverse too: whenever a write changes what the public can read, the blog's
actor publishes a ``Create``, ``Update`` or ``Delete`` of an ``Article`` through the
FederationService, in the caller's transaction (the transactional outbox: the activity exists
exactly when the change committed). Only public posts are federated: pages are not news, drafts
and scheduled posts are not live yet, and a members-only post is withdrawn rather than teased
(see :meth:`SqlBlogService._federate`).

Every method takes the caller's ``AsyncSession`` (the request's, or the CLI's) and returns
DTOs. Queries are bounded: a listing is one count, one page of posts, and one query each for
their tags and authors (``selectinload``), whatever the number of posts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shared.config import APP_NAMES
from shared.contracts.dtos import (
    ApObjectDTO,
    ArticleDTO,
    AuthorArchive,
    AuthorDTO,
    GhostNavReport,
    HomePage,
    NavItemDTO,
    NavItemInput,
    PersonalDataDTO,
    PostDTO,
    PostInput,
    PostPage,
    SearchHit,
    SearchResults,
    SitemapEntry,
    SlugLookup,
    SyncedAuthor,
    SyncedTag,
    TagArchive,
    TagDTO,
)
from shared.contracts.errors import InvalidNavItem, InvalidPost
from shared.contracts.protocols import FederationService
from shared.errors import Conflict, DomainError, NotFound
from shared.infrastructure.sanitize import (
    SLUG_MAX,
    SLUG_RE,
    clean_text,
    html_to_text,
    link_products,
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
    NavItem,
)

# The header has room for a handful of links; a runaway table must not blow up every page.
MAX_NAV_ITEMS = 20
NAV_LABEL_MAX = 60
NAV_PATH_MAX = 500
# pg_advisory_xact_lock key of navigation edits (any fixed bigint unique to this use).
NAV_LOCK_KEY = 0x6E61_7669_7465_6D73
EXCERPT_CHARS = 200
MAX_QUERY_CHARS = 200
MAX_PER_PAGE = 50
# \x01 and \x02 never occur in stored text (the sanitizer strips control characters), so
# they can mark ts_headline's highlights through html.escape and become <mark> after it.
_HL_START, _HL_STOP = "\x01", "\x02"
_HEADLINE_OPTIONS = (
    f"StartSel={_HL_START}, StopSel={_HL_STOP}, MaxWords=35, MinWords=15, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def _excerpt_from(text: str) -> str:
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text[:EXCERPT_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.- ") + "…"


def _tag_dto(tag: BlogTag) -> TagDTO:
    return TagDTO(
        id=tag.id,
        slug=tag.slug,
        name=tag.name,
        description=tag.description,
        visibility=tag.visibility,
    )


def _author_dto(author: BlogAuthor) -> AuthorDTO:
    return AuthorDTO(
        id=author.id,
        slug=author.slug,
        name=author.name,
        bio=author.bio,
        profile_image=author.profile_image,
        website=author.website,
        user_id=author.user_id,
    )


def _post_dto(post: BlogPost, viewer_is_member: bool = True) -> PostDTO:
    locked = post.visibility == "members" and not viewer_is_member
    return PostDTO(
        id=post.id,
        kind=post.kind,
        title=post.title,
        slug=post.slug,
        html="" if locked else post.html,
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
        tags=tuple(_tag_dto(t) for t in post.tags if t.visibility == "public"),
        authors=tuple(_author_dto(a) for a in post.authors),
        locked=locked,
    )


def _with_relations(stmt: Select[Any]) -> Select[Any]:
    return stmt.options(selectinload(BlogPost.tags), selectinload(BlogPost.authors))


def _published(kind: str | None = "post") -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [BlogPost.status == "published"]
    if kind is not None:
        conditions.append(BlogPost.kind == kind)
    return conditions


def _check_paging(page: int, per_page: int) -> None:
    if page < 1:
        raise NotFound("page_out_of_range", "There is no such page.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise DomainError("per_page_out_of_range", f"per_page must be 1 to {MAX_PER_PAGE}.")


def _nav_dto(row: NavItem, children: tuple[NavItemDTO, ...] = ()) -> NavItemDTO:
    return NavItemDTO(
        label=row.label,
        app=row.app,
        path=row.path,
        id=row.id,
        parent_id=row.parent_id,
        children=children,
        from_ghost=row.from_ghost,
    )


def _siblings_of(parent_id: int | None) -> ColumnElement[bool]:
    """The editors' links at one level (Ghost's links are ordered apart, before them)."""
    if parent_id is None:
        return NavItem.parent_id.is_(None) & NavItem.from_ghost.is_(False)
    return NavItem.parent_id == parent_id


def _index_of(row: NavItem, siblings: list[NavItem]) -> int:
    """Where ``row`` stood among ``siblings`` (which no longer hold it)."""
    return sum(1 for s in siblings if (s.position, s.id) < (row.position, row.id))


async def _lock_navigation(session: AsyncSession) -> None:
    """One editor changes the navigation at a time (positions and the item limit are read
    then written): a transaction-scoped advisory lock, released at commit or rollback."""
    await session.execute(select(func.pg_advisory_xact_lock(NAV_LOCK_KEY)))


# A link's path inside an app: no scheme-relative "//host", no spaces or control characters.
_APP_PATH_RE = re.compile(r"^/(?!/)[^\s\x00-\x1f\x7f\\]*$")
_HTTPS_URL_RE = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d{1,5})?(?:[/?#][^\s\x00-\x1f\x7f]*)?$")


def _nav_fields(data: NavItemInput) -> tuple[str, str | None, str]:
    """The link's label, app and path, checked (the errors name the form field)."""
    label = clean_text(data.label)
    if not label:
        raise InvalidNavItem("label_required", "Give the link a label.", "label")
    if len(label) > NAV_LABEL_MAX:
        raise InvalidNavItem("too_long", f"At most {NAV_LABEL_MAX} characters.", "label")
    app = (data.app or "").strip() or None
    path = (data.path or "").strip()
    if app is not None and app not in APP_NAMES:
        raise InvalidNavItem("unknown_app", "Choose one of the site's apps.", "app")
    if len(path) > NAV_PATH_MAX:
        raise InvalidNavItem("too_long", f"At most {NAV_PATH_MAX} characters.", "path")
    if app is not None:
        path = path or "/"
        if not _APP_PATH_RE.match(path):
            raise InvalidNavItem(
                "invalid_path", "A path in the app starts with one / (e.g. /about).", "path"
            )
    elif not _HTTPS_URL_RE.match(path):
        raise InvalidNavItem("invalid_url", "Without an app, give a full https:// address.", "path")
    return label, app, path


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


# The fediverse actor that announces the blog's posts (blog@<blog host>).
ACTOR = "blog"


def _federable(post: BlogPost) -> bool:
    """Whether ``post`` belongs on the fediverse right now."""
    return post.status == "published" and post.kind == "post" and post.visibility == "public"


class SqlBlogService:
    """Posts, pages, tags, authors and the site navigation (the BlogService protocol)."""

    def __init__(
        self, federation: FederationService, public_url: str, market_url: str = ""
    ) -> None:
        # ``public_url`` is the blog's address as readers see it: federated posts link there;
        # products embedded in them link to ``market_url``.
        self.federation = federation
        self.public_url = public_url.rstrip("/")
        self.market_url = market_url.rstrip("/")

    # --- the site navigation ---------------------------------------------------------

    async def navigation(self, session: AsyncSession) -> tuple[NavItemDTO, ...]:
        """The site navigation: top-level links in order, each with its sub-links in order."""
        rows = list(
            await session.scalars(
                select(NavItem)
                .order_by(NavItem.from_ghost.desc(), NavItem.position, NavItem.id)
                .limit(MAX_NAV_ITEMS)
            )
        )
        children: dict[int, list[NavItemDTO]] = {}
        for row in rows:
            if row.parent_id is not None:
                children.setdefault(row.parent_id, []).append(_nav_dto(row))
        return tuple(
            _nav_dto(row, tuple(children.get(row.id, ()))) for row in rows if row.parent_id is None
        )

    async def add_nav_item(self, session: AsyncSession, data: NavItemInput) -> NavItemDTO:
        """Append a link (at the end of the top level, or of its parent's sub-links)."""
        await _lock_navigation(session)
        label, app, path = _nav_fields(data)
        count = int(await session.scalar(select(func.count()).select_from(NavItem)) or 0)
        if count >= MAX_NAV_ITEMS:
            raise InvalidNavItem(
                "too_many_items", f"The navigation holds at most {MAX_NAV_ITEMS} links.", "label"
            )
        await self._check_parent(session, data.parent_id, item_id=None)
        last = await session.scalar(
            select(func.max(NavItem.position)).where(_siblings_of(data.parent_id))
        )
        row = NavItem(
            label=label, app=app, path=path, parent_id=data.parent_id, position=(last or 0) + 10
        )
        session.add(row)
        await session.flush()
        return _nav_dto(row)

    async def update_nav_item(
        self, session: AsyncSession, item_id: int, data: NavItemInput
    ) -> NavItemDTO:
        """Change a link's label, target or parent (moving it to the end of its new level)."""
        await _lock_navigation(session)
        row = await self._editable_row(session, item_id)
        label, app, path = _nav_fields(data)
        await self._check_parent(session, data.parent_id, item_id=item_id)
        if data.parent_id != row.parent_id:
            last = await session.scalar(
                select(func.max(NavItem.position)).where(_siblings_of(data.parent_id))
            )
            row.position = (last or 0) + 10
            row.parent_id = data.parent_id
        row.label, row.app, row.path = label, app, path
        row.updated_at = now_utc()
        await session.flush()
        return _nav_dto(row)

    async def move_nav_item(self, session: AsyncSession, item_id: int, offset: int) -> None:
        """Move a link ``offset`` places among its siblings (-1: up, 1: down), clamped."""
        await _lock_navigation(session)
        row = await self._editable_row(session, item_id)
        siblings = list(
            await session.scalars(
                select(NavItem)
                .where(_siblings_of(row.parent_id))
                .order_by(NavItem.position, NavItem.id)
            )
        )
        siblings.remove(row)
        index = min(max(0, _index_of(row, siblings) + offset), len(siblings))
        siblings.insert(index, row)
        # Renumbered on every move, so equal positions (hand-made rows) cannot make it a no-op.
        for number, sibling in enumerate(siblings, start=1):
            sibling.position = number * 10
        await session.flush()

    async def delete_nav_item(self, session: AsyncSession, item_id: int) -> None:
        """Remove a link (and its sub-links)."""
        await _lock_navigation(session)
        row = await self._editable_row(session, item_id)
        await session.delete(row)
        await session.flush()

    async def _nav_row(self, session: AsyncSession, item_id: int) -> NavItem:
        row = await session.get(NavItem, item_id)
        if row is None:
            raise NotFound("nav_item_not_found", "There is no such link.")
        return row

    async def _editable_row(self, session: AsyncSession, item_id: int) -> NavItem:
        row = await self._nav_row(session, item_id)
        if row.from_ghost:
            # The next sync would bring Ghost's version back: the change belongs in Ghost.
            raise DomainError(
                "nav_item_from_ghost",
                "This link comes from Ghost: change it in Ghost's navigation settings.",
                status=409,
            )
        return row

    async def replace_ghost_navigation(
        self, session: AsyncSession, links: Sequence[NavItemInput]
    ) -> GhostNavReport:
        """Make the Ghost links exactly ``links``, in order (see the BlogService protocol).

        Each link is checked by the editors' rules; a refused one, or one beyond the room the
        editors' links leave under :data:`MAX_NAV_ITEMS`, is skipped and reported. Nothing is
        written when the result is the links already stored.
        """
        await _lock_navigation(session)
        wanted: list[tuple[str, str | None, str]] = []
        skipped: list[tuple[str, str]] = []
        own = int(
            await session.scalar(
                select(func.count()).select_from(NavItem).where(NavItem.from_ghost.is_(False))
            )
            or 0
        )
        room = max(0, MAX_NAV_ITEMS - own)
        for link in links:
            try:
                fields = _nav_fields(link)
            except InvalidNavItem as err:
                skipped.append((link.label, err.code))
                continue
            if len(wanted) >= room:
                skipped.append((link.label, "too_many_items"))
                continue
            wanted.append(fields)
        current = list(
            await session.scalars(
                select(NavItem)
                .where(NavItem.from_ghost.is_(True))
                .order_by(NavItem.position, NavItem.id)
            )
        )
        if [(r.label, r.app, r.path) for r in current] == wanted:
            return GhostNavReport(changed=False, stored=len(wanted), skipped=tuple(skipped))
        await session.execute(delete(NavItem).where(NavItem.from_ghost.is_(True)))
        session.add_all(
            NavItem(label=label, app=app, path=path, position=n * 10, from_ghost=True)
            for n, (label, app, path) in enumerate(wanted, start=1)
        )
        await session.flush()
        return GhostNavReport(changed=True, stored=len(wanted), skipped=tuple(skipped))

    async def published_slug_kinds(
        self, session: AsyncSession, slugs: Iterable[str]
    ) -> dict[str, str]:
        """Slug -> "post" or "page" for the published items among ``slugs`` (one query)."""
        wanted = sorted(set(slugs))
        if not wanted:
            return {}
        rows = await session.execute(
            select(BlogPost.slug, BlogPost.kind).where(
                BlogPost.slug.in_(wanted), BlogPost.status == "published"
            )
        )
        return {str(slug): str(kind) for slug, kind in rows}

    async def _check_parent(
        self, session: AsyncSession, parent_id: int | None, *, item_id: int | None
    ) -> None:
        """Nesting is one level deep: a parent is a top-level item, and an item with
        sub-items stays at the top level."""
        if parent_id is None:
            return
        parent = await session.get(NavItem, parent_id)
        if parent is None or parent.id == item_id:
            raise InvalidNavItem("invalid_parent", "Choose a top-level link as parent.", "parent")
        if parent.from_ghost:
            raise InvalidNavItem(
                "parent_from_ghost",
                "Links from Ghost hold no sub-links: choose one of your own links.",
                "parent",
            )
        if parent.parent_id is not None:
            raise InvalidNavItem(
                "too_deep", "Links nest one level deep: choose a top-level link.", "parent"
            )
        if item_id is not None:
            has_children = await session.scalar(
                select(func.count()).select_from(NavItem).where(NavItem.parent_id == item_id)
            )
            if has_children:
                raise InvalidNavItem(
                    "has_children", "A link with sub-links stays at the top level.", "parent"
                )

    # --- reading ---------------------------------------------------------------------

    async def _page(
        self,
        session: AsyncSession,
        conditions: Sequence[ColumnElement[bool]],
        page: int,
        per_page: int,
        viewer_is_member: bool,
    ) -> PostPage:
        _check_paging(page, per_page)
        total = int(
            await session.scalar(select(func.count()).select_from(BlogPost).where(*conditions)) or 0
        )
        if page > 1 and (page - 1) * per_page >= total:
            raise NotFound("page_out_of_range", "There is no such page.")
        rows = await session.scalars(
            _with_relations(select(BlogPost))
            .where(*conditions)
            .order_by(BlogPost.published_at.desc(), BlogPost.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return PostPage(
            posts=tuple(_post_dto(p, viewer_is_member) for p in rows),
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
                _with_relations(select(BlogPost))
                .where(*_published(), BlogPost.featured.is_(True))
                .order_by(BlogPost.published_at.desc(), BlogPost.id.desc())
                .limit(featured_limit)
            )
            featured = tuple(_post_dto(p, viewer_is_member) for p in rows)
        latest = await self._page(session, _published(), page, per_page, viewer_is_member)
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
            conditions = _published(kind=None)
        post = await session.scalar(
            _with_relations(select(BlogPost)).where(BlogPost.slug == slug, *conditions)
        )
        moved = False
        if post is None:
            post = await session.scalar(
                _with_relations(select(BlogPost))
                .join(BlogSlugRedirect, BlogSlugRedirect.post_id == BlogPost.id)
                .where(BlogSlugRedirect.old_slug == slug, *conditions)
            )
            moved = True
        if post is None:
            raise NotFound("post_not_found", "There is no post or page here.")
        return SlugLookup(post=_post_dto(post, viewer_is_member), moved=moved)

    async def get_post(self, session: AsyncSession, post_id: int) -> PostDTO:
        """Any post or page by id, whatever its status (for the editor and the sync)."""
        post = await session.scalar(
            _with_relations(select(BlogPost))
            .where(BlogPost.id == post_id)
            .execution_options(populate_existing=True)
        )
        if post is None:
            raise NotFound("post_not_found", "There is no such post.")
        return _post_dto(post)

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
            session, [*_published(), BlogPost.id.in_(tagged)], page, per_page, viewer_is_member
        )
        return TagArchive(tag=_tag_dto(tag), posts=posts)

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
            session, [*_published(), BlogPost.id.in_(written)], page, per_page, viewer_is_member
        )
        return AuthorArchive(author=_author_dto(author), posts=posts)

    async def search(
        self,
        session: AsyncSession,
        query: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> SearchResults:
        """Published posts and pages matching ``query`` (web-search syntax), best first.

        Snippets of members-only items come from their excerpt unless the viewer is a
        member, so search never reveals what the paywall hides.
        """
        _check_paging(page, per_page)
        query = clean_text(query)[:MAX_QUERY_CHARS]
        if not query:
            return SearchResults(query="", hits=(), page=1, per_page=per_page, total=0)
        tsquery = func.websearch_to_tsquery(literal("english", type_=REGCONFIG), query)
        matches = [*_published(kind=None), BlogPost.search.op("@@")(tsquery)]
        total = int(
            await session.scalar(select(func.count()).select_from(BlogPost).where(*matches)) or 0
        )
        if total == 0:
            return SearchResults(query=query, hits=(), page=page, per_page=per_page, total=0)
        rank = func.ts_rank(BlogPost.search, tsquery)
        source = case(
            (
                or_(BlogPost.visibility == "public", literal(viewer_is_member)),
                BlogPost.plaintext,
            ),
            else_=func.coalesce(BlogPost.excerpt, ""),
        )
        ranked = (
            select(BlogPost.id, rank.label("rank"))
            .where(*matches)
            .order_by(rank.desc(), BlogPost.published_at.desc(), BlogPost.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
            .subquery()
        )
        # ts_headline is costly: run it on this page's rows only.
        # Same blanking of '<' and '>' as the search column (see shared.models.blog).
        headline = func.ts_headline(
            literal("english", type_=REGCONFIG),
            func.translate(source, "<>", "  "),
            tsquery,
            _HEADLINE_OPTIONS,
        )
        rows = (
            await session.execute(
                select(ranked.c.id, ranked.c.rank, headline)
                .join(BlogPost, BlogPost.id == ranked.c.id)
                .order_by(ranked.c.rank.desc())
            )
        ).all()
        posts = {
            p.id: p
            for p in await session.scalars(
                _with_relations(select(BlogPost)).where(BlogPost.id.in_([r[0] for r in rows]))
            )
        }
        hits = []
        for post_id, post_rank, raw in rows:
            dto = _post_dto(posts[post_id], viewer_is_member)
            snippet = _highlight(raw) if raw and _HL_START in raw else html.escape(dto.excerpt)
            hits.append(SearchHit(post=dto, rank=float(post_rank), snippet=snippet))
        return SearchResults(
            query=query, hits=tuple(hits), page=page, per_page=per_page, total=total
        )

    async def feed(self, session: AsyncSession, *, limit: int = 20) -> tuple[PostDTO, ...]:
        """The latest published posts for RSS/Atom, as an anonymous visitor sees them."""
        rows = await session.scalars(
            _with_relations(select(BlogPost))
            .where(*_published())
            .order_by(BlogPost.published_at.desc(), BlogPost.id.desc())
            .limit(limit)
        )
        return tuple(_post_dto(p, viewer_is_member=False) for p in rows)

    async def sitemap(self, session: AsyncSession) -> tuple[SitemapEntry, ...]:
        """Every public URL: published posts and pages, tags and authors that have posts."""
        entries = [
            SitemapEntry(kind=kind, slug=slug, updated_at=updated)
            for kind, slug, updated in (
                await session.execute(
                    select(BlogPost.kind, BlogPost.slug, BlogPost.updated_at)
                    .where(*_published(kind=None))
                    .order_by(BlogPost.kind, BlogPost.published_at.desc())
                )
            ).all()
        ]
        live = select(BlogPost.id).where(*_published())
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

    # --- writing ---------------------------------------------------------------------

    async def create_post(self, session: AsyncSession, data: PostInput) -> PostDTO:
        """A new draft post or page; its slug comes from the title unless one is given."""
        post = BlogPost(status="draft")
        await self._apply(session, post, data, dedupe_slug=not data.slug)
        return await self.get_post(session, post.id)

    async def update_post(self, session: AsyncSession, post_id: int, data: PostInput) -> PostDTO:
        """Replace a post's content; a changed slug keeps the old one as a redirect."""
        post = await self._lock(session, post_id)
        await self._apply(session, post, data, dedupe_slug=False)
        return await self._federate(session, post, changed=True)

    async def publish(
        self, session: AsyncSession, post_id: int, *, now: datetime | None = None
    ) -> PostDTO:
        """Make a post live now (idempotent); a first publication is dated now."""
        now = now or now_utc()
        post = await self._lock(session, post_id)
        if post.status != "published":
            if post.published_at is None or post.published_at > now:
                post.published_at = now
            post.status = "published"
            await session.flush()
        return await self._federate(session, post, changed=False)

    async def schedule(
        self,
        session: AsyncSession,
        post_id: int,
        at: datetime,
        *,
        now: datetime | None = None,
    ) -> PostDTO:
        """Have a draft go live at ``at`` (in the future, with a time zone)."""
        now = now or now_utc()
        if at.tzinfo is None:
            raise InvalidPost("naive_datetime", "Give the time with its time zone.", "at")
        if at <= now:
            raise InvalidPost("schedule_in_past", "Choose a time in the future.", "at")
        post = await self._lock(session, post_id)
        if post.status == "published":
            raise Conflict("already_published", "This post is already published.")
        post.status = "scheduled"
        post.published_at = at
        await session.flush()
        return await self.get_post(session, post_id)

    async def unpublish(self, session: AsyncSession, post_id: int) -> PostDTO:
        """Back to draft (a scheduled post is unscheduled); the publication date is kept."""
        post = await self._lock(session, post_id)
        if post.status == "scheduled":
            post.published_at = None
        post.status = "draft"
        await session.flush()
        return await self._federate(session, post, changed=False)

    async def delete_post(self, session: AsyncSession, post_id: int) -> None:
        post = await self._lock(session, post_id)
        federated = post.ap_object_uri
        await session.delete(post)
        await session.flush()
        if federated is not None:
            await self.federation.publish(session, ACTOR, "Delete", federated)

    async def publish_due_scheduled(
        self, session: AsyncSession, now: datetime | None = None
    ) -> tuple[PostDTO, ...]:
        """Publish every scheduled post whose time has come; returns what went live.

        Safe to run from several workers at once (rows are claimed with SKIP LOCKED) and to
        run twice (a published post is no longer scheduled).
        """
        now = now or now_utc()
        due = (
            select(BlogPost.id)
            .where(BlogPost.status == "scheduled", BlogPost.published_at <= now)
            .with_for_update(skip_locked=True)
        )
        ids = list(
            await session.scalars(
                update(BlogPost)
                .where(BlogPost.id.in_(due.scalar_subquery()))
                .values(status="published")
                .returning(BlogPost.id)
                .execution_options(synchronize_session=False)
            )
        )
        if not ids:
            return ()
        rows = await session.scalars(
            _with_relations(select(BlogPost))
            .where(BlogPost.id.in_(ids))
            .order_by(BlogPost.published_at, BlogPost.id)
            .execution_options(populate_existing=True)
        )
        return tuple([await self._federate(session, p, changed=False) for p in rows])

    # --- the Ghost sync's writes -----------------------------------------------------

    async def upsert_synced_post(
        self,
        session: AsyncSession,
        *,
        ghost_id: str,
        ghost_updated_at: datetime,
        published_at: datetime,
        data: PostInput,
    ) -> str:
        """Create or replace the published item Ghost knows as ``ghost_id``: "created",
        "updated" or "unchanged".

        Skips the write when Ghost's ``updated_at`` is the one already stored. A slug that a
        local post already uses gets a suffix rather than failing the whole run.
        """
        post = await session.scalar(
            select(BlogPost).where(BlogPost.ghost_id == ghost_id).with_for_update()
        )
        if post is not None and post.ghost_updated_at == ghost_updated_at:
            return "unchanged"
        outcome = "updated"
        if post is None:
            post = BlogPost(ghost_id=ghost_id)
            outcome = "created"
        post.status = "published"
        post.published_at = published_at
        post.ghost_updated_at = ghost_updated_at
        await self._apply(session, post, data, dedupe_slug=True)
        await self._federate(session, post, changed=True)
        return outcome

    async def delete_synced(self, session: AsyncSession, ghost_ids: Iterable[str]) -> int:
        """Remove the items Ghost no longer has; returns how many went."""
        ids = list(ghost_ids)
        if not ids:
            return 0
        result = await session.execute(
            delete(BlogPost)
            .where(BlogPost.ghost_id.in_(ids))
            .returning(BlogPost.id, BlogPost.ap_object_uri)
        )
        gone = result.all()
        for _id, federated in gone:
            if federated is not None:
                await self.federation.publish(session, ACTOR, "Delete", federated)
        return len(gone)

    async def synced_versions(self, session: AsyncSession, kind: str) -> dict[str, datetime]:
        """Ghost id -> Ghost ``updated_at`` of every synced item of ``kind``."""
        rows = await session.execute(
            select(BlogPost.ghost_id, BlogPost.ghost_updated_at).where(
                BlogPost.kind == kind, BlogPost.ghost_id.is_not(None)
            )
        )
        return {gid: updated for gid, updated in rows.all() if gid and updated}

    async def sync_tags(self, session: AsyncSession, tags: Sequence[SyncedTag]) -> int:
        """Make the synced tags exactly ``tags``; local tags are left alone."""
        return await self._sync_named(session, BlogTag, tags, prune=True)

    async def sync_authors(self, session: AsyncSession, authors: Sequence[SyncedAuthor]) -> int:
        """Make the synced authors exactly ``authors``; local authors are left alone."""
        return await self._sync_named(session, BlogAuthor, authors, prune=True)

    async def upsert_synced_tags(self, session: AsyncSession, tags: Sequence[SyncedTag]) -> int:
        """Create or update these synced tags, leaving the others alone."""
        return await self._sync_named(session, BlogTag, tags, prune=False)

    async def upsert_synced_authors(
        self, session: AsyncSession, authors: Sequence[SyncedAuthor]
    ) -> int:
        """Create or update these synced authors, leaving the others alone."""
        return await self._sync_named(session, BlogAuthor, authors, prune=False)

    async def _sync_named(
        self,
        session: AsyncSession,
        model: type[BlogTag] | type[BlogAuthor],
        synced: Sequence[SyncedTag] | Sequence[SyncedAuthor],
        *,
        prune: bool,
    ) -> int:
        items = [asdict(item) for item in synced]
        if model is BlogTag:
            # Only Ghost's public tags are synced: a local tag adopted by one becomes public.
            for item in items:
                item["visibility"] = "public"
        wanted = {item["ghost_id"]: item for item in items}
        if prune:
            await session.execute(
                delete(model).where(
                    model.ghost_id.is_not(None), model.ghost_id.not_in(list(wanted))
                )
            )
        if not wanted:
            return 0
        rows: Iterable[Any] = await session.scalars(
            select(model).where(
                or_(
                    model.ghost_id.in_(list(wanted)),
                    # A local row with the same slug is the same tag/author: adopt it.
                    model.slug.in_([i["slug"] for i in items]) & model.ghost_id.is_(None),
                )
            )
        )
        existing = {row.ghost_id or row.slug: row for row in rows}
        for ghost_id, item in wanted.items():
            row = existing.get(ghost_id) or existing.get(item["slug"])
            if row is None:
                row = model(ghost_id=ghost_id, slug=item["slug"], name=item["name"])
                session.add(row)
            for key, value in item.items():
                setattr(row, key, value)
        await session.flush()
        return len(wanted)

    # --- internals -------------------------------------------------------------------

    async def _federate(self, session: AsyncSession, post: BlogPost, *, changed: bool) -> PostDTO:
        """Bring the fediverse in line with ``post`` after a write; returns the post.

        A post that has become federable is announced (``Create``, under a fresh object id);
        a federated one whose content ``changed`` is re-sent (``Update``, same id); one that
        is no longer federable (unpublished, made members-only or a page) is withdrawn
        (``Delete``). Members-only posts are never federated, not even as a teaser: whoever
        follows the blog from another server is not signed in as a member, a title they cannot
        open is noise in their timeline, and no copy of a members' text can then reach a
        server we do not control.
        """
        dto = await self.get_post(session, post.id)
        federated = post.ap_object_uri
        if _federable(post):
            if federated is None:
                post.ap_object_uri = self.federation.new_object_uri(ACTOR)
                await session.flush()
                await self.federation.publish(session, ACTOR, "Create", self._article(post, dto))
            elif changed:
                await self.federation.publish(session, ACTOR, "Update", self._article(post, dto))
        elif federated is not None:
            post.ap_object_uri = None
            await session.flush()
            await self.federation.publish(session, ACTOR, "Delete", federated)
        return dto

    def _article(self, post: BlogPost, dto: PostDTO) -> ApObjectDTO:
        assert post.ap_object_uri is not None
        assert dto.published_at is not None  # a published post is dated (dated_when_live)
        return self.federation.article(
            ACTOR,
            ArticleDTO(
                id=post.ap_object_uri,
                name=dto.title,
                summary=dto.excerpt,
                content=link_products(dto.html, self.market_url),
                url=f"{self.public_url}/posts/{dto.slug}",
                published=dto.published_at,
                tags=tuple(t.name for t in dto.tags),
            ),
        )

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
        title = clean_text(data.title)
        if not title:
            raise InvalidPost("title_required", "Give it a title.", "title")
        if len(title) > 255:
            raise InvalidPost("too_long", "At most 255 characters.", "title")
        if data.kind not in POST_KINDS:
            raise InvalidPost("invalid_kind", "A post or a page.", "kind")
        if data.visibility not in VISIBILITIES:
            raise InvalidPost("invalid_visibility", "Public or members only.", "visibility")
        body = sanitize_html(data.html)
        post.kind = data.kind
        post.title = title
        post.html = body
        post.plaintext = html_to_text(body)
        post.excerpt = clean_text(data.excerpt) or None
        post.feature_image = _check_url(data.feature_image, "feature_image")
        post.feature_image_alt = _limited(data.feature_image_alt, 191, "feature_image_alt")
        post.featured = data.featured
        post.visibility = data.visibility
        post.meta_title = _limited(data.meta_title, 300, "meta_title")
        post.meta_description = _limited(data.meta_description, 500, "meta_description")
        post.og_title = _limited(data.og_title, 300, "og_title")
        post.og_description = _limited(data.og_description, 500, "og_description")
        post.og_image = _check_url(data.og_image, "og_image")
        post.canonical_url = _check_url(data.canonical_url, "canonical_url")
        authors = await self._authors(session, data.authors)
        await self._set_slug(session, post, data.slug, title, dedupe=dedupe_slug)
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

    # --- personal data (the account app's export and erasure; protocols.PersonalData) --

    async def export_member(self, session: AsyncSession, user_id: int) -> PersonalDataDTO:
        """The bylines linked to the member's account and every post or page under them."""
        authors = (
            await session.scalars(select(BlogAuthor).where(BlogAuthor.user_id == user_id))
        ).all()
        posts = (
            await session.scalars(
                select(BlogPost)
                .join(BlogPostAuthor, BlogPostAuthor.post_id == BlogPost.id)
                .where(BlogPostAuthor.author_id.in_([a.id for a in authors]))
                .order_by(BlogPost.created_at, BlogPost.id)
                .distinct()
            )
        ).all()
        return PersonalDataDTO(
            "blog",
            {
                "authors": [
                    {"slug": a.slug, "name": a.name, "bio": a.bio, "website": a.website}
                    for a in authors
                ],
                "posts": [
                    {
                        "kind": p.kind,
                        "title": p.title,
                        "slug": p.slug,
                        "status": p.status,
                        "created_at": p.created_at.isoformat(),
                        "published_at": p.published_at.isoformat() if p.published_at else None,
                        "html": p.html,
                    }
                    for p in posts
                ],
            },
        )

    async def erase_member(self, session: AsyncSession, user_id: int, email: str) -> None:
        """Unlink the member's bylines from their account. What they published stays, under
        its byline: it is the cooperative's publication (an editor removes a post on
        request, which is an editorial decision, not an automatic one)."""
        await session.execute(
            update(BlogAuthor).where(BlogAuthor.user_id == user_id).values(user_id=None)
        )


def _highlight(raw: str) -> str:
    """ts_headline output made safe: everything escaped, then our markers become <mark>."""
    escaped = html.escape(raw, quote=False)
    return escaped.replace(_HL_START, "<mark>").replace(_HL_STOP, "</mark>")
