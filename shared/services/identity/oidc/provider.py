"""Federation's authorization server: the outcomes its views turn into responses, and the
provider that registers the grants and endpoints and answers for each endpoint."""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.models import OAuthToken
from shared.services.identity.oidc.claims import CLAIMS, SCOPES, EndUser
from shared.services.identity.oidc.clients import Client, load_signing_key, registered_clients
from shared.services.identity.oidc.grants import (
    AUTH_METHODS,
    AuthorizationCodeGrant,
    EndSession,
    OpenIDCode,
    RefreshTokenGrant,
    Revocation,
    S256Required,
)
from shared.services.identity.oidc.request import RawResponse, RoseOAuth2Request
from shared.services.identity.oidc.storage import token_hash, utcnow
from shared.services.identity.oidc.tools import has_consent, load_client, record_consent

# The session of the request being handled: Authlib asks for clients by ID alone.
_db: ContextVar[Session | None] = ContextVar("oidc_db", default=None)


@dataclass(frozen=True)
class Redirect:
    location: str


@dataclass(frozen=True)
class ErrorPage:
    """An error the browser must see here (never redirected to an unverified client)."""

    code: str
    message: str
    status: int = 400


@dataclass(frozen=True)
class NeedsSignIn:
    """Sign in first, then come back to ``next``."""

    next: str


@dataclass(frozen=True)
class NeedsConsent:
    """Ask the member whether this tool may learn what ``scope`` covers."""

    client_id: str
    name: str
    scope: tuple[str, ...]


@dataclass(frozen=True)
class NeedsConfirmation:
    client_id: str | None


@dataclass(frozen=True)
class SignedOut:
    sid: str | None
    location: str | None = None


class Provider(AuthorizationServer):  # type: ignore[misc]
    """Federation's authorization server, configured from the settings."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.settings = settings
        self.issuer = settings.apps["federation"].public_url
        self.key = load_signing_key(settings)
        self.kid: str = self.key.thumbprint()
        self.clients = registered_clients(settings)
        oauth = settings.oauth
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: secrets.token_urlsafe(32),
                refresh_token_generator=lambda **_: secrets.token_urlsafe(48),
                expires_generator=lambda client, grant_type: oauth.access_token_ttl_s,
            ),
        )
        self.register_grant(AuthorizationCodeGrant, [S256Required(required=True), OpenIDCode(self)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(EndSession(self))

    # --- AuthorizationServer hooks -----------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        client = self.clients.get(client_id)
        db = _db.get()
        if client is None and db is not None and isinstance(client_id, str):
            client = load_client(db, client_id)
        return client

    def _bound(self, req: RoseOAuth2Request) -> Any:
        """Let :meth:`query_client` read registered tools from the request's session."""
        return _db.set(req.db)

    def save_token(self, token: dict[str, Any], request: RoseOAuth2Request) -> None:
        if request.authorization_code is not None:
            origin = request.authorization_code.row
            family_id, sid = origin.family_id, origin.sid
        else:
            old = request.refresh_token.row
            family_id, sid = old.family_id, old.sid
        now = utcnow()
        refresh = token.get("refresh_token")
        request.db.add(
            OAuthToken(
                family_id=family_id,
                client_id=request.client.client_id,
                user_id=request.user.id,
                sid=sid,
                scope=token.get("scope", ""),
                access_token_hash=token_hash(token["access_token"]),
                refresh_token_hash=token_hash(refresh) if refresh else None,
                issued_at=now,
                access_expires_at=now + timedelta(seconds=int(token["expires_in"])),
                refresh_expires_at=(
                    now + timedelta(seconds=self.settings.oauth.refresh_token_ttl_s)
                    if refresh
                    else None
                ),
            )
        )
        request.db.flush()

    def create_oauth2_request(self, request: Any) -> RoseOAuth2Request:
        if not isinstance(request, RoseOAuth2Request):
            raise TypeError("build a RoseOAuth2Request with read_request() first")
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> RawResponse:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # --- keys and metadata -------------------------------------------------------------

    @property
    def public_keys(self) -> KeySet:
        public = RSAKey.import_key(self.key.as_dict(private=False), {"kid": self.kid})
        return KeySet([public])

    def jwks(self) -> dict[str, Any]:
        public = dict(self.key.as_dict(private=False))
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    def metadata(self) -> dict[str, Any]:
        """The OpenID Provider discovery document."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "jwks_uri": f"{base}/oauth/jwks",
            "end_session_endpoint": f"{base}/oauth/end-session",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": list(CLAIMS),
            "prompt_values_supported": ["none", "login"],
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "frontchannel_logout_supported": False,
        }

    # --- the endpoints, synchronous halves --------------------------------------------

    def authorize(
        self, req: RoseOAuth2Request, end_user: EndUser | None, consent: str | None = None
    ) -> Redirect | ErrorPage | NeedsSignIn | NeedsConsent:
        """Validate an authorization request; issue a code when someone is signed in (and, for
        a tool that is not first-party, has agreed to what it learns: ``consent`` is the
        member's answer on the consent page, ``"allow"`` or ``"deny"``)."""
        bound = self._bound(req)
        try:
            return self._authorize(req, end_user, consent)
        finally:
            _db.reset(bound)

    def _authorize(
        self, req: RoseOAuth2Request, end_user: EndUser | None, consent: str | None
    ) -> Redirect | ErrorPage | NeedsSignIn | NeedsConsent:
        try:
            grant = self.get_consent_grant(req, end_user)
            prompts = (req.payload.data.get("prompt") or "").split()
            if "none" in prompts and end_user is None:
                raise LoginRequiredError(redirect_uri=grant.redirect_uri, state=req.payload.state)
            client: Client = grant.client
            wanted = client.get_allowed_scope(req.scope or "")
            if (
                consent is None
                and end_user is not None
                and "login" not in prompts
                and not client.first_party
                and not has_consent(req.db, end_user.id, client.client_id, wanted)
            ):
                if "none" in prompts:
                    raise ConsentRequiredError(
                        redirect_uri=grant.redirect_uri, state=req.payload.state
                    )
                return NeedsConsent(client.client_id, client.name, tuple(wanted.split()))
        except OAuth2Error as error:
            if error.redirect_uri:
                _, _, headers = error()
                return Redirect(dict(headers)["Location"])
            return ErrorPage(
                f"oauth_{error.error}",
                error.description or "This sign-in request is not valid.",
            )
        if end_user is None or "login" in prompts:
            return NeedsSignIn(_without_prompt(req.uri))
        granted: EndUser | None = end_user
        if consent is not None and not client.first_party:
            if consent == "allow":
                record_consent(req.db, end_user.id, client.client_id, wanted)
            else:
                granted = None  # access_denied, sent back to the tool
        status, _, headers = self.create_authorization_response(
            req, grant_user=granted, grant=grant
        )
        location = dict(headers).get("Location")
        if status != 302 or location is None:
            return ErrorPage("oauth_error", "This sign-in request is not valid.")
        return Redirect(location)

    def token(self, req: RoseOAuth2Request) -> RawResponse:
        bound = self._bound(req)
        try:
            response: RawResponse = self.create_token_response(req)
        finally:
            _db.reset(bound)
        return response

    def revoke(self, req: RoseOAuth2Request) -> RawResponse:
        bound = self._bound(req)
        try:
            response: RawResponse = self.create_endpoint_response("revocation", req)
        finally:
            _db.reset(bound)
        return response

    def end_session(
        self, req: RoseOAuth2Request, *, confirmed: bool
    ) -> SignedOut | NeedsConfirmation | ErrorPage:
        """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""
        bound = self._bound(req)
        try:
            return self._end_session(req, confirmed=confirmed)
        finally:
            _db.reset(bound)

    def _end_session(
        self, req: RoseOAuth2Request, *, confirmed: bool
    ) -> SignedOut | NeedsConfirmation | ErrorPage:
        try:
            validated = self.validate_endpoint_request("end_session", req)
        except OAuth2Error as error:
            return ErrorPage(
                f"oauth_{error.error}", error.description or "This sign-out link is not valid."
            )
        if validated.needs_confirmation and not confirmed:
            client = validated.client
            return NeedsConfirmation(client.client_id if client is not None else None)
        result = self.create_endpoint_response("end_session", validated)
        location = dict(result[2]).get("Location") if result is not None else None
        return SignedOut(req.ended_sid, location)


def _without_prompt(uri: str) -> str:
    """The authorization request's local URL, minus ``prompt`` (so that returning to it after
    signing in issues the code instead of asking to sign in again)."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "prompt"]
    return f"{parts.path}?{urlencode(query)}"
