"""What the blog's routes share: parsing paging, knowing the visitor's standing, and
answering with a page whose caching fits who it was rendered for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quart import Response, request

from shared.errors import NotFound
from shared.infrastructure import inputs
from shared.infrastructure.auth import current_user
from shared.infrastructure.context import current_platform
from shared.infrastructure.fragments import FragmentRef, SharedPart, render_page

PER_PAGE = 10

# The account app's newsletter sign-up (the same for everyone), on the home page and under
# every post, as on every Ghost site.
NEWSLETTER_SIGNUP = FragmentRef.of("account/newsletter-subscribe")


def page_number() -> int:
    """``?page=N`` (1 when absent); anything else is a missing page, not a crash."""
    page = inputs.parse_int(request.args.get("page", "1"), maximum=inputs.MAX_PAGE)
    if page is None:
        raise NotFound("page_out_of_range", "There is no such page.")
    return page


def viewer_is_member() -> bool:
    """Whether this visitor may read members-only bodies: a member signed in through
    single sign-on (every account holds the member role; admins hold every role)."""
    user = current_user()
    return user is not None and user.has_role("member")


def audience() -> str | None:
    """Whom a shared copy of a part of a page may be kept for (fragments.SharedPart): the
    visitors who are not signed in (``"public"``), or the signed-in members (``"member"``),
    who all see the same listings; None for editors and admins, who may be shown more (their
    parts are rendered for them alone)."""
    user = current_user()
    if user is None:
        return "public"
    if user.has_role("editor"):
        return None
    return "member" if user.has_role("member") else None


def public_url(path: str) -> str:
    """An absolute URL on the blog's public host (for canonical links, feeds, sitemaps)."""
    return current_platform().settings.apps["blog"].public_url + path


def personalised(response: Response) -> Response:
    """A page whose body depends on who is asking must not be stored by shared caches."""
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response


async def blog_page(
    template: str,
    *,
    members_only: bool = False,
    fragments: Iterable[FragmentRef] = (),
    parts: Iterable[SharedPart] = (),
    **context: Any,
) -> Response:
    """A page of the blog with the site's composed header.

    It is personal when rendered for a signed-in member (their name is in the header, maybe
    a members-only body) and when it shows a members-only item (the same URL answers
    visitors and members differently): either way, private.
    """
    body = await render_page(template, fragments=fragments, parts=parts, **context)
    response = Response(body, mimetype="text/html")
    if members_only or current_user() is not None:
        personalised(response)
    return response
