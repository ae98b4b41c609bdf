"""The relying parties (the five other apps, registered from config) and the key that
signs their ID tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from joserfc.jwk import RSAKey

from shared.config import APP_NAMES, ConfigError, Settings
from shared.infrastructure.oauth import SCOPE, client_secret


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
