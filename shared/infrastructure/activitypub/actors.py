"""Our own actors: one per app, all signing with the one keypair, and their URLs.

Each app's actor lives on that app's host: ``<public_url>/ap/users/<app>`` with its inbox,
outbox, followers, following, the host's shared inbox (``/ap/inbox``) and the key
``<actor>#main-key``. Ids are built from the public URLs in the settings, so dev
(``http://127.0.0.1:8001``) and production (``https://blog.rose-ash.com``) differ only in config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.config import APP_NAMES, Settings
from shared.infrastructure.activitypub import keys

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
# Only contexts that strict peers know offline (see EXTERNAL-APIS.md): an unknown remote
# context makes JSON-LD processors such as Fedify's refuse the whole document.
ACTOR_CONTEXT: list[Any] = [AS_CONTEXT, SECURITY_CONTEXT]
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
