"""Moving accounts between servers, as Mastodon does it (``alsoKnownAs``, ``movedTo``, ``Move``).

Moving here: a member names their old account as an alias (``alsoKnownAs`` in their actor),
so that the old server may send ``Move``; that server's followers then follow the member here.
Moving away: the new account must already name the member among its aliases (fetched fresh,
as the member has just added it there); the member's actor then says ``movedTo``, every
follower's server hears ``Move``, and the member's followers on this server are moved at once.

An incoming ``Move`` of a remote account is believed only when the new account's own document
names the old one among its aliases (fetched through the address guard); then every member
following the old account follows the new one instead (Mastodon's
``ActivityPub::Activity::Move`` and ``UnfollowFollowWorker``). A ``Move`` received twice
finds nobody left to move.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import MovingDTO, ReceivedDTO, RemoteActorDTO, SocialAccountDTO
from shared.errors import DomainError, NotFound
from shared.infrastructure.activitypub import members, remote
from shared.infrastructure.activitypub.actors import PUBLIC
from shared.infrastructure.activitypub.fetch import Fetcher, FetchError
from shared.infrastructure.activitypub.remote import id_of
from shared.models import ApRemoteActor, SocialAccount, SocialFollow
from shared.services import audit
from shared.services.social._common import as_list, domain_is_blocked, now, url_or_none
from shared.services.social.follows import SocialFollows
from shared.services.social.remote_accounts import SocialRemoteAccounts

log = logging.getLogger(__name__)

MAX_ALIASES = 10
MAX_QUERY = 500


class SocialMoves(SocialFollows, SocialRemoteAccounts):
    """Aliases, moving away, and ``Move`` received."""

    async def moving(self, session: AsyncSession, user_id: int) -> MovingDTO:
        """The member's aliases and where they moved, for their settings."""
        return await self._moving(session, await self._local_row(session, user_id))

    async def _moving(self, session: AsyncSession, me: SocialAccount) -> MovingDTO:
        uris = list(me.also_known_as)
        known = {
            r.uri: f"@{self._acct(r)}"
            for r in await session.scalars(select(SocialAccount).where(SocialAccount.uri.in_(uris)))
        }
        moved = await self._account_at(session, me.moved_to_uri)
        return MovingDTO(
            tuple((u, known.get(u, u)) for u in uris), self._dto(moved) if moved else None
        )

    async def moved_to(self, session: AsyncSession, account_id: int) -> SocialAccountDTO | None:
        """The account an account moved to, if it moved (and we know the new one)."""
        row = await session.get(SocialAccount, account_id)
        moved = await self._account_at(session, row.moved_to_uri if row else None)
        return self._dto(moved) if moved else None

    async def _account_at(self, session: AsyncSession, uri: str | None) -> SocialAccount | None:
        if uri is None:
            return None
        return await session.scalar(select(SocialAccount).where(SocialAccount.uri == uri))

    async def add_alias(self, session: AsyncSession, user_id: int, query: str) -> MovingDTO:
        """Name an old account (handle or actor URL, resolved) as the member's alias, so that
        it may move here; followers hear of it (``Update`` of the Person)."""
        me = await self._local_row(session, user_id)
        account = await self.resolve_account(session, _query(query))
        if account.id == me.id:
            raise DomainError("social_alias_self", "That is this account.")
        if account.uri in me.also_known_as:
            return await self._moving(session, me)
        if len(me.also_known_as) >= MAX_ALIASES:
            raise DomainError("social_too_many_aliases", f"At most {MAX_ALIASES} aliases.")
        me.also_known_as = [*me.also_known_as, account.uri]
        await self._person_changed(session, me)
        audit.record(
            session,
            "social.alias_added",
            object_type="social_account",
            object_id=me.id,
            actor_user_id=user_id,
            after={"alias": account.uri},
        )
        return await self._moving(session, me)

    async def remove_alias(self, session: AsyncSession, user_id: int, uri: str) -> MovingDTO:
        me = await self._local_row(session, user_id)
        if uri not in me.also_known_as:
            raise NotFound("social_no_alias", "That is not one of your aliases.")
        me.also_known_as = [u for u in me.also_known_as if u != uri]
        await self._person_changed(session, me)
        audit.record(
            session,
            "social.alias_removed",
            object_type="social_account",
            object_id=me.id,
            actor_user_id=user_id,
            before={"alias": uri},
        )
        return await self._moving(session, me)

    async def move_away(self, session: AsyncSession, user_id: int, query: str) -> MovingDTO:
        """Move the member to the account ``query`` names, which must list the member among
        its aliases: ``Move`` to every follower, local followers moved here."""
        me = await self._local_row(session, user_id)
        query = _query(query)
        async with self._fetcher() as fetcher:
            found = await self._resolve(session, fetcher, query)
            if found.id == me.id:
                raise DomainError("social_move_self", "That is this account.")
            target, aliases = await self._successor(session, fetcher, found.uri)
        handle = members.member_urls(self.settings, me.username).handle
        if target is None or target.suspended_at is not None:
            raise DomainError("social_move_target", "That account cannot be moved to.")
        if me.uri not in aliases:
            raise DomainError(
                "social_move_not_aliased",
                f"@{self._acct(target)} does not name @{handle} among its aliases "
                f"(alsoKnownAs): add this account as an alias there first.",
                status=422,
            )
        before = me.moved_to_uri
        me.moved_to_uri = target.uri
        me.updated_at = now()
        await session.flush()
        await self._publish(
            session,
            me,
            "Move",
            me.uri,
            object_uri=me.uri,
            is_public=False,
            to_followers=True,
            targets=(),
            to=[members.member_urls(self.settings, me.username).followers],
            cc=[],
            extra={"target": target.uri},
        )
        await self._move_followers(session, me, target)
        audit.record(
            session,
            "social.moved_away",
            object_type="social_account",
            object_id=me.id,
            actor_user_id=user_id,
            before={"moved_to": before},
            after={"moved_to": target.uri},
        )
        return await self._moving(session, me)

    async def _successor(
        self, session: AsyncSession, fetcher: Fetcher, uri: str
    ) -> tuple[SocialAccount | None, list[str]]:
        """The account at ``uri`` and the aliases it names itself (a remote one fetched
        now: it named its alias just before the move)."""
        username = members.username_of(self.settings, uri)
        if username is not None:
            local = await self._local_by_username(session, username)
            return local, list(local.also_known_as) if local else []
        if await domain_is_blocked(session, members.host_of(uri)):
            return None, []
        actor = await remote.fetch_actor(session, fetcher, uri)
        doc: dict[str, Any] | None = await session.scalar(
            select(ApRemoteActor.document).where(ApRemoteActor.uri == actor.uri)
        )
        if doc is None:
            return None, []
        row = await self._upsert_remote(session, doc)
        aliases = [u for u in (url_or_none(id_of(a)) for a in _listed(doc)) if u][:MAX_ALIASES]
        row.also_known_as = aliases
        if row.inbox_url is None:
            return None, aliases
        return row, aliases

    async def _move_followers(
        self, session: AsyncSession, origin: SocialAccount, target: SocialAccount
    ) -> int:
        """Every member following ``origin`` follows ``target`` instead (one who may not,
        being blocked, keeps following ``origin``); how many moved."""
        followers = list(
            await session.scalars(
                select(SocialAccount.user_id)
                .join(SocialFollow, SocialFollow.follower_id == SocialAccount.id)
                .where(
                    SocialFollow.target_id == origin.id,
                    SocialFollow.state == "accepted",
                    SocialAccount.user_id.is_not(None),
                    SocialAccount.suspended_at.is_(None),
                )
                .order_by(SocialFollow.id)
            )
        )
        moved = 0
        for user_id in followers:
            assert user_id is not None
            try:
                await self.follow(session, user_id, target.id)
            except DomainError:
                continue  # blocked either way, or the target itself
            await self.unfollow(session, user_id, origin.id)
            moved += 1
        return moved

    async def _on_move(
        self, session: AsyncSession, activity: dict[str, Any], sender: RemoteActorDTO
    ) -> ReceivedDTO:
        """A remote account moved: believed only if its new account names it as an alias."""
        target_uri = id_of(activity.get("target"))
        origin = await self._account_at(session, sender.uri)
        if (
            id_of(activity.get("object")) != sender.uri
            or origin is None
            or target_uri is None
            or target_uri == sender.uri
        ):
            return ReceivedDTO("noted", "Move")
        try:
            async with self._fetcher() as fetcher:
                target, aliases = await self._successor(session, fetcher, target_uri)
        except FetchError as err:
            log.info("inbox: Move of %s to %s not checked: %s", sender.uri, target_uri, err)
            return ReceivedDTO("move_unverified", "Move")
        if target is None or target.suspended_at is not None or sender.uri not in aliases:
            log.info("inbox: Move of %s to %s not named by its target", sender.uri, target_uri)
            return ReceivedDTO("move_unverified", "Move")
        origin.moved_to_uri = target.uri
        moved = await self._move_followers(session, origin, target)
        log.info("inbox: %s moved to %s, %d members with it", sender.uri, target.uri, moved)
        return ReceivedDTO("moved", "Move")

    async def _person_changed(self, session: AsyncSession, me: SocialAccount) -> None:
        """Tell the member's followers their actor changed (``Update`` of the Person)."""
        me.updated_at = now()
        await session.flush()
        await self._publish(
            session,
            me,
            "Update",
            self._person(me),
            object_uri=me.uri,
            is_public=True,
            to_followers=True,
            targets=(),
            to=[PUBLIC],
            cc=[members.member_urls(self.settings, me.username).followers],
        )


def _query(query: str) -> str:
    query = query.strip()
    if not query:
        raise DomainError("social_bad_query", "Enter a handle like @name@example.social.")
    if len(query) > MAX_QUERY:
        raise DomainError("social_bad_query", "That is too long for a handle or address.")
    return query


def _listed(doc: dict[str, Any]) -> list[Any]:
    value = doc.get("alsoKnownAs")
    return [value] if isinstance(value, str) else as_list(value)
