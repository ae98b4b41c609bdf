"""A post, a page, and the 301s from old slugs (or from the wrong kind's address)."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup
from quart import Blueprint, Response, redirect, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from blog.bp import embeds
from blog.bp._common import NEWSLETTER_SIGNUP, blog_page, public_url, viewer_is_member
from shared.contracts import ApObjectDTO, PostDTO
from shared.infrastructure.activitypub.negotiation import activitypub_object
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.memberframe import member_frame
from shared.infrastructure.pagecache import cacheable_page

bp = Blueprint("posts", __name__)

RELATED = 3


async def _show(slug: str, kind: str) -> Response | WerkzeugResponse:
    blog = services().blog
    member = viewer_is_member()
    lookup = await blog.get_by_slug(db_session(), slug, viewer_is_member=member)
    post = lookup.post
    if lookup.moved or post.kind != kind:
        endpoint = "posts.post" if post.kind == "post" else "posts.page"
        return redirect(url_for(endpoint, slug=post.slug), code=301)
    related: tuple[PostDTO, ...] = ()
    if post.kind == "post" and post.status == "published":
        related = await blog.related(db_session(), post.id, limit=RELATED, viewer_is_member=member)
    # Products embedded in the body (a locked one's teaser) arrive with the header's
    # fragments, in one go.
    refs = (*embeds.card_refs(post.html), NEWSLETTER_SIGNUP)
    return await blog_page(
        "post.html", members_only=post.members_only, fragments=refs, post=post, related=related
    )


def _absolute(path: str) -> str:
    return path if path.startswith(("http://", "https://")) else public_url(path)


def article_ld(post: PostDTO, canonical: str) -> Markup:
    """The post as schema.org's ``Article`` (what Ghost's ghost_head gives search engines:
    headline, image, author, publisher, dates), as JSON safe inside ``<script>``."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Article",
        "headline": post.meta_title or post.title,
        "url": canonical,
        "mainEntityOfPage": canonical,
        "description": post.meta_description or post.excerpt or None,
        "datePublished": post.published_at.isoformat() if post.published_at else None,
        "dateModified": post.updated_at.isoformat(),
        "keywords": ", ".join(t.name for t in post.tags) or None,
        "publisher": {
            "@type": "Organization",
            "name": current_platform().settings.site_name,
            "url": public_url("/"),
            "logo": {
                "@type": "ImageObject",
                "url": public_url(url_for("static", filename="img/actor-icon.png")),
            },
        },
    }
    image = post.og_image or post.feature_image
    if image:
        data["image"] = {"@type": "ImageObject", "url": _absolute(image)}
        if not post.og_image and post.feature_image_width:
            data["image"].update(width=post.feature_image_width, height=post.feature_image_height)
    if post.authors:
        author = post.authors[0]
        person: dict[str, Any] = {
            "@type": "Person",
            "name": author.name,
            "url": public_url(url_for("archives.author", slug=author.slug)),
        }
        if author.profile_image:
            person["image"] = {"@type": "ImageObject", "url": _absolute(author.profile_image)}
        if author.website:
            person["sameAs"] = [author.website]
        data["author"] = person
    text = json.dumps({k: v for k, v in data.items() if v is not None}, ensure_ascii=False)
    # Nothing in it may close the script element or open a comment there.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - JSON with every <, > and & escaped


async def _ap_object(slug: str) -> ApObjectDTO | None:
    return await services().blog.activitypub_object(db_session(), slug)


@bp.get("/posts/<slug>")
@activitypub_object(_ap_object)
@cacheable_page("blog")
@member_frame("blog")
async def post(slug: str) -> Response | WerkzeugResponse:
    return await _show(slug, "post")


@bp.get("/pages/<slug>")
@activitypub_object(_ap_object)
@cacheable_page("blog")
@member_frame("blog")
async def page(slug: str) -> Response | WerkzeugResponse:
    return await _show(slug, "page")
