"""Our own actors: one per app, all signing with the one keypair, and their URLs.

Each app's actor lives on that app's host: ``<public_url>/ap/users/<app>`` with its inbox,
outbox, followers, following, the host's shared inbox (``/ap/inbox``) and the key
``<actor>#main-key``. Ids are built from the public URLs in the settings, so dev
(``http://127.0.0.1:8001``) and production (``https://blog.rose-ash.com``) differ only in config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.config import APP_NAMES, Settings
from shared.infrastructure.activitypub import keys

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
# The terms we use beyond ActivityStreams, defined inline as Mastodon
# (app/lib/activitypub/adapter.rb) and Mobilizon (ActivityPub.Utils.make_json_ld_header) define
# them, so that a server that reads what we send as JSON-LD (Fedify's: Ghost, Hollo) expands
# them to the same IRIs instead of dropping them. ``location`` keeps its ActivityStreams meaning
# (Mobilizon redefines it as schema:location, which Mastodon and Fedify would then lose).
EXTENSION_TERMS: dict[str, Any] = {
    "toot": "http://joinmastodon.org/ns#",
    "schema": "http://schema.org#",
    "mz": "https://joinmobilizon.org/ns#",
    # ActivityStreams terms the published context lacks (Mastodon's).
    "Hashtag": "as:Hashtag",
    "sensitive": "as:sensitive",
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    # Mastodon's own.
    "discoverable": "toot:discoverable",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "featuredTags": {"@id": "toot:featuredTags", "@type": "@id"},
    "Emoji": "toot:Emoji",
    "blurhash": "toot:blurhash",
    "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
    # Profile fields.
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
    # Events, as Mobilizon (and Gancio, which reads Mobilizon's shape) define them.
    "timezone": {"@id": "mz:timezone", "@type": "schema:Text"},
    "joinMode": {"@id": "mz:joinMode", "@type": "mz:joinModeType"},
    "externalParticipationUrl": {"@id": "mz:externalParticipationUrl", "@type": "schema:URL"},
    "category": "schema:category",
    "maximumAttendeeCapacity": "schema:maximumAttendeeCapacity",
    "PostalAddress": "schema:PostalAddress",
    "address": {"@id": "schema:address", "@type": "schema:PostalAddress"},
    "streetAddress": "schema:streetAddress",
    "addressLocality": "schema:addressLocality",
    "addressRegion": "schema:addressRegion",
    "postalCode": "schema:postalCode",
    "addressCountry": "schema:addressCountry",
    # An occurrence of a recurring event names its series (schema.org's Event.superEvent).
    "superEvent": {"@id": "schema:superEvent", "@type": "@id"},
}
# What every document we send carries. Only contexts that strict peers know offline (see
# EXTERNAL-APIS.md) are named by URL: an unknown remote context makes JSON-LD processors such
# as Fedify's refuse the whole document; our own terms are inline.
CONTEXT: list[Any] = [AS_CONTEXT, SECURITY_CONTEXT, EXTENSION_TERMS]
ACTOR_CONTEXT = CONTEXT
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS_MEDIA_TYPE = "application/activity+json"

ACTOR_PROFILES: dict[str, tuple[str, str]] = {
    "blog": ("Rose Ash Blog", "News, recipes and stories from the Rose Ash cooperative."),
    "market": ("Rose Ash Market", "Produce and products from the cooperative's suppliers."),
    "cart": ("Rose Ash Cart", "The cooperative's shop counter."),
    "events": ("Rose Ash Events", "Gigs, workshops and gatherings at the Rose Ash venue."),
    "federation": ("Rose Ash", "The Rose Ash cooperative on the fediverse."),
    "account": ("Rose Ash Accounts", "Members' accounts at the Rose Ash cooperative."),
}


class ActorPaths:
    """The URLs every actor of ours has: its inbox, outbox and collections under its id, its
    key, its host's shared inbox and its handle. Subclasses say where the id is."""

    base: str

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def id(self) -> str:
        raise NotImplementedError

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc

    @property
    def key_id(self) -> str:
        return f"{self.id}#main-key"

    @property
    def inbox(self) -> str:
        return f"{self.id}/inbox"

    @property
    def outbox(self) -> str:
        return f"{self.id}/outbox"

    @property
    def followers(self) -> str:
        return f"{self.id}/followers"

    @property
    def following(self) -> str:
        return f"{self.id}/following"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/ap/inbox"

    @property
    def handle(self) -> str:
        return f"{self.name}@{self.host}"


@dataclass(frozen=True)
class ActorUrls(ActorPaths):
    """Every URL of one app actor."""

    app: str
    base: str

    @property
    def name(self) -> str:
        return self.app

    @property
    def id(self) -> str:
        return f"{self.base}/ap/users/{self.app}"

    def activity(self, uid: str) -> str:
        return f"{self.base}/ap/activities/{uid}"

    def object(self, uid: str) -> str:
        return f"{self.base}/ap/objects/{uid}"


def hashtag(name: str, href: str) -> dict[str, Any]:
    """A ``Hashtag`` tag as Mastodon sends one: ``#name`` without spaces or punctuation (which
    Mastodon refuses in a tag; several words are joined in CamelCase, which screen readers read
    as words) and ``href``, the page that lists what carries it."""
    words = [w for w in re.split(r"[^\w]+", name) if w]
    if len(words) > 1:
        words = [w[:1].upper() + w[1:] for w in words]
    return {"type": "Hashtag", "href": href, "name": "#" + ("".join(words) or "tag")}


def actor_urls(settings: Settings, app: str) -> ActorUrls:
    if app not in APP_NAMES:
        raise ValueError(f"unknown app {app!r}")
    return ActorUrls(app, settings.apps[app].public_url)


def app_of_actor(settings: Settings, uri: str) -> str | None:
    """Which of our app actors ``uri`` names, if any."""
    for app in APP_NAMES:
        if actor_urls(settings, app).id == uri:
            return app
    return None


def is_local(settings: Settings, uri: str) -> bool:
    host = urlsplit(uri).netloc
    return any(urlsplit(a.public_url).netloc == host for a in settings.apps.values())


def actor_document(settings: Settings, app: str) -> dict[str, Any]:
    """The actor as ActivityStreams JSON (the shape Mastodon expects)."""
    urls = actor_urls(settings, app)
    name, summary = ACTOR_PROFILES[app]
    return {
        "@context": ACTOR_CONTEXT,
        "id": urls.id,
        # FEP-2677: the host's application actor, which NodeInfo names, is an Application.
        "type": "Application",
        "preferredUsername": app,
        "name": name,
        "summary": summary,
        "url": urls.id,
        "icon": {
            "type": "Image",
            "mediaType": "image/png",
            "url": f"{urls.base}/static/img/actor-icon.png",
        },
        "inbox": urls.inbox,
        "outbox": urls.outbox,
        "followers": urls.followers,
        "following": urls.following,
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": {
            "id": urls.key_id,
            "owner": urls.id,
            "publicKeyPem": keys.public_key_pem(settings),
        },
    }
