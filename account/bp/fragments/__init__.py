"""The account app's fragments for every app's pages: ``account/menu`` and
``account/newsletter-subscribe``."""

from __future__ import annotations

from quart import render_template

from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import FragmentRequest, FragmentSet

fragments = FragmentSet("account")


# Per user: the signed-in member's name and a way out, or a sign-in link for everyone else
# (one copy shared by every anonymous visitor). Signing in or out and renaming outdate the
# member's copy (shared/infrastructure/auth.py).
@fragments.fragment("menu", ttl_s=300, per_user=True)
async def menu(req: FragmentRequest) -> str:
    user_id = req.visitor.user_id
    user = await services().identity.get_user(db_session(), user_id) if user_id else None
    return await render_template("fragments/menu.html", user=user)


# The same for everyone (no token, no address): the form posts to the account app's
# CSRF-exempt, rate-limited subscribe route. A new newsletter shows within the TTL.
@fragments.fragment("newsletter-subscribe", ttl_s=300, per_user=False)
async def newsletter_subscribe(req: FragmentRequest) -> str:
    newsletters = await services().newsletters.list_newsletters(db_session())
    return await render_template("fragments/subscribe.html", newsletters=newsletters, email="")
