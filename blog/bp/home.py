"""The blog home page: featured posts and the latest posts, paginated.

Anonymous visitors get the whole page from the page cache. Everybody else's page is
rendered, but its listing — the part that runs the queries — is the same for everyone of an
audience (signed-in members; visitors who are not signed in), so it is a shared part
(:class:`~shared.infrastructure.fragments.SharedPart`): stored per audience and page number,
outdated by any commit to the blog (``rose:pagever:blog``), read in the same Redis round trip
as the header's fragments. A member's cached home runs no SQL. Editors and admins, who may be
shown more, get a listing rendered for them alone.
"""

from __future__ import annotations

from quart import Blueprint, Response

from blog.bp._common import (
    NEWSLETTER_SIGNUP,
    PER_PAGE,
    audience,
    blog_page,
    page_number,
    viewer_is_member,
)
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRef, SharedPart, render_part
from shared.infrastructure.memberframe import member_frame
from shared.infrastructure.pagecache import cacheable_page

bp = Blueprint("home", __name__)


@bp.get("/")
@cacheable_page("blog")
@member_frame("blog")
async def index() -> Response:
    page = page_number()
    member = viewer_is_member()
    tier = audience()

    async def listing() -> str:
        home = await services().blog.home(
            db_session(), page=page, per_page=PER_PAGE, viewer_is_member=member
        )
        return await render_part("_home_listing.html", home=home)

    part = SharedPart(
        slot="listing",
        key=None if tier is None else f"blog/home:{tier}:page={page}",
        domains=("blog",),
        render=listing,
    )
    # The events app's widget of what's on next, composed into the home page.
    upcoming = FragmentRef.of("events/upcoming", limit="5")
    return await blog_page(
        "home.html", page=page, fragments=(upcoming, NEWSLETTER_SIGNUP), parts=(part,)
    )
