"""The site navigation every header shows: the editors' links (at most one level of
sub-links) after the links Ghost's navigation settings bring."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import APP_NAMES
from shared.contracts import GhostNavReport, NavItemDTO, NavItemInput
from shared.contracts.errors import InvalidNavItem
from shared.errors import DomainError, FieldErrors, NotFound
from shared.infrastructure.sanitize import clean_text
from shared.models.blog import NavItem
from shared.services.blog._base import BlogBase
from shared.services.blog._common import now_utc

# The header has room for a handful of links; a runaway table must not blow up every page.
MAX_NAV_ITEMS = 20
NAV_LABEL_MAX = 60
NAV_PATH_MAX = 500
# pg_advisory_xact_lock key of navigation edits (any fixed bigint unique to this use).
NAV_LOCK_KEY = 0x6E61_7669_7465_6D73


def _nav_dto(row: NavItem, children: tuple[NavItemDTO, ...] = ()) -> NavItemDTO:
    return NavItemDTO(
        label=row.label,
        app=row.app,
        path=row.path,
        id=row.id,
        parent_id=row.parent_id,
        children=children,
        from_ghost=row.from_ghost,
    )


def _siblings_of(parent_id: int | None) -> ColumnElement[bool]:
    """The editors' links at one level (Ghost's links are ordered apart, before them)."""
    if parent_id is None:
        return NavItem.parent_id.is_(None) & NavItem.from_ghost.is_(False)
    return NavItem.parent_id == parent_id


def _index_of(row: NavItem, siblings: list[NavItem]) -> int:
    """Where ``row`` stood among ``siblings`` (which no longer hold it)."""
    return sum(1 for s in siblings if (s.position, s.id) < (row.position, row.id))


async def _lock_navigation(session: AsyncSession) -> None:
    """One editor changes the navigation at a time (positions and the item limit are read
    then written): a transaction-scoped advisory lock, released at commit or rollback."""
    await session.execute(select(func.pg_advisory_xact_lock(NAV_LOCK_KEY)))


# A link's path inside an app: no scheme-relative "//host", no spaces or control characters.
_APP_PATH_RE = re.compile(r"^/(?!/)[^\s\x00-\x1f\x7f\\]*$")
_HTTPS_URL_RE = re.compile(r"^https://[A-Za-z0-9.-]+(?::\d{1,5})?(?:[/?#][^\s\x00-\x1f\x7f]*)?$")


def _nav_fields(data: NavItemInput) -> tuple[str, str | None, str]:
    """The link's label, app and path, checked (the errors name the form field)."""
    checks = FieldErrors()  # the label's and the address's problems, both at once
    label = clean_text(data.label)
    if not label:
        checks.note(InvalidNavItem("label_required", "Give the link a label.", "label"))
    elif len(label) > NAV_LABEL_MAX:
        checks.note(InvalidNavItem("too_long", f"At most {NAV_LABEL_MAX} characters.", "label"))
    app = (data.app or "").strip() or None
    path = (data.path or "").strip()
    if app is not None and app not in APP_NAMES:
        checks.note(InvalidNavItem("unknown_app", "Choose one of the site's apps.", "app"))
    if len(path) > NAV_PATH_MAX:
        checks.note(InvalidNavItem("too_long", f"At most {NAV_PATH_MAX} characters.", "path"))
    elif app is not None:
        path = path or "/"
        if not _APP_PATH_RE.match(path):
            checks.note(
                InvalidNavItem(
                    "invalid_path", "A path in the app starts with one / (e.g. /about).", "path"
                )
            )
    elif not _HTTPS_URL_RE.match(path):
        checks.note(
            InvalidNavItem("invalid_url", "Without an app, give a full https:// address.", "path")
        )
    checks.raise_if_any()
    return label, app, path


class BlogNavigation(BlogBase):
    """Reading and editing the site navigation (part of ``SqlBlogService``)."""

    async def navigation(self, session: AsyncSession) -> tuple[NavItemDTO, ...]:
        """The site navigation: top-level links in order, each with its sub-links in order."""
        rows = list(
            await session.scalars(
                select(NavItem)
                .order_by(NavItem.from_ghost.desc(), NavItem.position, NavItem.id)
                .limit(MAX_NAV_ITEMS)
            )
        )
        children: dict[int, list[NavItemDTO]] = {}
        for row in rows:
            if row.parent_id is not None:
                children.setdefault(row.parent_id, []).append(_nav_dto(row))
        return tuple(
            _nav_dto(row, tuple(children.get(row.id, ()))) for row in rows if row.parent_id is None
        )

    async def add_nav_item(self, session: AsyncSession, data: NavItemInput) -> NavItemDTO:
        """Append a link (at the end of the top level, or of its parent's sub-links)."""
        await _lock_navigation(session)
        label, app, path = _nav_fields(data)
        count = int(await session.scalar(select(func.count()).select_from(NavItem)) or 0)
        if count >= MAX_NAV_ITEMS:
            raise InvalidNavItem(
                "too_many_items", f"The navigation holds at most {MAX_NAV_ITEMS} links.", "label"
            )
        await self._check_parent(session, data.parent_id, item_id=None)
        last = await session.scalar(
            select(func.max(NavItem.position)).where(_siblings_of(data.parent_id))
        )
        row = NavItem(
            label=label, app=app, path=path, parent_id=data.parent_id, position=(last or 0) + 10
        )
        session.add(row)
        await session.flush()
        return _nav_dto(row)

    async def update_nav_item(
        self, session: AsyncSession, item_id: int, data: NavItemInput
    ) -> NavItemDTO:
        """Change a link's label, target or parent (moving it to the end of its new level)."""
        await _lock_navigation(session)
        row = await self._editable_row(session, item_id)
        label, app, path = _nav_fields(data)
        await self._check_parent(session, data.parent_id, item_id=item_id)
        if data.parent_id != row.parent_id:
            last = await session.scalar(
                select(func.max(NavItem.position)).where(_siblings_of(data.parent_id))
            )
            row.position = (last or 0) + 10
            row.parent_id = data.parent_id
        row.label, row.app, row.path = label, app, path
        row.updated_at = now_utc()
        await session.flush()
        return _nav_dto(row)

    async def move_nav_item(self, session: AsyncSession, item_id: int, offset: int) -> None:
        """Move a link ``offset`` places among its siblings (-1: up, 1: down), clamped."""
        await _lock_navigation(session)
        row = await self._editable_row(session, item_id)
        siblings = list(
            await session.scalars(
                select(NavItem)
                .where(_siblings_of(row.parent_id))
                .order_by(NavItem.position, NavItem.id)
            )
        )
        siblings.remove(row)
        index = min(max(0, _index_of(row, siblings) + offset), len(siblings))
        siblings.insert(index, row)
        # Renumbered on every move, so equal positions (hand-made rows) cannot make it a no-op.
        for number, sibling in enumerate(siblings, start=1):
            sibling.position = number * 10
        await session.flush()

    async def delete_nav_item(self, session: AsyncSession, item_id: int) -> None:
        """Remove a link (and its sub-links)."""
        await _lock_navigation(session)
        row = await self._editable_row(session, item_id)
        await session.delete(row)
        await session.flush()

    async def _nav_row(self, session: AsyncSession, item_id: int) -> NavItem:
        row = await session.get(NavItem, item_id)
        if row is None:
            raise NotFound("nav_item_not_found", "There is no such link.")
        return row

    async def _editable_row(self, session: AsyncSession, item_id: int) -> NavItem:
        row = await self._nav_row(session, item_id)
        if row.from_ghost:
            # The next sync would bring Ghost's version back: the change belongs in Ghost.
            raise DomainError(
                "nav_item_from_ghost",
                "This link comes from Ghost: change it in Ghost's navigation settings.",
                status=409,
            )
        return row

    async def replace_ghost_navigation(
        self, session: AsyncSession, links: Sequence[NavItemInput]
    ) -> GhostNavReport:
        """Make the Ghost links exactly ``links``, in order (see the BlogService protocol).

        Each link is checked by the editors' rules; a refused one, or one beyond the room the
        editors' links leave under :data:`MAX_NAV_ITEMS`, is skipped and reported. Nothing is
        written when the result is the links already stored.
        """
        await _lock_navigation(session)
        wanted: list[tuple[str, str | None, str]] = []
        skipped: list[tuple[str, str]] = []
        own = int(
            await session.scalar(
                select(func.count()).select_from(NavItem).where(NavItem.from_ghost.is_(False))
            )
            or 0
        )
        room = max(0, MAX_NAV_ITEMS - own)
        for link in links:
            try:
                fields = _nav_fields(link)
            except InvalidNavItem as err:
                skipped.append((link.label, err.code))
                continue
            if len(wanted) >= room:
                skipped.append((link.label, "too_many_items"))
                continue
            wanted.append(fields)
        current = list(
            await session.scalars(
                select(NavItem)
                .where(NavItem.from_ghost.is_(True))
                .order_by(NavItem.position, NavItem.id)
            )
        )
        if [(r.label, r.app, r.path) for r in current] == wanted:
            return GhostNavReport(changed=False, stored=len(wanted), skipped=tuple(skipped))
        await session.execute(delete(NavItem).where(NavItem.from_ghost.is_(True)))
        session.add_all(
            NavItem(label=label, app=app, path=path, position=n * 10, from_ghost=True)
            for n, (label, app, path) in enumerate(wanted, start=1)
        )
        await session.flush()
        return GhostNavReport(changed=True, stored=len(wanted), skipped=tuple(skipped))

    async def _check_parent(
        self, session: AsyncSession, parent_id: int | None, *, item_id: int | None
    ) -> None:
        """Nesting is one level deep: a parent is a top-level item, and an item with
        sub-items stays at the top level."""
        if parent_id is None:
            return
        parent = await session.get(NavItem, parent_id)
        if parent is None or parent.id == item_id:
            raise InvalidNavItem("invalid_parent", "Choose a top-level link as parent.", "parent")
        if parent.from_ghost:
            raise InvalidNavItem(
                "parent_from_ghost",
                "Links from Ghost hold no sub-links: choose one of your own links.",
                "parent",
            )
        if parent.parent_id is not None:
            raise InvalidNavItem(
                "too_deep", "Links nest one level deep: choose a top-level link.", "parent"
            )
        if item_id is not None:
            has_children = await session.scalar(
                select(func.count()).select_from(NavItem).where(NavItem.parent_id == item_id)
            )
            if has_children:
                raise InvalidNavItem(
                    "has_children", "A link with sub-links stays at the top level.", "parent"
                )
