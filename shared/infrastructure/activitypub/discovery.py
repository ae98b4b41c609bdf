"""WebFinger (RFC 7033), host-meta (RFC 6415) and NodeInfo 2.1 documents for one app host."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from shared.config import Settings
from shared.contracts import MemberUsageDTO
from shared.infrastructure.activitypub.actors import AS_MEDIA_TYPE, ActorUrls, actor_urls
from shared.infrastructure.activitypub.fetch import SOFTWARE_VERSION

NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
NODEINFO_CONTENT_TYPE = f'application/json; profile="{NODEINFO_SCHEMA}#"'
# FEP-2677: the link from NodeInfo's discovery document to the host's application actor.
APPLICATION_REL = "https://www.w3.org/ns/activitystreams#Application"


def acct_of(resource: str) -> tuple[str, str] | None:
    """(user, host) of an account ``resource``: ``acct:user@host``, or ``user@host`` without
    the scheme as some servers send it (``@user@host`` too); None for a URL."""
    resource = unquote(resource.strip())
    if resource.startswith("acct:"):
        resource = resource[len("acct:") :]
    elif "://" in resource or "@" not in resource:
        return None
    user, _, host = resource.lstrip("@").rpartition("@")
    return (user, host) if user and host else None


def resolve_resource(settings: Settings, app: str, resource: str) -> ActorUrls | None:
    """The actor a WebFinger ``resource`` names on this app's host, if it is ours."""
    urls = actor_urls(settings, app)
    account = acct_of(resource)
    if account is not None:
        user, host = account
        if user.lower() == app and host.lower() == urls.host.lower():
            return urls
        return None
    resource = unquote(resource.strip())
    if resource in (urls.id, f"{urls.base}/@{app}"):
        return urls
    return None


def webfinger(urls: ActorUrls) -> dict[str, Any]:
    return {
        "subject": f"acct:{urls.handle}",
        "aliases": [urls.id],
        "links": [
            {"rel": "self", "type": AS_MEDIA_TYPE, "href": urls.id},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": urls.id},
        ],
    }


def host_meta(base: str) -> str:
    template = escape(f"{base}/.well-known/webfinger?resource={{uri}}", {'"': "&quot;"})
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" type="application/jrd+json" template="{template}"/>\n'
        "</XRD>\n"
    )


def nodeinfo_links(urls: ActorUrls) -> dict[str, Any]:
    """Where this host's NodeInfo is, and its application actor (FEP-2677): the app's actor,
    which a server can follow by the host's URL alone."""
    return {
        "links": [
            {"rel": NODEINFO_SCHEMA, "href": f"{urls.base}/nodeinfo/2.1"},
            {"rel": APPLICATION_REL, "href": urls.id},
        ]
    }


def nodeinfo(
    settings: Settings, app: str, *, local_posts: int, members: MemberUsageDTO | None = None
) -> dict[str, Any]:
    """NodeInfo 2.1 for one host: its own actors' figures. Federation's host is where people
    have accounts (``members``, and whether sign-up is open); every other host has one actor,
    its app's, and no sign-up."""
    users = (
        {
            "total": members.total,
            "activeMonth": members.active_month,
            "activeHalfyear": members.active_halfyear,
        }
        if members is not None
        else {"total": 1, "activeMonth": 1, "activeHalfyear": 1}
    )
    return {
        "version": "2.1",
        "software": {
            "name": "rose-ash",
            "version": SOFTWARE_VERSION,
            "homepage": settings.apps["blog"].public_url,
        },
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": members is not None and settings.accounts.open_registrations,
        "usage": {"users": users, "localPosts": local_posts},
        "metadata": {
            "nodeName": f"{settings.site_name} {app}",
            "app": app,
            "applicationActor": actor_urls(settings, app).id,
        },
    }


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()
