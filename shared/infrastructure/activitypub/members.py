"""Members' own actors on federation's host: their URLs, keypairs, documents, and handle lookups.

A member ``alice`` is ``alice@<federation host>`` with the actor ``<federation>/users/alice``
(the profile page for browsers, the ``Person`` for servers), its inbox, outbox, followers and
following under it, the host's shared inbox, and the key ``<actor>#main-key``.

Each member has an RSA keypair of their own, made when their account is first needed. The
private half is stored encrypted (AES-256-GCM under a key derived from ``ROSE_SECRET_KEY`` for
this purpose only), so a copy of the database alone cannot sign as a member; rotating the
secret key therefore needs the member keys re-encrypted.

Remote accounts are found by handle (``@name@host``, WebFinger) or by URL, through the
SSRF-guarded :class:`~shared.infrastructure.activitypub.fetch.Fetcher`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.config import Settings
from shared.errors import DomainError
from shared.infrastructure.activitypub import discovery
from shared.infrastructure.activitypub.actors import ACTOR_CONTEXT, ActorPaths
from shared.infrastructure.activitypub.fetch import Fetcher, FetchError
from shared.infrastructure.activitypub.keys import generate_private_key_pem

# The handle grammar we accept: name@host[:port]; names as Mastodon allows them.
HANDLE_RE = re.compile(
    r"^@?(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})@(?P<host>[A-Za-z0-9.-]+(?::\d{1,5})?)$"
)
JRD_ACCEPT = "application/jrd+json, application/json"
_KEY_INFO = b"rose-ash member actor keys v1"


@dataclass(frozen=True)
class MemberUrls(ActorPaths):
    """Every URL of one member's actor."""

    base: str
    username: str

    @property
    def name(self) -> str:
        return self.username

    @property
    def id(self) -> str:
        return f"{self.base}/users/{self.username}"

    def status(self, uid: str) -> str:
        return f"{self.id}/statuses/{uid}"

    def activity(self, uid: str) -> str:
        return f"{self.id}/activities/{uid}"


def member_urls(settings: Settings, username: str) -> MemberUrls:
    return MemberUrls(settings.apps["federation"].public_url, username.lower())


def host_of(uri: str) -> str:
    """The host (with its port) of a URL, lower-cased."""
    return urlsplit(uri).netloc.lower()


def key_id(actor_uri: str) -> str:
    return f"{actor_uri}#main-key"


def username_of(settings: Settings, uri: str) -> str | None:
    """The member a local actor URI names (``<federation>/users/<name>``), if it is one."""
    prefix = f"{settings.apps['federation'].public_url}/users/"
    if not uri.startswith(prefix):
        return None
    rest = uri[len(prefix) :]
    return rest if rest and re.fullmatch(r"[a-z0-9_]{1,30}", rest) else None


def resource_username(settings: Settings, resource: str) -> str | None:
    """The member a WebFinger ``resource`` names on federation's host (``acct:`` or the
    actor/profile URL), if it names one at all."""
    base = settings.apps["federation"].public_url
    account = discovery.acct_of(resource)
    resource = unquote(resource.strip())
    if account is not None:
        user, host = account
        if host.lower() != urlsplit(base).netloc.lower():
            return None
    elif resource.startswith(f"{base}/@"):
        user = resource[len(f"{base}/@") :]
    else:
        user = username_of(settings, resource) or ""
    return user if re.fullmatch(r"[A-Za-z0-9_]{1,30}", user) else None


def webfinger_document(urls: MemberUrls) -> dict[str, Any]:
    return {
        "subject": f"acct:{urls.handle}",
        "aliases": [urls.id],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": urls.id},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": urls.id},
        ],
    }


# --- keys ---------------------------------------------------------------------------------


def _aead(settings: Settings) -> AESGCM:
    secret = settings.require("secret_key").encode()
    return AESGCM(hmac.new(secret, _KEY_INFO, hashlib.sha256).digest())


def new_keypair(settings: Settings) -> tuple[str, bytes]:
    """(public PEM, encrypted private PEM) for a new member actor."""
    pem = generate_private_key_pem()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    nonce = os.urandom(12)
    return public, nonce + _aead(settings).encrypt(nonce, pem.encode(), _KEY_INFO)


@lru_cache(maxsize=256)
def _load(secret: str, blob: bytes) -> rsa.RSAPrivateKey:
    aead = AESGCM(hmac.new(secret.encode(), _KEY_INFO, hashlib.sha256).digest())
    try:
        pem = aead.decrypt(blob[:12], blob[12:], _KEY_INFO)
    except InvalidTag:
        raise DomainError(
            "member_key_undecryptable",
            "A member's key cannot be decrypted: was ROSE_SECRET_KEY changed?",
        ) from None
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def load_private_key(settings: Settings, blob: bytes) -> rsa.RSAPrivateKey:
    """A member's private key from its stored, encrypted form (parsed once, then cached)."""
    return _load(settings.require("secret_key"), bytes(blob))


# --- the actor document ------------------------------------------------------------------


def actor_document(
    settings: Settings,
    *,
    username: str,
    display_name: str,
    summary_html: str,
    avatar_url: str | None,
    header_url: str | None,
    fields: list[dict[str, Any]],
    locked: bool,
    discoverable: bool,
    public_key_pem: str,
    published: str,
    also_known_as: list[str] | None = None,
    moved_to: str | None = None,
) -> dict[str, Any]:
    """The member as an ActivityStreams ``Person`` (the shape Mastodon reads), with the
    accounts it is also known as (its old ones, which may move here) and where it moved."""
    urls = member_urls(settings, username)
    doc: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": urls.id,
        "type": "Person",
        "preferredUsername": urls.username,
        "name": display_name or urls.username,
        "summary": summary_html,
        "url": urls.id,
        "published": published,
        "manuallyApprovesFollowers": locked,
        "discoverable": discoverable,
        "inbox": urls.inbox,
        "outbox": urls.outbox,
        "followers": urls.followers,
        "following": urls.following,
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": {"id": urls.key_id, "owner": urls.id, "publicKeyPem": public_key_pem},
    }
    if avatar_url:
        doc["icon"] = {"type": "Image", "url": avatar_url}
    if header_url:
        doc["image"] = {"type": "Image", "url": header_url}
    if also_known_as:
        doc["alsoKnownAs"] = list(also_known_as)
    if moved_to:
        doc["movedTo"] = moved_to
    if fields:
        doc["attachment"] = [
            {"type": "PropertyValue", "name": f["name"], "value": f["value"]} for f in fields
        ]
    return doc


# --- finding remote accounts ---------------------------------------------------------------


def parse_handle(value: str) -> tuple[str, str] | None:
    """``(user, host)`` from ``@user@host`` or ``user@host``, else None."""
    match = HANDLE_RE.match(value.strip())
    if match is None:
        return None
    return match["user"], match["host"].lower()


async def webfinger(fetcher: Fetcher, user: str, host: str) -> str:
    """The actor URI that ``user@host`` names, by WebFinger (RFC 7033).

    WebFinger is https only; where private addresses are allowed (dev and tests, whose peers
    listen on loopback without certificates) plain http is tried when https cannot connect.
    """
    resource = quote(f"acct:{user}@{host}", safe=":@")
    schemes = ["https"]
    if fetcher.settings.activitypub.allow_private_addresses:
        schemes.append("http")
    last: FetchError | None = None
    for scheme in schemes:
        url = f"{scheme}://{host}/.well-known/webfinger?resource={resource}"
        try:
            fetched = await fetcher.get(url, accept=JRD_ACCEPT)
        except FetchError as err:
            if err.code != "fetch_failed":
                raise
            last = err
            continue
        if fetched.status != 200:
            raise FetchError(
                "webfinger_not_found", f"{user}@{host} is not known there.", status=404
            )
        doc = fetched.json()
        for link in doc.get("links") or []:
            if (
                isinstance(link, dict)
                and link.get("rel") == "self"
                and isinstance(link.get("href"), str)
                and str(link.get("type", "")).split(";")[0].strip()
                in ("application/activity+json", "application/ld+json")
            ):
                return str(link["href"])
        raise FetchError("webfinger_no_actor", f"{user}@{host} has no ActivityPub actor.")
    assert last is not None
    raise last
