"""The blog home page: featured posts and the latest posts, paginated."""

from __future__ import annotations

from quart import Blueprint, Response

from blog.bp._common import PER_PAGE, blog_page, page_number, viewer_is_member
from shared.infrastructure.factory import db_session
from shared.infrastructure.fragments import FragmentRef
from shared.infrastructure.pagecache import cacheable_page
from shared.services.registry import services

bp = Blueprint("home", __name__)


@bp.get("/")
@cacheable_page("blog")
async def index() -> Response:
    home = await services().blog.home(
        db_session(), page=page_number(), per_page=PER_PAGE, viewer_is_member=viewer_is_member()
    )
    # The events app's widget of what's on next, composed into the home page.
    upcoming = FragmentRef.of("events/upcoming", limit="5")
    return await blog_page("home.html", home=home, fragments=(upcoming,))
