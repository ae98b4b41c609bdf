"""The cart's lines: reading a cart at today's prices and stock, and changing it (adding,
setting a quantity, removing, merging a visitor's cart into the member's at sign-in)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CartDTO, CartLineDTO, CartOwner, CartSummaryDTO, SellableDTO
from shared.contracts.errors import ItemUnavailable, ShortStock
from shared.errors import DomainError, NotFound
from shared.models import CartItem
from shared.services.cart._base import CartBase
from shared.services.cart._common import line_total, owner_filter, total_of

KINDS = ("product", "ticket")
MAX_QUANTITY = 99


class CartLines(CartBase):
    """Reading and changing a cart (part of ``SqlCartService``)."""

    # -- reading the cart --

    async def _sellables(
        self, session: AsyncSession, wanted: Mapping[str, Iterable[int]]
    ) -> dict[tuple[str, int], SellableDTO]:
        found: dict[tuple[str, int], SellableDTO] = {}
        for kind, ids in wanted.items():
            ids = sorted(set(ids))
            if not ids:
                continue
            try:
                provider = self.provider(kind)
            except DomainError:
                continue  # a kind whose domain is not wired: its lines show as unavailable
            for item_id, sellable in (await provider.sellables(session, ids)).items():
                found[(kind, item_id)] = sellable
        return found

    async def _rows(self, session: AsyncSession, owner: CartOwner) -> list[CartItem]:
        rows = await session.scalars(
            select(CartItem).where(owner_filter(owner)).order_by(CartItem.created_at, CartItem.id)
        )
        return list(rows)

    async def cart(self, session: AsyncSession, owner: CartOwner) -> CartDTO:
        """``owner``'s cart at today's prices and stock (two queries per kind, any size)."""
        rows = await self._rows(session, owner)
        wanted: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            wanted[row.kind].append(row.item_id)
        sellables = await self._sellables(session, wanted)
        lines = []
        for row in rows:
            s = sellables.get((row.kind, row.item_id))
            if s is None:
                lines.append(
                    CartLineDTO(
                        row.kind,
                        row.item_id,
                        row.quantity,
                        "No longer available",
                        None,
                        None,
                        0,
                        "",
                        problem="unavailable",
                    )
                )
                continue
            problem = None
            if not s.available:
                problem = "unavailable"
            elif s.stock is not None and s.stock < row.quantity:
                problem = "short"
            lines.append(
                CartLineDTO(
                    kind=row.kind,
                    item_id=row.item_id,
                    quantity=row.quantity,
                    title=s.title,
                    unit_price=s.price,
                    line_total=line_total(s.price, row.quantity),
                    stock=s.stock,
                    url=s.url,
                    image_url=s.image_url,
                    problem=problem,
                    physical=s.physical,
                )
            )
        priced = [line.line_total for line in lines if line.line_total is not None]
        currency = priced[0].currency if priced else None
        total = total_of(priced, currency) if currency else None
        return CartDTO(tuple(lines), total, sum(line.quantity for line in lines))

    async def mini_summary(self, session: AsyncSession, owner: CartOwner) -> CartSummaryDTO:
        """How many items are in ``owner``'s cart and what they cost now."""
        cart = await self.cart(session, owner)
        return CartSummaryDTO(item_count=cart.item_count, total=cart.total)

    # -- changing the cart --

    async def _checked_sellable(
        self, session: AsyncSession, kind: str, item_id: int, quantity: int
    ) -> SellableDTO:
        if kind not in KINDS:
            raise DomainError("unknown_kind", "That cannot be bought here.")
        if not 1 <= quantity <= MAX_QUANTITY:
            raise DomainError(
                "invalid_quantity", f"Choose a quantity between 1 and {MAX_QUANTITY}."
            )
        found = (await self._sellables(session, {kind: [item_id]})).get((kind, item_id))
        if found is None or not found.available:
            title = found.title if found else "That item"
            raise ItemUnavailable(f"Sorry, {title} is not available any more.")
        if found.stock is not None and found.stock < quantity:
            raise ShortStock(found.title, found.stock)
        return found

    async def add(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int, quantity: int = 1
    ) -> CartLineDTO:
        """Put ``quantity`` more of an item in the cart (checked against what is left)."""
        if not 1 <= quantity <= MAX_QUANTITY:
            raise DomainError(
                "invalid_quantity", f"Choose a quantity between 1 and {MAX_QUANTITY}."
            )
        existing = await session.scalar(
            select(CartItem.quantity).where(
                owner_filter(owner), CartItem.kind == kind, CartItem.item_id == item_id
            )
        )
        wanted = (existing or 0) + quantity
        if wanted > MAX_QUANTITY:
            raise DomainError(
                "invalid_quantity", f"At most {MAX_QUANTITY} of one item fit in a cart."
            )
        sellable = await self._checked_sellable(session, kind, item_id, wanted)
        await self._upsert(session, owner, kind, item_id, quantity, add=True)
        return CartLineDTO(
            kind,
            item_id,
            wanted,
            sellable.title,
            sellable.price,
            line_total(sellable.price, wanted),
            sellable.stock,
            sellable.url,
            sellable.image_url,
        )

    async def _upsert(
        self,
        session: AsyncSession,
        owner: CartOwner,
        kind: str,
        item_id: int,
        quantity: int,
        *,
        add: bool,
    ) -> None:
        stmt = insert(CartItem).values(
            user_id=owner.user_id,
            cart_key=owner.cart_key,
            kind=kind,
            item_id=item_id,
            quantity=quantity,
        )
        if owner.user_id is not None:
            elements, where = ["user_id", "kind", "item_id"], CartItem.user_id.is_not(None)
        else:
            elements, where = ["cart_key", "kind", "item_id"], CartItem.cart_key.is_not(None)
        new_quantity = (
            func.least(CartItem.quantity + stmt.excluded.quantity, MAX_QUANTITY)
            if add
            else stmt.excluded.quantity
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=elements,
                index_where=where,
                set_={"quantity": new_quantity, "updated_at": func.now()},
            )
        )

    async def set_quantity(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int, quantity: int
    ) -> None:
        """Set a line's quantity (0 removes it)."""
        if quantity == 0:
            await self.remove(session, owner, kind, item_id)
            return
        await self._checked_sellable(session, kind, item_id, quantity)
        result = await session.execute(
            update(CartItem)
            .where(owner_filter(owner), CartItem.kind == kind, CartItem.item_id == item_id)
            .values(quantity=quantity, updated_at=func.now())
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("cart_line_not_found", "That is not in your cart.")

    async def remove(
        self, session: AsyncSession, owner: CartOwner, kind: str, item_id: int
    ) -> None:
        await session.execute(
            delete(CartItem).where(
                owner_filter(owner), CartItem.kind == kind, CartItem.item_id == item_id
            )
        )

    async def merge(self, session: AsyncSession, cart_key: str, user_id: int) -> int:
        """Move an anonymous cart into the member's (quantities add up, capped); returns how
        many lines moved."""
        rows = (
            await session.execute(
                delete(CartItem)
                .where(CartItem.cart_key == cart_key)
                .returning(CartItem.kind, CartItem.item_id, CartItem.quantity)
            )
        ).all()
        member = CartOwner(user_id=user_id)
        for kind, item_id, quantity in sorted(rows):
            await self._upsert(session, member, kind, item_id, quantity, add=True)
        return len(rows)
