"""Ghost's old addresses on the blog, each a 301 to where the item lives now.

A cooperative that moves from Ghost keeps its links working: ``/<slug>/`` (a post or page,
found by the slug Ghost gave it, which the blog's own may not be), ``/tag/<slug>/``,
``/author/<slug>/``, ``/rss/`` (the feed) and ``/page/<n>/`` (the home's pages); the same
without the trailing slash where the blog has no route of its own. Anything else is a 404.
"""

from __future__ import annotations

from quart import Blueprint, redirect, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from shared.errors import NotFound
from shared.infrastructure.context import db_session, services
from shared.infrastructure.sanitize import SLUG_RE

bp = Blueprint("ghost_urls", __name__)


def _moved(location: str) -> WerkzeugResponse:
    return redirect(location, code=301)


@bp.get("/<slug>/")
async def item(slug: str) -> WerkzeugResponse:
    if SLUG_RE.match(slug):
        routes = await services().blog.ghost_routes(db_session(), [slug])
        if slug in routes:
            kind, local = routes[slug]
            return _moved(url_for("posts.post" if kind == "post" else "posts.page", slug=local))
    raise NotFound("post_not_found", "There is no such post.")


@bp.get("/tag/<slug>/")
async def tag(slug: str) -> WerkzeugResponse:
    return _moved(url_for("archives.tag", slug=slug))


@bp.get("/author/<slug>/")
async def author(slug: str) -> WerkzeugResponse:
    return _moved(url_for("archives.author", slug=slug))


@bp.get("/rss/")
@bp.get("/rss")
async def rss() -> WerkzeugResponse:
    return _moved(url_for("feeds.rss"))


@bp.get("/page/<int:number>/")
async def page(number: int) -> WerkzeugResponse:
    return _moved(url_for("home.index", page=number) if number > 1 else url_for("home.index"))
