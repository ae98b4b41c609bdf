"""Demo content for `rose-ash up --demo` and `rose-ash demo`: a small, real-looking cooperative.

Each domain declares its seeders (``Domain.demo_seeders``, in
``shared/services/<domain>/demo.py``, the content in ``demo.yaml`` beside it); :func:`seed_demo`
runs them in the order of shared.services.registry.DOMAINS, in one transaction. Every seeder
is idempotent (running the demo twice changes nothing the second time).

``rose-ash demo --scale`` adds the benchmark's generated data (:func:`seed_scale`), across the
blog, the market and events.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.db import create_engine, create_session_factory
from shared.infrastructure.context import use_services
from shared.models import (
    BlogAuthor,
    BlogPost,
    BlogPostAuthor,
    BlogPostTag,
    BlogTag,
    Category,
    Event,
    EventCalendar,
    Product,
    ProductCategory,
    ProductImage,
    Supplier,
)
from shared.services.domain import Seeder
from shared.services.registry import DOMAINS, build_services


def seeders() -> list[Seeder]:
    """Every domain's seeders, in the order of the domains."""
    return [seeder.load() for domain in DOMAINS for seeder in domain.demo_seeders]


async def _seed(settings: Settings) -> None:
    # Seeders reach the domains through services(): configured by these settings (the
    # launcher's, with its dev secrets), not the bare process environment.
    use_services(build_services(settings))
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            for seeder in seeders():
                await seeder(session)
    finally:
        await engine.dispose()


def seed_demo(settings: Settings) -> None:
    asyncio.run(_seed(settings))


# --- the benchmark's scale (`rose-ash demo --scale`, used by `python -m bench`) -----------

SCALE_POSTS = 1_000
SCALE_PRODUCTS = 2_000
SCALE_EVENTS = 200
# Every row the scale seeder adds has a slug starting with this, so a second run finds them.
SCALE_PREFIX = "scale-"
_SCALE_CHUNK = 500  # rows per INSERT: well under asyncpg's 32,767 parameters per statement
_SCALE_WORDS = (
    "harvest",
    "orchard",
    "sourdough",
    "market",
    "allotment",
    "supper",
    "repair",
    "choir",
    "seed",
    "honey",
)
_SCALE_IMAGES = ("apple", "bag", "bottle", "cake", "cheese", "coffee", "eggs", "jar", "loaf", "veg")


async def _insert_new(
    session: AsyncSession, model: Any, rows: list[dict[str, Any]]
) -> dict[str, int]:
    """Insert ``rows`` in chunks, skipping slugs already there; returns slug -> id of new rows."""
    new: dict[str, int] = {}
    for start in range(0, len(rows), _SCALE_CHUNK):
        stmt = (
            pg_insert(model)
            .values(rows[start : start + _SCALE_CHUNK])
            .on_conflict_do_nothing(index_elements=["slug"])
            .returning(model.slug, model.id)
        )
        new.update((slug, id_) for slug, id_ in (await session.execute(stmt)).all())
    return new


async def _insert_links(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _SCALE_CHUNK):
        await session.execute(insert(model).values(rows[start : start + _SCALE_CHUNK]))


async def seed_scale(
    session: AsyncSession,
    *,
    posts: int = SCALE_POSTS,
    products: int = SCALE_PRODUCTS,
    events: int = SCALE_EVENTS,
) -> dict[str, int]:
    """The demo scaled up for the benchmark: ``posts`` published posts (with the demo's authors
    and tags), ``products`` products in the demo's categories and suppliers, ``events`` upcoming
    events in a calendar of their own. Rows are written with a few multi-row INSERTs (seconds,
    not one service call each: nothing is federated or audited for them); a second run adds only
    what is missing. Returns how many rows of each kind were added."""
    now = datetime.now(UTC).replace(microsecond=0)
    words = _SCALE_WORDS
    authors = list((await session.scalars(select(BlogAuthor.id).order_by(BlogAuthor.id))).all())
    tags = list((await session.scalars(select(BlogTag.id).order_by(BlogTag.id))).all())
    post_rows = []
    for n in range(1, posts + 1):
        a, b = words[n % len(words)], words[(n * 7 + 3) % len(words)]
        title = f"Notes from the {a} and the {b}, number {n}"
        text = (
            f"The {a} group met again this week to plan the {b}. Everyone is welcome; "
            "bring a friend and something to share."
        )
        post_rows.append(
            {
                "kind": "post",
                "title": title,
                "slug": f"{SCALE_PREFIX}post-{n:05d}",
                "html": f"<p>{text}</p><p>Details are on the noticeboard by the café door.</p>",
                "plaintext": f"{text} Details are on the noticeboard by the café door.",
                "excerpt": text,
                "status": "published",
                # Older than the demo's own posts, so the home page still opens with those.
                "published_at": now - timedelta(days=21, hours=n * 7),
                "visibility": "public",
            }
        )
    new_posts = await _insert_new(session, BlogPost, post_rows)
    if authors:
        await _insert_links(
            session,
            BlogPostAuthor,
            [
                {"post_id": pid, "author_id": authors[pid % len(authors)], "sort_order": 0}
                for pid in new_posts.values()
            ],
        )
    if tags:
        await _insert_links(
            session,
            BlogPostTag,
            [
                {"post_id": pid, "tag_id": tags[pid % len(tags)], "sort_order": 0}
                for pid in new_posts.values()
            ],
        )

    suppliers = list((await session.scalars(select(Supplier.id).order_by(Supplier.id))).all())
    parents = select(Category.parent_id).where(Category.parent_id.is_not(None))
    leaves = list(
        (
            await session.scalars(
                select(Category.id).where(Category.id.not_in(parents)).order_by(Category.id)
            )
        ).all()
    )
    product_rows = []
    for n in range(1, products + 1):
        a, b = words[n % len(words)], words[(n * 3 + 1) % len(words)]
        summary = f"A {a} favourite from the {b} shelf."
        product_rows.append(
            {
                "slug": f"{SCALE_PREFIX}product-{n:05d}",
                "title": f"{a.capitalize()} {b} no. {n}",
                "summary": summary,
                "description": f"<p>{summary}</p>",
                "plaintext": summary,
                "supplier_id": suppliers[n % len(suppliers)] if suppliers else None,
                "price_minor": 100 + (n * 37) % 2400,
                "unit": "each",
                # Some sold out, some unlimited, the rest a few in stock.
                "stock": 0 if n % 7 == 0 else None if n % 5 == 0 else 1 + n % 30,
                "created_at": now - timedelta(minutes=n),
            }
        )
    new_products = await _insert_new(session, Product, product_rows)
    await _insert_links(
        session,
        ProductImage,
        [
            {
                "product_id": pid,
                "url": f"/static/img/market/{_SCALE_IMAGES[pid % len(_SCALE_IMAGES)]}.svg",
                "alt": "",
                "position": 0,
            }
            for pid in new_products.values()
        ],
    )
    if leaves:
        await _insert_links(
            session,
            ProductCategory,
            [
                {"product_id": pid, "category_id": leaves[pid % len(leaves)]}
                for pid in new_products.values()
            ],
        )

    calendar_slug = f"{SCALE_PREFIX}programme"
    calendar_id = await session.scalar(
        select(EventCalendar.id).where(EventCalendar.slug == calendar_slug)
    )
    if calendar_id is None:
        calendar = EventCalendar(
            slug=calendar_slug,
            name="Community programme",
            timezone="Europe/London",
            description="Talks, classes and socials run by members.",
        )
        session.add(calendar)
        await session.flush()
        calendar_id = calendar.id
    first = now.replace(hour=18, minute=0, second=0) + timedelta(days=1)
    event_rows = []
    for n in range(1, events + 1):
        start = first + timedelta(days=n // 2, hours=(n % 2) * 2)
        a = words[n % len(words)]
        event_rows.append(
            {
                "calendar_id": calendar_id,
                "slug": f"{SCALE_PREFIX}event-{n:04d}",
                "uid": f"{SCALE_PREFIX}event-{n:04d}@rose-ash",
                "title": f"{a.capitalize()} evening {n}",
                "description_html": f"<p>An evening about the {a}, with tea.</p>",
                "timezone": "Europe/London",
                "start_at": start,
                "end_at": start + timedelta(hours=2),
                "recur_until": start,  # a one-off event: its only occurrence
                "location_name": "The Back Room",
                "capacity": 30,
                "status": "published",
                "tags": [a],
            }
        )
    new_events = await _insert_new(session, Event, event_rows)
    return {"posts": len(new_posts), "products": len(new_products), "events": len(new_events)}


async def _seed_at_scale(settings: Settings) -> dict[str, int]:
    await _seed(settings)
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            return await seed_scale(session)
    finally:
        await engine.dispose()


def seed_demo_at_scale(settings: Settings) -> dict[str, int]:
    """The demo, then :func:`seed_scale` on top of it; returns what the scale step added."""
    return asyncio.run(_seed_at_scale(settings))
