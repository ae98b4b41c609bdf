"""The market home page: the categories, featured products and the newest ones."""

from __future__ import annotations

from quart import Blueprint, Response

from market.bp._common import market_page
from shared.infrastructure.context import db_session, services
from shared.infrastructure.memberframe import member_frame
from shared.infrastructure.pagecache import cacheable_page

bp = Blueprint("home", __name__)


@bp.get("/")
@cacheable_page("market")
@member_frame("market")
async def index() -> Response:
    home = await services().catalog.market_home(db_session())
    pages = await services().catalog.market_pages(db_session())
    return await market_page("home.html", home=home, pages=pages)
