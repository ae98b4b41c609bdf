"""Full-text search of the market's products (PostgreSQL's ``websearch_to_tsquery`` over the
``search`` column, see :mod:`shared.models.market`), with highlighted snippets."""

from __future__ import annotations

import html

from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ProductSearchHit, ProductSearchResults
from shared.errors import NotFound
from shared.infrastructure.sanitize import clean_text
from shared.models import Product
from shared.services.market.queries import (
    MAX_QUERY_CHARS,
    check_paging,
    hydrate,
    listing_select,
    on_sale,
)

# \x01 and \x02 never occur in stored text (the sanitizer strips control characters), so
# they can mark ts_headline's highlights through html.escape and become <mark> after it.
_HL_START, _HL_STOP = "\x01", "\x02"
_HEADLINE_OPTIONS = (
    f"StartSel={_HL_START}, StopSel={_HL_STOP}, MaxWords=30, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


class ProductSearch:
    """:meth:`search_products` of :class:`shared.contracts.CatalogService`."""

    async def search_products(
        self, session: AsyncSession, query: str, *, page: int = 1, per_page: int = 24
    ) -> ProductSearchResults:
        """Available products matching ``query`` (web-search syntax), best first, with
        highlighted snippets."""
        check_paging(page, per_page)
        query = clean_text(query)[:MAX_QUERY_CHARS]
        if not query:
            return ProductSearchResults(query="", hits=(), page=1, per_page=per_page, total=0)
        tsquery = func.websearch_to_tsquery(literal("english", type_=REGCONFIG), query)
        matches = [*on_sale(), Product.search.op("@@")(tsquery)]
        total = int(
            await session.scalar(select(func.count()).select_from(Product).where(*matches)) or 0
        )
        if page > 1 and (page - 1) * per_page >= total:
            raise NotFound("page_out_of_range", "There is no such page.")
        if total == 0:
            return ProductSearchResults(query=query, hits=(), page=1, per_page=per_page, total=0)
        rank = func.ts_rank(Product.search, tsquery)
        ranked = (
            select(Product.id, rank.label("rank"))
            .where(*matches)
            .order_by(rank.desc(), Product.created_at.desc(), Product.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
            .subquery()
        )
        # ts_headline is costly: run it on this page's rows only, over the same text the
        # search column indexes ('<' and '>' blanked the same way, see shared.models.market).
        source = func.concat_ws(
            " ", func.coalesce(Product.summary, ""), func.coalesce(Product.plaintext, "")
        )
        headline = func.ts_headline(
            literal("english", type_=REGCONFIG),
            func.translate(source, "<>", "  "),
            tsquery,
            _HEADLINE_OPTIONS,
        )
        rows = (
            await session.execute(
                listing_select(ranked.c.rank, headline.label("headline"))
                .join(ranked, ranked.c.id == Product.id)
                .order_by(ranked.c.rank.desc(), Product.created_at.desc(), Product.id.desc())
            )
        ).all()
        products = await hydrate(session, rows)
        hits = []
        for product, row in zip(products, rows, strict=True):
            raw = row.headline or ""
            snippet = _highlight(raw) if _HL_START in raw else html.escape(product.summary or "")
            hits.append(ProductSearchHit(product=product, rank=float(row.rank), snippet=snippet))
        return ProductSearchResults(
            query=query, hits=tuple(hits), page=page, per_page=per_page, total=total
        )


def _highlight(raw: str) -> str:
    """ts_headline output made safe: everything escaped, then our markers become <mark>."""
    escaped = html.escape(raw, quote=False)
    return escaped.replace(_HL_START, "<mark>").replace(_HL_STOP, "</mark>")
