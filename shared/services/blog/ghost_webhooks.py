"""Registering Ghost's webhooks to the blog (`rose-ash ghost-sync --register-webhooks`).

Ghost 5 lets an integration create, edit and delete its webhooks but not list them (no
``GET webhooks/``; ``integrations/`` is for staff only), and refuses a second webhook for the
same event and target with a 422 whose context is "Target URL has already been used for this
event.". So what we registered is remembered in ``ghost_state['webhooks']`` (per event: its
id, target and a hash of its secret). Running again edits each remembered webhook in place
(``PUT webhooks/{id}/``): one still right stays as it is, one pointing at an old
``apps.blog.public_url`` or signed with an old secret is moved to the current ones, one deleted
in Ghost meanwhile is made again. A webhook Ghost already has that we have no record of
(another database, say) counts as registered.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.models.blog import GhostState
from shared.services.blog.ghost import GhostAdminClient, WebhookExists

# What changes what the public can read; post.added/edited would also fire for every
# autosave of a draft, and post.scheduled et al. for posts not live yet (the sync would
# re-read them for nothing: the Content API does not show them).
WEBHOOK_EVENTS = (
    *(
        f"{kind}.{event}"
        for kind in ("post", "page")
        for event in ("published", "published.edited", "unpublished", "deleted")
    ),
    "tag.added",
    "tag.edited",
    "tag.deleted",
    "site.changed",
)
WEBHOOK_PATH = "/webhooks/ghost"
WEBHOOKS_KEY = "webhooks"


def _fingerprint(secret: str) -> str:
    """What we keep of a webhook's secret: enough to notice it changed, nothing to sign with."""
    return hashlib.sha256(b"rose-ash ghost webhook\0" + secret.encode()).hexdigest()


async def _load(session: AsyncSession) -> dict[str, Any]:
    value = await session.scalar(select(GhostState.value).where(GhostState.name == WEBHOOKS_KEY))
    return dict(value) if value else {}


async def _save(session: AsyncSession, value: dict[str, Any]) -> None:
    await session.execute(
        pg_insert(GhostState)
        .values(name=WEBHOOKS_KEY, value=value)
        .on_conflict_do_update(index_elements=["name"], set_={"value": value})
    )


async def register_webhooks(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> list[tuple[str, str]]:
    """Make Ghost's webhooks for :data:`WEBHOOK_EVENTS` point at the blog's public
    ``/webhooks/ghost``, signed with ``ROSE_GHOST_WEBHOOK_SECRET``; returns (event, "created",
    "replaced" or "exists"). Safe to run again (see the module's docstring)."""
    secret = settings.require("ghost_webhook_secret")
    target = settings.apps["blog"].public_url + WEBHOOK_PATH
    fingerprint = _fingerprint(secret)
    async with session_factory() as session:
        known = await _load(session)
    outcomes: list[tuple[str, str]] = []
    async with GhostAdminClient.from_settings(settings) as admin:
        for event, name in ((e, f"Rose Ash: {e}") for e in WEBHOOK_EVENTS):
            record = known.get(event)
            hook = None
            if isinstance(record, dict):
                # Edited in place: this checks it is still there (and the key still works)
                # and moves it to the current address and secret if they changed.
                hook = await admin.edit_webhook(
                    str(record.get("id")), event=event, target_url=target, secret=secret, name=name
                )
            if hook is not None:
                same = record == {"id": hook.get("id"), "target_url": target, "secret": fingerprint}
                outcome = "exists" if same else "replaced"
            else:
                try:
                    hook = await admin.add_webhook(
                        event=event, target_url=target, secret=secret, name=name
                    )
                except WebhookExists:
                    outcome = "exists"
                else:
                    outcome = "created"
            if hook is None:
                known.pop(event, None)
            else:
                known[event] = {"id": hook.get("id"), "target_url": target, "secret": fingerprint}
            outcomes.append((event, outcome))
            # Remembered as it goes: a run stopped half-way still knows what it made.
            async with session_factory() as session, session.begin():
                await _save(session, known)
    return outcomes
