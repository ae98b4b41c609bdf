"""Staff pages at federation: the admin home (for all staff: every staff page of every app
that their roles allow; admins see them all); for admins only, accounts and their roles, the
ActivityPub delivery queue (what is waiting, failing and dead) with retry, the platform's status
(the queues, the last runs, each app's readiness) and the tools registered to sign members in
(OpenID Connect clients)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request, url_for

from shared.contracts import DELIVERY_VIEWS
from shared.errors import DomainError
from shared.infrastructure import auth, operations
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.staff import staff_pages_for
from shared.models import OidcClient
from shared.models.identity import ROLES
from shared.services.identity.oidc import tools as oidc_tools
from shared.services.identity.oidc.tools import (
    SCOPE_TEXT,
    ToolError,
    ToolNotFound,
    ToolSpec,
    split_lines,
)

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


# --- the platform's status ---------------------------------------------------------------------


@bp.get("/status")
@auth.require_role("admin")
async def status() -> Any:
    """The queues, the last Ghost sync, scrapes and backup, and each app's readiness, in words."""
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


# --- tools that sign members in (OpenID Connect clients) ------------------------------------


def _tool_spec(form: Any) -> ToolSpec:
    return ToolSpec(
        client_id=form.get("client_id", "").strip(),
        name=form.get("name", ""),
        redirect_uris=split_lines(form.get("redirect_uris", "")),
        post_logout_redirect_uris=split_lines(form.get("post_logout_redirect_uris", "")),
        backchannel_logout_uri=form.get("backchannel_logout_uri", "").strip(),
        scopes=form.getlist("scopes"),
        public=form.get("kind") == "public",
        trusted=form.get("trusted") == "yes",
    )


async def _tools_page(status: int = 200, **context: Any) -> Any:
    tools = await oidc_tools.list_tools(db_session())
    context.setdefault("spec", ToolSpec(client_id="", name="", redirect_uris=[]))
    body = await render_page(
        "admin/tools.html", tools=tools, scopes=SCOPE_TEXT, issuer=_issuer(), **context
    )
    return body, status


def _issuer() -> str:
    return str(current_platform().settings.apps["federation"].public_url)


@bp.get("/tools")
@auth.require_role("admin")
async def tools() -> Any:
    """The tools registered to sign members in, and a form to register one."""
    return await _tools_page()


@bp.post("/tools")
@auth.require_role("admin")
async def create_tool() -> Any:
    """Register a tool; its secret is shown on the answer, once."""
    spec = _tool_spec(await request.form)
    try:
        row, secret = await oidc_tools.create_tool(db_session(), spec)
    except ToolError as err:
        return await _tools_page(400, spec=spec, error=err, errors=err.fields)
    await db_session().commit()
    return await _tools_page(201, created=row, secret=secret)


@bp.post("/tools/<client_id>/rotate-secret")
@auth.require_role("admin")
async def rotate_tool_secret(client_id: str) -> Any:
    """A new secret for a confidential tool (shown once); its tokens stop working."""
    try:
        secret = await oidc_tools.rotate_secret(db_session(), client_id)
    except ToolNotFound:
        return await _tools_page(404)
    except ToolError as err:
        return await _tools_page(400, error=err)
    await db_session().commit()
    row = await db_session().get(OidcClient, client_id)
    return await _tools_page(200, created=row, secret=secret, rotated=True)


@bp.post("/tools/<client_id>/delete")
@auth.require_role("admin")
async def delete_tool(client_id: str) -> Any:
    """Remove a tool: its tokens stop working, its members' consents go."""
    try:
        await oidc_tools.delete_tool(db_session(), client_id)
    except ToolNotFound:
        return await _tools_page(404)
    return redirect(url_for("admin.tools"))
