"""The federation home page."""

from __future__ import annotations

from quart import Blueprint

from shared.infrastructure.fragments import render_page

bp = Blueprint("home", __name__)


@bp.get("/")
async def index() -> str:
    return await render_page("home.html")
