"""The account app's fragments for every app's pages: ``account/menu`` and
``account/newsletter-subscribe``."""

from __future__ import annotations

from quart import render_template

from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRequest, FragmentSet
from shared.infrastructure.staff import ADMIN_HOME, staff_pages_for

fragments = FragmentSet("account")


# Per user: the signed-in member's avatar (their fediverse profile's, or their initials), name
# and a way out (and, for staff, the staff menu), or a sign-in link for everyone else (one copy
# shared by every anonymous visitor). Signing in or out and renaming outdate the member's copy
# (shared/infrastructure/auth.py); a change of roles or avatar shows within the TTL.
@fragments.fragment("menu", ttl_s=300, per_user=True)
async def menu(req: FragmentRequest) -> str:
    user_id = req.visitor.user_id
    user = await services().identity.get_user(db_session(), user_id) if user_id else None
    pages = staff_pages_for(user)
    if pages:  # staff: their admin home first, which lists what their roles allow
        pages = [ADMIN_HOME, *pages]
    profile = await services().social.member_profile(db_session(), user.id) if user else None
    return await render_template(
        "fragments/menu.html",
        user=user,
        staff_pages=pages,
        avatar_url=profile.avatar_url if profile else None,
        initials=initials(user.name) if user else "",
    )


def initials(name: str) -> str:
    """What stands in for a member's avatar: the first letters of up to two of their names."""
    words = [w for w in name.replace("_", " ").replace(".", " ").split() if w[0].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


# The same for everyone (no token, no address): the form posts to the account app's
# CSRF-exempt, rate-limited subscribe route. A new newsletter shows within the TTL.
@fragments.fragment("newsletter-subscribe", ttl_s=300, per_user=False)
async def newsletter_subscribe(req: FragmentRequest) -> str:
    newsletters = await services().newsletters.list_newsletters(db_session())
    return await render_template("fragments/subscribe.html", newsletters=newsletters, email="")
