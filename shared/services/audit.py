"""The audit trail's one writer (STYLE rule 6): who changed what, when, before and after.

Rows are added to the caller's session, so they commit or roll back with the change they
describe; the request id ties a row to the request's log lines.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.logs import request_id_var
from shared.models import AuditLog


def record(
    session: AsyncSession,
    action: str,
    *,
    object_type: str,
    object_id: object,
    actor_user_id: int | None = None,
    actor: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one audit row; ``actor`` defaults to ``user:<id>`` (or ``system``)."""
    if actor is None:
        actor = f"user:{actor_user_id}" if actor_user_id is not None else "system"
    request_id = request_id_var.get()
    session.add(
        AuditLog(
            actor=actor,
            actor_user_id=actor_user_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            before=before,
            after=after,
            request_id=None if request_id == "-" else request_id,
        )
    )
