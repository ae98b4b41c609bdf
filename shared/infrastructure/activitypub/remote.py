"""Remote actors and their public keys: fetched with signed GETs, cached in PostgreSQL.

A key is looked up by its ``keyId``; the document it points at (usually the actor, with the
key under ``publicKey``, sometimes a standalone key with an ``owner``) must come from the same
origin as the URL asked for, so one server cannot publish keys for another's actors. A key
that fails to verify is refetched once (the actor may have rotated it). Besides ``publicKey``
(RSA, PEM), an actor may offer Ed25519 keys as FEP-521a ``Multikey`` keys in ``assertionMethod``;
those are found in the cached document and handed on as PEM like the RSA key.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urldefrag, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import RemoteActorDTO
from shared.infrastructure.activitypub.fetch import Fetcher, FetchError
from shared.models import ApRemoteActor


def _dto(row: ApRemoteActor) -> RemoteActorDTO:
    return RemoteActorDTO(
        row.uri,
        row.key_id,
        row.public_key_pem,
        row.inbox_url,
        row.shared_inbox_url,
        row.preferred_username,
        row.actor_type,
        row.fetched_at,
    )


def id_of(value: Any) -> str | None:
    """The id of an ActivityStreams reference (a string, or an object with ``id``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def visitor_of(activity: dict[str, Any]) -> str | None:
    """The id of an activity's ``actor``."""
    return id_of(activity.get("actor"))


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc.lower()) == (pb.scheme, pb.netloc.lower())


def _first_key(doc: dict[str, Any]) -> dict[str, Any] | None:
    key = doc.get("publicKey")
    if isinstance(key, list):
        key = next((k for k in key if isinstance(k, dict)), None)
    return key if isinstance(key, dict) else None


_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# The multicodec prefix of an Ed25519 public key (0xed, as an unsigned varint).
ED25519_PUB = b"\xed\x01"


def _base58btc(text: str) -> bytes:
    number = 0
    for char in text:
        digit = _BASE58.find(char)
        if digit < 0:
            raise ValueError("not base58btc")
        number = number * 58 + digit
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


def ed25519_pem(multibase: object) -> str | None:
    """An Ed25519 ``publicKeyMultibase`` (``z`` + base58btc of 0xed01 + 32 bytes) as PEM."""
    if not isinstance(multibase, str) or not multibase.startswith("z") or len(multibase) > 100:
        return None
    try:
        raw = _base58btc(multibase[1:])
    except ValueError:
        return None
    if len(raw) != 34 or not raw.startswith(ED25519_PUB):
        return None
    key = ed25519.Ed25519PublicKey.from_public_bytes(raw[2:])
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def multikey_pem(doc: dict[str, Any], key_id: str) -> str | None:
    """The Ed25519 key ``key_id`` from the actor's ``assertionMethod`` (FEP-521a), as PEM."""
    uri = id_of(doc)
    methods = doc.get("assertionMethod")
    for entry in methods if isinstance(methods, list) else [methods]:
        if (
            isinstance(entry, dict)
            and entry.get("id") == key_id
            and entry.get("type") == "Multikey"
            and entry.get("controller", uri) == uri
        ):
            return ed25519_pem(entry.get("publicKeyMultibase"))
    return None


async def _store(session: AsyncSession, doc: dict[str, Any]) -> RemoteActorDTO:
    uri = id_of(doc)
    assert uri is not None
    key = _first_key(doc) or {}
    key_id = key.get("id") if key.get("owner", uri) == uri else None
    pem = key.get("publicKeyPem") if key_id else None
    raw_endpoints = doc.get("endpoints")
    endpoints: dict[str, Any] = raw_endpoints if isinstance(raw_endpoints, dict) else {}
    values = {
        "uri": uri,
        "key_id": key_id if isinstance(key_id, str) else None,
        "public_key_pem": pem if isinstance(pem, str) else None,
        "inbox_url": doc.get("inbox") if isinstance(doc.get("inbox"), str) else None,
        "shared_inbox_url": endpoints.get("sharedInbox")
        if isinstance(endpoints.get("sharedInbox"), str)
        else None,
        "preferred_username": str(doc.get("preferredUsername") or "")[:200] or None,
        "actor_type": str(doc.get("type") or "")[:30] or None,
        "document": doc,
        "fetched_at": datetime.now(UTC),
    }
    if values["key_id"] is not None:
        # A key moved to another actor document (rare): the newest claim wins.
        await session.execute(
            update(ApRemoteActor)
            .where(ApRemoteActor.key_id == values["key_id"], ApRemoteActor.uri != uri)
            .values(key_id=None)
        )
    stmt = insert(ApRemoteActor).values(**values)
    upsert = stmt.on_conflict_do_update(
        index_elements=[ApRemoteActor.uri],
        set_={k: stmt.excluded[k] for k in values if k != "uri"},
    ).returning(ApRemoteActor)
    row = (
        await session.execute(upsert, execution_options={"populate_existing": True})
    ).scalar_one()
    return _dto(row)


async def fetch_actor(session: AsyncSession, fetcher: Fetcher, uri: str) -> RemoteActorDTO:
    """Fetch ``uri`` and cache it; the document must be an actor served from its own origin."""
    doc = await fetcher.get_json(uri)
    doc_id = id_of(doc)
    if doc_id is None or not same_origin(doc_id, uri):
        raise FetchError("actor_origin", f"{uri} answered a document for another origin.")
    if not isinstance(doc.get("inbox"), str):
        raise FetchError("actor_invalid", f"{uri} is not an actor (no inbox).")
    return await _store(session, doc)


async def get_key(
    session: AsyncSession,
    fetcher: Fetcher,
    key_id: str,
    *,
    max_age: timedelta,
    refresh: bool = False,
) -> tuple[RemoteActorDTO, bool]:
    """(the actor owning ``key_id``, whether it was fetched just now)."""
    document_url = urldefrag(key_id).url
    if not refresh:
        row = await session.scalar(select(ApRemoteActor).where(ApRemoteActor.key_id == key_id))
        if row is not None and datetime.now(UTC) - row.fetched_at < max_age:
            return _dto(row), False
        row = await session.scalar(select(ApRemoteActor).where(ApRemoteActor.uri == document_url))
        if row is not None and datetime.now(UTC) - row.fetched_at < max_age:
            pem = multikey_pem(row.document, key_id) if isinstance(row.document, dict) else None
            if pem is not None:
                return dataclasses.replace(_dto(row), key_id=key_id, public_key_pem=pem), False
    doc = await fetcher.get_json(document_url)
    doc_id = id_of(doc)
    if doc_id is None or not same_origin(doc_id, document_url):
        raise FetchError("key_origin", f"{key_id} answered a document for another origin.")
    if not isinstance(doc.get("inbox"), str):
        # A standalone key document: its owner is the actor, fetched from the same origin.
        owner = doc.get("owner")
        if not isinstance(owner, str) or not same_origin(owner, document_url):
            raise FetchError("key_owner", f"{key_id} has no owner on its own origin.")
        actor = await fetch_actor(session, fetcher, owner)
    else:
        actor = await _store(session, doc)
        pem = multikey_pem(doc, key_id)
        if pem is not None:
            return dataclasses.replace(actor, key_id=key_id, public_key_pem=pem), True
    if actor.key_id != key_id or actor.public_key_pem is None:
        raise FetchError("key_not_found", f"{key_id} is not a key of {actor.uri}.")
    return actor, True


async def forget_actor(session: AsyncSession, uri: str) -> None:
    await session.execute(delete(ApRemoteActor).where(ApRemoteActor.uri == uri))
