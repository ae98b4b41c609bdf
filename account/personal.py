"""A member's data across every domain: the export archive and the erasure.

Each domain contributes through its contract: every registered service that implements
:class:`~shared.contracts.protocols.PersonalData` (see ``protocols.implements``) gives its
part of the export and removes or anonymises its part on erasure, all in the caller's
transaction; the account itself (IdentityService) is anonymised last, ending every sign-in.
A domain that lands later joins by implementing the two methods: nothing here changes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.protocols import PersonalData, implements
from shared.contracts.services import Services
from shared.errors import NotFound

EXPORT_FORMAT = "rose-ash-export/1"


def providers(registry: Services) -> list[tuple[str, PersonalData]]:
    """(registry field, service) for every domain that holds personal data, in registry
    order."""
    found: list[tuple[str, PersonalData]] = []
    for f in dataclasses.fields(registry):
        impl = getattr(registry, f.name)
        if implements(impl, PersonalData):
            found.append((f.name, impl))
    return found


async def export(session: AsyncSession, registry: Services, user_id: int) -> dict[str, Any]:
    """Everything the platform holds about the member, JSON-ready."""
    account = await registry.identity.get_account(session, user_id)
    if account is None:
        raise NotFound("user_not_found", "There is no such account.")
    archive: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": datetime.now(UTC).isoformat(),
        "profile": {
            "id": account.id,
            "email": account.email,
            "email_verified": account.email_verified,
            "username": account.username,
            "display_name": account.display_name,
            "roles": list(account.roles),
            "created_at": account.created_at.isoformat(),
        },
    }
    for _name, provider in providers(registry):
        section = await provider.export_member(session, user_id)
        archive[section.domain] = dict(section.data)
    return archive


async def erase(session: AsyncSession, registry: Services, user_id: int) -> list[str]:
    """Remove or anonymise the member's data in every domain, then the account; returns
    the sign-ins ended (the caller drops them from the session cache after committing)."""
    account = await registry.identity.get_account(session, user_id)
    if account is None:
        raise NotFound("user_not_found", "There is no such account.")
    for _name, provider in providers(registry):
        await provider.erase_member(session, user_id, account.email)
    return await registry.identity.erase_account(session, user_id)
