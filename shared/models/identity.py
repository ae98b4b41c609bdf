"""Accounts of the cooperative's members and staff, their sign-in sessions and the OAuth2
codes and tokens federation issues to the other apps (all owned by the federation app)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, created_at_column, updated_at_column

ROLES = ("member", "editor", "admin")
_ROLE_ARRAY = ",".join(f"'{role}'" for role in ROLES)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # Emails and usernames are unique without regard to case.
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
        Index("uq_users_username_lower", text("lower(username)"), unique=True),
        CheckConstraint(f"roles <@ ARRAY[{_ROLE_ARRAY}]::varchar[]", name="roles_known"),
        CheckConstraint("username ~ '^[A-Za-z0-9_]{1,30}$'", name="username_format"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    username: Mapped[str] = mapped_column(String(30), nullable=False)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False, server_default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    roles: Mapped[list[str]] = mapped_column(
        ARRAY(String(20)), nullable=False, server_default="{member}"
    )
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    def has_role(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles


class AuthSession(Base):
    """One sign-in at federation. Its ``sid`` is in every app's session cookie and in each ID
    token, so ending this row signs the person out of all six apps; PostgreSQL is the source
    of truth (Redis only caches the answer for a few seconds)."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id"),)

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(50))


class OAuthAuthorizationCode(Base):
    """An authorization code (stored as a SHA-256 hash): single use, bound to its client,
    redirect URI, PKCE challenge and nonce. A consumed row is kept until it expires so that
    a replayed code can revoke the tokens it produced (RFC 6749 §4.1.2)."""

    __tablename__ = "oauth_authorization_codes"
    __table_args__ = (
        Index("ix_oauth_authorization_codes_expires_at", "expires_at"),
        Index("ix_oauth_authorization_codes_client_nonce", "client_id", "nonce"),
    )

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(50), nullable=False)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    sid: Mapped[str] = mapped_column(
        String(64), ForeignKey("auth_sessions.sid", ondelete="CASCADE"), nullable=False
    )
    redirect_uri: Mapped[str] = mapped_column(String(500), nullable=False)
    scope: Mapped[str] = mapped_column(String(200), nullable=False)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128), nullable=False)
    code_challenge_method: Mapped[str] = mapped_column(String(10), nullable=False)
    # The refresh-token chain that redeeming this code starts.
    family_id: Mapped[str] = mapped_column(String(64), nullable=False)
    auth_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OAuthToken(Base):
    """An access token and (optionally) its refresh token, stored as SHA-256 hashes.

    Every token issued from one authorization code shares a ``family_id``: refreshing marks
    the old row used and adds a new one to the family; presenting a used refresh token
    again revokes the whole family (refresh-token reuse detection)."""

    __tablename__ = "oauth_tokens"
    __table_args__ = (
        Index("ix_oauth_tokens_family_id", "family_id"),
        Index("ix_oauth_tokens_sid", "sid"),
        Index("ix_oauth_tokens_client_id", "client_id"),
        Index("uq_oauth_tokens_access_token_hash", "access_token_hash", unique=True),
        Index("uq_oauth_tokens_refresh_token_hash", "refresh_token_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64), nullable=False)
    client_id: Mapped[str] = mapped_column(String(50), nullable=False)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    sid: Mapped[str] = mapped_column(
        String(64), ForeignKey("auth_sessions.sid", ondelete="CASCADE"), nullable=False
    )
    scope: Mapped[str] = mapped_column(String(200), nullable=False)
    access_token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime] = created_at_column()
    access_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refresh_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OidcClient(Base):
    """A tool an admin registered to sign members in with their Rose Ash account (a forum, a
    wiki, a chat): an OpenID Connect relying party beside the five apps that come from config.

    A confidential client has ``secret_hash`` (SHA-256 of a random secret shown once); a public
    one has none and must use PKCE (which every client must anyway). A trusted client is
    first-party: its members see no consent page."""

    __tablename__ = "oidc_clients"
    __table_args__ = (
        CheckConstraint("client_id ~ '^[a-z0-9][a-z0-9-]{2,49}$'", name="client_id_format"),
    )

    client_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(String(500)), nullable=False)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(
        ARRAY(String(500)), nullable=False, server_default="{}"
    )
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(200), nullable=False)
    trusted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class OidcConsent(Base):
    """A member's consent to a tool learning ``scope`` about them (until they revoke it at
    federation's "Connected tools")."""

    __tablename__ = "oidc_consents"
    __table_args__ = (Index("ix_oidc_consents_client_id", "client_id"),)

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class OidcLogoutNotice(Base):
    """A back-channel logout token owed to (or sent to) a tool for one ended sign-in: the
    worker finds ended sign-ins whose tokens a tool holds, records a row here and POSTs the
    logout token; ``delivered_at`` or, after the last try, ``failed_at`` closes it."""

    __tablename__ = "oidc_logout_notices"

    sid: Mapped[str] = mapped_column(
        String(64), ForeignKey("auth_sessions.sid", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
