"""The interop tests: a Rose Ash app served over HTTPS on loopback, federating with an
independent ActivityPub server (``peer/``, built on Fedify) running under Node.

The peer's npm packages are installed by the tests themselves (``npm ci`` from the committed
lock file) when ``node_modules`` is missing, so ``rose-ash check`` needs no manual step.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import ipaddress
import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config

from shared.config import Settings
from tests.support import GUARD_S, closed_port, eventually
from tests.support.committed import truncate
from tests.support.settings import make_settings

PEER_DIR = Path(__file__).resolve().parent / "peer"
# The interop test publishes through the real BlogService into the module's scratch database.
BLOG_TABLES = "blog_posts, blog_tags"
EVENT_TABLES = "events, event_calendars"
MARKET_TABLES = "market_products, market_categories"
NPM_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def peer_installed() -> Path:
    """``node_modules`` for the peer, installed with ``npm ci`` when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("the interop tests need Node.js and npm (apt-get install nodejs npm)")
    if not (PEER_DIR / "node_modules" / "@fedify" / "fedify").is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PEER_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci for the interop peer failed:\n{result.stdout}\n{result.stderr}")
    return PEER_DIR


@dataclass(frozen=True)
class Tls:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA and a certificate for 127.0.0.1: WebFinger is always fetched over https."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rose Ash test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, tls.key_file)
    return tls


@contextlib.asynccontextmanager
async def serve_https(
    name: str, tables: str, database_url: str, redis_url: str, tls: Tls
) -> AsyncIterator[Settings]:
    """App ``name``, served by Hypercorn over HTTPS at https://127.0.0.1:<free port>, its
    ``tables`` emptied before and after."""
    port = closed_port()
    upper = name.upper()
    settings = make_settings(
        database_url,
        redis_url,
        **{
            f"ROSE_APPS__{upper}__PORT": str(port),
            f"ROSE_APPS__{upper}__PUBLIC_URL": f"https://127.0.0.1:{port}",
            f"ROSE_APPS__{upper}__INTERNAL_URL": f"https://127.0.0.1:{port}",
        },
    )
    await truncate(settings, tables)
    app = importlib.import_module(f"{name}.app").create_app(settings)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = str(tls.cert_file)
    config.keyfile = str(tls.key_file)
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    try:
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=str(tls.ca_file))
        ) as client:

            async def answers() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return (
                        await client.get(f"https://127.0.0.1:{port}/healthz")
                    ).status_code == 200
                return False

            await eventually(answers, f"{name} answering over https")
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, GUARD_S)
        await truncate(settings, tables)


@pytest.fixture
async def blog_https(
    scratch_database_url: str, redis_url: str, tls: Tls
) -> AsyncIterator[Settings]:
    """The blog app over HTTPS on loopback."""
    async with serve_https("blog", BLOG_TABLES, scratch_database_url, redis_url, tls) as settings:
        yield settings


@pytest.fixture
async def events_https(
    scratch_database_url: str, redis_url: str, tls: Tls
) -> AsyncIterator[Settings]:
    """The events app over HTTPS on loopback."""
    async with serve_https(
        "events", EVENT_TABLES, scratch_database_url, redis_url, tls
    ) as settings:
        yield settings


@pytest.fixture
async def market_https(
    scratch_database_url: str, redis_url: str, tls: Tls
) -> AsyncIterator[Settings]:
    """The market app over HTTPS on loopback."""
    async with serve_https(
        "market", MARKET_TABLES, scratch_database_url, redis_url, tls
    ) as settings:
        yield settings


@dataclass
class Peer:
    origin: str
    process: asyncio.subprocess.Process
    output: list[str]

    @property
    def actor(self) -> str:
        return f"{self.origin}/users/peer"


@pytest.fixture
async def peer(peer_installed: Path, tls: Tls) -> AsyncIterator[Peer]:
    """The Fedify peer on a free loopback port, trusting our test CA."""
    port = closed_port()
    env = {**os.environ, "PORT": str(port), "NODE_EXTRA_CA_CERTS": str(tls.ca_file)}
    proc = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        "peer.mjs",
        cwd=peer_installed,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []
    assert proc.stdout is not None

    async def read() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            output.append(line.decode(errors="replace").rstrip())

    reader = asyncio.create_task(read())
    try:
        try:
            await eventually(
                lambda: (
                    proc.returncode is not None or any("peer listening" in line for line in output)
                ),
                "the peer starting",
            )
        except AssertionError:
            raise AssertionError("the peer did not start:\n" + "\n".join(output)) from None
        if proc.returncode is not None:
            raise AssertionError("the peer exited:\n" + "\n".join(output))
        yield Peer(f"http://127.0.0.1:{port}", proc, output)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), GUARD_S)
        await reader
