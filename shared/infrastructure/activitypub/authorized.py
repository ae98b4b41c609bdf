"""Authorized fetch (Mastodon's "secure mode"): ActivityPub reads only by signed requests.

Off by default (``activitypub.authorized_fetch``). When on, every GET (or HEAD) that asks for
ActivityStreams JSON — actors, objects, activities, collections, pages' objects found by
content negotiation — must carry an HTTP Signature (RFC 9421 or draft-cavage) by a key of a
server that is not blocked; anything else is answered 401. As in Mastodon, what a server needs
to verify us stays public: the app actors' documents (each host's application actor, which
signs our own fetches and deliveries), WebFinger, host-meta and NodeInfo; and pages asked for
as HTML are unaffected.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from quart import request

from shared.infrastructure.activitypub import inbox as inbox_handler
from shared.infrastructure.activitypub import rfc9421
from shared.infrastructure.activitypub.fetch import Fetcher
from shared.infrastructure.activitypub.signatures import SignatureError
from shared.infrastructure.context import current_platform, db_session, services

AS_TYPES = ("application/activity+json", "application/ld+json")
# Readable unsigned: discovery, and the app actors' own documents (keys included).
PUBLIC_PATHS = re.compile(r"^/(\.well-known/|nodeinfo/|ap/users/[a-z]+/?$)")


def asks_for_activity_json() -> bool:
    accept = request.headers.get("Accept", "")
    return any(part.split(";", 1)[0].strip().lower() in AS_TYPES for part in accept.split(","))


def applies() -> bool:
    """Whether the request in flight must be signed."""
    return (
        current_platform().settings.activitypub.authorized_fetch
        and request.method in ("GET", "HEAD")
        and asks_for_activity_json()
        and PUBLIC_PATHS.match(request.path) is None
    )


async def check(fetcher: Fetcher) -> None:
    """Raise a 401 SignatureError unless the request is signed by a server not blocked."""
    rose = current_platform()
    headers = dict(request.headers.items())
    key_id = rfc9421.signer_key_id(headers)
    session = db_session()
    host = urlsplit(key_id).netloc.lower()
    if not host or await services().social.domain_blocked(session, host):
        raise SignatureError("fetch_not_authorized", "This server may not read this.")
    public = urlsplit(rose.settings.apps[rose.name].public_url)
    path = request.full_path if request.query_string else request.path
    inbound = inbox_handler.InboundRequest(
        request.method, path, headers, b"", f"{public.scheme}://{public.netloc}"
    )
    await inbox_handler.verify_signature(session, rose.settings, fetcher, inbound, rose.redis)
