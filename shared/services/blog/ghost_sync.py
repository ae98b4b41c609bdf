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
  links (:mod:`.ghost_links` maps Ghost's URLs to the blog's routes; the editors' own links
  are never touched). A change of the navigation outdates the cached ``blog/nav``
  once committed (``on_navigation_changed``).
- A webhook is only a trigger: :func:`apply_webhook` re-reads the item from the Content
  API (404 there means delete) and never stores the webhook's own copy.
- Before storing, :class:`~.ghost_items.Bodies` makes items whole: members-only bodies from
  the Admin API, images copied into the media store, links to the Ghost site rewritten. Items
  Ghost published before the first sync (``ghost_state['first_sync']``) are not announced to
  followers.

Ghost's answers are validated completely before anything from them is written, and every
write happens inside a transaction: a 401, 404, 5xx, timeout or malformed answer leaves
the stored content as it was.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import GhostSettings, Settings
from shared.contracts import SyncedAuthor, SyncedTag, SyncReport
from shared.db import create_engine, create_session_factory
from shared.infrastructure.context import create_redis, services
from shared.infrastructure.fragments import invalidate
from shared.models.blog import GHOST_SCHEDULE_KEY as SCHEDULE_KEY
from shared.models.blog import GhostState
from shared.services.blog.ghost import (
    GhostAdminClient,
    GhostContentClient,
    GhostError,
    GhostMalformed,
    GhostNotFound,
    filter_datetime,
    parse_datetime,
)
from shared.services.blog.ghost_items import (
    GHOST_ID,
    KINDS,
    Bodies,
    GhostItem,
    ghost_id_of,
    parse_author,
    parse_item,
    parse_tag,
)
from shared.services.blog.ghost_links import apply_navigation, ghost_sites, ghost_urls
from shared.services.blog.ghost_media import ImageCopier

log = logging.getLogger(__name__)

POST_PARAMS: dict[str, str | int] = {
    "include": "tags,authors",
    "formats": "html",
    "order": "updated_at asc,id asc",
}
SETTINGS_KEY = "settings"
# When the blog first synced from Ghost: what Ghost had published before is its back
# catalogue, put in the outbox collection but not delivered to followers as news.
FIRST_SYNC_KEY = "first_sync"

Progress = Callable[[str, int, int], None]
"""Called with (resource, items done, items in total) after each stored page."""
NavigationChanged = Callable[[], Awaitable[None]]
"""Called once a transaction that changed the site navigation has committed."""
NAV_FRAGMENT = "blog/nav"


def cursor_key(resource: str) -> str:
    return f"cursor:{resource}"


# --- storing ---------------------------------------------------------------------------


async def store_items(
    session: AsyncSession, items: Sequence[GhostItem], first_sync: datetime | None = None
) -> dict[str, int]:
    """Upsert validated items (and the tags and authors they name); counts by outcome.
    Items published before ``first_sync`` are not announced to followers."""
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
            ghost_slug=item.ghost_slug,
            announce=first_sync is None or item.published_at >= first_sync,
        )
        counts[outcome] += 1
    return counts


async def first_sync_at(session: AsyncSession) -> datetime:
    """When the blog first synced from Ghost: recorded now (database time) if never."""
    await session.execute(
        pg_insert(GhostState)
        .values(name=FIRST_SYNC_KEY, value=func.jsonb_build_object("at", func.now()))
        .on_conflict_do_nothing(index_elements=["name"])
    )
    value = await session.scalar(select(GhostState.value).where(GhostState.name == FIRST_SYNC_KEY))
    assert value is not None
    return datetime.fromisoformat(str(value["at"]))


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


async def read_site(
    client: GhostContentClient, page_size: int, settings: dict[str, Any] | None = None
) -> SiteData:
    """Every public tag, every author and the settings (unless given, as read already),
    validated (nothing stored yet)."""
    tags: list[SyncedTag] = []
    async for items, _ in client.browse_all("tags", {"limit": page_size}):
        tags.extend(t for t in (parse_tag(i) for i in items) if t is not None)
    authors: list[SyncedAuthor] = []
    async for items, _ in client.browse_all("authors", {"limit": page_size}):
        authors.extend(parse_author(i) for i in items)
    return tags, authors, settings or _valid_settings(await client.settings())


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
    return await apply_navigation(session, settings, ghost_urls(settings, ghost_url))


async def refresh_navigation(session: AsyncSession, *, ghost_url: str | None = None) -> bool:
    """Adopt the stored Ghost navigation again (a post or page it links to came or went)."""
    settings = await load_settings(session)
    if settings is None:
        return False
    return await apply_navigation(session, settings, ghost_urls(settings, ghost_url))


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
    # The Admin API, for the whole bodies of members-only items (None: Content API only).
    admin: GhostAdminClient | None = None
    # Copies Ghost's images into the media store (None: images keep Ghost's addresses).
    images: ImageCopier | None = None
    bodies: Bodies = field(default_factory=lambda: Bodies([]))
    first_sync: datetime | None = None

    async def run(self, *, reconcile: bool = True) -> SyncReport:
        """Sync posts and pages, optionally reconcile, then refresh tags, authors, settings
        and the navigation (last: its links to posts and pages are then resolvable)."""
        self.report = SyncReport()
        if self.images is not None:
            self.images.copied = self.images.failed = 0
        # Ghost's own address, for the links and images in its bodies that name it.
        site = _valid_settings(await self.client.settings())
        self.bodies = Bodies(
            ghost_sites(ghost_urls(site, self.client.site_url)), self.admin, self.images
        )
        async with self.session_factory() as session, session.begin():
            self.first_sync = await first_sync_at(session)
        for resource in KINDS:
            await self.incremental(resource)
        if reconcile:
            for resource in KINDS:
                await self.reconcile(resource)
        await self.refresh_site(site)
        self.report = replace(
            self.report,
            without_body=self.bodies.without_body,
            images=self.images.copied if self.images else 0,
            images_failed=self.images.failed if self.images else 0,
        )
        return self.report

    async def refresh_site(self, site: dict[str, Any] | None = None) -> None:
        """Tags, authors and the site settings (``site``, read at the start of the run),
        read in full, then stored in one go together with the navigation adopted from them."""
        tags, authors, settings = await read_site(self.client, self.settings.page_size, site)
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
                items = await self.bodies.complete(session, items, resource)
                counts = await store_items(session, items, self.first_sync)
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
                remote[ghost_id_of(item)] = parse_datetime(item.get("updated_at"), "updated_at")
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
            fetched = await self.bodies.complete(session, fetched, resource)
            counts = await store_items(session, fetched, self.first_sync)
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
    admin: GhostAdminClient | None = None,
    images: ImageCopier | None = None,
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
            stored = await load_settings(session) or {}
            bodies = Bodies(ghost_sites(ghost_urls(stored, client.site_url)), admin, images)
            items = await bodies.complete(session, [parse_item(raw, kind)], resource)
            counts = await store_items(session, items, await first_sync_at(session))
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
    factory = create_session_factory(engine)
    try:
        async with (
            GhostContentClient.from_settings(settings) as client,
            admin_client(settings) as admin,
        ):
            sync = GhostSync(
                factory,
                client,
                settings.ghost,
                progress,
                on_navigation_changed=nav_invalidator(settings),
                admin=admin,
                images=ImageCopier(settings, factory),
            )
            return await sync.run(reconcile=reconcile)
    finally:
        await engine.dispose()


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[GhostAdminClient | None]:
    """The Admin API client when an Admin API key is configured, else None."""
    if not settings.secrets.ghost_admin_key:
        yield None
        return
    async with GhostAdminClient.from_settings(settings) as admin:
        yield admin


# --- the worker's periodic run --------------------------------------------------------


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
                async with (
                    GhostContentClient.from_settings(settings) as client,
                    admin_client(settings) as admin,
                ):
                    report = await GhostSync(
                        session_factory,
                        client,
                        settings.ghost,
                        on_navigation_changed=on_navigation_changed,
                        admin=admin,
                        images=ImageCopier(settings, session_factory),
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
