"""Inbound requests to an inbox: bounded, signed by their actor, or refused.

The order matters: the size limit first (before reading more than we accept), then the
signature header (401 without one; RFC 9421's ``Signature-Input`` or draft-cavage's
``Signature``, whichever the sender chose), the JSON, the signer's key (cached; refetched if it
fails to verify, as after a rotation, but at most once per key per ``key_refetch_interval_s``,
and a failed refetch keeps the cached key),
the signature itself, and finally that the key belongs to the activity's ``actor``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import ApObjectDTO, ReceivedDTO, RemoteActorDTO
from shared.errors import DomainError
from shared.infrastructure import inputs
from shared.infrastructure.activitypub import remote, rfc9421
from shared.infrastructure.activitypub.fetch import Fetcher, FetchError
from shared.infrastructure.activitypub.signatures import (
    SignatureError,
    load_public_key,
    signature_of,
    verify_request,
)
from shared.infrastructure.context import services

log = logging.getLogger(__name__)


class BodyTooLarge(DomainError):
    status = 413


@dataclass(frozen=True)
class InboundRequest:
    method: str
    path_and_query: str
    headers: Mapping[str, str]
    body: bytes
    # scheme://host of the URL the sender used (our public URL): RFC 9421 signs @target-uri.
    origin: str = ""

    def check(self, public_key_pem: str, window_s: int) -> None:
        """Verify the request's signature (either scheme) with the signer's key."""
        if rfc9421.is_rfc9421(self.headers):
            rfc9421.verify_request(
                self.method,
                self.origin + self.path_and_query,
                self.headers,
                self.body,
                load_public_key(public_key_pem),
                window_s=window_s,
            )
            return
        verify_request(
            self.method,
            self.path_and_query,
            self.headers,
            self.body,
            signature_of(self.headers),
            public_key_pem,
            window_s=window_s,
        )


REFETCH_KEY_PREFIX = "ap:key-refetched:"


async def _may_refetch(redis: aioredis.Redis | None, key_id: str, interval_s: int) -> bool:
    """Whether a failing cached key may be fetched again now (once per key per interval)."""
    if redis is None or interval_s <= 0:
        return True
    digest = hashlib.sha256(key_id.encode()).hexdigest()
    try:
        return bool(await redis.set(REFETCH_KEY_PREFIX + digest, 1, ex=interval_s, nx=True))
    except RedisError:
        return True  # as before there was a limit: a rotated key must still be picked up


async def verify(
    session: AsyncSession,
    settings: Settings,
    fetcher: Fetcher,
    req: InboundRequest,
    redis: aioredis.Redis | None = None,
) -> tuple[dict[str, Any], RemoteActorDTO]:
    """The activity and its verified signer, or a DomainError (401 for signature problems)."""
    ap = settings.activitypub
    if len(req.body) > ap.max_body_bytes:
        raise BodyTooLarge("body_too_large", "That activity is larger than we accept.")
    key_id = rfc9421.signer_key_id(req.headers)
    try:
        activity = inputs.parse_json(req.body)
    except inputs.JSONBodyError:
        raise DomainError("ap_not_json", "The body is not JSON we read.") from None
    if not isinstance(activity, dict) or not isinstance(activity.get("type"), str):
        raise DomainError("ap_not_activity", "The body is not an activity.")
    signer = await verify_signature(session, settings, fetcher, req, redis, key_id=key_id)
    if remote.visitor_of(activity) != signer.uri:
        raise SignatureError(
            "signer_not_actor", "The request is not signed by the activity's actor."
        )
    return activity, signer


async def verify_signature(
    session: AsyncSession,
    settings: Settings,
    fetcher: Fetcher,
    req: InboundRequest,
    redis: aioredis.Redis | None = None,
    *,
    key_id: str | None = None,
) -> RemoteActorDTO:
    """The actor whose key signed the request (either scheme), or a 401 SignatureError."""
    ap = settings.activitypub
    key_id = key_id or rfc9421.signer_key_id(req.headers)
    max_age = timedelta(seconds=ap.remote_actor_ttl_s)
    try:
        signer, fresh = await remote.get_key(session, fetcher, key_id, max_age=max_age)
    except FetchError as err:
        raise SignatureError(
            "key_unavailable", f"The signer's key cannot be fetched: {err}"
        ) from None
    assert signer.public_key_pem is not None
    try:
        req.check(signer.public_key_pem, ap.signature_window_s)
    except SignatureError as err:
        if err.code != "signature_invalid" or fresh:
            raise
        # The cached key may be stale (key rotation): fetch it again, but not for every bad
        # request (anyone can send one in the actor's name), and keep it if the fetch fails.
        if not await _may_refetch(redis, key_id, ap.key_refetch_interval_s):
            raise
        try:
            signer, _ = await remote.get_key(
                session, fetcher, key_id, max_age=max_age, refresh=True
            )
        except FetchError:
            raise err from None
        assert signer.public_key_pem is not None
        req.check(signer.public_key_pem, ap.signature_window_s)
    return signer


async def handle(
    session: AsyncSession,
    settings: Settings,
    fetcher: Fetcher,
    recipient_app: str | None,
    req: InboundRequest,
    redis: aioredis.Redis | None = None,
) -> ReceivedDTO:
    """Verify an inbox request and act on it (or drop it, when its server is blocked)."""
    # A blocked domain's activities are dropped unread: not even its key is fetched. The
    # signer's key and its actor share an origin (checked in verify), so the key's host is
    # the sender's.
    key_host = urlsplit(rfc9421.signer_key_id(req.headers)).netloc.lower()
    if await services().social.domain_blocked(session, key_host):
        log.info("inbox: dropped a request from blocked %s", key_host)
        return ReceivedDTO("blocked", "")
    activity, signer = await verify(session, settings, fetcher, req, redis)
    federation = services().federation
    await federation.mark_host_alive(session, urlsplit(signer.uri).netloc.lower())
    received = await federation.receive(session, recipient_app, ApObjectDTO(activity), signer)
    log.info(
        "inbox: %s %s from %s -> %s",
        received.activity_type,
        activity.get("id"),
        signer.uri,
        received.outcome,
    )
    return received
