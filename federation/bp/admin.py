"""Staff pages at federation (admins only): the admin home (every staff page of every app),
accounts and their roles; the ActivityPub delivery queue (what is waiting, failing and dead)
with retry; the platform's status (the queues, the last runs, each app's readiness)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request, url_for

from shared.contracts import DELIVERY_VIEWS
from shared.errors import DomainError
from shared.infrastructure import auth
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.staff import STAFF_PAGES
from shared.models.identity import ROLES
from shared.services import operations

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@auth.require_role("admin")
async def home() -> Any:
    """Everything staff can do, on every app, grouped by app."""
    return await render_page("admin/home.html", pages=STAFF_PAGES)


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
        body = await render_page(
            "admin/users.html", accounts=accounts, q="", roles=ROLES, error=err
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


# --- the platform's status ---------------------------------------------------------------------


@bp.get("/status")
@auth.require_role("admin")
async def status() -> Any:
    """The queues, the last Ghost sync and scrapes, and each app's readiness, in words."""
    figures = await operations.read_figures(db_session())
    apps = await operations.apps_readiness(current_platform().settings)
    failing = [h for h in figures.deliveries if h.retrying or h.dead]
    failing.sort(key=lambda h: (-h.dead, -h.retrying, h.host))
    return await render_page(
        "admin/status.html",
        figures=figures,
        failing_hosts=failing[:10],
        apps=apps,
        ghost_configured=bool(current_platform().settings.ghost.url),
    )
