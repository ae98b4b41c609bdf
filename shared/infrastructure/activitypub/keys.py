"""The RSA keypair behind every app actor.

One private key (PEM, at least 2048 bits) comes from the ``ROSE_AP_PRIVATE_KEY`` secret; every
app actor publishes its public half as ``<actor>#main-key``. ``rose-ash keys generate`` makes
one for a dev machine; ``rose-ash up`` keeps one in ``.devdata/dev-secrets.json``.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.config import ConfigError, Settings

MIN_KEY_BITS = 2048


def generate_private_key_pem(bits: int = 2048) -> str:
    """A fresh RSA private key as PKCS#8 PEM text."""
    if bits < MIN_KEY_BITS:
        raise ValueError(f"RSA keys must have at least {MIN_KEY_BITS} bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@lru_cache(maxsize=8)
def _load(pem: str) -> rsa.RSAPrivateKey:
    # Parsing a PEM costs a millisecond or so; every signed request needs the key.
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            "ROSE_AP_PRIVATE_KEY (environment variable): not an unencrypted PEM private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("ROSE_AP_PRIVATE_KEY (environment variable): must be an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise ConfigError(
            f"ROSE_AP_PRIVATE_KEY (environment variable): {key.key_size} bits, "
            f"at least {MIN_KEY_BITS} needed"
        )
    return key


def private_key(settings: Settings) -> rsa.RSAPrivateKey:
    """The actors' private key, or a ConfigError naming the variable."""
    return _load(settings.require("ap_private_key").replace("\\n", "\n"))


@lru_cache(maxsize=8)
def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def public_key_pem(settings: Settings) -> str:
    """The public half, as SubjectPublicKeyInfo PEM (what ``publicKeyPem`` carries)."""
    return _public_pem(private_key(settings))
