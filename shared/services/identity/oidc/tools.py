"""Tools an admin registers (a forum, a wiki, a chat) as OpenID Connect clients, and the
members' consents to them.

What ``rose-ash oidc-client`` and federation's admin page call (registering, listing,
rotating a secret, deleting), what the member's "Connected tools" page calls (listing and
disconnecting), and what the provider reads synchronously inside a grant (the client, the
consent). Deleting a tool or rotating its secret revokes every token it holds; disconnecting
revokes the member's.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.config import APP_NAMES
from shared.errors import DomainError
from shared.models import OAuthToken, OidcClient, OidcConsent
from shared.services.identity.oidc.claims import SCOPES
from shared.services.identity.oidc.clients import Client, secret_digest
from shared.services.identity.oidc.storage import utcnow

CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,49}$")
# What each scope lets a tool learn, as the consent and admin pages say it.
SCOPE_TEXT = {
    "openid": "that you are a member (an identifier only it sees)",
    "profile": "your name, username and picture",
    "email": "your email address and whether it is confirmed",
    "roles": "your roles in the cooperative (member, editor, admin)",
}


class ToolError(DomainError):
    """A tool's registration was refused; ``fields`` says what is wrong with which field."""

    status = 400

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("oidc_client_invalid", "; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class ToolNotFound(DomainError):
    status = 404

    def __init__(self, client_id: str) -> None:
        super().__init__("oidc_client_not_found", f"No tool with client ID {client_id!r}.")


@dataclass
class ToolSpec:
    """A registration as typed (by the command's options or the admin form)."""

    client_id: str
    name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str = ""
    scopes: list[str] = field(default_factory=lambda: ["openid", "profile", "email"])
    public: bool = False
    trusted: bool = False


def split_lines(value: str) -> list[str]:
    return [line.strip() for line in re.split(r"[\s,]+", value) if line.strip()]


def _uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a redirect or logout URI (None when it can)."""
    if len(uri) > 500:
        return "at most 500 characters"
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{uri!r} is not an absolute http(s) URL"
    if parts.fragment or "#" in uri:
        return f"{uri!r} has a fragment"
    if parts.username or parts.password:
        return f"{uri!r} carries credentials"
    if parts.scheme == "http" and not _loopback(parts.hostname):
        return f"{uri!r} must use https (http only for localhost)"
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate(spec: ToolSpec) -> dict[str, str]:
    """Each field's problem, by field name (empty when the registration is acceptable)."""
    errors: dict[str, str] = {}
    if not CLIENT_ID.match(spec.client_id):
        errors["client_id"] = "3 to 50 lower-case letters, digits and hyphens"
    elif spec.client_id in APP_NAMES:
        errors["client_id"] = "taken by one of the cooperative's own apps"
    if not spec.name.strip() or len(spec.name) > 100:
        errors["name"] = "a name of 1 to 100 characters"
    if not spec.redirect_uris:
        errors["redirect_uris"] = "at least one redirect URI"
    for key, uris in (
        ("redirect_uris", spec.redirect_uris),
        ("post_logout_redirect_uris", spec.post_logout_redirect_uris),
        (
            "backchannel_logout_uri",
            [spec.backchannel_logout_uri] if spec.backchannel_logout_uri else [],
        ),
    ):
        for uri in uris:
            problem = _uri_problem(uri)
            if problem is not None:
                errors.setdefault(key, problem)
    unknown = [s for s in spec.scopes if s not in SCOPES]
    if unknown:
        errors["scopes"] = f"unknown scopes: {', '.join(unknown)}"
    elif "openid" not in spec.scopes:
        errors["scopes"] = "openid is required"
    return errors


def _scope(scopes: Iterable[str]) -> str:
    chosen = set(scopes)
    return " ".join(s for s in SCOPES if s in chosen)


async def create_tool(db: AsyncSession, spec: ToolSpec) -> tuple[OidcClient, str | None]:
    """Register a tool; returns it and its secret (None for a public client), shown once."""
    errors = validate(spec)
    if not errors and await db.get(OidcClient, spec.client_id) is not None:
        errors["client_id"] = "already registered"
    if errors:
        raise ToolError(errors)
    secret = None if spec.public else secrets.token_urlsafe(32)
    row = OidcClient(
        client_id=spec.client_id,
        name=spec.name.strip(),
        secret_hash=None if secret is None else secret_digest(secret),
        redirect_uris=list(dict.fromkeys(spec.redirect_uris)),
        post_logout_redirect_uris=list(dict.fromkeys(spec.post_logout_redirect_uris)),
        backchannel_logout_uri=spec.backchannel_logout_uri or None,
        scope=_scope(spec.scopes),
        trusted=spec.trusted,
    )
    db.add(row)
    await db.flush()
    return row, secret


async def list_tools(db: AsyncSession) -> list[OidcClient]:
    return list((await db.scalars(select(OidcClient).order_by(OidcClient.client_id))).all())


async def _revoke_tokens(db: AsyncSession, client_id: str, user_id: int | None = None) -> None:
    stmt = (
        update(OAuthToken)
        .where(OAuthToken.client_id == client_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if user_id is not None:
        stmt = stmt.where(OAuthToken.user_id == user_id)
    await db.execute(stmt)


async def rotate_secret(db: AsyncSession, client_id: str) -> str:
    """A new secret for a confidential tool (shown once); its tokens stop working."""
    row = await db.get(OidcClient, client_id)
    if row is None:
        raise ToolNotFound(client_id)
    if row.secret_hash is None:
        raise ToolError({"client_id": "a public client has no secret"})
    secret = secrets.token_urlsafe(32)
    row.secret_hash = secret_digest(secret)
    await _revoke_tokens(db, client_id)
    await db.flush()
    return secret


async def delete_tool(db: AsyncSession, client_id: str) -> None:
    """Remove a tool: its tokens stop working and its consents go."""
    row = await db.get(OidcClient, client_id)
    if row is None:
        raise ToolNotFound(client_id)
    await _revoke_tokens(db, client_id)
    await db.delete(row)
    await db.flush()


# --- what the provider reads inside a grant (synchronous) ---------------------------------


def load_client(db: Session, client_id: str) -> Client | None:
    row = db.get(OidcClient, client_id)
    return None if row is None else Client.of(row)


def has_consent(db: Session, user_id: int, client_id: str, scope: str) -> bool:
    """Whether the member already agreed to the tool learning everything ``scope`` asks."""
    row = db.get(OidcConsent, (user_id, client_id))
    return row is not None and set(scope.split()) <= set(row.scope.split())


def record_consent(db: Session, user_id: int, client_id: str, scope: str) -> None:
    row = db.get(OidcConsent, (user_id, client_id))
    if row is None:
        db.add(OidcConsent(user_id=user_id, client_id=client_id, scope=scope))
    else:
        row.scope = _scope(set(row.scope.split()) | set(scope.split()))
    db.flush()


# --- the member's "Connected tools" ---------------------------------------------------------


async def connected_tools(db: AsyncSession, user_id: int) -> list[tuple[OidcClient, OidcConsent]]:
    rows = await db.execute(
        select(OidcClient, OidcConsent)
        .join(OidcConsent, OidcConsent.client_id == OidcClient.client_id)
        .where(OidcConsent.user_id == user_id)
        .order_by(OidcClient.name)
    )
    return [(client, consent) for client, consent in rows.all()]


async def disconnect(db: AsyncSession, user_id: int, client_id: str) -> None:
    """Withdraw a member's consent to a tool; the tokens it holds for them stop working."""
    found = await db.execute(
        delete(OidcConsent)
        .where(OidcConsent.user_id == user_id, OidcConsent.client_id == client_id)
        .returning(OidcConsent.client_id)
    )
    if found.first() is None:
        raise ToolNotFound(client_id)
    await _revoke_tokens(db, client_id, user_id)
