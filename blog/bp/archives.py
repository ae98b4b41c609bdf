"""Tag and author archives, and search."""

from __future__ import annotations

from quart import Blueprint, Response, request

from blog.bp._common import PER_PAGE, blog_page, page_number, viewer_is_member
from shared.infrastructure.context import db_session, services
from shared.infrastructure.memberframe import member_frame
from shared.infrastructure.pagecache import cacheable_page

bp = Blueprint("archives", __name__)


@bp.get("/tag/<slug>")
@cacheable_page("blog")
@member_frame("blog")
async def tag(slug: str) -> Response:
    archive = await services().blog.tag_archive(
        db_session(),
        slug,
        page=page_number(),
        per_page=PER_PAGE,
        viewer_is_member=viewer_is_member(),
    )
    return await blog_page(
        "archive.html",
        heading=archive.tag.name,
        kind="Tag",
        description=archive.tag.description,
        listing=archive.posts,
        endpoint="archives.tag",
        slug=slug,
    )


@bp.get("/author/<slug>")
@cacheable_page("blog")
@member_frame("blog")
async def author(slug: str) -> Response:
    archive = await services().blog.author_archive(
        db_session(),
        slug,
        page=page_number(),
        per_page=PER_PAGE,
        viewer_is_member=viewer_is_member(),
    )
    return await blog_page(
        "archive.html",
        heading=archive.author.name,
        kind="Author",
        description=archive.author.bio,
        listing=archive.posts,
        endpoint="archives.author",
        slug=slug,
    )


@bp.get("/search")
async def search() -> Response:
    results = await services().blog.search(
        db_session(),
        request.args.get("q", ""),
        page=page_number(),
        per_page=PER_PAGE,
        viewer_is_member=viewer_is_member(),
    )
    return await blog_page("search.html", results=results)
