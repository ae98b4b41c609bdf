"""Federation's fragments for every app's header: ``federation/notifications``."""

from __future__ import annotations

from quart import render_template

from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRequest, FragmentSet

fragments = FragmentSet("federation")


# Per user: the member's unread social notifications (a link to them), nothing for visitors.
# A new notification outdates the member's copy (shared/services/social/service.py), and reading
# them does too; the TTL only bounds what a missed invalidation could leave behind.
@fragments.fragment("notifications", ttl_s=300, per_user=True)
async def notifications(req: FragmentRequest) -> str:
    user_id = req.visitor.user_id
    unread = await services().social.unread_count(db_session(), user_id) if user_id else 0
    return await render_template("fragments/notifications.html", user_id=user_id, unread=unread)
