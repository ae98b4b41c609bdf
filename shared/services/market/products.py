"""Staff's edits of products: one at a time from the product form, or many as CSV (each
audited; the CSV import is all or nothing, see :mod:`shared.services.market.catalog_csv`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CsvImportReport, ProductDTO, ProductInput
from shared.models import Product
from shared.services.market import catalog_csv
from shared.services.market.editing import record_audit
from shared.services.market.product_writes import check_product, product_row, write_product
from shared.services.market.queries import hydrate, listing_select, one_product
from shared.services.market.stock import set_stock


class ProductEditing:
    """The product part of :class:`shared.contracts.CatalogService`'s staff side."""

    async def create_product(
        self, session: AsyncSession, data: ProductInput, *, actor_user_id: int | None = None
    ) -> ProductDTO:
        """Add a product (its first price recorded in the price history); audited."""
        checked = await check_product(session, None, data)
        row = await write_product(session, None, checked, source="staff")
        dto = await one_product(session, Product.id == row.id)
        record_audit(
            session, "market.product.created", "market_product", row.id, actor_user_id, None, dto
        )
        return dto

    async def update_product(
        self,
        session: AsyncSession,
        product_id: int,
        data: ProductInput,
        *,
        actor_user_id: int | None = None,
    ) -> ProductDTO:
        """Replace a product's fields; a new price is recorded (source ``staff``) and a new
        stock count goes through :meth:`set_stock`; audited."""
        row = await product_row(session, product_id)
        before = await one_product(session, Product.id == product_id)
        checked = await check_product(session, row, data)
        await write_product(session, row, checked, source="staff")
        if checked.stock != before.stock:
            await set_stock(session, product_id, checked.stock)
        dto = await one_product(session, Product.id == product_id)
        record_audit(
            session,
            "market.product.updated",
            "market_product",
            product_id,
            actor_user_id,
            before,
            dto,
        )
        return dto

    async def export_products_csv(self, session: AsyncSession) -> str:
        """Every product as CSV, in the columns :meth:`import_products_csv` reads."""
        rows = await session.execute(listing_select().order_by(Product.id))
        return catalog_csv.write(await hydrate(session, rows.all()))

    async def import_products_csv(
        self, session: AsyncSession, text: str, *, actor_user_id: int | None = None
    ) -> CsvImportReport:
        """Create or update products from CSV rows (matched by slug), all or nothing:
        :class:`~shared.contracts.errors.CsvImportRefused` lists every bad line."""
        return await catalog_csv.import_rows(session, text, actor_user_id)
