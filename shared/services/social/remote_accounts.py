"""Finding accounts: a handle or an actor URL resolved (fetched when remote), remote actors
mirrored as accounts, and the cooperative's app actors as accounts members can follow."""

from __future__ import annotations

import html
import re
from typing import Any

import nh3
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import APP_NAMES
from shared.contracts import RemoteActorDTO, SocialAccountDTO
from shared.errors import DomainError, Forbidden, NotFound
from shared.infrastructure.activitypub import members, remote
from shared.infrastructure.activitypub.actors import actor_document as app_actor_document
from shared.infrastructure.activitypub.actors import actor_urls, app_of_actor
from shared.infrastructure.activitypub.fetch import Fetcher
from shared.infrastructure.activitypub.remote import id_of
from shared.models import ApRemoteActor, SocialAccount
from shared.services.social._common import (
    MAX_FIELDS,
    as_list,
    clean_text,
    domain_is_blocked,
    first_url,
    now,
    sanitize_remote,
    url_or_none,
)
from shared.services.social.accounts import SocialAccounts


class SocialRemoteAccounts(SocialAccounts):
    """Finding and mirroring accounts."""

    async def resolve_account(self, session: AsyncSession, query: str) -> SocialAccountDTO:
        """The account a handle (``@name@host``) or an actor URL names, fetched if remote."""
        async with self._fetcher() as fetcher:
            return await self._resolve(session, fetcher, query)

    async def _resolve(
        self, session: AsyncSession, fetcher: Fetcher, query: str
    ) -> SocialAccountDTO:
        query = query.strip()
        handle = members.parse_handle(query)
        app = self._app_named(query, handle)
        if app is not None:
            return self._dto(await self._app_actor_row(session, app))
        if handle is not None:
            user, host = handle
            if await domain_is_blocked(session, host):
                raise Forbidden("social_domain_blocked", f"{host} is blocked here.")
            if host == self.host.lower():
                row = await self._local_by_username(session, user)
                if row is None:
                    raise NotFound("social_no_account", f"There is no {user} here.")
                return self._dto(row)
            known = await session.scalar(
                select(SocialAccount).where(
                    func.lower(SocialAccount.username) == user.lower(),
                    func.lower(SocialAccount.domain) == host,
                )
            )
            if known is not None:
                return self._dto(known)
            uri = await members.webfinger(fetcher, user, host)
        elif re.fullmatch(r"https?://\S{1,490}", query):
            uri = query
            if await domain_is_blocked(session, members.host_of(uri)):
                raise Forbidden("social_domain_blocked", "That server is blocked here.")
            local = members.username_of(self.settings, uri)
            if local is not None:
                row = await self._local_by_username(session, local)
                if row is None:
                    raise NotFound("social_no_account", "There is no such member here.")
                return self._dto(row)
        else:
            raise DomainError(
                "social_bad_query", "Enter a handle like @name@example.social or a profile URL."
            )
        return self._dto(await self._remote_account(session, fetcher, uri))

    def _app_named(self, query: str, handle: tuple[str, str] | None) -> str | None:
        """Which of the cooperative's app actors a handle or actor URL names, if any."""
        for app in APP_NAMES:
            urls = actor_urls(self.settings, app)
            if handle is not None and f"{handle[0].lower()}@{handle[1]}" == urls.handle.lower():
                return app
        return app_of_actor(self.settings, query)

    async def _app_actor_row(self, session: AsyncSession, app: str) -> SocialAccount:
        """One of our app actors as an account: mirrored from its document, built here (no
        fetch). Following it is ordinary federation: the Follow goes to the app's inbox, the
        app accepts, and its posts arrive at our inbox like any server's."""
        doc = app_actor_document(self.settings, app)
        existing = await session.scalar(select(SocialAccount).where(SocialAccount.uri == doc["id"]))
        return existing or await self._upsert_remote(session, doc)

    async def app_actors(self, session: AsyncSession) -> list[SocialAccountDTO]:
        """The cooperative's app actors that publish (blog, market, events), followable."""
        return [
            self._dto(await self._app_actor_row(session, app))
            for app in ("blog", "market", "events")
        ]

    async def _remote_account(
        self, session: AsyncSession, fetcher: Fetcher, uri: str
    ) -> SocialAccount:
        existing = await session.scalar(select(SocialAccount).where(SocialAccount.uri == uri))
        if existing is not None:
            return existing
        actor = await remote.fetch_actor(session, fetcher, uri)
        doc = await session.scalar(
            select(ApRemoteActor.document).where(ApRemoteActor.uri == actor.uri)
        )
        return await self._upsert_remote(session, doc or {"id": actor.uri})

    async def _upsert_remote(self, session: AsyncSession, doc: dict[str, Any]) -> SocialAccount:
        """Mirror a remote actor document (already checked to come from its own origin)."""
        uri = id_of(doc)
        if uri is None:
            raise DomainError("social_bad_actor", "That actor has no id.")
        if members.username_of(self.settings, uri) is not None:
            raise DomainError("social_bad_actor", "That is one of our own accounts.")
        endpoints = doc.get("endpoints") if isinstance(doc.get("endpoints"), dict) else {}
        assert isinstance(endpoints, dict)
        icon = doc.get("icon")
        image = doc.get("image")
        fields = [
            {
                "name": clean_text(a.get("name"), 100),
                "value": clean_text(_plain(a.get("value")), 500),
            }
            for a in as_list(doc.get("attachment"))
            if isinstance(a, dict) and a.get("type") == "PropertyValue"
        ][:MAX_FIELDS]
        values: dict[str, Any] = {
            "uri": uri[:500],
            "username": clean_text(doc.get("preferredUsername"), 200)
            or uri.rsplit("/", 1)[-1][:200],
            "domain": (members.host_of(uri) or "unknown")[:255],
            "display_name": clean_text(doc.get("name"), 200),
            "summary": sanitize_remote(clean_text(doc.get("summary"), 20000)),
            "url": first_url(doc.get("url")) or uri[:500],
            "avatar_url": first_url(icon),
            "header_url": first_url(image),
            "fields": fields,
            "inbox_url": url_or_none(doc.get("inbox")),
            "shared_inbox_url": url_or_none(endpoints.get("sharedInbox")),
            "locked": bool(doc.get("manuallyApprovesFollowers") is True),
            "discoverable": bool(doc.get("discoverable", True) is not False),
            "updated_at": now(),
        }
        stmt = insert(SocialAccount).values(**values)
        row = (
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[SocialAccount.uri],
                    set_={k: stmt.excluded[k] for k in values if k != "uri"},
                ).returning(SocialAccount),
                execution_options={"populate_existing": True},
            )
        ).scalar_one()
        return row

    async def _sender_account(self, session: AsyncSession, sender: RemoteActorDTO) -> SocialAccount:
        existing = await session.scalar(
            select(SocialAccount).where(SocialAccount.uri == sender.uri)
        )
        if existing is not None:
            return existing
        doc = await session.scalar(
            select(ApRemoteActor.document).where(ApRemoteActor.uri == sender.uri)
        )
        if doc is None:
            doc = {
                "id": sender.uri,
                "preferredUsername": sender.preferred_username,
                "inbox": sender.inbox_url,
                "endpoints": {"sharedInbox": sender.shared_inbox_url},
            }
        return await self._upsert_remote(session, doc)


def _plain(value: Any) -> str:
    """Text of a small HTML value (profile field values arrive as HTML)."""
    if not isinstance(value, str):
        return ""
    return html.unescape(nh3.clean(value, tags=set()))
