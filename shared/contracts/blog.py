"""The blog's contract: posts, pages, tags, authors, the navigation and the Ghost sync."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.common import Paginated
from shared.contracts.federation import ApObjectDTO


@dataclass(frozen=True)
class NavItemDTO:
    """A site navigation link: into an app (``app`` and a path) or elsewhere (an https URL).

    A top-level item carries its sub-items (``children``, one level deep) in order.
    """

    label: str
    app: str | None
    path: str
    id: int = 0
    parent_id: int | None = None
    children: tuple[NavItemDTO, ...] = ()
    # Adopted from Ghost's navigation by the Ghost sync: editors cannot change it here.
    from_ghost: bool = False


@dataclass(frozen=True)
class NavItemInput:
    """An editor's navigation link: ``app`` empty for an absolute https URL in ``path``."""

    label: str
    app: str | None
    path: str
    parent_id: int | None = None


@dataclass(frozen=True)
class GhostNavReport:
    """What replacing the Ghost links of the navigation did: ``changed`` when the stored
    links differ from before; ``skipped`` holds (label, error code) of links refused."""

    changed: bool
    stored: int
    skipped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TagDTO:
    id: int
    slug: str
    name: str
    description: str | None = None
    visibility: str = "public"


@dataclass(frozen=True)
class AuthorDTO:
    id: int
    slug: str
    name: str
    bio: str | None = None
    profile_image: str | None = None
    website: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class PostDTO:
    """A post or a page (``kind``). ``html`` is sanitized: render it as-is.

    ``locked`` means the item is members-only and was read for a viewer who is not a
    member: ``html`` is then only the teaser that stood before the body's paywall (empty
    when it has none: the service never hands the rest out) and the page shows it, or
    ``excerpt``, with an invitation to sign in.
    """

    id: int
    kind: str
    title: str
    slug: str
    html: str
    excerpt: str
    feature_image: str | None
    feature_image_alt: str | None
    status: str
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    featured: bool
    visibility: str
    meta_title: str | None = None
    meta_description: str | None = None
    og_title: str | None = None
    og_description: str | None = None
    og_image: str | None = None
    canonical_url: str | None = None
    ghost_id: str | None = None
    tags: tuple[TagDTO, ...] = ()
    authors: tuple[AuthorDTO, ...] = ()
    locked: bool = False
    twitter_title: str | None = None
    twitter_description: str | None = None
    twitter_image: str | None = None
    # Sanitized HTML: render it as-is.
    feature_image_caption: str | None = None
    feature_image_width: int | None = None
    feature_image_height: int | None = None
    # Minutes, as Ghost counts them (words at 275 a minute, a few seconds per image).
    reading_time: int = 1

    @property
    def members_only(self) -> bool:
        return self.visibility == "members"

    @property
    def primary_tag(self) -> TagDTO | None:
        return self.tags[0] if self.tags else None


@dataclass(frozen=True)
class PostPage(Paginated):
    """One page of a listing."""

    posts: tuple[PostDTO, ...]
    page: int
    per_page: int
    total: int


@dataclass(frozen=True)
class HomePage:
    featured: tuple[PostDTO, ...]
    latest: PostPage


@dataclass(frozen=True)
class SlugLookup:
    """A post found by slug; ``moved`` when the slug asked for is an old one (answer 301)."""

    post: PostDTO
    moved: bool


@dataclass(frozen=True)
class TagArchive:
    tag: TagDTO
    posts: PostPage


@dataclass(frozen=True)
class AuthorArchive:
    author: AuthorDTO
    posts: PostPage


@dataclass(frozen=True)
class SearchHit:
    """``snippet`` is safe HTML: escaped text whose only markup is our ``<mark>``."""

    post: PostDTO
    rank: float
    snippet: str


@dataclass(frozen=True)
class SearchResults(Paginated):
    query: str
    hits: tuple[SearchHit, ...]
    page: int
    per_page: int
    total: int


@dataclass(frozen=True)
class PostInput:
    """What an editor (or the Ghost sync) gives to create or replace a post or page.

    ``html`` may be anything: the service sanitizes it; a ``<!--members-only-->`` in it
    (Ghost's paywall card) marks where the teaser visitors read of a members-only item ends.
    ``slug`` empty means "from the title". ``tags`` are names or slugs (made when missing);
    ``authors`` are author slugs (which must exist). Status changes go through
    publish/schedule/unpublish, not here.
    """

    title: str
    html: str = ""
    kind: str = "post"
    slug: str = ""
    excerpt: str = ""
    feature_image: str | None = None
    feature_image_alt: str | None = None
    featured: bool = False
    visibility: str = "public"
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    meta_title: str | None = None
    meta_description: str | None = None
    og_title: str | None = None
    og_description: str | None = None
    og_image: str | None = None
    canonical_url: str | None = None
    twitter_title: str | None = None
    twitter_description: str | None = None
    twitter_image: str | None = None
    # HTML like the body (sanitized by the service).
    feature_image_caption: str | None = None


@dataclass(frozen=True)
class SitemapEntry:
    """One public URL of the blog: ``kind`` is post, page, tag or author."""

    kind: str
    slug: str
    updated_at: datetime | None


@dataclass(frozen=True)
class SyncedTag:
    """A public tag as Ghost has it, validated by the sync (``ghost_id`` is Ghost's id)."""

    ghost_id: str
    slug: str
    name: str
    description: str | None = None


@dataclass(frozen=True)
class SyncedAuthor:
    """An author as Ghost has them, validated by the sync."""

    ghost_id: str
    slug: str
    name: str
    bio: str | None = None
    profile_image: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class SyncReport:
    """What one Ghost sync run did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    tags: int = 0
    authors: int = 0
    # Members-only items stored without their whole body (no Admin API key to read it).
    without_body: int = 0
    # Images copied into the media store, and those that could not be (left on Ghost).
    images: int = 0
    images_failed: int = 0


class BlogService(Protocol):
    """Posts, pages, tags, authors and the site navigation (the blog app).

    Readers pass ``viewer_is_member``: a members-only item read for anyone else comes back
    ``locked``, its body withheld. Bad input is :class:`~shared.contracts.errors.InvalidPost`
    (``field`` says which); a missing item or page is ``NotFound``; a slug in use ``Conflict``.
    """

    async def dashboard_widgets(self, session: AsyncSession) -> tuple[str, ...]:
        """The widgets staff placed on the members' dashboard, as placeholders, in order."""
        ...

    async def set_dashboard_widgets(
        self, session: AsyncSession, placeholders: Sequence[str]
    ) -> tuple[str, ...]:
        """Replace the dashboard's widgets (``InvalidField`` on ``widgets``: not placeholders,
        or more than six); the caller checks each against the widget registry."""
        ...

    async def navigation(self, session: AsyncSession) -> tuple[NavItemDTO, ...]:
        """The site navigation: top-level links in order, each with its sub-links in order."""
        ...

    # -- editing the navigation (bad input: InvalidNavItem; a missing link: NotFound) --

    async def add_nav_item(self, session: AsyncSession, data: NavItemInput) -> NavItemDTO:
        """Append a link (at the end of the top level, or of its parent's sub-links)."""
        ...

    async def update_nav_item(
        self, session: AsyncSession, item_id: int, data: NavItemInput
    ) -> NavItemDTO:
        """Change a link's label, target or parent (moving it to the end of its new level)."""
        ...

    async def move_nav_item(self, session: AsyncSession, item_id: int, offset: int) -> None:
        """Move a link ``offset`` places among its siblings (-1: up, 1: down), clamped."""
        ...

    async def delete_nav_item(self, session: AsyncSession, item_id: int) -> None:
        """Remove a link (and its sub-links)."""
        ...

    async def editor_posts(
        self, session: AsyncSession, *, kind: str = "post", page: int = 1, per_page: int = 20
    ) -> PostPage:
        """Every post (or page) whatever its status, for the editor: drafts first."""
        ...

    # -- reading (the public site) --

    async def home(
        self,
        session: AsyncSession,
        *,
        page: int = 1,
        per_page: int = 10,
        featured_limit: int = 3,
        viewer_is_member: bool = False,
    ) -> HomePage:
        """Featured posts (first page only) and a page of the latest posts, newest first."""
        ...

    async def activitypub_object(self, session: AsyncSession, slug: str) -> ApObjectDTO | None:
        """What a server asking for ActivityStreams gets at a post's or page's URL: a public
        post's federated ``Article``, a public page as an ``Article`` whose id is its URL; None
        for anything the public cannot read."""
        ...

    async def get_by_slug(
        self,
        session: AsyncSession,
        slug: str,
        *,
        viewer_is_member: bool = False,
        include_unpublished: bool = False,
    ) -> SlugLookup:
        """The post or page at ``slug``, or the one that used to be there (``moved``)."""
        ...

    async def related(
        self, session: AsyncSession, post_id: int, *, limit: int = 3, viewer_is_member: bool
    ) -> tuple[PostDTO, ...]:
        """Up to ``limit`` other published posts to read next: those sharing the most tags
        with it (its primary tag first), newest first, then the newest others."""
        ...

    async def get_post(self, session: AsyncSession, post_id: int) -> PostDTO:
        """Any post or page by id, whatever its status (the editor, the sync)."""
        ...

    async def tag_archive(
        self,
        session: AsyncSession,
        slug: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> TagArchive:
        """A public tag and a page of its published posts."""
        ...

    async def author_archive(
        self,
        session: AsyncSession,
        slug: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> AuthorArchive:
        """An author and a page of their published posts."""
        ...

    async def search(
        self,
        session: AsyncSession,
        query: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> SearchResults:
        """Published posts and pages matching ``query`` (web-search syntax), best first."""
        ...

    async def feed(self, session: AsyncSession, *, limit: int = 20) -> tuple[PostDTO, ...]:
        """The latest published posts as an anonymous visitor sees them (RSS, Atom)."""
        ...

    async def sitemap(self, session: AsyncSession) -> tuple[SitemapEntry, ...]:
        """Every public URL of the blog."""
        ...

    # -- writing (the editor) --

    async def create_post(self, session: AsyncSession, data: PostInput) -> PostDTO:
        """A new draft post or page (its HTML sanitized)."""
        ...

    async def update_post(self, session: AsyncSession, post_id: int, data: PostInput) -> PostDTO:
        """Replace a post's content; a changed slug keeps the old one as a redirect."""
        ...

    async def publish(
        self, session: AsyncSession, post_id: int, *, now: datetime | None = None
    ) -> PostDTO:
        """Make a post live now (idempotent)."""
        ...

    async def schedule(
        self, session: AsyncSession, post_id: int, at: datetime, *, now: datetime | None = None
    ) -> PostDTO:
        """Have a draft go live at ``at`` (in the future, with a time zone)."""
        ...

    async def unpublish(self, session: AsyncSession, post_id: int) -> PostDTO:
        """Back to draft (a scheduled post is unscheduled)."""
        ...

    async def delete_post(self, session: AsyncSession, post_id: int) -> None:
        """Remove a post or page for good."""
        ...

    async def publish_due_scheduled(
        self, session: AsyncSession, now: datetime | None = None
    ) -> tuple[PostDTO, ...]:
        """Publish every scheduled post whose time has come (safe to run concurrently)."""
        ...

    # -- the Ghost sync's writes (shared/services/blog/ghost_sync.py) --

    async def upsert_synced_post(
        self,
        session: AsyncSession,
        *,
        ghost_id: str,
        ghost_updated_at: datetime,
        published_at: datetime,
        data: PostInput,
        ghost_slug: str | None = None,
        announce: bool = True,
    ) -> str:
        """Create or replace Ghost's item: "created", "updated" or "unchanged". ``ghost_slug``
        is Ghost's own slug for it; ``announce=False`` keeps its activities from followers."""
        ...

    async def delete_synced(self, session: AsyncSession, ghost_ids: Iterable[str]) -> int:
        """Remove the synced items Ghost no longer has; how many went."""
        ...

    async def synced_versions(self, session: AsyncSession, kind: str) -> dict[str, datetime]:
        """Ghost id -> Ghost ``updated_at`` of every synced item of ``kind``."""
        ...

    async def sync_tags(self, session: AsyncSession, tags: Sequence[SyncedTag]) -> int:
        """Make the synced tags exactly ``tags``."""
        ...

    async def sync_authors(self, session: AsyncSession, authors: Sequence[SyncedAuthor]) -> int:
        """Make the synced authors exactly ``authors``."""
        ...

    async def upsert_synced_tags(self, session: AsyncSession, tags: Sequence[SyncedTag]) -> int:
        """Create or update these synced tags, leaving the others alone."""
        ...

    async def upsert_synced_authors(
        self, session: AsyncSession, authors: Sequence[SyncedAuthor]
    ) -> int:
        """Create or update these synced authors, leaving the others alone."""
        ...

    async def replace_ghost_navigation(
        self, session: AsyncSession, links: Sequence[NavItemInput]
    ) -> GhostNavReport:
        """Make the navigation's Ghost links exactly ``links`` (top-level, in order, before
        the editors' own links, which stay as they are); links the navigation's rules refuse,
        or that do not fit in its limit, are skipped and reported."""
        ...

    async def ghost_routes(
        self, session: AsyncSession, ghost_slugs: Iterable[str]
    ) -> dict[str, tuple[str, str]]:
        """Ghost's slug -> (kind, the blog's slug) of the published synced items among
        ``ghost_slugs``."""
        ...
