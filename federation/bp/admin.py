"""Staff pages at federation: the admin home (for all staff: every staff page of every app
that their roles allow; admins see them all); for admins only, accounts and their roles and
the ActivityPub delivery queue (what is waiting, failing and dead) with retry."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request, url_for

from shared.contracts import DELIVERY_VIEWS
from shared.errors import DomainError
from shared.infrastructure import auth
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.staff import staff_pages_for
from shared.models.identity import ROLES

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@auth.require_role("editor")
async def home() -> Any:
    """Everything this member of staff can do, on every app, grouped by app: exactly the
    pages their roles allow (an admin holds every role, so sees every page)."""
    user = auth.current_user()
    return await render_page(
        "admin/home.html",
        pages=staff_pages_for(user),
        admin=user is not None and user.has_role("admin"),
    )


@bp.get("/users")
@auth.require_role("admin")
async def users() -> Any:
    """Accounts matching ``q`` (email, username or name)."""
    query = request.args.get("q", "")
    accounts = await services().identity.list_accounts(db_session(), query)
    return await render_page("admin/users.html", accounts=accounts, q=query, roles=ROLES)


@bp.post("/users/<int:user_id>/roles")
@auth.require_role("admin")
async def set_roles(user_id: int) -> Any:
    """Give an account exactly the ticked roles (member is always kept)."""
    actor = auth.current_user()
    assert actor is not None
    roles = (await request.form).getlist("roles")
    try:
        await services().identity.set_roles(db_session(), actor, user_id, roles)
    except DomainError as err:
        accounts = await services().identity.list_accounts(db_session())
        # Said beside that account's roles (each row is a form of its own).
        body = await render_page(
            "admin/users.html",
            accounts=accounts,
            q="",
            roles=ROLES,
            error=err,
            errors={f"roles-{user_id}": err.message},
        )
        return body, err.status
    return redirect("/admin/users")


# --- the ActivityPub delivery queue ------------------------------------------------------------


@bp.get("/federation/")
@auth.require_role("admin")
async def federation_queue() -> Any:
    """Counts by state, unavailable hosts, and the deliveries of one view (``?view=``)."""
    view = request.args.get("view", "failing")
    if view not in DELIVERY_VIEWS:
        view = "failing"
    federation = services().federation
    overview = await federation.queue_overview(db_session())
    deliveries = await federation.list_deliveries(db_session(), view)
    return await render_page(
        "admin/federation_queue.html",
        overview=overview,
        deliveries=deliveries,
        view=view,
        views=DELIVERY_VIEWS,
    )


@bp.get("/federation/deliveries/<int:delivery_id>")
@auth.require_role("admin")
async def federation_delivery(delivery_id: int) -> Any:
    """One delivery and every attempt at it."""
    row, attempts = await services().federation.delivery_detail(db_session(), delivery_id)
    return await render_page("admin/federation_delivery.html", row=row, attempts=attempts)


@bp.post("/federation/deliveries/<int:delivery_id>/retry")
@auth.require_role("admin")
async def federation_retry(delivery_id: int) -> Any:
    """Send one delivery again now, with fresh attempts."""
    await services().federation.retry_delivery(db_session(), delivery_id)
    return redirect(url_for("admin.federation_delivery", delivery_id=delivery_id))


@bp.post("/federation/retry-dead")
@auth.require_role("admin")
async def federation_retry_dead() -> Any:
    """Requeue every dead letter."""
    await services().federation.retry_dead(db_session())
    return redirect(url_for("admin.federation_queue", view="pending"))
