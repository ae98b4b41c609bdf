"""Keeping the blog in step with a Ghost site, exactly per the contract in EXTERNAL-APIS.md.

An adapter between Ghost's Content API (:mod:`shared.services.blog.ghost`) and the blog
domain: it validates what Ghost returns and stores it through ``services().blog`` (the
BlogService contract); it owns only its own bookkeeping, the ``ghost_state`` table.

- Incremental: per resource (posts, pages) a cursor holds the largest ``updated_at`` stored;
  a run asks ``filter=updated_at:>='<cursor - overlap>'&order=updated_at asc,id asc``, follows
  ``pagination.next``, and upserts an item only when its ``(id, updated_at)`` changed. Each
  page is stored in its own transaction together with the cursor, so a run that fails on
  page 3 keeps pages 1-2 and the next run resumes from there.
- Reconcile: the Content API simply stops returning deleted or unpublished items, so a run
  also pages through ``fields=id,updated_at`` and removes synced items Ghost no longer
  returns (Ghost is their source of truth; local posts are never touched), and re-reads any
  item whose ``updated_at`` differs (one an interrupted pagination may have skipped). It
  deletes only after every page was read.
- Tags, authors and the site settings (navigation included) have no ``updated_at``: they
  are refreshed on every run, after the posts and pages (so the navigation can link to
  pages this very run brought). The settings are kept whole in ``ghost_state['settings']``
  and, in the same transaction, Ghost's ``navigation`` becomes the site navigation's Ghost
  links (:func:`ghost_nav_links` maps Ghost's URLs to the blog's routes; the editors' own
  links are never touched). A change of the navigation outdates the cached ``blog/nav``
  once committed (``on_navigation_changed``).
- A webhook is only a trigger: :func:`apply_webhook` re-reads the item from the Content
  API (404 there means delete) and never stores the webhook's own copy.

Ghost's answers are validated completely before anything from them is written, and every
write happens inside a transaction: a 401, 404, 5xx, timeout or malformed answer leaves
the stored content as it was.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import GhostSettings, Settings
from shared.contracts import NavItemInput, PostInput, SyncedAuthor, SyncedTag, SyncReport
from shared.db import create_engine, create_session_factory
from shared.infrastructure.context import create_redis, services
from shared.infrastructure.fragments import invalidate
from shared.infrastructure.sanitize import SLUG_RE, slugify
from shared.models.blog import GhostState
from shared.services.blog.ghost import (
    GhostAdminClient,
    GhostContentClient,
    GhostError,
    GhostMalformed,
    GhostNotFound,
    WebhookExists,
    filter_datetime,
    parse_datetime,
)

log = logging.getLogger(__name__)

KINDS = {"posts": "post", "pages": "page"}
GHOST_ID = re.compile(r"^[0-9a-f]{24}$")
POST_PARAMS: dict[str, str | int] = {
    "include": "tags,authors",
    "formats": "html",
    "order": "updated_at asc,id asc",
}
SETTINGS_KEY = "settings"

Progress = Callable[[str, int, int], None]
"""Called with (resource, items done, items in total) after each stored page."""
NavigationChanged = Callable[[], Awaitable[None]]
"""Called once a transaction that changed the site navigation has committed."""
NAV_FRAGMENT = "blog/nav"
# Ghost's navigation is a handful of links; a hostile one is cut here, before any lookup.
MAX_GHOST_NAV = 100


def cursor_key(resource: str) -> str:
    return f"cursor:{resource}"


# --- validating Ghost's items ----------------------------------------------------------


def _str(item: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        if required:
            raise GhostMalformed(f"{key} is missing")
        return None
    if not isinstance(value, str):
        raise GhostMalformed(f"{key}: expected text, got {type(value).__name__}")
    return value


def _ghost_id(item: dict[str, Any]) -> str:
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
        ghost_id=_ghost_id(item),
        slug=slug,
        name=(_str(item, "name") or slug)[:191],
        description=_str(item, "description"),
    )


def parse_author(item: dict[str, Any]) -> SyncedAuthor:
    slug = _slug(item)
    return SyncedAuthor(
        ghost_id=_ghost_id(item),
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


def _http_url(value: str | None) -> str | None:
    return value if value and value.startswith(("https://", "http://", "/")) else None


def parse_item(item: dict[str, Any], kind: str) -> GhostItem:
    """Validate one post or page from the Content API (GhostMalformed when it is not one)."""
    ghost_id = _ghost_id(item)
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
    )


def _list(item: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = item.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise GhostMalformed(f"{key}: expected a list of objects")
    return value


# --- storing ---------------------------------------------------------------------------


async def store_items(session: AsyncSession, items: Sequence[GhostItem]) -> dict[str, int]:
    """Upsert validated items (and the tags and authors they name); counts by outcome."""
    blog = services().blog
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    tags = {t.ghost_id: t for item in items for t in item.tags}
    authors = {a.ghost_id: a for item in items for a in item.authors}
    await blog.upsert_synced_tags(session, list(tags.values()))
    await blog.upsert_synced_authors(session, list(authors.values()))
    for item in items:
        outcome = await blog.upsert_synced_post(
            session,
            ghost_id=item.ghost_id,
            ghost_updated_at=item.updated_at,
            published_at=item.published_at,
            data=item.data,
        )
        counts[outcome] += 1
    return counts


async def load_cursor(session: AsyncSession, resource: str) -> datetime | None:
    value = await session.scalar(
        select(GhostState.value).where(GhostState.name == cursor_key(resource))
    )
    if not value or "updated_at" not in value:
        return None
    return datetime.fromisoformat(value["updated_at"])


async def _save_state(session: AsyncSession, name: str, value: dict[str, Any]) -> None:
    await session.execute(
        pg_insert(GhostState)
        .values(name=name, value=value)
        .on_conflict_do_update(index_elements=["name"], set_={"value": value})
    )


async def save_cursor(session: AsyncSession, resource: str, updated_at: datetime) -> None:
    await _save_state(session, cursor_key(resource), {"updated_at": updated_at.isoformat()})


async def load_settings(session: AsyncSession) -> dict[str, Any] | None:
    """Ghost's site settings as last synced (``navigation``: ``[{label, url}]``), if any."""
    value = await session.scalar(select(GhostState.value).where(GhostState.name == SETTINGS_KEY))
    return dict(value) if value else None


def _valid_settings(settings: dict[str, Any]) -> dict[str, Any]:
    for key in ("navigation", "secondary_navigation"):
        nav = settings.get(key) or []
        if not isinstance(nav, list) or not all(
            isinstance(i, dict)
            and isinstance(i.get("label"), str)
            and isinstance(i.get("url"), str)
            for i in nav
        ):
            raise GhostMalformed(f"settings.{key}: expected a list of {{label, url}}")
    return settings


SiteData = tuple[list[SyncedTag], list[SyncedAuthor], dict[str, Any]]


async def read_site(client: GhostContentClient, page_size: int) -> SiteData:
    """Every public tag, every author and the settings, validated (nothing stored yet)."""
    tags: list[SyncedTag] = []
    async for items, _ in client.browse_all("tags", {"limit": page_size}):
        tags.extend(t for t in (parse_tag(i) for i in items) if t is not None)
    authors: list[SyncedAuthor] = []
    async for items, _ in client.browse_all("authors", {"limit": page_size}):
        authors.extend(parse_author(i) for i in items)
    return tags, authors, _valid_settings(await client.settings())


# --- the navigation ------------------------------------------------------------------

# A path on the Ghost site: home, /tag/<slug>/, /author/<slug>/ or /<slug>/ (post or page).
_GHOST_ROUTE = re.compile(r"^/(?:(tag|author)/)?([^/]+)/?$")


def _site_of(url: str | None) -> tuple[str, str] | None:
    """(host[:port], path prefix) of an http(s) address; None for anything else."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower() + ("" if port in (None, default) else f":{port}")
    return host, parts.path.rstrip("/")


def _ghost_path(url: str, sites: Sequence[tuple[str, str]]) -> str | None:
    """The path inside the Ghost site that ``url`` points at, or None when it points
    elsewhere (or is no plain link at all)."""
    if url.startswith("/") and not url.startswith("//"):
        parts = urlsplit(url)
        return None if parts.query or parts.fragment else parts.path
    site = _site_of(url)
    if site is None:
        return None
    host, path = site
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    for ghost_host, prefix in sites:
        if host == ghost_host and (path + "/").startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return None


def _ghost_target(url: str, sites: Sequence[tuple[str, str]]) -> tuple[str | None, str] | None:
    """Where a Ghost navigation URL should lead: ("blog", path), ("slug", slug) for a post or
    page still to be looked up, (None, url) for anything not on the Ghost site (the
    navigation's rules then keep only https), or None when it maps to nothing of ours."""
    path = _ghost_path(url, sites)
    if path is None:
        if url.startswith("/") and not url.startswith("//"):
            return None  # a Ghost path with a query or fragment
        site = _site_of(url)
        if site is not None and any(site[0] == host for host, _ in sites):
            return None  # on Ghost's host, outside the site or with a query
        return None, url
    if path in ("", "/"):
        return "blog", "/"
    match = _GHOST_ROUTE.match(path)
    if match is None or not SLUG_RE.match(match.group(2)):
        return None
    section, slug = match.groups()
    if section is None:
        return "slug", slug
    return "blog", f"/{section}/{slug}"


async def ghost_nav_links(
    session: AsyncSession, navigation: Sequence[Mapping[str, Any]], ghost_urls: Sequence[str]
) -> list[NavItemInput]:
    """Ghost's navigation as the site navigation's links, in Ghost's order.

    Links into the Ghost site (relative, or absolute on one of ``ghost_urls``' hosts) lead to
    the blog's own routes: home ``/``, ``/tag/<slug>``, ``/author/<slug>``, and ``/<slug>/``
    to ``/posts/<slug>`` or ``/pages/<slug>`` as the synced item is. Other addresses are
    passed on as they are for the navigation's rules to judge (only https is kept). A link
    that maps to nothing is skipped with a log line.
    """
    sites = [s for s in (_site_of(u) for u in ghost_urls) if s is not None]
    targets: list[tuple[str, tuple[str | None, str] | None]] = []
    for item in list(navigation)[:MAX_GHOST_NAV]:
        label, url = str(item.get("label", "")), str(item.get("url", "")).strip()
        targets.append((label, _ghost_target(url, sites)))
    slugs = [t[1] for _, t in targets if t is not None and t[0] == "slug"]
    kinds = await services().blog.published_slug_kinds(session, slugs)
    links: list[NavItemInput] = []
    for (label, target), item in zip(targets, navigation, strict=False):
        url = str(item.get("url", ""))
        if target is None:
            log.warning("ghost navigation: skipped %r (%s): not a page of the site", label, url)
            continue
        app, path = target
        if app == "slug":
            kind = kinds.get(path)
            if kind is None:
                log.warning(
                    "ghost navigation: skipped %r (%s): no published post or page %r",
                    label,
                    url,
                    path,
                )
                continue
            app, path = "blog", f"/{kind}s/{path}"
        links.append(NavItemInput(label=label, app=app, path=path))
    return links


async def apply_navigation(
    session: AsyncSession, settings: Mapping[str, Any], ghost_urls: Sequence[str]
) -> bool:
    """Make the navigation's Ghost links Ghost's ``navigation``; True when they changed."""
    navigation = settings.get("navigation") or []
    links = await ghost_nav_links(session, navigation, ghost_urls)
    report = await services().blog.replace_ghost_navigation(session, links)
    for label, code in report.skipped:
        log.warning("ghost navigation: skipped %r: %s", label, code)
    if report.changed:
        log.info("ghost navigation: %d links from Ghost", report.stored)
    return report.changed


def _ghost_urls(settings: Mapping[str, Any], ghost_url: str | None) -> list[str]:
    """The addresses the Ghost site answers at: the configured one and its own ``url``."""
    own = settings.get("url")
    return [u for u in (ghost_url, own if isinstance(own, str) else None) if u]


async def store_site(
    session: AsyncSession,
    tags: list[SyncedTag],
    authors: list[SyncedAuthor],
    settings: dict[str, Any],
    *,
    ghost_url: str | None = None,
) -> bool:
    """Store tags, authors and settings and adopt Ghost's navigation, all in the caller's
    transaction; True when the site navigation changed."""
    await services().blog.sync_tags(session, tags)
    await services().blog.sync_authors(session, authors)
    await _save_state(session, SETTINGS_KEY, settings)
    return await apply_navigation(session, settings, _ghost_urls(settings, ghost_url))


async def refresh_navigation(session: AsyncSession, *, ghost_url: str | None = None) -> bool:
    """Adopt the stored Ghost navigation again (a post or page it links to came or went)."""
    settings = await load_settings(session)
    if settings is None:
        return False
    return await apply_navigation(session, settings, _ghost_urls(settings, ghost_url))


# --- running ---------------------------------------------------------------------------


@dataclass
class GhostSync:
    """One sync run. It holds a session factory, not a session: each page is its own
    transaction, so what was stored before a failure stays stored."""

    session_factory: async_sessionmaker[AsyncSession]
    client: GhostContentClient
    settings: GhostSettings
    progress: Progress | None = None
    on_navigation_changed: NavigationChanged | None = None
    report: SyncReport = field(default_factory=SyncReport)

    async def run(self, *, reconcile: bool = True) -> SyncReport:
        """Sync posts and pages, optionally reconcile, then refresh tags, authors, settings
        and the navigation (last: its links to posts and pages are then resolvable)."""
        self.report = SyncReport()
        for resource in KINDS:
            await self.incremental(resource)
        if reconcile:
            for resource in KINDS:
                await self.reconcile(resource)
        await self.refresh_site()
        return self.report

    async def refresh_site(self) -> None:
        """Tags, authors and the site settings, read in full, then stored in one go together
        with the navigation adopted from them."""
        tags, authors, settings = await read_site(self.client, self.settings.page_size)
        async with self.session_factory() as session, session.begin():
            changed = await store_site(
                session, tags, authors, settings, ghost_url=self.client.site_url
            )
        self.report = replace(self.report, tags=len(tags), authors=len(authors))
        if changed and self.on_navigation_changed is not None:
            await self.on_navigation_changed()

    async def incremental(self, resource: str) -> None:
        """Everything updated since the cursor (minus the overlap), page by page."""
        async with self.session_factory() as session:
            cursor = await load_cursor(session, resource)
        params = {**POST_PARAMS, "limit": self.settings.page_size}
        if cursor is not None:
            since = cursor - timedelta(seconds=self.settings.sync_overlap_s)
            params["filter"] = f"updated_at:>='{filter_datetime(since)}'"
        done = 0
        async for raw, pagination in self.client.browse_all(resource, params):
            items = [parse_item(i, KINDS[resource]) for i in raw]
            async with self.session_factory() as session, session.begin():
                counts = await store_items(session, items)
                if items:
                    newest = max(i.updated_at for i in items)
                    cursor = newest if cursor is None else max(cursor, newest)
                    await save_cursor(session, resource, cursor)
            self._count(counts)
            done += len(items)
            if self.progress is not None:
                self.progress(resource, done, pagination.total)

    async def reconcile(self, resource: str) -> None:
        """Drop synced items Ghost no longer returns; re-read any whose version differs."""
        remote: dict[str, datetime] = {}
        params: dict[str, str | int] = {
            "fields": "id,updated_at",
            "order": "updated_at asc,id asc",
            "limit": 100,
        }
        async for raw, _ in self.client.browse_all(resource, params):
            for item in raw:
                remote[_ghost_id(item)] = parse_datetime(item.get("updated_at"), "updated_at")
        async with self.session_factory() as session:
            local = await services().blog.synced_versions(session, KINDS[resource])
        gone = sorted(set(local) - set(remote))
        stale = [gid for gid, updated in remote.items() if local.get(gid) != updated]
        fetched: list[GhostItem] = []
        for ghost_id in stale:
            try:
                raw_item = await self.client.read(resource, ghost_id, POST_PARAMS)
            except GhostNotFound:
                gone.append(ghost_id)  # unpublished between the listing and the read
                continue
            fetched.append(parse_item(raw_item, KINDS[resource]))
        async with self.session_factory() as session, session.begin():
            counts = await store_items(session, fetched)
            deleted = await services().blog.delete_synced(session, gone)
        self._count(counts)
        self.report = replace(self.report, deleted=self.report.deleted + deleted)
        if deleted:
            log.info("ghost sync: removed %d %s that Ghost no longer returns", deleted, resource)

    def _count(self, counts: dict[str, int]) -> None:
        self.report = replace(
            self.report,
            created=self.report.created + counts["created"],
            updated=self.report.updated + counts["updated"],
            unchanged=self.report.unchanged + counts["unchanged"],
        )


class WebhookPayloadError(ValueError):
    """A verified webhook whose body does not say what changed."""


@dataclass(frozen=True)
class WebhookResult:
    """What a webhook did ("created", "updated", "unchanged", "deleted", "absent",
    "refreshed") and whether the site navigation changed with it."""

    outcome: str
    navigation_changed: bool = False


async def apply_webhook(
    session: AsyncSession,
    client: GhostContentClient,
    payload: dict[str, Any],
    *,
    page_size: int = 100,
) -> WebhookResult:
    """Act on a verified webhook by re-reading from the Content API; returns what happened.

    Post and page events re-read that item (404 means it is gone: delete it) and adopt the
    stored Ghost navigation again (a link to that item may now resolve, or no longer); tag
    and site events refresh tags, authors, settings and the navigation. The webhook's own
    copy is never stored.
    """
    for resource, kind in KINDS.items():
        body = payload.get(kind)
        if not isinstance(body, dict):
            continue
        ghost_id = None
        for version in ("current", "previous"):
            part = body.get(version)
            if isinstance(part, dict) and isinstance(part.get("id"), str):
                ghost_id = part["id"]
                break
        if ghost_id is None or not GHOST_ID.match(ghost_id):
            raise WebhookPayloadError(f"the {kind} webhook names no {kind} id")
        try:
            raw = await client.read(resource, ghost_id, POST_PARAMS)
        except GhostNotFound:
            deleted = await services().blog.delete_synced(session, [ghost_id])
            outcome = "deleted" if deleted else "absent"
        else:
            counts = await store_items(session, [parse_item(raw, kind)])
            outcome = next(outcome for outcome, n in counts.items() if n)
        changed = outcome != "unchanged" and await refresh_navigation(
            session, ghost_url=client.site_url
        )
        return WebhookResult(outcome, changed)
    # tag.*, site.changed and anything else: refresh what has no updated_at.
    tags, authors, settings = await read_site(client, page_size)
    changed = await store_site(session, tags, authors, settings, ghost_url=client.site_url)
    return WebhookResult("refreshed", changed)


def nav_invalidator(settings: Settings) -> NavigationChanged:
    """Outdate every app's cached ``blog/nav`` (for processes without an app: the CLI and
    the worker). Redis being unreachable is logged: the old copy then lives out its TTL."""

    async def invalidate_nav() -> None:
        redis = create_redis(settings.require("redis_url"), settings.redis.timeout_s)
        try:
            await invalidate(redis, NAV_FRAGMENT, keep_s=settings.fragments.last_good_ttl_s)
        except (RedisError, OSError, TimeoutError) as err:
            log.error("could not invalidate %s (%r): stale until its TTL", NAV_FRAGMENT, err)
        finally:
            await redis.aclose()

    return invalidate_nav


async def run_once(
    settings: Settings, *, reconcile: bool = True, progress: Progress | None = None
) -> SyncReport:
    """One sync run with its own engine and client (the CLI's entry)."""
    engine = create_engine(settings)
    try:
        async with GhostContentClient.from_settings(settings) as client:
            sync = GhostSync(
                create_session_factory(engine),
                client,
                settings.ghost,
                progress,
                on_navigation_changed=nav_invalidator(settings),
            )
            return await sync.run(reconcile=reconcile)
    finally:
        await engine.dispose()


# --- the worker's periodic run --------------------------------------------------------

SCHEDULE_KEY = "schedule:sync"


def periodic_configured(settings: Settings) -> bool:
    """Whether the worker should sync: a Ghost with its Content API key, and an interval."""
    ghost = settings.ghost
    return bool(ghost.url and settings.secrets.ghost_content_key and ghost.sync_interval_s > 0)


async def _claim_schedule(session: AsyncSession) -> GhostState | None:
    """The schedule row, locked for this transaction; None while another worker holds it."""
    for _ in range(2):
        row = await session.scalar(
            select(GhostState)
            .where(GhostState.name == SCHEDULE_KEY)
            .with_for_update(skip_locked=True)
        )
        if row is not None:
            return row
        exists = await session.scalar(
            select(GhostState.name).where(GhostState.name == SCHEDULE_KEY)
        )
        if exists is not None:
            return None  # locked: another worker is running the sync right now
        await session.execute(
            pg_insert(GhostState)
            .values(name=SCHEDULE_KEY, value={})
            .on_conflict_do_nothing(index_elements=["name"])
        )
    return None


def periodic_sync(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> Callable[[], Awaitable[int]]:
    """A worker stage: one Ghost sync every ``ghost.sync_interval_s``, however many workers.

    The run is claimed by locking the ``ghost_state`` row ``schedule:sync`` (FOR UPDATE SKIP
    LOCKED) for as long as it lasts: a worker finding it locked, or its last run (database
    time) less than an interval ago, does nothing. A failure (Ghost down, a refused key,
    anything) is logged and recorded as that interval's run, so Ghost is tried again next
    interval, never every cycle, and the worker carries on; the next run resumes from the
    cursors. Returns 1 when it ran, else 0.
    """
    interval = timedelta(seconds=settings.ghost.sync_interval_s)
    on_navigation_changed = nav_invalidator(settings)

    async def stage() -> int:
        async with session_factory() as session, session.begin():
            row = await _claim_schedule(session)
            if row is None:
                return 0
            now = await session.scalar(select(func.now()))
            assert now is not None
            last = row.value.get("last_run_at")
            if last and now < datetime.fromisoformat(last) + interval:
                return 0
            outcome: dict[str, Any] = {"last_run_at": now.isoformat()}
            try:
                async with GhostContentClient.from_settings(settings) as client:
                    report = await GhostSync(
                        session_factory,
                        client,
                        settings.ghost,
                        on_navigation_changed=on_navigation_changed,
                    ).run()
            except GhostError as err:
                log.warning(
                    "ghost sync failed (%s): %s; retrying in %ss, from where it stopped",
                    err.code,
                    err,
                    settings.ghost.sync_interval_s,
                )
                outcome["error"] = err.code
            except Exception:
                log.exception("ghost sync failed; retrying in %ss", settings.ghost.sync_interval_s)
                outcome["error"] = "unexpected"
            else:
                log.info("ghost sync: %s", report)
                outcome["report"] = asdict(report)
            row.value = outcome
            return 1

    return stage


# --- registering the webhooks ---------------------------------------------------------

# What changes what the public can read; post.added/edited would also fire for every
# autosave of a draft, and post.scheduled et al. for posts not live yet (the sync would
# re-read them for nothing: the Content API does not show them).
WEBHOOK_EVENTS = (
    *(
        f"{kind}.{event}"
        for kind in ("post", "page")
        for event in ("published", "published.edited", "unpublished", "deleted")
    ),
    "tag.added",
    "tag.edited",
    "tag.deleted",
    "site.changed",
)
WEBHOOK_PATH = "/webhooks/ghost"


async def register_webhooks(settings: Settings) -> list[tuple[str, str]]:
    """Create Ghost's webhooks for :data:`WEBHOOK_EVENTS`, pointing at the blog's public
    ``/webhooks/ghost`` and signed with ``ROSE_GHOST_WEBHOOK_SECRET``; returns (event,
    "created" or "exists"). Safe to run again: Ghost's "already used" answer is "exists"."""
    secret = settings.require("ghost_webhook_secret")
    target = settings.apps["blog"].public_url + WEBHOOK_PATH
    outcomes: list[tuple[str, str]] = []
    async with GhostAdminClient.from_settings(settings) as admin:
        for event in WEBHOOK_EVENTS:
            try:
                await admin.add_webhook(
                    event=event, target_url=target, secret=secret, name=f"Rose Ash: {event}"
                )
            except WebhookExists:
                outcomes.append((event, "exists"))
            else:
                outcomes.append((event, "created"))
    return outcomes
