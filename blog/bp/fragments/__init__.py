"""The blog's fragments for every app's pages: ``blog/nav``, the site navigation, and
``blog/latest``, the latest posts (of one tag or all), the blog's widget."""

from __future__ import annotations

from quart import render_template

from shared.config import APP_NAMES
from shared.errors import NotFound
from shared.infrastructure import inputs
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRequest, FragmentSet
from shared.infrastructure.sanitize import SLUG_RE

fragments = FragmentSet("blog")


# The same for everyone; `current` (the app showing it) only marks its own link, so six copies.
@fragments.fragment("nav", ttl_s=300, per_user=False)
async def nav(req: FragmentRequest) -> str:
    current = req.args.get("current")
    items = await services().blog.navigation(db_session())
    return await render_template(
        "fragments/nav.html", items=items, current=current if current in APP_NAMES else None
    )


@fragments.fragment("latest", ttl_s=300, per_user=False)
async def latest(req: FragmentRequest) -> str:
    """``?count=N`` (default 3, at most 12) latest public posts, ``?tag=`` of one tag only;
    empty for an unknown tag."""
    count = min(inputs.parse_int(req.args.get("count", "3"), maximum=999) or 3, 12)
    tag = req.args.get("tag", "")
    if tag and SLUG_RE.match(tag):
        try:
            archive = await services().blog.tag_archive(db_session(), tag, per_page=count)
        except NotFound:
            return ""
        posts, heading = archive.posts.posts, archive.tag.name
    else:
        posts, heading = await services().blog.feed(db_session(), limit=count), "Latest posts"
    return await render_template("fragments/latest.html", posts=posts, heading=heading)
