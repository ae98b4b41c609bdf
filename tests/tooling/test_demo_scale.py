"""The benchmark's data: ``rose-ash demo --scale`` adds 1,000 posts, 2,000 products and 200
events on top of the demo in a few multi-row statements, and a second run adds nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.models import (
    BlogPost,
    BlogPostAuthor,
    Event,
    Product,
    ProductCategory,
    ProductImage,
)
from shared.services.blog.demo import seed_blog
from shared.services.identity.demo import seed_identity
from shared.services.market.demo import seed_market
from shared.tooling.demo import SCALE_EVENTS, SCALE_POSTS, SCALE_PREFIX, SCALE_PRODUCTS, seed_scale
from tests.support import count_statements
from tests.support.settings import AppMaker


async def _count(db: AsyncSession, model: type, *where: object) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_the_scaled_demo_has_the_benchmarks_counts_and_is_idempotent(
    make_app: AppMaker, db: AsyncSession, engine: AsyncEngine
) -> None:
    await make_app("blog")  # wires the services the demo's seeders use
    await seed_identity(db)
    await seed_blog(db)
    await seed_market(db)
    with count_statements(engine) as statements:
        added = await seed_scale(db)
    assert added == {"posts": SCALE_POSTS, "products": SCALE_PRODUCTS, "events": SCALE_EVENTS}
    assert len(statements) < 40, "a few multi-row INSERTs, not one per row"

    scaled = BlogPost.slug.startswith(SCALE_PREFIX)
    assert await _count(db, BlogPost, scaled, BlogPost.status == "published") == SCALE_POSTS
    assert await _count(db, Product, Product.slug.startswith(SCALE_PREFIX)) == SCALE_PRODUCTS
    assert await _count(db, Event, Event.slug.startswith(SCALE_PREFIX)) == SCALE_EVENTS
    # Every post has an author, every product an image and a category of the demo's.
    assert await _count(db, BlogPostAuthor) >= SCALE_POSTS
    assert await _count(db, ProductImage) >= SCALE_PRODUCTS + 40
    assert await _count(db, ProductCategory) >= SCALE_PRODUCTS + 40
    # The demo's own posts still open the home page: the scaled ones are older.
    newest = await db.scalar(
        select(BlogPost.slug).where(BlogPost.kind == "post").order_by(BlogPost.published_at.desc())
    )
    assert newest is not None
    assert not newest.startswith(SCALE_PREFIX)

    assert await seed_scale(db) == {"posts": 0, "products": 0, "events": 0}
    assert await _count(db, Product, Product.slug.startswith(SCALE_PREFIX)) == SCALE_PRODUCTS
