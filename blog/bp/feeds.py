"""RSS and Atom feeds (feedgen), sitemap.xml and robots.txt: what machines read."""

from __future__ import annotations

from datetime import UTC

from feedgen.feed import FeedGenerator
from quart import Blueprint, Response, render_template, url_for

from blog.bp._common import public_url
from shared.contracts import PostDTO
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.sanitize import link_products

bp = Blueprint("feeds", __name__)

FEED_CACHE = "public, max-age=300"
W3C_DATETIME = "%Y-%m-%dT%H:%M:%S+00:00"


def _post_url(post: PostDTO) -> str:
    endpoint = "posts.post" if post.kind == "post" else "posts.page"
    return public_url(url_for(endpoint, slug=post.slug))


async def _feed() -> FeedGenerator:
    site = current_platform().settings.site_name
    posts = await services().blog.feed(db_session())
    market = current_platform().settings.apps["market"].public_url  # embedded products link there
    events = current_platform().settings.apps["events"].public_url  # and embedded events here
    fg = FeedGenerator()
    fg.id(public_url("/"))
    fg.title(f"{site} · Blog")
    fg.subtitle(f"News and stories from {site}")
    fg.link(href=public_url("/"), rel="alternate")
    fg.language("en")
    if posts:
        fg.updated(max(p.updated_at for p in posts))
    for post in posts:
        entry = fg.add_entry(order="append")
        entry.id(_post_url(post))
        entry.title(post.title)
        entry.link(href=_post_url(post))
        if post.published_at is not None:
            entry.published(post.published_at)
        entry.updated(post.updated_at)
        entry.summary(post.excerpt)
        # A members-only body stays behind the sign-in: the feed carries its excerpt only.
        if not post.locked and post.html:
            entry.content(link_products(post.html, market, events), type="CDATA")
        for author in post.authors:
            entry.author(name=author.name)
        for tag in post.tags:
            entry.category(term=tag.slug, label=tag.name)
    return fg


@bp.get("/feed.xml")
async def rss() -> Response:
    fg = await _feed()
    fg.link(href=public_url("/feed.xml"), rel="self")
    fg.description(f"News and stories from {current_platform().settings.site_name}")
    return Response(
        fg.rss_str(pretty=True),
        mimetype="application/rss+xml",
        headers={"Cache-Control": FEED_CACHE},
    )


@bp.get("/atom.xml")
async def atom() -> Response:
    fg = await _feed()
    fg.link(href=public_url("/atom.xml"), rel="self")
    return Response(
        fg.atom_str(pretty=True),
        mimetype="application/atom+xml",
        headers={"Cache-Control": FEED_CACHE},
    )


_ENDPOINTS = {
    "post": "posts.post",
    "page": "posts.page",
    "tag": "archives.tag",
    "author": "archives.author",
}


@bp.get("/sitemap.xml")
async def sitemap() -> Response:
    entries = await services().blog.sitemap(db_session())
    urls: list[tuple[str, str | None]] = [(public_url("/"), None)]
    for e in entries:
        lastmod = e.updated_at.astimezone(UTC).strftime(W3C_DATETIME) if e.updated_at else None
        urls.append((public_url(url_for(_ENDPOINTS[e.kind], slug=e.slug)), lastmod))
    body = await render_template("sitemap.xml", urls=urls)
    return Response(body, mimetype="application/xml", headers={"Cache-Control": FEED_CACHE})


@bp.get("/robots.txt")
async def robots() -> Response:
    body = f"User-agent: *\nDisallow: /internal/\nSitemap: {public_url('/sitemap.xml')}\n"
    return Response(body, mimetype="text/plain", headers={"Cache-Control": FEED_CACHE})
