"""The social hub: members on the fediverse.

Two faces on the same URLs where ActivityPub needs them: ``/users/<name>`` (and a member's
posts under it) answers the ``Person`` (or ``Note``) to servers and the profile page (or the
post) to browsers. The member's pages live under ``/social``: the home and local timelines,
compose, search, profiles, follow requests, notifications and the profile editor; ``/`` is the
hub too (home timeline for members, local for everyone else). Every form
is a plain POST with its CSRF token; every unsafe route is rate-limited per member.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, abort, redirect, render_template, request
from quart.typing import ResponseTypes

from shared.config import APP_NAMES
from shared.contracts import (
    SOCIAL_DOMAIN_SEVERITIES,
    ApObjectDTO,
    ComposeInput,
    MediaUpload,
    SocialAccountDTO,
    SocialProfileInput,
    UserDTO,
)
from shared.errors import DomainError, NotFound, field_errors
from shared.infrastructure import auth, inputs
from shared.infrastructure.activitypub import members
from shared.infrastructure.activitypub.actors import CONTEXT, actor_urls
from shared.infrastructure.activitypub.fetch import FetchError
from shared.infrastructure.activitypub.negotiation import activitypub_object
from shared.infrastructure.activitypub.routes import (
    INBOX_CSRF_REASON,
    as_json,
    receive,
    wants_activity_json,
)
from shared.infrastructure.boost import is_htmx
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.csrf import csrf_exempt
from shared.infrastructure.fragments import render_page
from shared.infrastructure.ratelimit import rate_limited
from shared.infrastructure.sanitize import html_to_text

bp = Blueprint("social", __name__)

PAGE_SIZE = 20
COLLECTION_PAGE = 20


def _me() -> UserDTO:
    user = auth.current_user()
    assert user is not None  # @login_required
    return user


def _viewer_id() -> int | None:
    user = auth.current_user()
    return user.id if user is not None else None


def _cursor() -> int | None:
    return inputs.query_int("max_id")


def _back(default: str) -> str:
    """Where a form returns to: the page it was posted from, when it is one of ours."""
    origin = current_platform().settings.apps["federation"].public_url
    return auth.safe_next(request.args.get("next") or request.referrer, [origin], default)


def _in_place() -> bool:
    """Whether a form was posted by htmx on its own (``hx-post``: Like, Boost, Follow), not as a
    boosted navigation: its answer is then the piece of the page it changed, not a redirect."""
    return is_htmx(request.headers.get("HX-Request")) and "HX-Boosted" not in request.headers


def _private(html: str, status: int = 200) -> Response:
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Vary"] = "Accept, Cookie"
    return response


# --- members' actors (ActivityPub and their public pages) ---------------------------------


async def _member(username: str) -> SocialAccountDTO:
    """The member's account, or 404 when there is none and 410 Gone when it is suspended or
    erased (as Mastodon answers for an account that is no longer available: other servers
    then drop it instead of retrying)."""
    account = await services().social.local_account(db_session(), username)
    if account is None:
        abort(404)
    if account.suspended:
        abort(410)
    return account


@bp.get("/@<username>")
async def short_profile(username: str) -> Any:
    account = await _member(username)
    return redirect(account.uri, 301)


@bp.get("/users/<username>")
async def actor(username: str) -> Any:
    session = db_session()
    social = services().social
    account = await _member(username)
    if wants_activity_json():
        doc = await social.actor_document(session, username)
        if doc is None:
            abort(404)
        return as_json(dict(doc.data))
    if account.username != username:
        return redirect(account.uri, 301)
    return await _profile_page(account)


async def _profile_page(account: SocialAccountDTO) -> Response:
    session = db_session()
    social = services().social
    viewer = _viewer_id()
    page = await social.account_statuses(
        session, account.id, viewer, max_id=_cursor(), limit=PAGE_SIZE
    )
    relationship = None
    if viewer is not None:
        mine = await social.account_for_member(session, viewer)
        if mine.id != account.id:
            relationship = await social.relationship(session, viewer, account.id)
    _, followers = await social.followers(session, account.id, page=1, limit=1)
    _, following = await social.following(session, account.id, page=1, limit=1)
    html = await render_page(
        "social/profile.html",
        account=account,
        moved_to=await social.moved_to(session, account.id),
        page=page,
        relationship=relationship,
        followers=followers,
        following=following,
    )
    return _private(html)


@bp.post("/users/<username>/inbox")
@csrf_exempt(INBOX_CSRF_REASON)
async def member_inbox(username: str) -> Response:
    if await services().social.local_account(db_session(), username) is None:
        abort(404)
    return await receive(None)


@bp.get("/users/<username>/outbox")
async def member_outbox(username: str) -> Response:
    account = await _member(username)
    urls = members.member_urls(current_platform().settings, account.username)
    max_id = _cursor()
    page = await services().social.outbox(
        db_session(), account.username, max_id=max_id, limit=COLLECTION_PAGE
    )
    if "page" not in request.args and max_id is None:
        return as_json(
            {
                "@context": CONTEXT,
                "id": urls.outbox,
                "type": "OrderedCollection",
                "totalItems": page.total,
                "first": f"{urls.outbox}?page=true",
            }
        )
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"{urls.outbox}?page=true" + (f"&max_id={max_id}" if max_id else ""),
        "type": "OrderedCollectionPage",
        "partOf": urls.outbox,
        "totalItems": page.total,
        "orderedItems": [dict(i.data) for i in page.items],
    }
    if page.next_max_id is not None:
        doc["next"] = f"{urls.outbox}?page=true&max_id={page.next_max_id}"
    return as_json(doc)


async def _collection(username: str, *, followers: bool) -> Response:
    social = services().social
    session = db_session()
    account = await _member(username)
    urls = members.member_urls(current_platform().settings, account.username)
    base = urls.followers if followers else urls.following
    listing = social.followers if followers else social.following
    page = inputs.query_int("page", maximum=inputs.MAX_PAGE)
    items, total = await listing(session, account.id, page=max(page or 1, 1), limit=COLLECTION_PAGE)
    doc: dict[str, Any] = {"@context": CONTEXT, "id": base, "totalItems": total}
    if account.hide_followers:
        # Hidden lists answer their size only, as Mastodon does.
        doc["type"] = "OrderedCollection"
        return as_json(doc)
    if page is None:
        doc.update(type="OrderedCollection", first=f"{base}?page=1")
        return as_json(doc)
    doc.update(
        id=f"{base}?page={page}",
        type="OrderedCollectionPage",
        partOf=base,
        orderedItems=[a.uri for a in items],
    )
    if page * COLLECTION_PAGE < total:
        doc["next"] = f"{base}?page={page + 1}"
    return as_json(doc)


@bp.get("/users/<username>/followers")
async def member_followers(username: str) -> Response:
    return await _collection(username, followers=True)


@bp.get("/users/<username>/following")
async def member_following(username: str) -> Response:
    return await _collection(username, followers=False)


@bp.get("/users/<username>/statuses/<uid>")
async def member_status(username: str, uid: str) -> Any:
    social = services().social
    session = db_session()
    await _member(username)
    if wants_activity_json():
        doc = await social.local_status_document(session, username, uid)
        if doc is None:
            abort(404)
        if doc.type == "Tombstone":
            return as_json({"@context": CONTEXT, **doc.data}, status=410)
        return as_json({"@context": CONTEXT, **doc.data})
    status_id = await social.status_id_by_uri(session, username, uid)
    if status_id is None:
        abort(404)
    return await _thread(status_id)


# --- the member's pages ---------------------------------------------------------------------


@bp.get("/")
async def front() -> Response:
    """Federation's front page, where the site's "Community" link leads: the social hub, the
    member's home timeline or, for everyone else, the cooperative's local timeline."""
    if auth.current_user() is not None:
        return await home()
    return await local()


@bp.get("/social")
@auth.login_required
async def home() -> Response:
    me = _me()
    session = db_session()
    social = services().social
    account = await social.account_for_member(session, me.id)
    page = await social.home_timeline(session, me.id, max_id=_cursor(), limit=PAGE_SIZE)
    requests = await social.follow_requests(session, me.id)
    html = await render_page(
        "social/home.html",
        account=account,
        page=page,
        title="Home",
        timeline="home",
        follow_requests=len(requests),
        unread=await social.unread_count(session, me.id),
    )
    return _private(html)


@bp.get("/social/local")
async def local() -> Response:
    session = db_session()
    social = services().social
    viewer = _viewer_id()
    account = await social.account_for_member(session, viewer) if viewer else None
    page = await social.local_timeline(session, viewer, max_id=_cursor(), limit=PAGE_SIZE)
    html = await render_page(
        "social/home.html",
        account=account,
        page=page,
        title="Local",
        timeline="local",
        follow_requests=0,
        unread=await social.unread_count(session, viewer) if viewer else 0,
        # The cooperative's own accounts (blog, market, events), to follow from here.
        app_actors=await social.app_actors(session),
    )
    return _private(html)


async def _upload(name: str, description: str = "") -> MediaUpload | None:
    """The file posted as ``name`` (None when the field was left empty)."""
    upload = (await request.files).get(name)
    if upload is None or not upload.filename:
        return None
    return MediaUpload(upload.stream.read(), description)


@bp.post("/social/statuses")
@auth.login_required
@rate_limited("social")
async def compose() -> Any:
    form = await request.form
    reply_to = form.get("in_reply_to_id", "")
    if reply_to and inputs.parse_int(reply_to) is None:
        abort(400, "in_reply_to_id must be a post id.")
    uploads = [await _upload(f"media_{i}", form.get(f"alt_{i}", "")) for i in range(8)]
    post = ComposeInput(
        text=form.get("text", ""),
        visibility=form.get("visibility", "public"),
        spoiler_text=form.get("spoiler_text", ""),
        in_reply_to_id=int(reply_to) if reply_to else None,
        media=tuple(u for u in uploads if u is not None),
    )
    try:
        status = await services().social.compose(db_session(), _me().id, post)
    except DomainError as err:
        if isinstance(err, NotFound):
            raise
        await db_session().rollback()
        html = await render_page(
            "social/compose_error.html", error=err, errors=field_errors(err), post=post
        )
        return _private(html, err.status)
    if post.in_reply_to_id is not None:
        return redirect(f"/social/statuses/{post.in_reply_to_id}#status-{status.id}", 303)
    return redirect("/social", 303)


async def _status_object(status_id: int) -> ApObjectDTO | None:
    """A member's public post as a stranger's server sees it, else None."""
    social, session = services().social, db_session()
    try:
        status = await social.status(session, status_id, None)
    except NotFound:
        return None
    if not status.account.is_local:
        return None
    uid = status.uri.rsplit("/", 1)[-1]
    return await social.local_status_document(session, status.account.username, uid)


@bp.get("/social/statuses/<int:status_id>")
@activitypub_object(_status_object)
async def thread(status_id: int) -> Response:
    return await _thread(status_id)


async def _thread(status_id: int) -> Response:
    session = db_session()
    social = services().social
    viewer = _viewer_id()
    status = await social.status(session, status_id, viewer)
    replies = await social.replies(session, status_id, viewer)
    account = await social.account_for_member(session, viewer) if viewer else None
    html = await render_page("social/thread.html", status=status, replies=replies, account=account)
    return _private(html)


@bp.get("/social/statuses/<int:status_id>/edit")
@auth.login_required
async def edit(status_id: int) -> Response:
    social = services().social
    me = _me().id
    status = await social.status(db_session(), status_id, me)
    mine = await social.account_for_member(db_session(), me)
    if status.account.id != mine.id or status.reblog is not None:
        abort(404)
    html = await render_page(
        "social/edit.html", status=status, error=None, text=html_to_text(status.content)
    )
    return _private(html)


@bp.post("/social/statuses/<int:status_id>/<action>")
@auth.login_required
@rate_limited("social")
async def act(status_id: int, action: str) -> Any:
    social = services().social
    session = db_session()
    me = _me().id
    if action == "delete":
        await social.delete_status(session, me, status_id)
        return redirect("/social", 303)
    if action == "edit":
        form = await request.form
        post = ComposeInput(text=form.get("text", ""), spoiler_text=form.get("spoiler_text", ""))
        try:
            await social.edit_status(session, me, status_id, post)
        except DomainError as err:
            if isinstance(err, NotFound):
                raise
            status = await social.status(session, status_id, me)
            html = await render_page(
                "social/edit.html",
                status=status,
                error=err,
                errors=field_errors(err),
                text=post.text,
                spoiler_text=post.spoiler_text,
            )
            return _private(html, 400)
        return redirect(f"/social/statuses/{status_id}", 303)
    if action in ("favourite", "unfavourite"):
        await social.favourite(session, me, status_id, undo=action == "unfavourite")
    elif action in ("boost", "unboost"):
        await social.boost(session, me, status_id, undo=action == "unboost")
    else:
        abort(404)
    if _in_place():
        # The post's actions alone, for the timeline entry the form was in (``item``: the
        # entry's id, a boost of the post or the post itself).
        item = inputs.parse_int((await request.form).get("item", "")) or status_id
        status = await social.status(session, status_id, me)
        viewer = await social.account_for_member(session, me)
        html = await render_template(
            "social/actions.html", status=status, viewer=viewer, item_id=item
        )
        return _private(html)
    return redirect(_back("/social"), 303)


@bp.get("/social/search")
@auth.login_required
async def search() -> ResponseTypes:
    query = request.args.get("q", "").strip()
    found: SocialAccountDTO | None = None
    error: DomainError | None = None
    status = 200
    if query:
        if len(query) > 500:
            abort(400, "That search is too long.")
        try:
            found = await services().social.resolve_account(db_session(), query)
        except DomainError as err:
            # Network trouble is reported as "not found" (what went wrong over there is not
            # ours to show); our own refusals say what they are.
            remote_trouble = isinstance(err, FetchError) or err.status >= 500
            error = DomainError(
                err.code,
                "No account was found for that handle or address."
                if remote_trouble
                else err.message,
            )
            status = 404 if remote_trouble or err.status == 404 else err.status
    if found is not None:
        return redirect(f"/social/accounts/{found.id}", 303)
    html = await render_page("social/search.html", query=query, error=error)
    return _private(html, status)


@bp.get("/social/accounts/<int:account_id>")
async def account_page(account_id: int) -> Response:
    account = await services().social.account(db_session(), account_id)
    return await _profile_page(account)


@bp.post("/social/accounts/<int:account_id>/<action>")
@auth.login_required
@rate_limited("social")
async def relate(account_id: int, action: str) -> Any:
    social = services().social
    session = db_session()
    me = _me().id
    if action == "follow":
        await social.follow(session, me, account_id)
    elif action == "unfollow":
        await social.unfollow(session, me, account_id)
    elif action in ("accept", "reject"):
        await social.answer_follow_request(session, me, account_id, accept=action == "accept")
        return redirect("/social/follow-requests", 303)
    elif action in ("block", "unblock", "mute", "unmute"):
        await social.block(
            session, me, account_id, kind=action.removeprefix("un"), undo=action.startswith("un")
        )
    elif action == "report":
        form = await request.form
        raw = form.get("status_id", "")
        if raw and inputs.parse_int(raw) is None:
            abort(400, "status_id must be a post id.")
        await social.report(
            session, me, account_id, int(raw) if raw else None, form.get("comment", "")
        )
        return _private(await render_page("social/reported.html"))
    else:
        abort(404)
    if action in ("follow", "unfollow") and _in_place():
        account = await social.account(session, account_id)
        relationship = await social.relationship(session, me, account_id)
        html = await render_template(
            "social/follow_box.html", account=account, relationship=relationship
        )
        return _private(html)
    return redirect(f"/social/accounts/{account_id}", 303)


@bp.get("/social/follow-requests")
@auth.login_required
async def follow_requests() -> Response:
    requests = await services().social.follow_requests(db_session(), _me().id)
    return _private(await render_page("social/follow_requests.html", requests=requests))


@bp.get("/social/notifications")
@auth.login_required
async def notifications() -> Response:
    session = db_session()
    social = services().social
    me = _me().id
    page = await social.notifications(session, me, max_id=_cursor(), limit=PAGE_SIZE)
    html = await render_page("social/notifications.html", page=page)
    return _private(html)


@bp.post("/social/notifications/read")
@auth.login_required
@rate_limited("social")
async def notifications_read() -> Any:
    await services().social.mark_notifications_read(db_session(), _me().id)
    return redirect("/social/notifications", 303)


@bp.route("/social/profile", methods=["GET", "POST"])
@auth.login_required
@rate_limited("social")
async def profile() -> Any:
    social = services().social
    session = db_session()
    me = _me().id
    account = await social.account_for_member(session, me)
    error: DomainError | None = None
    form: Any = None
    if request.method == "POST":
        form = await request.form
        fields = tuple(
            (form.get(f"field_name_{i}", ""), form.get(f"field_value_{i}", ""))
            for i in range(4)
            if form.get(f"field_name_{i}", "").strip()
        )
        try:
            account = await social.update_profile(
                session,
                me,
                SocialProfileInput(
                    display_name=form.get("display_name", ""),
                    bio=form.get("bio", ""),
                    avatar_url=form.get("avatar_url", "").strip(),
                    header_url=form.get("header_url", "").strip(),
                    fields=fields,
                    locked=form.get("locked") == "on",
                    hide_followers=form.get("hide_followers") == "on",
                    discoverable=form.get("discoverable") == "on",
                    avatar=await _upload("avatar"),
                    header=await _upload("header"),
                    remove_avatar=form.get("remove_avatar") == "on",
                    remove_header=form.get("remove_header") == "on",
                ),
            )
        except DomainError as err:
            await session.rollback()
            error = err
        else:
            return redirect(account.uri, 303)
    html = await render_page(
        "social/profile_edit.html",
        account=account,
        error=error,
        errors=field_errors(error),
        form=form if error is not None else None,
    )
    return _private(html, error.status if error else 200)


# --- what the app actors received, for editors ---------------------------------------------


@bp.get("/editor/social/reactions")
@auth.require_role("editor")
async def app_actor_reactions() -> Response:
    """Likes, boosts and replies the app actors' posts, events and products received."""
    rose = current_platform()
    by_app = await services().federation.app_interactions(db_session())
    html = await render_page(
        "social/app_reactions.html",
        apps=[
            (app, actor_urls(rose.settings, app).handle, by_app.get(app, []))
            for app in APP_NAMES
            if app in by_app or app in ("blog", "market", "events")
        ],
    )
    return _private(html)


# --- moderation, for admins ----------------------------------------------------------------


@bp.get("/admin/social/")
@auth.require_role("admin")
async def admin_moderation() -> Response:
    session = db_session()
    social = services().social
    html = await render_page(
        "social/admin.html",
        reports=await social.reports(session, open_only=request.args.get("all") != "1"),
        domains=await social.domain_blocks(session),
        severities=SOCIAL_DOMAIN_SEVERITIES,
    )
    return _private(html)


@bp.post("/admin/social/reports/<int:report_id>/resolve")
@auth.require_role("admin")
async def admin_resolve(report_id: int) -> Any:
    await services().social.resolve_report(db_session(), _me().id, report_id)
    return redirect("/admin/social/", 303)


@bp.post("/admin/social/reports/<int:report_id>/forward")
@auth.require_role("admin")
async def admin_forward(report_id: int) -> Any:
    """Forward a member's report of a remote account to its server (once)."""
    await services().social.forward_report(db_session(), _me().id, report_id)
    return redirect("/admin/social/", 303)


@bp.post("/admin/social/accounts/<int:account_id>/<action>")
@auth.require_role("admin")
async def admin_suspend(account_id: int, action: str) -> Any:
    if action not in ("suspend", "unsuspend"):
        abort(404)
    await services().social.suspend(db_session(), _me().id, account_id, undo=action == "unsuspend")
    return redirect("/admin/social/", 303)


@bp.post("/admin/social/domains")
@auth.require_role("admin")
async def admin_block_domain() -> Any:
    form = await request.form
    await services().social.block_domain(
        db_session(),
        _me().id,
        form.get("domain", ""),
        severity=form.get("severity", "block"),
        undo=form.get("undo") == "1",
    )
    return redirect("/admin/social/", 303)
