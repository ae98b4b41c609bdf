"""`rose-ash keys generate` and the dev key that `rose-ash up` keeps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.tooling.launcher import dev_secrets


def _load(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def test_keys_generate_prints_an_rsa_key() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "shared.tooling.cli", "keys", "generate", "--bits", "2048"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _load(out).key_size == 2048


def test_keys_generate_writes_a_private_file(tmp_path: Path) -> None:
    out = tmp_path / "ap.pem"
    subprocess.run(
        [sys.executable, "-m", "shared.tooling.cli", "keys", "generate", "--out", str(out)],
        capture_output=True,
        check=True,
    )
    assert _load(out.read_text()).key_size == 3072
    assert out.stat().st_mode & 0o777 == 0o600
    again = subprocess.run(
        [sys.executable, "-m", "shared.tooling.cli", "keys", "generate", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode != 0, "never overwrite a key"


def test_keys_generate_refuses_weak_keys() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shared.tooling.cli", "keys", "generate", "--bits", "1024"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0


def test_dev_secrets_gain_an_ap_key_and_keep_the_others(tmp_path: Path) -> None:
    path = tmp_path / "dev-secrets.json"
    path.write_text(json.dumps({"ROSE_SECRET_KEY": "k" * 48, "ROSE_INTERNAL_SECRET": "i" * 48}))
    values = dev_secrets(tmp_path)
    assert values["ROSE_SECRET_KEY"] == "k" * 48
    assert _load(values["ROSE_AP_PRIVATE_KEY"]).key_size >= 2048
    assert dev_secrets(tmp_path) == values, "generated once, then kept"
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_weak_or_malformed_key_is_a_one_line_config_error() -> None:
    import pytest

    from shared.config import ConfigError, load_settings
    from shared.infrastructure.activitypub import keys

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    pem = weak.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for value, message in ((pem, "at least 2048"), ("not a key", "not an unencrypted PEM")):
        settings = load_settings(environ={"ROSE_AP_PRIVATE_KEY": value})
        with pytest.raises(ConfigError, match=message):
            keys.private_key(settings)
