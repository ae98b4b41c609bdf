"""The client side of sign-on: ID-token checks (OIDC Core §3.1.3.7) and the shared client
secret. Tokens are signed here with the federation test key, or with a stranger's."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from shared.config import Settings
from shared.infrastructure.oauth import OIDCClient, SignInFailed, client_secret, pkce_pair
from shared.services.identity.oidc import load_signing_key, registered_clients

ISSUER = "http://127.0.0.1:8005"


def make_token(key: RSAKey, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": "blog",
        "sub": "7",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-123",
        "sid": "sid-abc",
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": kid}, body, key)


@pytest.fixture
def client(settings: Settings) -> OIDCClient:
    """The blog's client, holding federation's current JWKS (as after fetching it)."""
    oidc = OIDCClient(settings, "blog")
    key = load_signing_key(settings)
    public = RSAKey.import_key(key.as_dict(private=False), {"kid": key.thumbprint()})
    oidc._jwks = KeySet([public])
    oidc._jwks_at = time.monotonic()
    return oidc


async def test_a_good_id_token_is_accepted(client: OIDCClient, settings: Settings) -> None:
    key = load_signing_key(settings)
    claims = await client.verify_id_token(make_token(key, key.thumbprint()), "n-123")
    assert (claims["sub"], claims["sid"]) == ("7", "sid-abc")


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"nonce": "another"}, "nonce from another request"),
        ({"nonce": None}, "no nonce"),
        ({"aud": "market"}, "issued to another app"),
        ({"iss": "http://127.0.0.1:9999"}, "another issuer"),
        ({"exp": int(time.time()) - 600}, "expired"),
        ({"sid": None}, "no sid"),
        ({"sub": None}, "no subject"),
    ],
)
async def test_a_bad_id_token_is_refused(
    client: OIDCClient, settings: Settings, claims: dict[str, Any], why: str
) -> None:
    key = load_signing_key(settings)
    with pytest.raises(SignInFailed) as caught:
        await client.verify_id_token(make_token(key, key.thumbprint(), **claims), "n-123")
    assert caught.value.code == "bad_id_token", why


async def test_an_id_token_signed_by_another_key_is_refused(
    client: OIDCClient, settings: Settings
) -> None:
    stranger = RSAKey.generate_key(2048)
    kid = load_signing_key(settings).thumbprint()  # claims to be federation's key
    with pytest.raises(SignInFailed):
        await client.verify_id_token(make_token(stranger, kid), "n-123")


def test_each_app_has_its_own_client_secret_and_exact_redirect_uri(settings: Settings) -> None:
    clients = registered_clients(settings)
    assert sorted(clients) == ["account", "blog", "cart", "events", "market"]
    secrets = {c.client_secret for c in clients.values()}
    assert len(secrets) == 5
    assert clients["blog"].client_secret == client_secret(settings, "blog")
    assert clients["blog"].redirect_uris == ("http://127.0.0.1:8001/auth/callback",)
    assert all(c.first_party for c in clients.values())


def test_pkce_pairs_are_s256() -> None:
    import base64
    import hashlib

    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert pkce_pair()[0] != verifier
