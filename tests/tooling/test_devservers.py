"""The embedded servers of `rose-ash up` give nothing to the machine's other users: Valkey asks
for a password and keeps its files to its owner, PostgreSQL listens on no TCP port and only its
owner reaches its socket, and the dev secrets file is the owner's from its first byte."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncpg
import pytest
import redis
from sqlalchemy.engine import make_url

from shared.tooling.devservers import EmbeddedPostgres, EmbeddedValkey
from shared.tooling.launcher import VALKEY_PASSWORD, dev_secrets
from tests.support import scratch_dir


def loose(path: Path) -> list[str]:
    """The paths at and under ``path`` that anyone but their owner may read or enter."""
    found = [path, *path.rglob("*")]
    return [
        f"{p} {stat.filemode(p.lstat().st_mode)}"
        for p in found
        if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077
    ]


def test_valkey_asks_for_its_password_and_its_files_are_its_owners(tmp_path: Path) -> None:
    data = tmp_path / "valkey"
    data.mkdir(mode=0o755)
    (data / "valkey.log").write_text("an older run's log, left readable\n")
    (data / "valkey.log").chmod(0o644)
    server = EmbeddedValkey(data, password="s3cret-for-this-test")
    url = server.start()
    try:
        parts = make_url(url)
        assert parts.password == "s3cret-for-this-test"
        stranger = redis.Redis(host="127.0.0.1", port=parts.port)
        with pytest.raises(redis.exceptions.AuthenticationError):
            stranger.set("rose:session:admin", "1")
        stranger.close()
        owner = redis.Redis.from_url(url)
        owner.set("kept", "yes")
        owner.close()
    finally:
        server.stop()  # saves the dump
    assert (data / "valkey.db").stat().st_size > 0
    assert loose(data) == []


def test_a_valkey_given_no_password_makes_its_own(tmp_path: Path) -> None:
    passwords = set()
    for name in ("one", "two"):
        server = EmbeddedValkey(tmp_path / name, persist=False)
        url = server.start()
        try:
            passwords.add(make_url(url).password)
            with redis.Redis.from_url(url) as client:
                assert client.ping()
        finally:
            server.stop()
    assert None not in passwords
    assert len(passwords) == 2


def test_the_valkey_password_is_a_dev_secret_kept_private(tmp_path: Path) -> None:
    first = dev_secrets(tmp_path)
    assert len(first[VALKEY_PASSWORD]) >= 32
    assert dev_secrets(tmp_path)[VALKEY_PASSWORD] == first[VALKEY_PASSWORD]
    assert loose(tmp_path / "dev-secrets.json") == []


async def test_postgres_listens_on_no_port_and_only_its_owner_reaches_its_socket() -> None:
    # Outside pytest's temporary root (decision 0070): run as root the server runs as another
    # user, and another pytest run starting beside this one makes that root private again.
    with scratch_dir("rose-ash-test-pg-") as scratch:
        server = EmbeddedPostgres(scratch / "data", delete_on_stop=True)
        url = server.start()
        try:
            socket_dir = make_url(url).query["host"]
            conn = await asyncpg.connect(user="postgres", database="postgres", host=socket_dir)
            try:
                assert await conn.fetchval("SHOW listen_addresses") == ""
                assert await conn.fetchval("SHOW unix_socket_permissions") == "0700"
            finally:
                await conn.close()
            socket = Path(str(socket_dir)) / ".s.PGSQL.5432"
            assert stat.S_IMODE(socket.stat().st_mode) & 0o077 == 0
            assert stat.S_IMODE((scratch / "data").stat().st_mode) & 0o077 == 0
        finally:
            server.stop()
