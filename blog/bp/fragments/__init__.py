"""The blog's fragments for every app's pages: ``blog/nav``, the site navigation."""

from __future__ import annotations

from quart import render_template

from shared.config import APP_NAMES
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRequest, FragmentSet

fragments = FragmentSet("blog")


# The same for everyone; `current` (the app showing it) only marks its own link, so six copies.
@fragments.fragment("nav", ttl_s=300, per_user=False)
async def nav(req: FragmentRequest) -> str:
    current = req.args.get("current")
    items = await services().blog.navigation(db_session())
    return await render_template(
        "fragments/nav.html", items=items, current=current if current in APP_NAMES else None
    )
