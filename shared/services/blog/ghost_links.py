"""Ghost's addresses on the blog: its navigation, the links inside its bodies, its old URLs.

A Ghost site names its items by path: ``/`` (home), ``/<slug>/`` (a post or a page),
``/tag/<slug>/``, ``/author/<slug>/``, ``/rss/`` (the feed). Each maps to a blog route:
``/``, ``/posts/<slug>`` or ``/pages/<slug>``, ``/tag/<slug>``, ``/author/<slug>``,
``/feed.xml``. A post or page is found by the slug *Ghost* gives it (``ghost_slug``), never by
the blog's own slug, which differs when a local item had it first.

- :func:`ghost_nav_links`: Ghost's navigation as the site navigation's links.
- :func:`rewrite_body_links`: links inside a synced body that point at the Ghost site lead
  to the blog's routes instead (a post or page not synced yet keeps Ghost's path, relative:
  the blog answers it with a 301 once it is there, see :func:`ghost_path_target`).
- :func:`ghost_path_target`: what the blog redirects Ghost's old URLs to.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import NavItemInput
from shared.infrastructure.context import services
from shared.infrastructure.sanitize import SLUG_RE, rewrite_urls

log = logging.getLogger(__name__)

# Ghost's navigation is a handful of links; a hostile one is cut here, before any lookup.
MAX_GHOST_NAV = 100
# A path on the Ghost site: /tag/<slug>/, /author/<slug>/ or /<slug>/ (post or page).
_GHOST_ROUTE = re.compile(r"^/(?:(tag|author)/)?([^/]+)/?$")
# Ghost's own feeds, all of them the blog's one RSS feed.
_FEEDS = frozenset({"/rss", "/rss/", "/feed", "/feed/"})
FEED_PATH = "/feed.xml"

Site = tuple[str, str]
"""(host[:port], path prefix) of an address the Ghost site answers at."""
Target = tuple[str | None, str]
"""("blog", path) of a blog route, ("slug", Ghost's slug) of a post or page, or (None, url)
for an address off the Ghost site."""


def site_of(url: str | None) -> Site | None:
    """(host[:port], path prefix) of an http(s) address; None for anything else."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower() + ("" if port in (None, default) else f":{port}")
    return host, parts.path.rstrip("/")


def ghost_sites(urls: Sequence[str | None]) -> list[Site]:
    return [s for s in (site_of(u) for u in urls) if s is not None]


def ghost_urls(settings: Mapping[str, Any], ghost_url: str | None) -> list[str]:
    """The addresses the Ghost site answers at: the configured one and its own ``url``."""
    own = settings.get("url")
    return [u for u in (ghost_url, own if isinstance(own, str) else None) if u]


def ghost_path(url: str, sites: Sequence[Site], *, relative: bool = True) -> str | None:
    """The path inside the Ghost site that ``url`` points at (a relative path counts when
    ``relative``), or None when it points elsewhere or is no plain link."""
    if url.startswith("/") and not url.startswith("//"):
        if not relative:
            return None
        parts = urlsplit(url)
        return None if parts.query or parts.fragment else parts.path
    site = site_of(url)
    if site is None:
        return None
    host, path = site
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    for ghost_host, prefix in sites:
        if host == ghost_host and (path + "/").startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return None


def ghost_path_target(path: str) -> Target | None:
    """Where a path of the Ghost site leads on the blog (see :data:`Target`), or None."""
    if path in ("", "/"):
        return "blog", "/"
    if path in _FEEDS:
        return "blog", FEED_PATH
    match = _GHOST_ROUTE.match(path)
    if match is None or not SLUG_RE.match(match.group(2)):
        return None
    section, slug = match.groups()
    if section is None:
        return "slug", slug
    return "blog", f"/{section}/{slug}"


def _ghost_target(url: str, sites: Sequence[Site]) -> Target | None:
    """Where a Ghost navigation URL should lead, or None when it maps to nothing of ours."""
    path = ghost_path(url, sites)
    if path is None:
        if url.startswith("/") and not url.startswith("//"):
            return None  # a Ghost path with a query or fragment
        site = site_of(url)
        if site is not None and any(site[0] == host for host, _ in sites):
            return None  # on Ghost's host, outside the site or with a query
        return None, url
    return ghost_path_target(path)


async def ghost_nav_links(
    session: AsyncSession, navigation: Sequence[Mapping[str, Any]], urls: Sequence[str]
) -> list[NavItemInput]:
    """Ghost's navigation as the site navigation's links, in Ghost's order.

    Links into the Ghost site (relative, or absolute on one of ``urls``' hosts) lead to the
    blog's own routes; ``/<slug>/`` to the synced item Ghost knows by that slug (its blog
    slug may differ). Other addresses are passed on as they are for the navigation's rules
    to judge (only https is kept). A link that maps to nothing is skipped with a log line.
    """
    sites = ghost_sites(urls)
    targets: list[tuple[str, Target | None]] = []
    for item in list(navigation)[:MAX_GHOST_NAV]:
        label, url = str(item.get("label", "")), str(item.get("url", "")).strip()
        targets.append((label, _ghost_target(url, sites)))
    slugs = [t[1] for _, t in targets if t is not None and t[0] == "slug"]
    routes = await services().blog.ghost_routes(session, slugs)
    links: list[NavItemInput] = []
    for (label, target), item in zip(targets, navigation, strict=False):
        url = str(item.get("url", ""))
        if target is None:
            log.warning("ghost navigation: skipped %r (%s): not a page of the site", label, url)
            continue
        app, path = target
        if app == "slug":
            route = routes.get(path)
            if route is None:
                log.warning(
                    "ghost navigation: skipped %r (%s): no published post or page %r from Ghost",
                    label,
                    url,
                    path,
                )
                continue
            app, path = "blog", f"/{route[0]}s/{route[1]}"
        links.append(NavItemInput(label=label, app=app, path=path))
    return links


async def apply_navigation(
    session: AsyncSession, settings: Mapping[str, Any], urls: Sequence[str]
) -> bool:
    """Make the navigation's Ghost links Ghost's ``navigation``; True when they changed."""
    navigation = settings.get("navigation") or []
    links = await ghost_nav_links(session, navigation, urls)
    report = await services().blog.replace_ghost_navigation(session, links)
    for label, code in report.skipped:
        log.warning("ghost navigation: skipped %r: %s", label, code)
    if report.changed:
        log.info("ghost navigation: %d links from Ghost", report.stored)
    return report.changed


# --- bodies --------------------------------------------------------------------------


def body_link_slugs(html: str, sites: Sequence[Site]) -> set[str]:
    """Ghost's slugs of the posts and pages that links in ``html`` point at."""
    found: set[str] = set()

    def collect(tag: str, attribute: str, value: str) -> str:
        if tag == "a" and attribute == "href":
            path = ghost_path(value, sites, relative=False)
            target = ghost_path_target(path) if path is not None else None
            if target is not None and target[0] == "slug":
                found.add(target[1])
        return value

    rewrite_urls(html, collect)
    return found


def rewrite_body_links(
    html: str,
    sites: Sequence[Site],
    routes: Mapping[str, tuple[str, str]],
    images: Mapping[str, str] | None = None,
) -> str:
    """``html`` (Ghost's, raw) sanitized, with every link to the Ghost site pointing at the
    blog's route (``routes``: Ghost's slug -> (kind, blog slug) of synced items; one not
    synced yet keeps Ghost's path, which the blog redirects) and every image address in
    ``images`` replaced by its copy in the media store."""
    pictures = images or {}

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return pictures.get(value, value)
        if tag != "a" or attribute != "href":
            return value
        path = ghost_path(value, sites, relative=False)
        target = ghost_path_target(path) if path is not None else None
        if target is None:
            return value
        app, where = target
        if app == "slug":
            route = routes.get(where)
            return f"/{route[0]}s/{route[1]}" if route else f"/{where}/"
        return where

    return rewrite_urls(html, rewrite)
