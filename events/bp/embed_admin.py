"""Staff allow partner websites to show the events widget, at ``/editor/embed``: the list of
origins (``frame-ancestors`` and CORS of ``/embed/``, events/bp/embed.py) and the snippets to
copy (docs/embedding-events.md)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request

from shared.errors import DomainError, field_errors
from shared.infrastructure import auth
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.fragments import render_page

bp = Blueprint("embed_admin", __name__, url_prefix="/editor/embed")


async def _page(error: DomainError | None = None, form: Any = None) -> Any:
    origins = await services().events.embed_origins(db_session())
    body = await render_page(
        "editor/embed.html",
        origins=origins,
        calendars=await services().events.calendars(db_session()),
        events_url=current_platform().settings.apps["events"].public_url,
        error=error,
        errors=field_errors(error),
        form=form,
    )
    return (body, error.status) if error is not None else body


@bp.get("/")
@auth.require_role("editor")
async def embed_page() -> Any:
    """The allowed origins, and the snippets a partner pastes."""
    return await _page()


@bp.post("/origins")
@auth.require_role("editor")
async def add_origin() -> Any:
    form = await request.form
    try:
        await services().events.add_embed_origin(db_session(), form.get("origin", ""))
    except DomainError as err:
        await db_session().rollback()
        return await _page(err, form)
    return redirect("/editor/embed/")


@bp.post("/origins/remove")
@auth.require_role("editor")
async def remove_origin() -> Any:
    form = await request.form
    await services().events.remove_embed_origin(db_session(), form.get("origin", "")[:200])
    return redirect("/editor/embed/")
