"""Staff's edits of the market's suppliers (each audited)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import SupplierDTO, SupplierInput
from shared.contracts.errors import InvalidCatalogInput
from shared.errors import Conflict, NotFound
from shared.infrastructure.sanitize import clean_text
from shared.models import Product, Supplier
from shared.services.market.editing import check_html, check_url, record_audit, unique_slug
from shared.services.market.queries import supplier_dto


class SupplierEditing:
    """The supplier part of :class:`shared.contracts.CatalogService`'s staff side."""

    async def get_supplier(self, session: AsyncSession, supplier_id: int) -> SupplierDTO:
        """A supplier by id."""
        return supplier_dto(await _supplier_row(session, supplier_id))

    async def create_supplier(
        self, session: AsyncSession, data: SupplierInput, *, actor_user_id: int | None = None
    ) -> SupplierDTO:
        """Add a supplier (description sanitized); audited."""
        row = Supplier(slug="", name="")
        await _apply_supplier(session, row, data)
        session.add(row)
        await session.flush()
        dto = supplier_dto(row)
        record_audit(
            session, "market.supplier.created", "market_supplier", row.id, actor_user_id, None, dto
        )
        return dto

    async def update_supplier(
        self,
        session: AsyncSession,
        supplier_id: int,
        data: SupplierInput,
        *,
        actor_user_id: int | None = None,
    ) -> SupplierDTO:
        """Change a supplier; audited."""
        row = await _supplier_row(session, supplier_id)
        before = supplier_dto(row)
        await _apply_supplier(session, row, data)
        await session.flush()
        dto = supplier_dto(row)
        record_audit(
            session,
            "market.supplier.updated",
            "market_supplier",
            row.id,
            actor_user_id,
            before,
            dto,
        )
        return dto

    async def delete_supplier(
        self, session: AsyncSession, supplier_id: int, *, actor_user_id: int | None = None
    ) -> None:
        """Remove a supplier that has no products; audited."""
        row = await _supplier_row(session, supplier_id)
        used = await session.scalar(
            select(func.count()).select_from(Product).where(Product.supplier_id == supplier_id)
        )
        if used:
            raise Conflict(
                "supplier_in_use",
                f"{row.name} still has {used} product(s): move or withdraw them first.",
            )
        before = supplier_dto(row)
        await session.delete(row)
        await session.flush()
        record_audit(
            session,
            "market.supplier.deleted",
            "market_supplier",
            supplier_id,
            actor_user_id,
            before,
            None,
        )


async def _supplier_row(session: AsyncSession, supplier_id: int) -> Supplier:
    row = await session.get(Supplier, supplier_id)
    if row is None:
        raise NotFound("supplier_not_found", "There is no such supplier.")
    return row


async def _apply_supplier(session: AsyncSession, row: Supplier, data: SupplierInput) -> None:
    errors: dict[str, str] = {}
    name = clean_text(data.name)
    if not name:
        errors["name"] = "Give the supplier a name."
    elif len(name) > 191:
        errors["name"] = "At most 191 characters."
    website = check_url(data.website, "website", errors, absolute=True)
    logo = check_url(data.logo_url, "logo_url", errors)
    description = check_html(data.description, "description", errors)
    slug = await unique_slug(session, Supplier, data.slug, name, row.id, errors)
    if errors:
        raise InvalidCatalogInput(errors)
    row.name, row.slug, row.website, row.logo_url = name, slug, website, logo
    row.description = description or None
