"""Single sign-on for every app: each app is a first-party OpenID Connect client of federation.

Added to every app by the factory:

* ``GET /auth/login?next=...`` — off to federation's authorization endpoint (code flow, PKCE
  S256, ``state`` and ``nonce`` kept in this app's session), back at ``next`` afterwards.
* ``GET /auth/callback`` — checks ``state``, redeems the code at federation's token endpoint
  (server to server, over the internal URL), verifies the ID token (signature from the JWKS,
  ``iss``, ``aud``, ``exp``, ``nonce``, ``sid``) and starts this app's session.
* ``GET /auth/logout`` — a confirmation page holding this app's own CSRF token (the header's
  ``account/menu`` fragment links here: a cached fragment cannot carry a token for the session
  of the app that shows it); ``POST /auth/logout`` ends the sign-in everywhere (the sid, in
  PostgreSQL), then lets federation clear its own cookie through RP-initiated logout and come
  back here.
* ``/auth/login`` without ``next`` returns to the page the link was followed from (the
  same-origin ``Referer``; only our own sites are honoured), so the menu fragment, cached for
  every page, needs no per-page link.
* Silent sign-on: a browser that arrives without this app's session is sent once to
  federation with ``prompt=none``; someone signed in at any app comes back signed in, anyone
  else comes straight back to the page they asked for. Never for non-GET, non-HTML, htmx,
  internal, ActivityPub, feed or static requests (a boosted navigation is a page load: it
  leaves as a whole page). Once per browser session for all apps: federation's sign-in
  generation cookie, readable by every app, says ``-`` once federation found nobody signed in,
  so no other app asks again (decision 0092); it changes with each sign-in, and each app's
  browser-session marker cookie records the generation it checked at, so every app checks
  again after one (decision 0071). A generation lives as long as the sign-in it names, so
  where the cookie reaches every app a browser without one is not sent at all: a new visitor
  pays no redirect (decision 0113). The check leaves nothing in the app's session: an empty
  session sends no cookie, so the next page is served from the page cache (decision 0091).

The client side is ``httpx`` plus ``joserfc``, not Authlib's client (see the architecture
notes). Federation itself is the provider: there ``/auth/login`` is its sign-in page and
``/auth/logout`` ends the sign-in directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from joserfc.jwt import JWTClaimsRegistry
from quart import Blueprint, Quart, current_app, redirect, request, session
from werkzeug.wrappers.response import Response

from shared.config import Settings
from shared.errors import DomainError
from shared.infrastructure import auth
from shared.infrastructure.boost import is_htmx
from shared.infrastructure.context import current_platform
from shared.infrastructure.fragments import render_page

log = logging.getLogger(__name__)

SCOPE = "openid profile email"
PENDING_KEY = "_oauth"
MAX_PENDING = 4
PENDING_TTL_S = 900
JWKS_MAX_AGE_S = 3600
JWKS_MIN_REFETCH_S = 10
CLOCK_LEEWAY_S = 60
# The sign-on marker's value when the browser carried no sign-in generation.
NO_GENERATION = "-"
# Federation's authorization endpoint (its answer tells the browser whether anyone is signed in).
AUTHORIZE_PATH = "/oauth/authorize"
# The state of a request started afresh after a callback with no request of its own.
AGAIN_PREFIX = "again."

# Requests that never get a silent sign-on redirect (besides non-GET, non-HTML and htmx ones).
SILENT_SKIP_PREFIXES = (
    "/internal/",
    "/auth/",
    "/oauth/",
    "/static/",
    "/.well-known/",
    "/healthz",
    "/readyz",
    "/ap/",
    "/inbox",
    "/outbox",
    "/users/",
    "/nodeinfo",
    "/feed",
    "/feeds/",
)
SILENT_SKIP_SUFFIXES = (".xml", ".rss", ".atom", ".ics", ".json", ".txt")
ACTIVITYPUB_TYPES = ("application/activity+json", "application/ld+json")


class SignInFailed(DomainError):
    """The sign-in could not be completed (a stale link, a refusal from federation)."""


def client_secret(settings: Settings, client_id: str) -> str:
    """The client secret of a first-party app, derived from ``ROSE_SECRET_KEY``.

    Federation and the app compute the same value, so there is no secret per app to
    provision and rotating ROSE_SECRET_KEY rotates them all."""
    master = settings.require("secret_key").encode()
    digest = hmac.new(master, f"oauth-client:{client_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def marker_cookie_name(settings: Settings, name: str) -> str:
    return f"__Host-{name}_sso" if settings.cookie_secure else f"{name}_sso"


def generation_cookie_name(settings: Settings) -> str:
    """Federation's sign-in generation cookie, read by every app (on the parent domain in
    production, so it cannot be ``__Host-``)."""
    return "__Secure-rose_signin" if settings.cookie_secure else "rose_signin"


class OIDCClient:
    """One app's side of the OpenID Connect code flow with federation."""

    def __init__(self, settings: Settings, name: str) -> None:
        fed = settings.apps["federation"]
        me = settings.apps[name]
        self.settings = settings
        # Read once: whether every app sees federation's sign-in generation (decision 0113).
        self.generation_shared = generation_reaches_every_app(settings)
        self.client_id = name
        self.secret = client_secret(settings, name)
        self.issuer = fed.public_url
        self.authorize_endpoint = f"{fed.public_url}{AUTHORIZE_PATH}"
        self.end_session_endpoint = f"{fed.public_url}/oauth/end-session"
        # Server-to-server calls use the internal URL (the Swarm service name in production).
        self.token_endpoint = f"{fed.internal_url}/oauth/token"
        self.jwks_uri = f"{fed.internal_url}/oauth/jwks"
        self.redirect_uri = f"{me.public_url}/auth/callback"
        self.post_logout_redirect_uri = f"{me.public_url}/"
        self._http: httpx.AsyncClient | None = None
        self._jwks: KeySet | None = None
        self._jwks_at = 0.0

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.settings.oauth.http_timeout_s)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- the front channel -------------------------------------------------------------

    def begin(self, next_url: str, *, silent: bool, again: bool = False) -> str:
        """Remember a new authorization request in the session; return federation's URL.
        ``again``: a fresh start after a callback this browser had no request for (its
        state says so, so that one is never started twice in a row)."""
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        if again:
            state = AGAIN_PREFIX + state
        now = int(time.time())
        pending = {
            k: v
            for k, v in (session.get(PENDING_KEY) or {}).items()
            if isinstance(v, dict) and now - int(v.get("t", 0)) < PENDING_TTL_S
        }
        # A few sign-ins may be in flight (several tabs); keep only the newest.
        while len(pending) >= MAX_PENDING:
            pending.pop(min(pending, key=lambda k: int(pending[k]["t"])))
        pending[state] = {"v": verifier, "n": nonce, "next": next_url, "s": silent, "t": now}
        session[PENDING_KEY] = pending
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if silent:
            params["prompt"] = "none"
        return f"{self.authorize_endpoint}?{urlencode(params)}"

    @staticmethod
    def take_pending(state: str | None) -> dict[str, Any] | None:
        """The authorization request ``state`` belongs to, removed from the session."""
        pending = session.get(PENDING_KEY)
        if not state or not isinstance(pending, dict) or state not in pending:
            return None
        entry = pending.pop(state)
        if pending:
            session[PENDING_KEY] = pending
        else:
            # Nothing left in flight: an empty session, so the answer drops the cookie and
            # the next page is an anonymous one the page cache can serve (decision 0091).
            session.pop(PENDING_KEY, None)
        if int(time.time()) - int(entry.get("t", 0)) >= PENDING_TTL_S:
            return None
        return dict(entry)

    def end_session_url(self, id_token: str | None) -> str:
        params = {
            "client_id": self.client_id,
            "post_logout_redirect_uri": self.post_logout_redirect_uri,
        }
        if id_token:
            params["id_token_hint"] = id_token
        return f"{self.end_session_endpoint}?{urlencode(params)}"

    # --- the back channel --------------------------------------------------------------

    async def redeem(self, code: str, verifier: str, nonce: str) -> tuple[dict[str, Any], str]:
        """Exchange the code for tokens; return the verified ID token's claims and the token."""
        try:
            resp = await self.http.post(
                self.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                    "code_verifier": verifier,
                },
                auth=(self.client_id, self.secret),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as err:
            log.error("token request to federation failed: %r", err)
            raise SignInFailed(
                "federation_unreachable",
                "Signing in is not possible right now. Please try again in a moment.",
                status=502,
            ) from None
        if resp.status_code != 200:
            log.warning("federation refused the code: %s %s", resp.status_code, resp.text[:200])
            raise SignInFailed("code_refused", "That sign-in did not work. Please try again.")
        try:
            id_token = resp.json().get("id_token")
        except ValueError:
            id_token = None
        if not isinstance(id_token, str):
            raise SignInFailed("no_id_token", "That sign-in did not work. Please try again.")
        return await self.verify_id_token(id_token, nonce), id_token

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """Check signature, issuer, audience, times, nonce and sid (OIDC Core §3.1.3.7)."""
        try:
            kid = extract_compact(id_token.encode()).headers().get("kid")
            token = jwt.decode(id_token, await self._keys(kid), algorithms=["RS256"])
            JWTClaimsRegistry(
                leeway=CLOCK_LEEWAY_S,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
                sid={"essential": True},
            ).validate(token.claims)
        except httpx.HTTPError as err:
            log.error("could not fetch federation's keys: %r", err)
            raise SignInFailed(
                "federation_unreachable",
                "Signing in is not possible right now. Please try again in a moment.",
                status=502,
            ) from None
        except (JoseError, ValueError) as err:
            log.warning("ID token refused: %r", err)
            raise SignInFailed(
                "bad_id_token", "That sign-in did not work. Please try again."
            ) from None
        return dict(token.claims)

    async def _keys(self, kid: str | None) -> KeySet:
        now = time.monotonic()
        fresh = self._jwks is not None and now - self._jwks_at < JWKS_MAX_AGE_S
        known = self._jwks is not None and kid is not None and _has_kid(self._jwks, kid)
        if self._jwks is not None and fresh and known:
            return self._jwks
        # Unknown kid (a rotated key) or a stale set: fetch again, but not in a tight loop.
        if self._jwks is None or now - self._jwks_at >= JWKS_MIN_REFETCH_S:
            resp = await self.http.get(self.jwks_uri)
            resp.raise_for_status()
            self._jwks = KeySet.import_key_set(resp.json())
            self._jwks_at = now
        return self._jwks


def _has_kid(keys: KeySet, kid: str) -> bool:
    try:
        keys.get_by_kid(kid)
    except (JoseError, ValueError):
        return False
    return True


def oidc_client() -> OIDCClient:
    client: OIDCClient = current_app.extensions["oidc_client"]
    return client


def _origins() -> list[str]:
    return [a.public_url for a in current_platform().settings.apps.values()]


def wants_silent_sign_on() -> bool:
    """Whether this request may be answered with a silent sign-on redirect."""
    if request.method != "GET" or request.routing_exception is not None:
        return False
    path = request.path
    if path.startswith(SILENT_SKIP_PREFIXES) or path.endswith(SILENT_SKIP_SUFFIXES):
        return False
    if is_htmx(request.headers.get("HX-Request")):
        # A boosted navigation is a page load too (its redirect becomes HX-Redirect, a whole
        # page); other htmx requests are parts of a page.
        return request.headers.get("HX-Boosted") == "true"
    # Only top-level page loads by a browser.
    if request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate":
        return False
    if request.headers.get("Sec-Fetch-Dest", "document") != "document":
        return False
    accept = request.headers.get("Accept", "")
    if "text/html" not in accept or any(t in accept for t in ACTIVITYPUB_TYPES):
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "text/html"


def _set_marker(response: Response, generation: str | None) -> Response:
    """Remember that this browser's sign-on was checked, at federation's sign-in generation
    ``generation`` (None: nobody was signed in at federation as far as the browser knew)."""
    rose = current_platform()
    # No max-age: a browser-session cookie, so the silent check happens once per session
    # (and again when federation's sign-in generation moves on).
    response.set_cookie(
        marker_cookie_name(rose.settings, rose.name),
        generation or NO_GENERATION,
        secure=rose.settings.cookie_secure,
        httponly=True,
        samesite="Lax",
        path="/",
    )
    return response


def generation_reaches_every_app(settings: Settings) -> bool:
    """Whether every app reads federation's sign-in generation cookie: it is set on the parent
    domain (``oauth.cookie_domain``), or every app answers on one host (cookies ignore ports)."""
    hosts = {urlsplit(app.public_url).hostname for app in settings.apps.values()}
    return bool(settings.oauth.cookie_domain) or len(hosts) == 1


def needs_sign_on_check(
    marker: str | None, generation: str | None, *, shared: bool = False
) -> bool:
    """Whether an anonymous browser should be sent to federation with ``prompt=none``.

    Not when federation's generation cookie says "nobody" (``-``): federation answered in this
    browser session that nobody was signed in, and any sign-in since would have replaced it, so
    one check serves every app (decision 0092). Not when the cookie reaches every app
    (``shared``) and the browser holds none: a sign-in at federation sets one that lives as long
    as the sign-in, so this browser has none to find (decision 0113). Otherwise: this app never
    checked (no marker), or someone signed in at federation since it last did (the generation
    differs from the one the marker recorded; decision 0071)."""
    if generation == NO_GENERATION or (generation is None and shared):
        return False
    if marker is None:
        return True
    return generation is not None and marker != generation


async def _silent_sign_on() -> Response | None:
    rose = current_platform()
    if auth.current_user() is not None or not wants_silent_sign_on():
        return None
    generation = request.cookies.get(generation_cookie_name(rose.settings))
    marker = request.cookies.get(marker_cookie_name(rose.settings, rose.name))
    if not needs_sign_on_check(marker, generation, shared=oidc_client().generation_shared):
        return None
    if marker is None and request.headers.get("HX-Request"):
        # A boosted navigation follows a page load that was checked already (a browser
        # without the marker is a client of its own, not a browser's next page).
        return None
    url = oidc_client().begin(request.full_path.rstrip("?"), silent=True)
    return _set_marker(redirect(url), generation)


def _return_to() -> str:
    """Where to land after signing in or out: ``next``, else the page the link was on."""
    wanted = request.args.get("next")
    if wanted is None:
        referrer = request.referrer
        # Never back to a sign-in or sign-out step itself.
        if referrer and not urlsplit(referrer).path.startswith("/auth/"):
            wanted = referrer
    return auth.safe_next(wanted, _origins())


async def _confirm_logout() -> Response | str:
    """The sign-out confirmation page (its form carries this app's CSRF token)."""
    next_url = _return_to()
    if auth.current_user() is None:
        return redirect(next_url)
    return await render_page("auth/logout.html", next=next_url)


def _client_blueprint() -> Blueprint:
    bp = Blueprint("sso", __name__)

    @bp.get("/auth/login")
    async def login() -> Response:
        """Sign in through federation, then come back to ``next`` (or the referring page)."""
        next_url = _return_to()
        if auth.current_user() is not None:
            return redirect(next_url)
        return redirect(oidc_client().begin(next_url, silent=False))

    @bp.get("/auth/logout")
    async def confirm_logout() -> Response | str:
        """Ask before signing out (the menu's "Sign out" link)."""
        return await _confirm_logout()

    @bp.get("/auth/callback")
    async def callback() -> Response:
        """Federation sends the browser back here with a code (or an error)."""
        client = oidc_client()
        state = request.args.get("state")
        pending = client.take_pending(state)
        if pending is None:
            if request.args.get("code") and not (state or "").startswith(AGAIN_PREFIX):
                # Federation signed the person in for a request this browser no longer has
                # (the email's verification link opened in another browser, or long after):
                # the stray code is never redeemed; a fresh silent request signs them in here
                # and lands on this app's front page.
                return redirect(client.begin("/", silent=True, again=True))
            raise SignInFailed(
                "bad_state", "This sign-in has expired or was already used. Please try again."
            )
        next_url = auth.safe_next(str(pending.get("next")), _origins())
        error = request.args.get("error")
        if error is not None:
            if pending.get("s"):
                # Silent sign-on: not signed in at federation (or it declined); carry on.
                return redirect(next_url)
            if error == "login_required":
                return redirect(client.begin(next_url, silent=False))
            raise SignInFailed("sign_in_refused", "Signing in was not completed.")
        code = request.args.get("code")
        if not code:
            raise SignInFailed("no_code", "That sign-in did not work. Please try again.")
        claims, id_token = await client.redeem(code, str(pending["v"]), str(pending["n"]))
        auth.sign_in(str(claims["sid"]), int(claims["sub"]), id_token)
        return redirect(next_url)

    @bp.post("/auth/logout")
    async def logout() -> Response:
        """Sign out here and everywhere, then let federation clear its own session."""
        id_token = auth.current_id_token()
        sid = auth.sign_out_locally()
        if sid is not None:
            await auth.end_sign_in(sid)
        target = oidc_client().end_session_url(id_token) if id_token else "/"
        # Just signed out: no silent sign-on attempt on the next page (federation drops the
        # generation cookie as it ends its own session).
        return _set_marker(redirect(target), None)

    return bp


def _federation_blueprint() -> Blueprint:
    bp = Blueprint("sso", __name__)

    @bp.get("/auth/login")
    async def login() -> Response:
        """Federation is the provider: its sign-in page."""
        return redirect("/signin?" + urlencode({"next": _return_to()}))

    @bp.get("/auth/logout")
    async def confirm_logout() -> Response | str:
        """Ask before signing out (the menu's "Sign out" link)."""
        return await _confirm_logout()

    @bp.post("/auth/logout")
    async def logout() -> Response:
        """End this browser's sign-in everywhere."""
        sid = auth.sign_out_locally()
        if sid is not None:
            await auth.end_sign_in(sid)
        form = await request.form
        return redirect(auth.safe_next(form.get("next"), _origins()))

    return bp


async def _keep_generation(response: Response) -> Response:
    """Federation: while this browser is signed in here the generation cookie holds a new
    value for every sign-in, so each app's silent check runs again after one (0071). Once
    federation has found nobody signed in — an app's authorization request, or a browser still
    carrying an old generation — it holds ``-``, so the other apps need not ask (0092). A
    generation lives as long as the sign-in, renewed as federation's session is, so a browser
    without one has nobody to find (0113)."""
    settings = current_platform().settings
    name = generation_cookie_name(settings)
    current = request.cookies.get(name)
    signed_in = auth.current_user() is not None or auth.signed_in_now()
    if signed_in and (current in (None, NO_GENERATION) or auth.signed_in_now()):
        _set_generation(response, settings, secrets.token_urlsafe(12))
    elif signed_in and current is not None and wants_silent_sign_on():
        # Kept alive as long as the sign-in is (0113), renewed on a page load (not on every
        # asset or fragment): the apps read its absence as "nobody".
        _set_generation(response, settings, current)
    elif (
        not signed_in
        and current != NO_GENERATION
        and (current is not None or request.path == AUTHORIZE_PATH)
    ):
        _set_generation(response, settings, NO_GENERATION)
    return response


def _set_generation(response: Response, settings: Settings, value: str) -> None:
    # A sign-in's generation lives as long as the sign-in may (federation's session is
    # permanent; decision 0113); "nobody" is a browser-session cookie, like the apps' markers.
    lifetime = current_app.permanent_session_lifetime
    response.set_cookie(
        generation_cookie_name(settings),
        value,
        max_age=None if value == NO_GENERATION else int(lifetime.total_seconds()),
        domain=settings.oauth.cookie_domain or None,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="Lax",
    )


def install(app: Quart) -> None:
    """Add the /auth routes and silent sign-on to ``app`` (after :func:`auth.install`)."""
    rose = app.extensions["rose"]
    if rose.name == "federation":
        app.register_blueprint(_federation_blueprint())
        app.after_request(_keep_generation)
        return
    client = OIDCClient(rose.settings, rose.name)
    app.extensions["oidc_client"] = client
    app.register_blueprint(_client_blueprint())
    app.before_request(_silent_sign_on)

    @app.after_serving
    async def _close_http() -> None:
        await client.aclose()
