"""Accounts at federation: sign up, verify, sign in, reset a forgotten password, change the
email address or password. Plain HTML forms through the shared layout, each with a CSRF
token; the sign-in, sign-up, reset and change endpoints are rate-limited."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, redirect, request

from shared.contracts import AccountDTO, SignUpRequest
from shared.contracts.errors import EmailUnverified, InvalidSignUp
from shared.errors import DomainError, Forbidden
from shared.infrastructure import auth
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.fragments import render_page
from shared.infrastructure.mail import Email, build_email, send_later
from shared.infrastructure.ratelimit import (
    RateLimited,
    SignInThrottle,
    known_device,
    rate_limited,
    remember_device,
    signin_subject,
)
from shared.services.identity.oidc import tools as oidc_tools

bp = Blueprint("accounts", __name__)


def _url(path: str, **params: str) -> str:
    base = current_platform().settings.apps["federation"].public_url + path
    return f"{base}?{urlencode(params)}" if params else base


def _origins() -> list[str]:
    return [a.public_url for a in current_platform().settings.apps.values()]


async def _page(
    template: str, status: int = 200, *, fields: dict[str, str] | None = None, **context: Any
) -> tuple[str, int]:
    """A page of the accounts' forms; ``fields`` maps an error's code to the field it is
    about, so that the refusal is shown beside that field."""
    accounts = current_platform().settings.accounts
    context.setdefault("min_password", accounts.min_password_length)
    context.setdefault("signup_open", accounts.open_registrations)
    error = context.get("error")
    if fields and isinstance(error, DomainError) and error.code in fields:
        context.setdefault("errors", {fields[error.code]: error.message})
    return await render_page(template, **context), status


async def _notice(title: str, message: str, *, status: int = 200, **links: str) -> tuple[str, int]:
    return await _page("accounts/notice.html", status, title=title, message=message, links=links)


def _email(email: str, to: str, /, **context: str) -> Email:
    """The email named ``email`` (``shared/templates/email/<email>/``) to ``to``."""
    return build_email(current_platform().settings, email, to, context)


def _verification_email(account: AccountDTO, next_url: str = "/") -> Email:
    """The link that confirms the address, signs the member in and returns to ``next_url``
    (where sign-up began)."""
    token = services().identity.verification_token(account)
    params = {"token": token} if next_url == "/" else {"token": token, "next": next_url}
    return _email(
        "verify_email",
        account.email,
        name=account.display_name or account.username,
        link=_url("/verify", **params),
    )


def _next() -> str:
    """Where to return after signing in or up: the form's or the query's ``next``."""
    return auth.safe_next(request.args.get("next"), _origins())


# A refusal the service reports as one error, and the field it is about.
SIGN_UP_FIELDS = {"username_taken": "username", "email_taken": "email"}


# --- sign in --------------------------------------------------------------------------------


@bp.route("/signin", methods=["GET", "POST"])
@rate_limited("signin")  # per address; per account below, on failures (decision 0059)
async def signin() -> Any:
    """Sign in with email or username and password; then back to ``next``."""
    form = await request.form
    next_url = auth.safe_next(form.get("next") or request.args.get("next"), _origins())
    if request.method == "GET":
        if auth.current_user() is not None:
            return redirect(next_url)
        return await _page("accounts/signin.html", next=next_url, login="")
    login = form.get("login", "")
    service = services().identity
    db = db_session()
    rose = current_platform()
    throttle = SignInThrottle(rose.redis, rose.settings)
    named = await service.find_account(db, login) if login.strip() else None
    subject = signin_subject(named.id if named else None, login)
    device = known_device(rose.settings)
    wait = await throttle.wait_s(subject, device)
    if wait is not None:
        raise RateLimited(wait)
    try:
        account = await service.authenticate(db, login, form.get("password", ""))
    except EmailUnverified as err:
        send_later(_verification_email(err.account))
        return await _page("accounts/signin.html", 400, next=next_url, login=login, error=err)
    except DomainError as err:
        await throttle.failed(subject, device)
        return await _page("accounts/signin.html", 400, next=next_url, login=login, error=err)
    await throttle.succeeded(subject, device)
    signed_in = await service.start_session(db, account.id)
    auth.sign_in(signed_in.sid, account.id)
    response = redirect(next_url)
    remember_device(response, rose.settings, account.id)
    return response


# --- sign up and verification ---------------------------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
@rate_limited("signup", account_field="email")
async def signup() -> Any:
    """Create an account; a link to verify the address goes out by email."""
    if not current_platform().settings.accounts.open_registrations:
        raise Forbidden("signup_closed", "Sign-up is closed on this server.")
    if request.method == "GET":
        return await _page("accounts/signup.html", values={}, next=_next())
    form = await request.form
    next_url = auth.safe_next(form.get("next"), _origins())
    values = {k: form.get(k, "") for k in ("email", "username", "display_name")}
    db = db_session()
    try:
        result = await services().identity.sign_up(
            db,
            SignUpRequest(
                email=values["email"],
                username=values["username"],
                display_name=values["display_name"],
                password=form.get("password", ""),
            ),
        )
    except InvalidSignUp as err:
        return await _page(
            "accounts/signup.html", 400, values=values, next=next_url, error=err, errors=err.errors
        )
    except DomainError as err:
        return await _page(
            "accounts/signup.html",
            400,
            fields=SIGN_UP_FIELDS,
            values=values,
            next=next_url,
            error=err,
        )
    await db.commit()
    if result.account is not None:
        send_later(_verification_email(result.account, next_url))
    elif result.existing is not None:
        # Same answer as for a new account (no enumeration); the owner hears about it.
        send_later(
            _email(
                "account_exists",
                result.existing.email,
                signin_link=_url("/signin"),
                reset_link=_url("/reset"),
            )
        )
    return await _notice(
        "Check your email",
        f"We have sent a link to {values['email']}. Open it to confirm your address, then sign in.",
    )


@bp.route("/verify", methods=["GET", "POST"])
@rate_limited("signin")
async def verify() -> Any:
    """The link from the verification email: a page whose button confirms the address and
    signs the member in (mail scanners fetch links, so the GET changes nothing), then back to
    where sign-up began. The link signs in once; after that it only says the address is
    confirmed."""
    if request.method == "GET":
        return await _page(
            "accounts/verify.html", token=request.args.get("token", ""), next=_next()
        )
    form = await request.form
    next_url = auth.safe_next(form.get("next"), _origins())
    db = db_session()
    account, first = await services().identity.verify_email(db, form.get("token", ""))
    if not first:
        return await _notice(
            "Email address confirmed",
            f"Your address is confirmed, {account.display_name or account.username}. "
            "This link has been used: sign in with your password.",
            signin="/signin?" + urlencode({"next": next_url}),
        )
    someone = auth.current_user()
    if someone is not None and someone.id != account.id:
        # Someone else is signed in in this browser: end that first (everywhere).
        sid = auth.sign_out_locally()
        if sid is not None:
            await auth.end_sign_in(sid)
    signed_in = await services().identity.start_session(db, account.id)
    auth.sign_in(signed_in.sid, account.id)
    return redirect(next_url)


# --- forgotten password ---------------------------------------------------------------------


@bp.route("/reset", methods=["GET", "POST"])
@rate_limited("reset", account_field="email")
async def reset_request() -> Any:
    """Ask for a password-reset link; the answer never says whether the address exists."""
    if request.method == "GET":
        return await _page("accounts/reset_request.html")
    email = (await request.form).get("email", "").strip()
    found = await services().identity.reset_token(db_session(), email) if email else None
    if found is not None:
        account, token = found
        send_later(_email("password_reset", account.email, link=_url("/reset/" + token)))
    return await _notice(
        "Check your email",
        "If an account uses that address, we have sent it a link to choose a new password.",
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
@rate_limited("reset")
async def reset(token: str) -> Any:
    """Choose a new password from a reset link; every sign-in of the account ends."""
    service = services().identity
    db = db_session()
    if request.method == "GET":
        await service.check_reset_token(db, token)
        return await _page("accounts/reset.html", token=token)
    form = await request.form
    try:
        _account, ended = await service.reset_password(db, token, form.get("password", ""))
    except DomainError as err:
        if err.code in ("token_invalid", "token_expired"):
            raise
        return await _page(
            "accounts/reset.html",
            400,
            fields={"weak_password": "password"},
            token=token,
            error=err,
        )
    await db.commit()
    await auth.forget_sessions(ended)
    if auth.current_sid() in ended:
        auth.sign_out_locally()
    return await _notice(
        "Password changed",
        "Your new password is set, and you have been signed out everywhere.",
        signin="/signin",
    )


# --- settings (signed in) -------------------------------------------------------------------


@bp.get("/settings")
@auth.login_required
async def settings() -> Any:
    """The member's sign-in details."""
    user = auth.current_user()
    assert user is not None
    account = await services().identity.get_account(db_session(), user.id)
    return await _page("accounts/settings.html", account=account)


@bp.get("/settings/tools")
@auth.login_required
async def connected_tools() -> Any:
    """The tools the member signed in to with their account, and what each may learn."""
    user = auth.current_user()
    assert user is not None
    tools = await oidc_tools.connected_tools(db_session(), user.id)
    return await _page("accounts/tools.html", tools=tools, scope_text=oidc_tools.SCOPE_TEXT)


@bp.post("/settings/tools/<client_id>/disconnect")
@auth.login_required
async def disconnect_tool(client_id: str) -> Any:
    """Withdraw consent to a tool (another member's or an unknown one is a 404)."""
    user = auth.current_user()
    assert user is not None
    try:
        await oidc_tools.disconnect(db_session(), user.id, client_id)
    except oidc_tools.ToolNotFound:
        return await _notice("No such tool", "You are not connected to that tool.", status=404)
    return redirect("/settings/tools")


@bp.route("/settings/profile", methods=["GET", "POST"])
@auth.login_required
@rate_limited("password")
async def change_profile() -> Any:
    """Change the name shown to others (in every app's header, among other places)."""
    user = auth.current_user()
    assert user is not None
    if request.method == "GET":
        return await _page("accounts/profile.html", display_name=user.display_name)
    display_name = (await request.form).get("display_name", "")
    try:
        await services().identity.set_display_name(db_session(), user.id, display_name)
    except DomainError as err:
        return await _page(
            "accounts/profile.html",
            400,
            fields={"invalid_display_name": "display_name"},
            display_name=display_name,
            error=err,
        )
    auth.menu_changed(user.id)
    return redirect("/settings")


@bp.route("/settings/password", methods=["GET", "POST"])
@auth.login_required
@rate_limited("password")
async def change_password() -> Any:
    """Change the password (knowing the current one); other sign-ins end."""
    if request.method == "GET":
        return await _page("accounts/password.html")
    user = auth.current_user()
    assert user is not None
    form = await request.form
    db = db_session()
    try:
        ended = await services().identity.change_password(
            db,
            user.id,
            form.get("current_password", ""),
            form.get("new_password", ""),
            keep_sid=auth.current_sid(),
        )
    except DomainError as err:
        return await _page(
            "accounts/password.html",
            400,
            fields={"wrong_password": "current_password", "weak_password": "new_password"},
            error=err,
        )
    await db.commit()
    await auth.forget_sessions(ended)
    return await _notice(
        "Password changed",
        "Your new password is set. Any other browser signed in to your account is signed out.",
        settings="/settings",
    )


@bp.route("/settings/email", methods=["GET", "POST"])
@auth.login_required
@rate_limited("password")
async def change_email() -> Any:
    """Change the email address: confirmed by a link sent to the new address."""
    if request.method == "GET":
        return await _page("accounts/email.html", new_email="")
    user = auth.current_user()
    assert user is not None
    form = await request.form
    new_email = form.get("new_email", "")
    try:
        change, token = await services().identity.request_email_change(
            db_session(), user.id, form.get("password", ""), new_email
        )
    except DomainError as err:
        return await _page(
            "accounts/email.html",
            400,
            fields={
                "wrong_password": "password",
                "invalid_email": "new_email",
                "same_email": "new_email",
                "email_taken": "new_email",
            },
            new_email=new_email,
            error=err,
        )
    send_later(
        _email(
            "email_change_confirm",
            change.new_email,
            link=_url("/settings/email/confirm", token=token),
        )
    )
    send_later(
        _email(
            "email_change_notice",
            change.old_email,
            new_email=change.new_email,
            reset_link=_url("/reset"),
        )
    )
    return await _notice(
        "Check your new inbox",
        f"We have sent a link to {change.new_email}. Your address changes when you open it.",
        settings="/settings",
    )


@bp.get("/settings/email/confirm")
async def confirm_email() -> Any:
    """Follow the link sent to the new address."""
    account = await services().identity.confirm_email_change(
        db_session(), request.args.get("token", "")
    )
    return await _notice(
        "Email address changed",
        f"Your account now uses {account.email}.",
        settings="/settings",
    )
