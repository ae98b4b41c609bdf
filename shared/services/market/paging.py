"""One page of a public listing in one statement, paged by keyset (decision 0105).

The page's products come with their images and category ids aggregated beside them and a
count of the matching products up to :data:`COUNT_CAP`, all in one statement; suppliers and
categories come from the small tables the page reads whole anyway. The next page starts
after a cursor — the sort key and id of the page's last product — so a page costs the same
whatever its depth and stays right when products are added meanwhile; ``?page=N`` (by
offset) still works for the links made before.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CategoryDTO, ProductImageDTO, ProductPage, SupplierDTO
from shared.errors import DomainError, NotFound
from shared.models import Category, Product, ProductCategory, ProductImage
from shared.services.market.queries import ORDER, check_paging, product_dto

# Above this many matching products a listing says "1000+" instead of counting them all.
COUNT_CAP = 1000
MAX_CURSOR_CHARS = 400
# The sorts whose key and id both run downwards (the others run upwards): see ORDER.
DESCENDING = frozenset({"newest", "price-desc"})
# The columns a listing shows (not the derived plain text nor the search vector).
_COLUMNS = (
    Product.id,
    Product.slug,
    Product.title,
    Product.summary,
    Product.description,
    Product.sku,
    Product.supplier_id,
    Product.price_minor,
    Product.currency,
    Product.unit,
    Product.stock,
    Product.available,
    Product.featured,
    Product.source_url,
    Product.last_imported_at,
    Product.created_at,
    Product.updated_at,
)


def _bad_cursor() -> DomainError:
    return DomainError("bad_cursor", "This page link is not valid: start from the first page.")


def encode_cursor(sort: str, key: Any, product_id: int) -> str:
    """The cursor of the page after a product with sort key ``key``."""
    value = key.isoformat() if isinstance(key, datetime) else key
    raw = json.dumps([sort, value, product_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """The sort key and id a cursor made by :func:`encode_cursor` for ``sort`` holds; anything
    else (garbled, another sort's, a key of the wrong type) is a :class:`DomainError`."""
    if not cursor or len(cursor) > MAX_CURSOR_CHARS:
        raise _bad_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, key, product_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise _bad_cursor() from None
    if made_for != sort or type(product_id) is not int or not 0 < product_id < 2**63:
        raise _bad_cursor()
    if sort == "newest":
        try:
            key = datetime.fromisoformat(key) if isinstance(key, str) else None
        except ValueError:
            key = None
        if key is None or key.tzinfo is None:
            raise _bad_cursor()
    elif sort.startswith("price"):
        if type(key) is not int or not 0 <= key < 2**31:
            raise _bad_cursor()
    elif not isinstance(key, str) or len(key) > 300:
        raise _bad_cursor()
    return key, product_id


async def listing_page(
    session: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    sort: str,
    *,
    categories: Mapping[int, CategoryDTO],
    suppliers: Mapping[int, SupplierDTO],
    page: int,
    per_page: int,
    after: str | None,
) -> ProductPage:
    """The page of the products matching ``conditions`` after the cursor ``after`` (or the
    ``page``-th), sorted by an :data:`ORDER` key, in one statement."""
    check_paging(page, per_page)
    if after is not None and page != 1:
        raise DomainError("bad_cursor", "Ask for a page number or a cursor, not both.")
    order = ORDER[sort]
    sort_key = order[0].element
    matching = select(Product.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
    images = (
        select(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_array(ProductImage.url, ProductImage.alt),
                    ProductImage.position,
                    ProductImage.id,
                )
            )
        )
        .where(ProductImage.product_id == Product.id)
        .scalar_subquery()
    )
    category_ids = (
        select(
            func.array_agg(
                aggregate_order_by(ProductCategory.category_id, Category.position, Category.name)
            )
        )
        .join(Category, Category.id == ProductCategory.category_id)
        .where(ProductCategory.product_id == Product.id)
        .scalar_subquery()
    )
    statement = (
        select(
            *_COLUMNS,
            sort_key.label("sort_key"),
            images.label("images"),
            category_ids.label("category_ids"),
            select(func.count()).select_from(matching).scalar_subquery().label("matching"),
        )
        .where(*conditions)
        .order_by(*order)
        .limit(per_page + 1)
    )
    if after is not None:
        key, last_id = decode_cursor(sort, after)
        position, cursor = tuple_(sort_key, Product.id), tuple_(bindparam(None, key), last_id)
        statement = statement.where(position < cursor if sort in DESCENDING else position > cursor)
    elif page > 1:
        statement = statement.offset((page - 1) * per_page)
    rows = (await session.execute(statement)).all()
    if not rows and page > 1:
        raise NotFound("page_out_of_range", "There is no such page.")
    shown = rows[:per_page]
    products = tuple(
        product_dto(
            row,
            suppliers.get(row.supplier_id) if row.supplier_id is not None else None,
            tuple(categories[c] for c in row.category_ids or () if c in categories),
            tuple(ProductImageDTO(url, alt) for url, alt in row.images or ()),
        )
        for row in shown
    )
    count = int(rows[0].matching) if rows else 0
    last = shown[-1] if len(rows) > per_page else None
    return ProductPage(
        products=products,
        page=page,
        per_page=per_page,
        total=min(count, COUNT_CAP),
        next_after=encode_cursor(sort, last.sort_key, last.id) if last is not None else None,
        after=after,
        total_capped=count > COUNT_CAP,
    )
