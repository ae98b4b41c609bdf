"""Federation's OAuth2 authorization server and OpenID Connect provider (Authlib behind Quart).

Authlib's framework-agnostic server classes do the protocol work; this module is the small
Quart adapter around them plus the storage they need:

* Authlib's grant code is synchronous. A view awaits the form, builds a
  :class:`RoseOAuth2Request` and runs the grant inside ``AsyncSession.run_sync``: one
  transaction per call, committed by the request. Password hashing and Redis stay outside.
* Authorization code with PKCE: ``S256`` only, and required for every client (Authlib's
  ``CodeChallenge(required=True)`` only forces public clients and defaults to ``plain``).
* Codes are stored hashed, live ``oauth.code_ttl_s`` (at most 60 s) and are consumed with a
  guarded ``UPDATE ... WHERE consumed_at IS NULL``: of two concurrent redemptions exactly
  one gets tokens. A replayed code revokes every token it produced (RFC 6749 §4.1.2).
* Redirect URIs match exactly; an unknown client or redirect URI gets an error page, never
  a redirect (RFC 6749 §4.1.2.1).
* Refresh tokens rotate; presenting a used one revokes its whole chain (the ``family_id``).
* ID tokens are RS256 with ``sid``, ``nonce`` and ``auth_time``; clients come from config
  (the five other apps, first-party, so no consent screen).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.errors import LoginRequiredError
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet, RSAKey
from quart import request
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from shared.config import APP_NAMES, ConfigError, Settings
from shared.infrastructure.oauth import SCOPE, client_secret
from shared.models import AuthSession, OAuthAuthorizationCode, OAuthToken, User

ID_TOKEN_TTL_S = 600
SCOPES = ("openid", "profile", "email")
CLAIMS = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "at_hash",
    "name",
    "preferred_username",
    "roles",
    "email",
    "email_verified",
)

# (status, body, headers) as Authlib hands them to the framework.
RawResponse = tuple[int, Any, list[tuple[str, str]]]


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


def load_signing_key(settings: Settings) -> RSAKey:
    """The RSA key that signs ID tokens, from ``ROSE_OIDC_PRIVATE_KEY`` (PEM; ``\\n`` escapes
    are accepted for one-line environment files)."""
    pem = settings.require("oidc_private_key").replace("\\n", "\n").strip()
    try:
        key = RSAKey.import_key(pem)
    except (ValueError, TypeError):
        raise ConfigError(
            "ROSE_OIDC_PRIVATE_KEY (environment variable): not an RSA private key in PEM"
        ) from None
    if not key.is_private:
        raise ConfigError(
            "ROSE_OIDC_PRIVATE_KEY (environment variable): a public key; the private key is needed"
        )
    if key.raw_value.key_size < 2048:
        raise ConfigError(
            "ROSE_OIDC_PRIVATE_KEY (environment variable): RSA keys need at least 2048 bits"
        )
    return key


# --- clients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    """A relying party registered from config."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    first_party: bool = True
    scope: str = SCOPE

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # No default: the request must name its redirect URI (and it must match exactly).
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return self.scope
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison: no trailing-slash, port, scheme or case leniency.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


def registered_clients(settings: Settings) -> dict[str, Client]:
    """The five other apps, each a first-party client at its public URL."""
    clients = {}
    for name in APP_NAMES:
        if name == "federation":
            continue
        url = settings.apps[name].public_url
        clients[name] = Client(
            client_id=name,
            client_secret=client_secret(settings, name),
            redirect_uris=(f"{url}/auth/callback",),
            post_logout_redirect_uris=(f"{url}/",),
        )
    return clients


# --- what Authlib calls users, codes and tokens --------------------------------------------


@dataclass
class EndUser:
    """The signed-in person behind a grant, with the sign-in (sid) it belongs to."""

    id: int
    sid: str
    auth_time: datetime
    username: str = ""
    display_name: str = ""
    email: str = ""
    email_verified: bool = False
    roles: tuple[str, ...] = ()

    def get_user_id(self) -> int:
        return self.id

    @classmethod
    def of(cls, user: User, sid: str, auth_time: datetime) -> EndUser:
        return cls(
            id=user.id,
            sid=sid,
            auth_time=auth_time,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            email_verified=user.email_verified_at is not None,
            roles=tuple(user.roles),
        )


class CodeRecord:
    """An authorization code row, as Authlib's grants read it."""

    def __init__(self, row: OAuthAuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


class TokenRecord:
    """An OAuth token row, as Authlib's grants and endpoints read it."""

    def __init__(self, row: OAuthToken, *, matched: str = "access_token") -> None:
        self.row = row
        self.matched = matched

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.row.access_expires_at - utcnow()).total_seconds()))

    def is_expired(self) -> bool:
        return self.row.access_expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


# --- the Quart adapter ----------------------------------------------------------------------


class RosePayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, args: MultiDict[str, str], form: MultiDict[str, str]) -> None:
        self._data: MultiDict[str, str] = MultiDict(args)
        for key, values in form.lists():
            for value in values:
                self._data.add(key, value)

    @property
    def data(self) -> MultiDict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: self._data.getlist(key) for key in self._data}


class RoseOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """A Quart request, read in full beforehand, with the sync session the grant code uses."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: dict[str, str],
        args: MultiDict[str, str],
        form: MultiDict[str, str],
        db: Session,
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = RosePayload(args, form)
        self._args = args
        self._form = form
        self.db = db
        # The sid of federation's own session in this browser (end-session without a hint).
        self.browser_sid: str | None = None
        self.ended_sid: str | None = None

    @property
    def args(self) -> MultiDict[str, str]:
        return self._args

    @property
    def form(self) -> MultiDict[str, str]:
        return self._form


@dataclass(frozen=True)
class IncomingRequest:
    """What the adapter reads from Quart before going synchronous."""

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


# --- grants and endpoints -------------------------------------------------------------------


class S256Required(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256, required for every client, confidential ones included."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is accepted.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


def _revoke_family(db: Session, family_id: str) -> None:
    db.execute(
        update(OAuthToken)
        .where(OAuthToken.family_id == family_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def _active_user(db: Session, user_id: int, sid: str) -> User | None:
    """The user, if both the account and the sign-in it was granted under are still live."""
    return db.scalar(
        select(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            User.id == user_id,
            User.is_active.is_(True),
            AuthSession.sid == sid,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
    )


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    server: Provider

    def save_authorization_code(self, code: str, request: RoseOAuth2Request) -> None:
        end_user: EndUser = request.user
        now = utcnow()
        db = request.db
        # Opportunistic clean-up: consumed or expired codes are kept a day for replay detection.
        db.execute(
            delete(OAuthAuthorizationCode).where(
                OAuthAuthorizationCode.expires_at < now - timedelta(days=1)
            )
        )
        data = request.payload.data
        db.add(
            OAuthAuthorizationCode(
                code_hash=token_hash(code),
                client_id=request.client.client_id,
                user_id=end_user.id,
                sid=end_user.sid,
                redirect_uri=data.get("redirect_uri"),
                scope=request.scope,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                family_id=secrets.token_urlsafe(24),
                auth_time=end_user.auth_time,
                created_at=now,
                expires_at=now + timedelta(seconds=self.server.settings.oauth.code_ttl_s),
            )
        )
        db.flush()

    def query_authorization_code(self, code: str, client: Client) -> CodeRecord | None:
        db: Session = self.request.db
        row = db.get(OAuthAuthorizationCode, token_hash(code))
        if row is None or row.client_id != client.client_id:
            return None
        if row.consumed_at is not None:
            # A replayed code: refuse it and revoke what it produced.
            _revoke_family(db, row.family_id)
            return None
        if row.expires_at <= utcnow():
            return None
        return CodeRecord(row)

    def create_token_response(self) -> RawResponse:
        code: CodeRecord = self.request.authorization_code
        db: Session = self.request.db
        # The atomic step: of two concurrent redemptions only one finds consumed_at NULL (the
        # other waits for the row lock, then sees the committed consumption).
        consumed = db.execute(
            update(OAuthAuthorizationCode)
            .where(
                OAuthAuthorizationCode.code_hash == code.row.code_hash,
                OAuthAuthorizationCode.consumed_at.is_(None),
                OAuthAuthorizationCode.expires_at > utcnow(),
            )
            .values(consumed_at=utcnow())
            .returning(OAuthAuthorizationCode.code_hash)
            .execution_options(synchronize_session=False)
        ).first()
        if consumed is None:
            _revoke_family(db, code.row.family_id)
            raise InvalidGrantError("The authorization code has already been used.")
        return super().create_token_response()  # type: ignore[no-any-return]

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        # Kept (consumed) until it expires, so a replay can still be recognised.
        return None

    def authenticate_user(self, authorization_code: CodeRecord) -> EndUser:
        row = authorization_code.row
        user = _active_user(self.request.db, row.user_id, row.sid)
        if user is None:
            raise InvalidGrantError("The sign-in behind this code has ended.")
        return EndUser.of(user, row.sid, row.auth_time)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        db: Session = self.request.db
        client: Client = self.request.client
        digest = token_hash(refresh_token)
        now = utcnow()
        # Use it up atomically: a concurrent second use finds refresh_used_at set.
        row = db.scalars(
            update(OAuthToken)
            .where(
                OAuthToken.refresh_token_hash == digest,
                OAuthToken.client_id == client.client_id,
                OAuthToken.refresh_used_at.is_(None),
                OAuthToken.revoked_at.is_(None),
                OAuthToken.refresh_expires_at > now,
            )
            .values(refresh_used_at=now)
            .returning(OAuthToken)
            .execution_options(synchronize_session=False)
        ).first()
        if row is not None:
            return TokenRecord(row, matched="refresh_token")
        old = db.scalar(select(OAuthToken).where(OAuthToken.refresh_token_hash == digest))
        if old is not None and (
            old.refresh_used_at is not None or old.client_id != client.client_id
        ):
            # Reuse of a rotated refresh token (or one presented by another client): someone
            # holds a stolen copy, so the whole chain goes.
            _revoke_family(db, old.family_id)
        return None

    def authenticate_user(self, refresh_token: TokenRecord) -> EndUser:
        row = refresh_token.row
        user = _active_user(self.request.db, row.user_id, row.sid)
        if user is None:
            raise InvalidGrantError("The sign-in behind this token has ended.")
        session_row = self.request.db.get(AuthSession, row.sid)
        return EndUser.of(user, row.sid, session_row.created_at)

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        # Already marked used in authenticate_refresh_token.
        return None


class OpenIDCode(oidc_grants.OpenIDCode):  # type: ignore[misc]
    """ID tokens for the code flow: RS256 with kid, sid, nonce (required) and auth_time."""

    DEFAULT_EXPIRES_IN = ID_TOKEN_TTL_S

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: RoseOAuth2Request) -> bool:
        found = request.db.scalar(
            select(OAuthAuthorizationCode.code_hash).where(
                OAuthAuthorizationCode.client_id == request.payload.client_id,
                OAuthAuthorizationCode.nonce == nonce,
            )
        )
        return found is not None

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.provider.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.provider.kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.provider.issuer, "aud": client.client_id}

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, Any]:
        claims = user_claims(user, scope)
        claims["sid"] = user.sid
        return claims


def user_claims(user: EndUser, scope: str) -> dict[str, Any]:
    """The claims a token with ``scope`` may see about ``user``."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": str(user.id)}
    if "profile" in scopes:
        claims["name"] = user.display_name or user.username
        claims["preferred_username"] = user.username
        claims["roles"] = list(user.roles)
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    return claims


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009. Revoking a refresh token revokes its whole chain; an access token, its row."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def authenticate_token(self, request: RoseOAuth2Request, client: Client) -> TokenRecord | None:
        self.check_params(request, client)
        value = request.form["token"]
        digest = token_hash(value)
        order = ["access_token", "refresh_token"]
        if request.form.get("token_type_hint") == "refresh_token":
            order.reverse()
        for kind in order:
            column = (
                OAuthToken.access_token_hash
                if kind == "access_token"
                else OAuthToken.refresh_token_hash
            )
            row = request.db.scalar(select(OAuthToken).where(column == digest))
            if row is not None:
                if row.client_id != client.client_id:
                    raise InvalidGrantError()
                return TokenRecord(row, matched=kind)
        return None

    def revoke_token(self, token: TokenRecord, request: RoseOAuth2Request) -> None:
        if token.matched == "refresh_token":
            _revoke_family(request.db, token.row.family_id)
        elif token.row.revoked_at is None:
            token.row.revoked_at = utcnow()
            request.db.flush()


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    """RP-initiated logout: ends the sign-in named by the ID token hint (or, once confirmed,
    the browser's own) in every app."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(provider)
        self.provider = provider

    def get_server_jwks(self) -> KeySet:
        return self.provider.public_keys

    def get_algorithms(self) -> list[str]:
        return ["RS256"]

    def end_session(self, end_session_request: Any) -> None:
        req: RoseOAuth2Request = end_session_request.request
        claims = end_session_request.id_token_claims or {}
        sid = claims.get("sid") or req.browser_sid
        if isinstance(sid, str):
            req.db.execute(
                update(AuthSession)
                .where(AuthSession.sid == sid, AuthSession.revoked_at.is_(None))
                .values(revoked_at=utcnow(), revoked_reason="signed_out")
            )
        req.ended_sid = sid if isinstance(sid, str) else None


# --- outcomes the views turn into responses -------------------------------------------------


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
        return self.clients.get(client_id)

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
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": list(CLAIMS),
            "prompt_values_supported": ["none", "login"],
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }

    # --- the endpoints, synchronous halves --------------------------------------------

    def authorize(
        self, req: RoseOAuth2Request, end_user: EndUser | None
    ) -> Redirect | ErrorPage | NeedsSignIn:
        """Validate an authorization request; issue a code when someone is signed in."""
        try:
            grant = self.get_consent_grant(req, end_user)
            prompts = (req.payload.data.get("prompt") or "").split()
            if "none" in prompts and end_user is None:
                raise LoginRequiredError(redirect_uri=grant.redirect_uri, state=req.payload.state)
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
        # First-party clients only (all clients come from config): no consent screen.
        status, _, headers = self.create_authorization_response(
            req, grant_user=end_user, grant=grant
        )
        location = dict(headers).get("Location")
        if status != 302 or location is None:
            return ErrorPage("oauth_error", "This sign-in request is not valid.")
        return Redirect(location)

    def token(self, req: RoseOAuth2Request) -> RawResponse:
        response: RawResponse = self.create_token_response(req)
        return response

    def revoke(self, req: RoseOAuth2Request) -> RawResponse:
        response: RawResponse = self.create_endpoint_response("revocation", req)
        return response

    def end_session(
        self, req: RoseOAuth2Request, *, confirmed: bool
    ) -> SignedOut | NeedsConfirmation | ErrorPage:
        """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""
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


async def bearer_user(db: AsyncSession, access_token: str) -> tuple[User, OAuthToken] | None:
    """The user and token row behind a live access token (not revoked, not expired, its
    sign-in still active)."""
    now = utcnow()
    found = (
        await db.execute(
            select(User, OAuthToken)
            .join(OAuthToken, OAuthToken.user_id == User.id)
            .join(AuthSession, AuthSession.sid == OAuthToken.sid)
            .where(
                OAuthToken.access_token_hash == token_hash(access_token),
                OAuthToken.revoked_at.is_(None),
                OAuthToken.access_expires_at > now,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
                User.is_active.is_(True),
            )
        )
    ).first()
    if found is None:
        return None
    return found[0], found[1]
