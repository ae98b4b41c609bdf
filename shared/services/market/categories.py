"""Staff's edits of the market's category tree (each audited)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CategoryDTO, CategoryInput
from shared.contracts.errors import InvalidCatalogInput
from shared.errors import Conflict, NotFound
from shared.infrastructure.sanitize import clean_text
from shared.models import Category, ProductCategory
from shared.services.market.editing import check_html, record_audit, unique_slug
from shared.services.market.queries import category_dto, load_categories, subtree


class CategoryEditing:
    """The category part of :class:`shared.contracts.CatalogService`'s staff side."""

    async def get_category(self, session: AsyncSession, category_id: int) -> CategoryDTO:
        """A category by id."""
        return category_dto(await _category_row(session, category_id))

    async def create_category(
        self, session: AsyncSession, data: CategoryInput, *, actor_user_id: int | None = None
    ) -> CategoryDTO:
        """Add a category under ``data.parent_id`` (or at the top); audited."""
        row = Category(slug="", name="")
        await _apply_category(session, row, data)
        session.add(row)
        await session.flush()
        dto = category_dto(row)
        record_audit(
            session, "market.category.created", "market_category", row.id, actor_user_id, None, dto
        )
        return dto

    async def update_category(
        self,
        session: AsyncSession,
        category_id: int,
        data: CategoryInput,
        *,
        actor_user_id: int | None = None,
    ) -> CategoryDTO:
        """Change a category; it cannot move under itself or its own descendants."""
        row = await _category_row(session, category_id)
        before = category_dto(row)
        await _apply_category(session, row, data)
        await session.flush()
        dto = category_dto(row)
        record_audit(
            session,
            "market.category.updated",
            "market_category",
            row.id,
            actor_user_id,
            before,
            dto,
        )
        return dto

    async def delete_category(
        self, session: AsyncSession, category_id: int, *, actor_user_id: int | None = None
    ) -> None:
        """Remove a category without sub-categories or products; audited."""
        row = await _category_row(session, category_id)
        children = await session.scalar(
            select(func.count()).select_from(Category).where(Category.parent_id == category_id)
        )
        if children:
            raise Conflict(
                "category_has_children", f"{row.name} has sub-categories: move them first."
            )
        products = await session.scalar(
            select(func.count())
            .select_from(ProductCategory)
            .where(ProductCategory.category_id == category_id)
        )
        if products:
            raise Conflict(
                "category_in_use", f"{row.name} still has {products} product(s): move them first."
            )
        before = category_dto(row)
        await session.delete(row)
        await session.flush()
        record_audit(
            session,
            "market.category.deleted",
            "market_category",
            category_id,
            actor_user_id,
            before,
            None,
        )


async def _category_row(session: AsyncSession, category_id: int) -> Category:
    row = await session.get(Category, category_id)
    if row is None:
        raise NotFound("category_not_found", "There is no such category.")
    return row


async def _apply_category(session: AsyncSession, row: Category, data: CategoryInput) -> None:
    errors: dict[str, str] = {}
    name = clean_text(data.name)
    if not name:
        errors["name"] = "Give the category a name."
    elif len(name) > 191:
        errors["name"] = "At most 191 characters."
    description = check_html(data.description, "description", errors)
    if not -10_000 <= data.position <= 10_000:
        errors["position"] = "A position from -10000 to 10000."
    if data.parent_id is not None:
        categories = await load_categories(session)
        if data.parent_id not in categories:
            errors["parent"] = "Choose an existing category as parent."
        elif row.id is not None and data.parent_id in subtree(categories, row.id):
            errors["parent"] = "A category cannot go under itself or its own sub-categories."
    slug = await unique_slug(session, Category, data.slug, name, row.id, errors)
    if errors:
        raise InvalidCatalogInput(errors)
    row.name, row.slug, row.parent_id, row.position = name, slug, data.parent_id, data.position
    row.description = description or None
