"""The public catalogue: every product, a category, a product, a supplier, search, and the
curated market pages. Filters and sorting are a plain GET form (boosted by htmx when
JavaScript runs, complete without it)."""

from __future__ import annotations

from markupsafe import Markup
from quart import Blueprint, Response, request

from market.bp._common import (
    PER_PAGE,
    filter_args,
    listing_filters,
    market_page,
    page_after,
    page_number,
)
from shared.contracts import ApObjectDTO
from shared.infrastructure.activitypub.negotiation import activitypub_object
from shared.infrastructure.context import db_session, services
from shared.infrastructure.memberframe import member_frame
from shared.infrastructure.pagecache import cacheable_page
from shared.infrastructure.widgets import widget_refs, with_widgets
from shared.services.registry import WIDGETS

bp = Blueprint("catalogue", __name__)


@bp.get("/products")
@cacheable_page("market")
@member_frame("market")
async def products() -> Response:
    filters, errors = listing_filters()
    catalog = services().catalog
    listing = await catalog.products(
        db_session(), filters, page=page_number(), per_page=PER_PAGE, after=page_after()
    )
    return await market_page(
        "listing.html",
        400 if errors else 200,
        errors=errors,
        heading="All products",
        category=None,
        trail=(),
        children=await catalog.category_tree(db_session()),
        listing=listing,
        suppliers=await catalog.suppliers(db_session()),
        filters=filters,
        args=filter_args(),
        endpoint="catalogue.products",
        endpoint_args={},
    )


@bp.get("/categories/<slug>")
@cacheable_page("market")
@member_frame("market")
async def category(slug: str) -> Response:
    filters, errors = listing_filters(with_category=False)
    found = await services().catalog.category_listing(
        db_session(), slug, filters, page=page_number(), per_page=PER_PAGE, after=page_after()
    )
    args = filter_args()
    args.pop("category", None)
    return await market_page(
        "listing.html",
        400 if errors else 200,
        errors=errors,
        heading=found.category.name,
        category=found.category,
        trail=found.trail,
        children=found.children,
        listing=found.products,
        suppliers=found.suppliers,
        filters=filters,
        args=args,
        endpoint="catalogue.category",
        endpoint_args={"slug": slug},
    )


async def _product_object(slug: str) -> ApObjectDTO | None:
    return await services().catalog.product_object(db_session(), slug)


async def _page_object(slug: str) -> ApObjectDTO | None:
    return await services().catalog.page_object(db_session(), slug)


@bp.get("/products/<slug>")
@activitypub_object(_product_object)
@cacheable_page("market")
@member_frame("market")
async def product(slug: str) -> Response:
    found = await services().catalog.product_by_slug(db_session(), slug)
    return await market_page("product.html", product=found)


@bp.get("/suppliers/<slug>")
@cacheable_page("market")
@member_frame("market")
async def supplier(slug: str) -> Response:
    found = await services().catalog.supplier_listing(
        db_session(), slug, page=page_number(), per_page=PER_PAGE, after=page_after()
    )
    return await market_page("supplier.html", found=found)


@bp.get("/search")
async def search() -> Response:
    results = await services().catalog.search_products(
        db_session(), request.args.get("q", ""), page=page_number(), per_page=PER_PAGE
    )
    return await market_page("search.html", results=results)


@bp.get("/pages/<slug>")
@activitypub_object(_page_object)
@cacheable_page("market")
@member_frame("market")
async def page(slug: str) -> Response:
    found = await services().catalog.market_page(db_session(), slug)
    # The widgets its intro places arrive with the header's fragments, in one round trip.
    widgets = widget_refs(found.intro or "", WIDGETS)
    return await market_page("page.html", fragments=widgets, page=found)


def intro_with_widgets(intro: str) -> Markup:
    """A market page's intro (sanitized) with its widgets in place (the ``widgets`` filter)."""
    return Markup(with_widgets(intro, WIDGETS))  # noqa: S704 - sanitized intro, our fragments
