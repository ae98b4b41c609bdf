"""The audit trail's one writer."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.logs import request_id_var
from shared.models import AuditLog
from shared.services import audit


async def test_record_labels_the_actor_and_keeps_the_request_id(db: AsyncSession) -> None:
    token = request_id_var.set("req-audit-0001")
    try:
        audit.record(
            db,
            "user.roles_changed",
            object_type="audit-test",
            object_id=7,
            actor_user_id=3,
            before={"roles": ["member"]},
            after={"roles": ["member", "editor"]},
        )
    finally:
        request_id_var.reset(token)
    audit.record(db, "user.created", object_type="audit-test", object_id=8, actor="cli")
    await db.flush()
    # Other tests' live apps commit audit rows of their own to this database: look at ours.
    mine = select(AuditLog).where(AuditLog.object_type == "audit-test").order_by(AuditLog.id)
    rows = (await db.scalars(mine)).all()
    assert [(r.actor, r.actor_user_id, r.object_id, r.request_id) for r in rows] == [
        ("user:3", 3, "7", "req-audit-0001"),
        ("cli", None, "8", None),
    ]
    assert rows[0].after == {"roles": ["member", "editor"]}
