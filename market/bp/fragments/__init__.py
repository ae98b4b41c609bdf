"""The market's fragments for other apps' pages: ``market/product-card`` (one product, for
a blog post or an event), ``market/featured`` (a few featured products) and
``market/category`` (a category's newest products): the market's widgets.

Both are the same for everyone, so they are rendered anonymously and cached shared; a
product change bumps their versions (see market/bp/editor.py). Links are absolute (the card
shows on another app's host); images stay as stored: our own are paths under ``/static``,
which every app serves, so they pass that host's Content-Security-Policy too.
"""

from __future__ import annotations

from quart import render_template

from shared.contracts import ProductFilters
from shared.errors import NotFound
from shared.infrastructure import inputs
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.fragments import FragmentRequest, FragmentSet
from shared.infrastructure.sanitize import SLUG_RE

fragments = FragmentSet("market")

PRODUCT_CARD = "market/product-card"
FEATURED = "market/featured"
CATEGORY = "market/category"
MAX_FEATURED = 12


def _market_url() -> str:
    return current_platform().settings.apps["market"].public_url


@fragments.fragment("product-card", ttl_s=300, per_user=False)
async def product_card(req: FragmentRequest) -> str:
    """``?slug=`` (or ``?product=``, as the widget names it) or ``?id=``: the product's card;
    empty for an unknown product."""
    slug = req.args.get("slug") or req.args.get("product", "")
    ident = req.args.get("id", "")
    catalog = services().catalog
    try:
        if slug and SLUG_RE.match(slug):
            product = await catalog.product_by_slug(db_session(), slug)
        elif (product_id := inputs.parse_int(ident)) is not None:
            product = await catalog.product_by_id(db_session(), product_id)
        else:
            return ""
    except NotFound:
        return ""
    return await render_template(
        "fragments/product_card.html", product=product, market_url=_market_url()
    )


@fragments.fragment("featured", ttl_s=300, per_user=False)
async def featured(req: FragmentRequest) -> str:
    """``?limit=N`` (or ``?count=N``; default 4) featured products."""
    raw = req.args.get("count") or req.args.get("limit", "4")
    limit = min(inputs.parse_int(raw, maximum=999) or 4, MAX_FEATURED)
    products = await services().catalog.featured_products(db_session(), limit=limit)
    return await render_template(
        "fragments/featured.html", products=products, market_url=_market_url()
    )


@fragments.fragment("category", ttl_s=300, per_user=False)
async def category(req: FragmentRequest) -> str:
    """``?category=slug&count=N`` (default 4): the category's newest products; empty for an
    unknown category."""
    slug = req.args.get("category", "")
    limit = min(inputs.parse_int(req.args.get("count", "4"), maximum=999) or 4, MAX_FEATURED)
    if not SLUG_RE.match(slug):
        return ""
    try:
        found = await services().catalog.category_listing(
            db_session(), slug, ProductFilters(), per_page=limit
        )
    except NotFound:
        return ""
    return await render_template(
        "fragments/category.html",
        category=found.category,
        products=found.products.products,
        market_url=_market_url(),
    )
