"""What came in for the app actors' objects: Likes, boosts (Announce) and replies.

An inbound ``Like`` or ``Announce`` of an object one of our app actors published, or a
``Create`` whose object is ``inReplyTo`` such an object, is recorded in ``ap_app_interactions``
(once per sender and activity id); an ``Undo`` of it, or the sender's ``Delete`` of the reply,
removes it. Staff read them, per app actor, in the social hub.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import AppInteractionDTO
from shared.infrastructure.activitypub.remote import id_of, visitor_of
from shared.infrastructure.sanitize import html_to_text
from shared.models import ApActivity, ApAppInteraction, ApRemoteActor

KINDS = {"Like": "like", "Announce": "boost"}
REPLY_TEXT_CHARS = 500


async def _app_of_object(session: AsyncSession, uri: str | None) -> tuple[str, str] | None:
    """(the app actor that published ``uri``, the object's uri) if one of them did."""
    if not uri:
        return None
    app = await session.scalar(
        select(ApActivity.actor_app)
        .where(ApActivity.object_uri == uri[:500], ApActivity.actor_account_id.is_(None))
        .limit(1)
    )
    return (app, uri[:500]) if app is not None else None


async def record(session: AsyncSession, activity: dict[str, Any]) -> None:
    """Record ``activity`` if it is a Like, boost or reply of an app actor's object."""
    kind = str(activity.get("type") or "")
    uri, actor = id_of(activity), visitor_of(activity)
    if uri is None or actor is None:
        return
    values: dict[str, Any] = {}
    if kind in KINDS:
        target = await _app_of_object(session, id_of(activity.get("object")))
        values["kind"] = KINDS[kind]
    elif kind == "Create" and isinstance(activity.get("object"), dict):
        note = activity["object"]
        target = await _app_of_object(session, id_of(note.get("inReplyTo")))
        url = note.get("url")
        url = id_of(url[0] if isinstance(url, list) and url else url) or id_of(note)
        content = note.get("content")
        values.update(
            kind="reply",
            reply_uri=(id_of(note) or "")[:500] or None,
            reply_url=url[:500] if url and urlsplit(url).scheme in ("http", "https") else None,
            reply_text=html_to_text(content)[:REPLY_TEXT_CHARS]
            if isinstance(content, str)
            else None,
        )
    else:
        return
    if target is None:
        return
    await session.execute(
        insert(ApAppInteraction)
        .values(
            actor_app=target[0],
            object_uri=target[1],
            actor_uri=actor[:500],
            activity_uri=uri[:500],
            **values,
        )
        .on_conflict_do_nothing(
            index_elements=[ApAppInteraction.actor_uri, ApAppInteraction.activity_uri]
        )
    )


async def forget(session: AsyncSession, actor_uri: str, undone: str | None) -> None:
    """The sender undid a Like or boost (``undone`` is its id), or deleted a reply (its
    note's id): it no longer stands."""
    if not undone:
        return
    await session.execute(
        delete(ApAppInteraction).where(
            ApAppInteraction.actor_uri == actor_uri[:500],
            (ApAppInteraction.activity_uri == undone[:500])
            | (ApAppInteraction.reply_uri == undone[:500]),
        )
    )


def _title(payload: dict[str, Any]) -> str | None:
    obj = payload.get("object")
    if not isinstance(obj, dict):
        return None
    for field in ("name", "summary", "content"):
        value = obj.get(field)
        if isinstance(value, str) and value.strip():
            text = html_to_text(value)
            return text[:120] + ("…" if len(text) > 120 else "")
    return None


async def listing(
    session: AsyncSession, *, limit_per_app: int
) -> dict[str, list[AppInteractionDTO]]:
    """The newest interactions per app actor, with senders' handles and objects' titles."""
    apps = (await session.scalars(select(ApAppInteraction.actor_app).distinct())).all()
    rows = [
        row
        for app in sorted(apps)
        for row in (
            await session.scalars(
                select(ApAppInteraction)
                .where(ApAppInteraction.actor_app == app)
                .order_by(ApAppInteraction.id.desc())
                .limit(limit_per_app)
            )
        ).all()
    ]
    actors = {
        a.uri: a
        for a in await session.scalars(
            select(ApRemoteActor).where(ApRemoteActor.uri.in_({r.actor_uri for r in rows}))
        )
    }
    titles: dict[str, str | None] = {}
    for r in rows:
        if r.object_uri not in titles:
            payload = await session.scalar(
                select(ApActivity.payload)
                .where(ApActivity.object_uri == r.object_uri, ApActivity.actor_account_id.is_(None))
                .order_by(ApActivity.id.desc())
                .limit(1)
            )
            titles[r.object_uri] = _title(payload) if isinstance(payload, dict) else None
    by_app: dict[str, list[AppInteractionDTO]] = defaultdict(list)
    for r in rows:
        cached = actors.get(r.actor_uri)
        handle = (
            f"@{cached.preferred_username}@{urlsplit(r.actor_uri).netloc}"
            if cached is not None and cached.preferred_username
            else None
        )
        by_app[r.actor_app].append(
            AppInteractionDTO(
                r.id,
                r.actor_app,
                r.kind,
                r.actor_uri,
                handle,
                r.object_uri,
                titles[r.object_uri],
                r.reply_url,
                r.reply_text,
                r.received_at,
            )
        )
    return dict(by_app)
