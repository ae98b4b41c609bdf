"""The member's dashboard, their data export and the deletion of their account.

The dashboard's orders and tickets come from the cart and events through the capabilities
their contracts offer (``MemberOrders``, ``MemberTickets`` in shared/contracts/common.py):
a section shows once its domain implements it. Each order links to its detail and printable
receipt in account (account/bp/orders.py); paying an order waiting for payment happens on the
cart's own order page.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, cast
from urllib.parse import urlsplit

from quart import Blueprint, Response, redirect, request

from account import personal
from account.bp.dashboard import dashboard_placements, dashboard_refs
from shared.contracts import MemberOrders, MemberTickets, implements
from shared.contracts.errors import EmailUnverified
from shared.errors import DomainError, FieldErrors, InvalidField, field_errors
from shared.infrastructure import auth
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.ratelimit import rate_limited

bp = Blueprint("home", __name__)

DASHBOARD_ROWS = 10


def fediverse_handle(username: str) -> str:
    """The member's handle on the fediverse: their actor lives on the federation host."""
    host = urlsplit(current_platform().settings.apps["federation"].public_url).netloc
    return f"@{username}@{host}"


@bp.get("/")
async def index() -> Any:
    """The dashboard for a signed-in member; an invitation to sign in for anyone else."""
    user = auth.current_user()
    if user is None:
        return await render_page("home.html", account=None)
    db = db_session()
    reg = services()
    account = await reg.identity.get_account(db, user.id)
    orders = tickets = None
    # Capabilities a domain may offer (implements checks their methods).
    if implements(reg.cart, MemberOrders):
        cart = cast(MemberOrders, reg.cart)
        orders = await cart.dashboard_orders(db, user.id, limit=DASHBOARD_ROWS)
    if implements(reg.events, MemberTickets):
        events = cast(MemberTickets, reg.events)
        tickets = await events.upcoming_for_member(db, user.id, limit=DASHBOARD_ROWS)
    # Display name, avatar and bio: the member's fediverse profile (the social contract).
    profile = await reg.social.member_profile(db, user.id)
    subscriptions = await reg.newsletters.member_subscriptions(db, user.id)
    newsletters = await reg.newsletters.list_newsletters(db)
    subscribed = {s.newsletter_id for s in subscriptions if s.status in ("active", "pending")}
    # The widgets staff chose, fetched with the header's fragments in one round trip.
    widgets = await dashboard_placements()
    body = await render_page(
        "home.html",
        fragments=dashboard_refs(widgets),
        dashboard_widgets=widgets,
        account=account,
        handle=fediverse_handle(user.username),
        profile=profile,
        orders=orders,
        tickets=tickets,
        subscriptions=subscriptions,
        others=[n for n in newsletters if n.id not in subscribed],
    )
    # The page is the member's own.
    return body, 200, {"Cache-Control": "private, no-store"}


@bp.get("/data/export")
@auth.login_required
async def export_data() -> Any:
    """Everything the platform holds about the member, as a JSON download."""
    user = auth.current_user()
    assert user is not None  # login_required
    archive = await personal.export(db_session(), services(), user.id)
    return Response(
        json.dumps(archive, indent=2, ensure_ascii=False, default=str),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="rose-ash-{user.username}.json"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.get("/data/delete")
@auth.login_required
async def confirm_delete() -> Any:
    """What deleting the account means, and the form that does it."""
    user = auth.current_user()
    assert user is not None  # login_required
    account = await services().identity.get_account(db_session(), user.id)
    return await render_page("delete.html", account=account)


@bp.post("/data/delete")
@auth.login_required
@rate_limited("password")
async def delete_account() -> Any:
    """Delete the account for good, once the member has proved it is them (password)."""
    user = auth.current_user()
    assert user is not None  # login_required
    form = await request.form
    db = db_session()
    reg = services()
    account = await reg.identity.get_account(db, user.id)
    assert account is not None  # signed in
    checks = FieldErrors()  # the tick and the password, both said at once
    try:
        if form.get("confirm") != "delete":
            checks.note(InvalidField("not_confirmed", "Tick the box to confirm.", "confirm"))
        if account.has_password:
            try:
                await _check_password(account.username, form.get("password", ""))
            except DomainError as err:
                if err.status != 400 and err.status != 401:
                    raise  # a refusal of the whole request (too many tries)
                checks.note(InvalidField(err.code, err.message, "password", status=err.status))
        checks.raise_if_any()
        ended = await personal.erase(db, reg, user.id)
    except DomainError as err:
        await db.rollback()
        body = await render_page(
            "delete.html", account=account, error=err, errors=field_errors(err)
        )
        return body, err.status
    await db.commit()
    await auth.forget_sessions(ended)
    auth.sign_out_locally()
    return redirect("/deleted")


async def _check_password(username: str, password: str) -> None:
    # EmailUnverified means the password was right: an unverified account may be deleted.
    with contextlib.suppress(EmailUnverified):
        await services().identity.authenticate(db_session(), username, password)


@bp.get("/deleted")
async def deleted() -> Any:
    return await render_page("deleted.html")
