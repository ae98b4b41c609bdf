"""Moving a member's fediverse account, from their settings: the old accounts they name as
aliases (so those may move here) and the move away to a new account that names them.

Plain POSTs with their CSRF token, rate-limited per member; a refusal shows the page again with
what was wrong (4xx) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, Response, redirect, request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import MovingDTO
from shared.errors import DomainError
from shared.infrastructure import auth
from shared.infrastructure.activitypub.fetch import FetchError
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.ratelimit import rate_limited

bp = Blueprint("moving", __name__)

PAGE = "/social/moving"


def _user_id() -> int:
    user = auth.current_user()
    assert user is not None  # @login_required
    return user.id


async def _page(moving: MovingDTO, error: DomainError | None = None, **form: str) -> Response:
    session = db_session()
    account = await services().social.account_for_member(session, _user_id())
    html = await render_page(
        "social/moving.html", account=account, moving=moving, error=error, form=form
    )
    response = Response(html, status=error.status if error else 200)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _shown(err: DomainError) -> DomainError:
    """Trouble reaching another server is "not found" (what went wrong there is not ours to
    show, as the search says); our own refusals say what they are."""
    if isinstance(err, FetchError) or err.status >= 500:
        return DomainError(err.code, "No account was found for that handle or address.", status=404)
    return err


async def _act(
    call: Callable[[AsyncSession, int, str], Awaitable[object]], value: str, *, field: str
) -> Any:
    """Do what the form asks with the handle or address it gave; a refusal shows the page
    again, the value kept in its field (and nothing changed)."""
    session = db_session()
    try:
        await call(session, _user_id(), value)
    except DomainError as err:
        await session.rollback()
        moving = await services().social.moving(session, _user_id())
        return await _page(moving, _shown(err), **{field: value})
    return redirect(PAGE, 303)


@bp.get(PAGE)
@auth.login_required
async def moving() -> Response:
    return await _page(await services().social.moving(db_session(), _user_id()))


@bp.post(f"{PAGE}/aliases")
@auth.login_required
@rate_limited("social")
async def add_alias() -> Any:
    alias = (await request.form).get("alias", "")
    return await _act(services().social.add_alias, alias, field="alias")


@bp.post(f"{PAGE}/aliases/remove")
@auth.login_required
@rate_limited("social")
async def remove_alias() -> Any:
    form = await request.form
    await services().social.remove_alias(db_session(), _user_id(), form.get("uri", ""))
    return redirect(PAGE, 303)


@bp.post(f"{PAGE}/away")
@auth.login_required
@rate_limited("social")
async def move_away() -> Any:
    target = (await request.form).get("target", "")
    return await _act(services().social.move_away, target, field="target")
