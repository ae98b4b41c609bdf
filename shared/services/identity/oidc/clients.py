"""The relying parties (the five other apps, registered from config, and the tools an admin
registered in ``oidc_clients``) and the key that signs their ID tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from joserfc.jwk import RSAKey

from shared.config import APP_NAMES, ConfigError, Settings
from shared.infrastructure.oauth import client_secret
from shared.models import OidcClient
from shared.services.identity.oidc.claims import SCOPES


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


def secret_digest(secret: str) -> str:
    """How a registered client's secret is stored: SHA-256 (the secret is 256 random bits,
    so a slow password hash adds nothing)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    """A relying party: one of the five apps (from config, first-party) or a registered tool."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    first_party: bool = True
    scope: str = " ".join(SCOPES)
    name: str = ""
    # Registered tools: the secret's digest (None for a public client, which uses PKCE alone).
    registered: bool = False
    secret_hash: str | None = None
    backchannel_logout_uri: str | None = None

    @classmethod
    def of(cls, row: OidcClient) -> Client:
        return cls(
            client_id=row.client_id,
            client_secret="",
            redirect_uris=tuple(row.redirect_uris),
            post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
            first_party=row.trusted,
            scope=row.scope,
            name=row.name,
            registered=True,
            secret_hash=row.secret_hash,
            backchannel_logout_uri=row.backchannel_logout_uri,
        )

    @property
    def public(self) -> bool:
        return self.registered and self.secret_hash is None

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
        if self.registered:
            if self.secret_hash is None:
                return False
            return secrets.compare_digest(secret_digest(client_secret), self.secret_hash)
        return secrets.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
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
