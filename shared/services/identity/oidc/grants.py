"""The grants and endpoints Authlib runs: the authorization code with PKCE (S256, required),
refresh-token rotation, ID tokens, revocation (RFC 7009) and RP-initiated logout."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, Protocol

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.models import AuthSession, OAuthAuthorizationCode, OAuthToken
from shared.services.identity.oidc.claims import EndUser, picture_of, user_claims
from shared.services.identity.oidc.clients import Client
from shared.services.identity.oidc.request import RawResponse, RoseOAuth2Request
from shared.services.identity.oidc.storage import (
    CodeRecord,
    TokenRecord,
    active_user,
    revoke_family,
    token_hash,
    utcnow,
)

ID_TOKEN_TTL_S = 600

# How clients authenticate: the secret (confidential) or not at all (a public tool, with PKCE,
# which every client must use anyway); each client accepts only its own kind.
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class Issuer(Protocol):
    """What the grants and endpoints read from the provider that registers them (the
    :class:`~shared.services.identity.oidc.provider.Provider`, which imports this module)."""

    settings: Settings
    issuer: str
    key: RSAKey
    kid: str

    @property
    def public_keys(self) -> KeySet: ...


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


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    server: Issuer

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
            revoke_family(db, row.family_id)
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
            revoke_family(db, code.row.family_id)
            raise InvalidGrantError("The authorization code has already been used.")
        return super().create_token_response()  # type: ignore[no-any-return]

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        # Kept (consumed) until it expires, so a replay can still be recognised.
        return None

    def authenticate_user(self, authorization_code: CodeRecord) -> EndUser:
        row = authorization_code.row
        user = active_user(self.request.db, row.user_id, row.sid)
        if user is None:
            raise InvalidGrantError("The sign-in behind this code has ended.")
        return EndUser.of(user, row.sid, row.auth_time, picture_of(self.request.db, user.id))


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
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
            revoke_family(db, old.family_id)
        return None

    def authenticate_user(self, refresh_token: TokenRecord) -> EndUser:
        row = refresh_token.row
        user = active_user(self.request.db, row.user_id, row.sid)
        if user is None:
            raise InvalidGrantError("The sign-in behind this token has ended.")
        session_row = self.request.db.get(AuthSession, row.sid)
        picture = picture_of(self.request.db, user.id)
        return EndUser.of(user, row.sid, session_row.created_at, picture)

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        # Already marked used in authenticate_refresh_token.
        return None


class OpenIDCode(oidc_grants.OpenIDCode):  # type: ignore[misc]
    """ID tokens for the code flow: RS256 with kid, sid, nonce (required) and auth_time."""

    DEFAULT_EXPIRES_IN = ID_TOKEN_TTL_S

    def __init__(self, provider: Issuer) -> None:
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


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009. Revoking a refresh token revokes its whole chain; an access token, its row."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

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
            revoke_family(request.db, token.row.family_id)
        elif token.row.revoked_at is None:
            token.row.revoked_at = utcnow()
            request.db.flush()


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    """RP-initiated logout: ends the sign-in named by the ID token hint (or, once confirmed,
    the browser's own) in every app."""

    def __init__(self, provider: Issuer) -> None:
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
