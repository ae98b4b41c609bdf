"""The widgets on the members' dashboard: staff choose them at ``/editor/dashboard`` (as
placeholders, checked against the widget registry), the dashboard fetches them with its
header's fragments, in the same round trip to the cache."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request

from shared.contracts.widgets import Placement, WidgetError, parse_placeholder
from shared.errors import DomainError, InvalidField, field_errors
from shared.infrastructure import auth
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRef, render_page
from shared.infrastructure.widgets import widget_ref
from shared.services.registry import WIDGETS

bp = Blueprint("dashboard_desk", __name__, url_prefix="/editor/dashboard")


async def dashboard_placements() -> list[Placement]:
    """The dashboard's widgets that can be shown (one stored before a widget went away is
    left out)."""
    found: list[Placement] = []
    for text in await services().blog.dashboard_widgets(db_session()):
        try:
            found.append(parse_placeholder(text, WIDGETS))
        except WidgetError:
            continue
    return found


def dashboard_refs(placements: list[Placement]) -> tuple[FragmentRef, ...]:
    return tuple(widget_ref(p) for p in placements)


async def _page(error: DomainError | None = None, text: str | None = None) -> Any:
    current = await services().blog.dashboard_widgets(db_session())
    body = await render_page(
        "desk/dashboard.html",
        text="\n".join(current) if text is None else text,
        widgets=WIDGETS.values(),
        error=error,
        errors=field_errors(error),
    )
    return (body, error.status) if error is not None else body


@bp.get("/")
@auth.require_role("editor")
async def dashboard_form() -> Any:
    """The dashboard's widgets, one placeholder a line."""
    return await _page()


@bp.post("/")
@auth.require_role("editor")
async def save_dashboard() -> Any:
    text = (await request.form).get("widgets", "")[:5000]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    try:
        for line in lines:
            try:
                parse_placeholder(line, WIDGETS)
            except WidgetError as err:
                raise InvalidField(err.code, err.message, "widgets") from err
        await services().blog.set_dashboard_widgets(db_session(), lines)
    except DomainError as err:
        await db_session().rollback()
        return await _page(err, text)
    return redirect("/editor/dashboard/")
