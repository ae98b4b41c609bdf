"""The widgets staff place on the members' dashboard (the account app's home): site
composition, like the navigation, so the blog keeps it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.widgets import PLACEHOLDER
from shared.errors import InvalidField
from shared.models.blog import DashboardWidget
from shared.services.blog._base import BlogBase

MAX_DASHBOARD_WIDGETS = 6


class BlogDashboard(BlogBase):
    """Reading and replacing the dashboard's widgets."""

    async def dashboard_widgets(self, session: AsyncSession) -> tuple[str, ...]:
        """The dashboard's widgets, as placeholders, in order."""
        rows = await session.scalars(
            select(DashboardWidget.placeholder).order_by(
                DashboardWidget.position, DashboardWidget.id
            )
        )
        return tuple(rows)

    async def set_dashboard_widgets(
        self, session: AsyncSession, placeholders: Sequence[str]
    ) -> tuple[str, ...]:
        """Replace the dashboard's widgets with ``placeholders`` (in order; whether each is a
        known widget with good parameters is the caller's to check against the registry);
        ``InvalidField`` (``widgets``) for text that is no placeholder, or too many."""
        cleaned = [p.strip() for p in placeholders if p.strip()]
        if len(cleaned) > MAX_DASHBOARD_WIDGETS:
            raise InvalidField(
                "too_many_widgets",
                f"The dashboard shows at most {MAX_DASHBOARD_WIDGETS} widgets.",
                "widgets",
            )
        for text in cleaned:
            if not PLACEHOLDER.fullmatch(text):
                raise InvalidField(
                    "bad_widget", f"Not a widget placeholder: {text[:60]!r}.", "widgets"
                )
        await session.execute(delete(DashboardWidget))
        session.add_all(
            DashboardWidget(position=i, placeholder=text) for i, text in enumerate(cleaned)
        )
        await session.flush()
        return tuple(cleaned)
