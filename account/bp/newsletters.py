"""Subscribing and unsubscribing: the public form (embedded in every app's pages by the
``account/newsletter-subscribe`` fragment), the confirmation link of the double opt-in, the
one-click unsubscribe link of every email, and a member's own subscriptions.

Links in emails answer GET with a page and act only on POST: mail scanners fetch links, and
must neither confirm nor cancel anything (RFC 8058 §3.2). The unsubscribe POST is the one a
mail client sends itself (``List-Unsubscribe=One-Click``), so it needs no CSRF token.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request

from shared.contracts.errors import NewsletterError
from shared.errors import DomainError, field_errors
from shared.infrastructure import auth, inputs
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.csrf import csrf_exempt
from shared.infrastructure.fragments import render_page
from shared.infrastructure.mail import Email, build_email, send_later
from shared.infrastructure.ratelimit import rate_limited
from shared.services.newsletters.sender import confirm_url

bp = Blueprint("newsletters", __name__, url_prefix="/newsletters")

PUBLIC_FORM_REASON = (
    "the subscribe form is embedded, cached and shared, in every app's pages (no session "
    "token can be in it); it only sends a confirmation email, and is rate-limited"
)
ONE_CLICK_REASON = "RFC 8058 one-click unsubscribe: mail clients POST it without a session"


def _newsletter_id(raw: str | None) -> int:
    newsletter_id = inputs.parse_int(raw or "")
    if newsletter_id is None:
        raise NewsletterError("invalid_newsletter", "Choose a newsletter.", "newsletter")
    return newsletter_id


def _confirmation_email(to: str, newsletter_name: str, token: str) -> Email:
    settings = current_platform().settings
    return build_email(
        settings,
        "newsletter_confirm",
        to,
        {"newsletter_name": newsletter_name, "link": confirm_url(settings, token)},
    )


@bp.post("/subscribe")
@csrf_exempt(PUBLIC_FORM_REASON)
@rate_limited("subscribe", account_field="email")
async def subscribe() -> Any:
    """Subscribe an address (double opt-in). The answer is the same whether or not the
    address was subscribed already, so the form tells no one who reads what."""
    form = await request.form
    email = form.get("email", "")
    db = db_session()
    user = auth.current_user()
    try:
        newsletter_id = _newsletter_id(form.get("newsletter"))
        account = await services().identity.get_account(db, user.id) if user else None
        own = account is not None and account.email.lower() == email.strip().lower()
        result = await services().newsletters.subscribe(
            db,
            newsletter_id,
            email,
            user_id=account.id if own and account else None,
            confirmed=bool(own and account and account.email_verified),
        )
    except DomainError as err:
        await db.rollback()
        newsletters = await services().newsletters.list_newsletters(db)
        # The form's fields are named sub-... (it is also embedded in other pages' footers).
        errors = {f"sub-{name}": message for name, message in field_errors(err).items()}
        body = await render_page(
            "newsletters/subscribe.html",
            newsletters=newsletters,
            error=err,
            errors=errors,
            email=email,
            chosen=form.get("newsletter", ""),
        )
        return body, err.status
    await db.commit()
    if result.confirm_token is not None:
        send_later(
            _confirmation_email(
                result.subscription.email,
                result.subscription.newsletter_name,
                result.confirm_token,
            )
        )
    # Only who is asking decides the answer, never what is known of the address: a member
    # subscribing their own verified address is subscribed at once; everyone else hears the
    # same, whether the address is a member's, subscribed, pending or unknown.
    if own and account is not None and account.email_verified:
        return redirect("/")
    return redirect("/newsletters/check-your-email")


@bp.get("/subscribe")
async def subscribe_form() -> Any:
    """The subscribe form on a page of its own (also the fallback without JavaScript)."""
    newsletters = await services().newsletters.list_newsletters(db_session())
    return await render_page("newsletters/subscribe.html", newsletters=newsletters, email="")


@bp.get("/check-your-email")
async def check_your_email() -> Any:
    return await render_page("newsletters/check_email.html")


@bp.get("/confirm/<token>")
async def confirm_page(token: str) -> Any:
    """The confirmation link: a page with one button (scanners that fetch it confirm
    nothing)."""
    return await render_page("newsletters/confirm.html", token=token, done=None)


@bp.post("/confirm/<token>")
@rate_limited("subscribe")
async def confirm(token: str) -> Any:
    db = db_session()
    try:
        sub = await services().newsletters.confirm_subscription(db, token)
    except DomainError as err:
        await db.rollback()
        body = await render_page("newsletters/confirm.html", token=token, error=err, done=None)
        return body, err.status
    return await render_page("newsletters/confirm.html", token=token, done=sub)


@bp.get("/unsubscribe/<token>")
async def unsubscribe_page(token: str) -> Any:
    """The link in every email: which subscription, and one button."""
    sub = await services().newsletters.subscription_for_token(db_session(), token)
    return await render_page("newsletters/unsubscribe.html", token=token, sub=sub, done=False)


@bp.post("/unsubscribe/<token>")
@csrf_exempt(ONE_CLICK_REASON)
async def unsubscribe(token: str) -> Any:
    """Unsubscribe: the page's button, or the mail client's one-click POST (RFC 8058).

    Not rate-limited: large mail providers send their users' one-click requests from a few
    addresses, and the signed token is the whole authority (acting twice changes nothing)."""
    sub = await services().newsletters.unsubscribe(db_session(), token)
    if (await request.form).get("List-Unsubscribe") == "One-Click":
        return "", 204
    return await render_page("newsletters/unsubscribe.html", token=token, sub=sub, done=True)


@bp.post("/subscriptions/<int:subscription_id>/unsubscribe")
@auth.login_required
async def unsubscribe_mine(subscription_id: int) -> Any:
    """A member ends a subscription from the dashboard (someone else's is 404)."""
    user = auth.current_user()
    assert user is not None  # login_required
    await services().newsletters.unsubscribe_member(db_session(), user.id, subscription_id)
    return redirect("/#newsletters")
