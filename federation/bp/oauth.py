"""Federation's OpenID Connect endpoints: thin views around the Authlib provider.

Each view reads the Quart request (awaiting the form), then runs the synchronous protocol
code in the request's transaction (``AsyncSession.run_sync``) and turns the outcome into a
response. Errors that cannot be sent back to a verified client are shown here as a page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from quart import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
)
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from shared.infrastructure import auth
from shared.infrastructure.context import db_session, services
from shared.infrastructure.csrf import csrf_exempt
from shared.infrastructure.fragments import render_page
from shared.services.identity.oidc import (
    EndUser,
    ErrorPage,
    NeedsConfirmation,
    NeedsConsent,
    NeedsSignIn,
    Provider,
    RawResponse,
    Redirect,
    RoseOAuth2Request,
    SignedOut,
    bearer_user,
    picture_of_async,
    user_claims,
)
from shared.services.identity.oidc.tools import SCOPE_TEXT

bp = Blueprint("oauth", __name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def provider() -> Provider:
    return current_app.extensions["oidc_provider"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class IncomingRequest:
    """What the views read from Quart before going synchronous."""

    method: str
    uri: str
    headers: dict[str, str]
    args: MultiDict[str, str]
    form: MultiDict[str, str]

    def bind(self, db: Session) -> RoseOAuth2Request:
        return RoseOAuth2Request(self.method, self.uri, self.headers, self.args, self.form, db)


async def read_request(issuer: str) -> IncomingRequest:
    """Read the current Quart request (the form must be awaited before going synchronous).

    The URI is rebuilt on the configured issuer URL rather than trusted from the Host and
    scheme the proxy passed on."""
    form = await request.form if request.method == "POST" else MultiDict()
    return IncomingRequest(
        method=request.method,
        uri=issuer + request.full_path.rstrip("?"),
        headers=dict(request.headers),
        args=MultiDict(request.args),
        form=MultiDict(form),
    )


def _raw(raw: RawResponse) -> Response:
    status, body, headers = raw
    if isinstance(body, dict):
        body = json.dumps(body)
    return Response(body, status=status, headers=dict(headers))


async def _error_page(page: ErrorPage) -> Response:
    body = await render_template("oauth/error.html", error=page)
    return Response(body, status=page.status, mimetype="text/html")


@bp.get("/.well-known/openid-configuration")
async def discovery() -> Response:
    """The OpenID Provider metadata."""
    response = jsonify(provider().metadata())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/oauth/jwks")
async def jwks() -> Response:
    """The public keys that verify ID tokens."""
    response = jsonify(provider().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/oauth/authorize", methods=["GET", "POST"])
async def authorize() -> Any:
    """The authorization endpoint: a code for a signed-in person, else sign in first. A tool
    that is not first-party first gets the member's consent: the page posts the request back
    here (CSRF-checked) with ``consent`` set to ``allow`` or ``deny``."""
    prov = provider()
    incoming = await read_request(prov.issuer)
    consent = None
    if request.method == "POST":
        consent = "allow" if incoming.form.get("consent") == "allow" else "deny"
    db = db_session()
    end_user = None
    user, sid = auth.current_user(), auth.current_sid()
    if user is not None and sid is not None:
        signed_in = await services().identity.get_session(db, sid)
        if signed_in is not None:
            end_user = EndUser(id=user.id, sid=sid, auth_time=signed_in.created_at)
    if consent is not None and end_user is None:
        return redirect("/signin")
    outcome = await db.run_sync(lambda s: prov.authorize(incoming.bind(s), end_user, consent))
    if isinstance(outcome, Redirect):
        return redirect(outcome.location)
    if isinstance(outcome, NeedsConsent):
        fields = {k: v for k, v in incoming.args.items() if k not in ("prompt", "csrf_token")}
        # The answer redirects to the tool's redirect URI (validated by now): the page's
        # form-action must allow that origin, or the browser stops the redirect.
        target = urlsplit(fields.get("redirect_uri", ""))
        g.form_action_extra = [f"{target.scheme}://{target.netloc}"]
        return await render_page(
            "oauth/consent.html",
            tool=outcome,
            learns=[SCOPE_TEXT[s] for s in outcome.scope if s in SCOPE_TEXT],
            fields=fields,
        )
    if isinstance(outcome, NeedsSignIn):
        return redirect("/signin?" + urlencode({"next": outcome.next}))
    return await _error_page(outcome)


@bp.post("/oauth/token")
@csrf_exempt("OAuth token endpoint: server-to-server POST authenticated by the client secret")
async def token() -> Response:
    """Codes and refresh tokens for tokens (client-authenticated)."""
    prov = provider()
    incoming = await read_request(prov.issuer)
    return _raw(await db_session().run_sync(lambda s: prov.token(incoming.bind(s))))


@bp.post("/oauth/revoke")
@csrf_exempt("OAuth token revocation (RFC 7009): server-to-server POST with the client secret")
async def revoke() -> Response:
    """Token revocation (RFC 7009)."""
    prov = provider()
    incoming = await read_request(prov.issuer)
    return _raw(await db_session().run_sync(lambda s: prov.revoke(incoming.bind(s))))


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
@csrf_exempt("OpenID Connect UserInfo: a bearer-token API for relying parties, no cookies")
async def userinfo() -> Response:
    """Claims about the holder of an access token."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return _bearer_error(401, "invalid_request", "A bearer access token is required.")
    found = await bearer_user(db_session(), value.strip())
    if found is None:
        return _bearer_error(401, "invalid_token", "The access token is not valid.")
    user, row = found
    if "openid" not in row.scope.split():
        return _bearer_error(403, "insufficient_scope", "The token lacks the openid scope.")
    picture = await picture_of_async(db_session(), user.id)
    claims = user_claims(EndUser.of(user, row.sid, row.issued_at, picture), row.scope)
    return Response(json.dumps(claims), mimetype="application/json", headers=NO_STORE)


def _bearer_error(status: int, error: str, description: str) -> Response:
    response = Response(
        json.dumps({"error": error, "error_description": description}),
        status=status,
        mimetype="application/json",
        headers=NO_STORE,
    )
    response.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return response


@bp.route("/oauth/end-session", methods=["GET", "POST"])
async def end_session() -> Any:
    """RP-initiated logout. With a valid ID token hint the sign-in ends at once and the
    browser goes back to the client; without one, the person confirms with a form."""
    prov = provider()
    incoming = await read_request(prov.issuer)
    confirmed = request.method == "POST"
    browser_sid = auth.current_sid()

    def run(s: Any) -> SignedOut | NeedsConfirmation | ErrorPage:
        req = incoming.bind(s)
        req.browser_sid = browser_sid if confirmed else None
        return prov.end_session(req, confirmed=confirmed)

    outcome = await db_session().run_sync(run)
    if isinstance(outcome, ErrorPage):
        return await _error_page(outcome)
    if isinstance(outcome, NeedsConfirmation):
        return await render_page(
            "oauth/end_session.html", params=dict(request.args), client_id=outcome.client_id
        )
    if outcome.sid is not None:
        await db_session().commit()
        await auth.forget_sessions([outcome.sid])
        if outcome.sid == browser_sid:
            auth.sign_out_locally()
    if outcome.location:
        return redirect(outcome.location)
    return await render_page("oauth/signed_out.html")
