"""A post, a page, and the 301s from old slugs (or from the wrong kind's address)."""

from __future__ import annotations

from quart import Blueprint, Response, redirect, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from blog.bp import embeds
from blog.bp._common import blog_page, viewer_is_member
from shared.infrastructure.context import db_session, services
from shared.infrastructure.pagecache import cacheable_page

bp = Blueprint("posts", __name__)


async def _show(slug: str, kind: str) -> Response | WerkzeugResponse:
    lookup = await services().blog.get_by_slug(
        db_session(), slug, viewer_is_member=viewer_is_member()
    )
    post = lookup.post
    if lookup.moved or post.kind != kind:
        endpoint = "posts.post" if post.kind == "post" else "posts.page"
        return redirect(url_for(endpoint, slug=post.slug), code=301)
    # Products embedded in the body (a locked one's teaser) arrive with the header's
    # fragments, in one go.
    cards = embeds.card_refs(post.html)
    return await blog_page("post.html", members_only=post.members_only, fragments=cards, post=post)


@bp.get("/posts/<slug>")
@cacheable_page("blog")
async def post(slug: str) -> Response | WerkzeugResponse:
    return await _show(slug, "post")


@bp.get("/pages/<slug>")
@cacheable_page("blog")
async def page(slug: str) -> Response | WerkzeugResponse:
    return await _show(slug, "page")
