"""What the market's routes share: paging, the listing filters from the query string, and
answering with a page whose caching fits who it was rendered for."""

from __future__ import annotations

from typing import Any

from quart import Response, request

from shared.contracts import PRODUCT_SORTS, ProductFilters, parse_amount_minor
from shared.errors import NotFound
from shared.infrastructure import inputs
from shared.infrastructure.auth import current_user
from shared.infrastructure.context import current_platform
from shared.infrastructure.fragments import render_page

PER_PAGE = 24
MAX_PAGE = inputs.MAX_PAGE


def page_number() -> int:
    """``?page=N`` (1 when absent); anything else is a missing page, not a crash."""
    page = inputs.parse_int(request.args.get("page", "1"), maximum=MAX_PAGE)
    if page is None:
        raise NotFound("page_out_of_range", "There is no such page.")
    return page


def page_after() -> str | None:
    """``?after=CURSOR``: the page of a listing after the cursor its "Next" link carries (the
    catalogue checks it: a bad one is a 400)."""
    return request.args.get("after") or None


def _price(name: str, label: str, errors: dict[str, str]) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_amount_minor(raw)
    except ValueError:
        errors[name] = f"The {label} price must be an amount like 4.50."
        return None


def listing_filters(*, with_category: bool = True) -> tuple[ProductFilters, dict[str, str]]:
    """The filters of a listing from its query string (a plain GET form: no JavaScript), and
    what is wrong with any of them (field -> message): a bad price is left out of the
    filters and reported beside its field, the rest of the page still shown."""
    errors: dict[str, str] = {}
    sort = request.args.get("sort", PRODUCT_SORTS[0])
    if sort not in PRODUCT_SORTS:
        errors["sort"] = "Sort by newest, price or name."
        sort = PRODUCT_SORTS[0]
    low, high = _price("min", "lowest", errors), _price("max", "highest", errors)
    if low is not None and high is not None and low > high:
        errors["max"] = "The highest price is below the lowest."
        high = None
    filters = ProductFilters(
        category=(request.args.get("category") or None) if with_category else None,
        supplier=request.args.get("supplier") or None,
        in_stock=request.args.get("in_stock") in ("1", "on", "yes"),
        min_price_minor=low,
        max_price_minor=high,
        sort=sort,
    )
    return filters, errors


def filter_args() -> dict[str, str]:
    """The query's filter parameters, to carry into pagination and sorting links."""
    keep = ("category", "supplier", "in_stock", "min", "max", "sort", "q")
    return {k: request.args[k] for k in keep if request.args.get(k)}


def public_url(path: str) -> str:
    """An absolute URL on the market's public host (canonical links, OpenGraph)."""
    return current_platform().settings.apps["market"].public_url + path


async def market_page(template: str, status: int = 200, **context: Any) -> Response:
    """A page of the market with the site's composed header; private when rendered for a
    signed-in member (their name is in the header)."""
    response = Response(await render_page(template, **context), status, mimetype="text/html")
    if current_user() is not None:
        response.headers["Cache-Control"] = "private, no-cache"
        response.vary.add("Cookie")
    return response
