"""The newsletter desk at ``/editor/newsletters`` (editors and admins): newsletters, their
issues written with the blog's editor or built from recent posts and upcoming events, a
preview, a test to oneself, sending, and the progress of a send.

Every route needs the editor role (tests/infrastructure/test_auth.py checks it for every ``/editor``
route). Sending only queues the deliveries; the worker sends them (``rose-ash worker``).
"""

from __future__ import annotations

from typing import Any, cast

from quart import Blueprint, redirect, request

from shared.contracts import (
    EventSummaryDTO,
    IssueDTO,
    IssueInput,
    UpcomingEvents,
    UserDTO,
    implements,
)
from shared.errors import DomainError, field_errors
from shared.infrastructure import auth
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.mail import send_later
from shared.services.newsletters.sender import digest_html, issue_preview_html, issue_test_email

bp = Blueprint("newsletter_desk", __name__, url_prefix="/editor/newsletters")

DIGEST_POSTS = 5
DIGEST_EVENTS = 5


def _staff() -> UserDTO:
    user = auth.current_user()
    assert user is not None  # require_role
    return user


@bp.get("/")
@auth.require_role("editor")
async def desk() -> Any:
    """Every newsletter with its subscriber count, and a form for a new one."""
    newsletters = await services().newsletters.list_newsletters(db_session())
    return await render_page("desk/newsletters.html", newsletters=newsletters, form={})


@bp.post("/")
@auth.require_role("editor")
async def create_newsletter() -> Any:
    form = await request.form
    db = db_session()
    try:
        created = await services().newsletters.create_newsletter(
            db, form.get("name", ""), form.get("description", ""), actor_id=_staff().id
        )
    except DomainError as err:
        await db.rollback()
        newsletters = await services().newsletters.list_newsletters(db)
        body = await render_page(
            "desk/newsletters.html",
            newsletters=newsletters,
            form=form,
            error=err,
            errors=field_errors(err),
        )
        return body, err.status
    return redirect(f"/editor/newsletters/{created.id}")


@bp.get("/<int:newsletter_id>")
@auth.require_role("editor")
async def newsletter(newsletter_id: int) -> Any:
    """A newsletter's issues, and the ways to start a new one."""
    db = db_session()
    item = await services().newsletters.get_newsletter(db, newsletter_id)
    issues = await services().newsletters.list_issues(db, newsletter_id)
    return await render_page(
        "desk/newsletter.html", newsletter=item, issues=issues, events=_events_hook() is not None
    )


async def _issue_form(
    newsletter_id: int, issue: IssueDTO | None, *, form: Any = None, error: Any = None
) -> Any:
    item = await services().newsletters.get_newsletter(db_session(), newsletter_id)
    body = await render_page(
        "desk/issue_form.html",
        newsletter=item,
        issue=issue,
        form=form,
        error=error,
        errors=field_errors(error),
    )
    return (body, error.status) if error is not None else body


@bp.get("/<int:newsletter_id>/issues/new")
@auth.require_role("editor")
async def new_issue(newsletter_id: int) -> Any:
    return await _issue_form(newsletter_id, None)


def _input(form: Any) -> IssueInput:
    return IssueInput(subject=form.get("subject", ""), html=form.get("html", ""))


@bp.post("/<int:newsletter_id>/issues")
@auth.require_role("editor")
async def create_issue(newsletter_id: int) -> Any:
    form = await request.form
    db = db_session()
    try:
        issue = await services().newsletters.create_issue(
            db, newsletter_id, _input(form), actor_id=_staff().id
        )
    except DomainError as err:
        await db.rollback()
        return await _issue_form(newsletter_id, None, form=form, error=err)
    return redirect(f"/editor/newsletters/issues/{issue.id}")


def _events_hook() -> UpcomingEvents | None:
    """Upcoming public events for a digest, when the events domain offers them.

    The hook is the ``UpcomingEvents`` capability (shared/contracts/): an
    EventService with ``upcoming_public(session, *, limit)``. Until the events app implements
    it, digests list posts only."""
    events = services().events
    return cast(UpcomingEvents, events) if implements(events, UpcomingEvents) else None


@bp.post("/<int:newsletter_id>/issues/digest")
@auth.require_role("editor")
async def create_digest(newsletter_id: int) -> Any:
    """A draft built from the latest public posts (and upcoming events, when the events
    domain provides them), to edit before sending."""
    db = db_session()
    item = await services().newsletters.get_newsletter(db, newsletter_id)
    posts = await services().blog.feed(db, limit=DIGEST_POSTS)
    upcoming = _events_hook()
    events: tuple[EventSummaryDTO, ...] = (
        await upcoming.upcoming_public(db, limit=DIGEST_EVENTS) if upcoming is not None else ()
    )
    if not posts and not events:
        err = DomainError("digest_empty", "There are no published posts or upcoming events yet.")
        issues = await services().newsletters.list_issues(db, newsletter_id)
        body = await render_page(
            "desk/newsletter.html",
            newsletter=item,
            issues=issues,
            events=upcoming is not None,
            error=err,
        )
        return body, err.status
    html = digest_html(posts, events, blog_url=current_platform().settings.apps["blog"].public_url)
    issue = await services().newsletters.create_issue(
        db,
        newsletter_id,
        IssueInput(
            subject=f"{item.name}: {posts[0].title if posts else events[0].title}", html=html
        ),
        actor_id=_staff().id,
    )
    return redirect(f"/editor/newsletters/issues/{issue.id}")


@bp.get("/issues/<int:issue_id>")
@auth.require_role("editor")
async def edit_issue(issue_id: int) -> Any:
    """A draft's form; once sending, its progress."""
    issue = await services().newsletters.get_issue(db_session(), issue_id)
    if issue.status != "draft":
        return redirect(f"/editor/newsletters/issues/{issue_id}/progress")
    return await _issue_form(issue.newsletter_id, issue)


@bp.post("/issues/<int:issue_id>")
@auth.require_role("editor")
async def update_issue(issue_id: int) -> Any:
    form = await request.form
    db = db_session()
    issue = await services().newsletters.get_issue(db, issue_id)
    try:
        await services().newsletters.update_issue(db, issue_id, _input(form))
    except DomainError as err:
        await db.rollback()
        return await _issue_form(issue.newsletter_id, issue, form=form, error=err)
    return redirect(f"/editor/newsletters/issues/{issue_id}")


@bp.get("/issues/<int:issue_id>/preview")
@auth.require_role("editor")
async def preview(issue_id: int) -> Any:
    """The email exactly as subscribers will see it (its own document, never cached)."""
    issue = await services().newsletters.get_issue(db_session(), issue_id)
    html = issue_preview_html(current_platform().settings, issue)
    return html, 200, {"Cache-Control": "private, no-store"}


@bp.post("/issues/<int:issue_id>/test")
@auth.require_role("editor")
async def send_test(issue_id: int) -> Any:
    """Send the issue to oneself only (no unsubscribe link: there is no subscription)."""
    db = db_session()
    issue = await services().newsletters.get_issue(db, issue_id)
    account = await services().identity.get_account(db, _staff().id)
    assert account is not None  # signed in
    send_later(issue_test_email(current_platform().settings, issue, account.email))
    return redirect(f"/editor/newsletters/issues/{issue_id}?test=sent")


@bp.post("/issues/<int:issue_id>/send")
@auth.require_role("editor")
async def send(issue_id: int) -> Any:
    """Queue the issue for every confirmed subscriber (the worker sends it)."""
    await services().newsletters.start_sending(db_session(), issue_id, actor_id=_staff().id)
    return redirect(f"/editor/newsletters/issues/{issue_id}/progress")


@bp.post("/issues/<int:issue_id>/resume")
@auth.require_role("editor")
async def resume(issue_id: int) -> Any:
    """Send a paused issue again (the mail relay takes messages again)."""
    await services().newsletters.resume_sending(db_session(), issue_id, actor_id=_staff().id)
    return redirect(f"/editor/newsletters/issues/{issue_id}/progress")


@bp.get("/issues/<int:issue_id>/progress")
@auth.require_role("editor")
async def progress(issue_id: int) -> Any:
    """How many were sent, are waiting, failed (with the reasons) or were skipped."""
    report = await services().newsletters.issue_progress(db_session(), issue_id)
    return await render_page("desk/progress.html", report=report)
