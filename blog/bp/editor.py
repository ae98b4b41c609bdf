"""The editor's desk at ``/editor`` (editors and admins): posts and pages, and the site
navigation.

Every route needs the editor role (admins hold every role); tests/infrastructure/test_auth.py checks
it for every ``/editor`` route. A refused change re-renders its form with the error and
writes nothing (the service checks everything before it writes, and the request's
transaction is rolled back besides).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from quart import Blueprint, redirect, request
from werkzeug.datastructures import MultiDict

from blog.bp import embeds
from shared.config import APP_NAMES
from shared.contracts import NavItemDTO, NavItemInput, PostDTO, PostInput
from shared.contracts.errors import InvalidNavItem, InvalidPost
from shared.contracts.widgets import WidgetError, placements
from shared.errors import DomainError, FieldErrors, InvalidField, NotFound, field_errors
from shared.infrastructure import auth, inputs, media
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.fragments import invalidate_after_commit, render_page
from shared.infrastructure.times import in_zone
from shared.services.registry import WIDGETS

bp = Blueprint("editor", __name__, url_prefix="/editor")

NAV_FRAGMENT = "blog/nav"
LATEST_FRAGMENT = "blog/latest"


def _nav_changed() -> None:
    """Every app's next page shows the new navigation: bump the fragment's version once the
    change is committed (a rolled-back change bumps nothing)."""
    invalidate_after_commit(db_session(), NAV_FRAGMENT)


def _posts_changed() -> None:
    """Other apps' "latest posts" widgets show the change once it is committed."""
    invalidate_after_commit(db_session(), LATEST_FRAGMENT)


def _nav_input(form: MultiDict[str, str]) -> NavItemInput:
    parent = form.get("parent", "")
    parent_id = inputs.parse_int(parent) if parent else None
    if parent and parent_id is None:
        raise InvalidNavItem("invalid_parent", "Choose a top-level link as parent.", "parent")
    return NavItemInput(
        label=form.get("label", ""),
        app=form.get("app", ""),
        path=form.get("path", ""),
        parent_id=parent_id,
    )


async def _navigation_page(
    *, error: DomainError | None = None, failed_id: int | None = None, form: Any = None
) -> Any:
    items = await services().blog.navigation(db_session())
    body = await render_page(
        "editor/navigation.html",
        items=items,
        apps=APP_NAMES,
        error=error,
        # Each link's form names its fields by the link ("new-label", "n12-path").
        errors={
            f"{'new' if failed_id is None else f'n{failed_id}'}-{name}": message
            for name, message in field_errors(error).items()
        },
        failed_id=failed_id,
        form=form or {},
    )
    return (body, error.status) if error is not None else body


@bp.get("/")
@auth.require_role("editor")
async def desk() -> Any:
    """The editor's start page: the posts."""
    return redirect("/editor/posts")


@bp.get("/navigation")
@auth.require_role("editor")
async def navigation() -> Any:
    """The site navigation, each link with its edit, move and delete controls."""
    return await _navigation_page()


async def _refused(err: DomainError, failed_id: int | None, form: Any) -> Any:
    # Nothing of the refused change may survive, whatever the service had flushed.
    await db_session().rollback()
    return await _navigation_page(error=err, failed_id=failed_id, form=form)


@bp.post("/navigation")
@auth.require_role("editor")
async def add_nav_item() -> Any:
    """Add a link at the end of its level."""
    form = await request.form
    try:
        await services().blog.add_nav_item(db_session(), _nav_input(form))
    except DomainError as err:
        return await _refused(err, None, form)
    _nav_changed()
    return redirect("/editor/navigation")


@bp.post("/navigation/<int:item_id>")
@auth.require_role("editor")
async def update_nav_item(item_id: int) -> Any:
    """Change a link's label, target or parent."""
    form = await request.form
    try:
        await services().blog.update_nav_item(db_session(), item_id, _nav_input(form))
    except DomainError as err:
        return await _refused(err, item_id, form)
    _nav_changed()
    return redirect("/editor/navigation")


@bp.post("/navigation/<int:item_id>/move")
@auth.require_role("editor")
async def move_nav_item(item_id: int) -> Any:
    """Move a link one place up or down among its siblings."""
    direction = (await request.form).get("direction")
    if direction not in ("up", "down"):
        err = InvalidNavItem("invalid_direction", "Move a link up or down.", "direction")
        return await _refused(err, item_id, None)
    try:
        await services().blog.move_nav_item(db_session(), item_id, -1 if direction == "up" else 1)
    except DomainError as err:
        return await _refused(err, item_id, None)
    _nav_changed()
    return redirect("/editor/navigation")


@bp.get("/navigation/<int:item_id>/delete")
@auth.require_role("editor")
async def confirm_delete_nav_item(item_id: int) -> Any:
    """Ask before deleting (a plain page: it works without JavaScript)."""
    item = _find(await services().blog.navigation(db_session()), item_id)
    if item.from_ghost:
        err = DomainError(
            "nav_item_from_ghost",
            "This link comes from Ghost: change it in Ghost's navigation settings.",
            status=409,
        )
        return await _navigation_page(error=err, failed_id=item_id)
    return await render_page("editor/nav_delete.html", item=item)


@bp.post("/navigation/<int:item_id>/delete")
@auth.require_role("editor")
async def delete_nav_item(item_id: int) -> Any:
    """Delete a link and its sub-links."""
    try:
        await services().blog.delete_nav_item(db_session(), item_id)
    except DomainError as err:
        return await _refused(err, item_id, None)
    _nav_changed()
    return redirect("/editor/navigation")


def _find(items: tuple[NavItemDTO, ...], item_id: int) -> NavItemDTO:
    for item in items:
        if item.id == item_id:
            return item
        for child in item.children:
            if child.id == item_id:
                return child
    raise NotFound("nav_item_not_found", "There is no such link.")


# --- posts and pages ---------------------------------------------------------------------------

KINDS = ("post", "page")
PER_PAGE = 20


def _kind() -> str:
    kind = request.args.get("kind", "post")
    return kind if kind in KINDS else "post"


@bp.get("/posts")
@auth.require_role("editor")
async def posts() -> Any:
    """Every post (or page, ``?kind=page``), drafts first."""
    page = inputs.parse_int(request.args.get("page", "1"), maximum=inputs.MAX_PAGE) or 1
    listing = await services().blog.editor_posts(
        db_session(), kind=_kind(), page=page, per_page=PER_PAGE
    )
    return await render_page("editor/posts.html", listing=listing, kind=_kind())


async def _form_page(
    post: PostDTO | None,
    *,
    error: DomainError | None = None,
    form: Any = None,
    kind: str = "post",
) -> Any:
    body = await render_page(
        "editor/post_form.html",
        post=post,
        kind=post.kind if post else kind,
        error=error,
        errors=field_errors(error),
        form=form,
        zones=TIMEZONES,
    )
    return (body, error.status) if error is not None else body


def _post_input(form: MultiDict[str, str], feature_image: str | None) -> PostInput:
    return PostInput(
        title=form.get("title", ""),
        html=form.get("html", ""),
        kind=form.get("kind", "post"),
        slug=form.get("slug", "").strip(),
        excerpt=form.get("excerpt", ""),
        feature_image=feature_image,
        feature_image_alt=form.get("feature_image_alt") or None,
        featured=form.get("featured") == "on",
        visibility=form.get("visibility", "public"),
        tags=tuple(t.strip() for t in form.get("tags", "").split(",") if t.strip()),
        authors=tuple(a.strip() for a in form.get("authors", "").split(",") if a.strip()),
        meta_title=form.get("meta_title") or None,
        meta_description=form.get("meta_description") or None,
    )


async def _upload() -> bytes | None:
    """The uploaded feature image's bytes (None when no file was chosen)."""
    upload = (await request.files).get("feature_image_file")
    if upload is None or not upload.filename:
        return None
    return upload.stream.read()


async def _save(post: PostDTO | None) -> Any:
    """Create (``post`` None) or replace a post from the form; the image is checked before
    anything is written and stored only once the post is valid."""
    form = await request.form
    settings = current_platform().settings.media
    checks = FieldErrors()  # the image's problem and the post's, all at once
    try:
        data = await _upload()
        image = None
        if data is not None:
            try:
                image = await media.prepare(data, settings, "feature_image")
            except DomainError as err:
                checks.note(
                    InvalidField(err.code, err.message, "feature_image_file", status=err.status)
                )
        try:  # a widget placed in the body must be one that can be shown
            placements(form.get("html", ""), WIDGETS)
        except WidgetError as err:
            checks.note(InvalidField(err.code, err.message, "html", status=err.status))
        removed = form.get("remove_feature_image") == "on"
        keep = None if removed or post is None else post.feature_image
        blog = services().blog
        if post is None:
            saved = await blog.create_post(db_session(), _post_input(form, keep))
        else:
            saved = await blog.update_post(db_session(), post.id, _post_input(form, keep))
        checks.raise_if_any()
        if image is not None:
            # Stored only now that the post is valid; a file is named by its content, so
            # one left by a transaction that fails later is harmless (and reused).
            # The blog's file: no member's profile may take it.
            user = auth.current_user()
            url = await media.store_owned(
                db_session(), image, settings, "blog", user.id if user else None
            )
            saved = await blog.update_post(db_session(), saved.id, _post_input(form, url))
        _posts_changed()
    except DomainError as err:
        await db_session().rollback()
        shown = checks.refused(err)
        return await _form_page(post, error=shown, form=form, kind=form.get("kind", "post"))
    return redirect(f"/editor/posts/{saved.id}")


@bp.get("/posts/new")
@auth.require_role("editor")
async def new_post() -> Any:
    """An empty form (a plain textarea for the body: it works without JavaScript)."""
    return await _form_page(None, kind=_kind())


@bp.post("/posts")
@auth.require_role("editor")
async def create_post() -> Any:
    """Create a draft."""
    return await _save(None)


@bp.get("/posts/<int:post_id>")
@auth.require_role("editor")
async def edit_post(post_id: int) -> Any:
    """A post's form, with its status controls."""
    return await _form_page(await services().blog.get_post(db_session(), post_id))


@bp.post("/posts/<int:post_id>")
@auth.require_role("editor")
async def update_post(post_id: int) -> Any:
    """Save a post's fields (its body sanitized by the service)."""
    return await _save(await services().blog.get_post(db_session(), post_id))


@bp.get("/posts/<int:post_id>/preview")
@auth.require_role("editor")
async def preview_post(post_id: int) -> Any:
    """The post as readers will see it, whatever its status (never cached)."""
    post = await services().blog.get_post(db_session(), post_id)
    body = await render_page(
        "post.html", fragments=embeds.card_refs(post.html), post=post, preview=True
    )
    return body, 200, {"Cache-Control": "private, no-store"}


@bp.post("/posts/<int:post_id>/publish")
@auth.require_role("editor")
async def publish_post(post_id: int) -> Any:
    await services().blog.publish(db_session(), post_id)
    _posts_changed()
    return redirect(f"/editor/posts/{post_id}")


@bp.post("/posts/<int:post_id>/unpublish")
@auth.require_role("editor")
async def unpublish_post(post_id: int) -> Any:
    await services().blog.unpublish(db_session(), post_id)
    _posts_changed()
    return redirect(f"/editor/posts/{post_id}")


TIMEZONES = tuple(sorted(available_timezones() - {"localtime", "Factory"}))


def _schedule_time(form: MultiDict[str, str]) -> datetime:
    """The form's local date and time in its time zone."""
    try:
        zone = ZoneInfo(form.get("timezone", ""))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidPost("invalid_timezone", "Choose a time zone from the list.", "at") from None
    local = inputs.parse_datetime(form.get("at", ""))
    if local is None or local.tzinfo is not None:
        raise InvalidPost("invalid_datetime", "Give a date and a time.", "at")
    return local.replace(tzinfo=zone)


@bp.post("/posts/<int:post_id>/schedule")
@auth.require_role("editor")
async def schedule_post(post_id: int) -> Any:
    """Publish at a date and time in a time zone."""
    form = await request.form
    post = await services().blog.get_post(db_session(), post_id)
    try:
        await services().blog.schedule(db_session(), post_id, _schedule_time(form))
        _posts_changed()
    except DomainError as err:
        await db_session().rollback()
        return await _form_page(post, error=err, form=None)
    return redirect(f"/editor/posts/{post_id}")


@bp.get("/posts/<int:post_id>/delete")
@auth.require_role("editor")
async def confirm_delete_post(post_id: int) -> Any:
    post = await services().blog.get_post(db_session(), post_id)
    return await render_page("editor/post_delete.html", post=post)


@bp.post("/posts/<int:post_id>/delete")
@auth.require_role("editor")
async def delete_post(post_id: int) -> Any:
    post = await services().blog.get_post(db_session(), post_id)
    await services().blog.delete_post(db_session(), post_id)
    _posts_changed()
    return redirect(f"/editor/posts?kind={post.kind}")


# --- the rich-text editor's image and embed buttons (shared/editor) ------------------------

EMBED_RESULTS = 8


@bp.post("/images")
@auth.require_role("editor")
async def upload_image() -> Any:
    """An image for a post's body, from the editor's image button: decoded, checked and
    re-encoded without its metadata, then stored. Answers JSON ``{"url": ...}``, or the error
    (its code and message) with its status."""
    upload = (await request.files).get("image")
    data = upload.stream.read() if upload is not None else b""
    settings = current_platform().settings.media
    try:
        prepared = await media.prepare(data, settings, "image")
        # The blog's file: no member's profile may take it.
        user = auth.current_user()
        url = await media.store_owned(
            db_session(), prepared, settings, "blog", user.id if user else None
        )
    except DomainError as err:
        await db_session().rollback()  # no owner recorded for a file that was not stored
        return {"error": err.code, "message": err.message}, err.status
    return {"url": url, "width": prepared.width, "height": prepared.height}


@bp.get("/embeds")
@auth.require_role("editor")
async def find_embeds() -> Any:
    """Products, events and widgets whose title matches ``q``, for the editor's embed button:
    each with the marker the body gets (``[product:slug]``, ``[event:slug]``,
    ``[widget:type k=v]``)."""
    query = " ".join(request.args.get("q", "").split())[:100]
    if not query:
        return {"results": []}
    db = db_session()
    found = await services().catalog.search_products(db, query, per_page=EMBED_RESULTS)
    results = [
        {
            "kind": "product",
            "title": hit.product.title,
            "detail": str(hit.product.price),
            "marker": f"[product:{hit.product.slug}]",
        }
        for hit in found.hits
    ]
    wanted = query.casefold()
    events = [
        e
        for e in await services().events.staff_events(db)
        if e.status == "published" and wanted in e.title.casefold()
    ]
    results += [
        {
            "kind": "event",
            "title": e.title,
            "detail": in_zone(e.start, current_platform().settings.time_zone).strftime("%-d %b %Y"),
            "marker": f"[event:{e.slug}]",
        }
        for e in events[:EMBED_RESULTS]
    ]
    results += await embeds.widget_choices(query, EMBED_RESULTS)
    return {"results": results}
