"""`rose-ash backup` and `rose-ash restore`, and the restore drill: the demo seeded, orders
placed, images uploaded; backed up; the database and the media destroyed; restored into empty
ones; every table's rows and every file identical. Run on a database of the test's own on the
test PostgreSQL server, and on the embedded PostgreSQL `rose-ash up` runs (its own pg_dump)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker, create_async_engine

from shared.config import REPO_ROOT, MediaSettings
from shared.contracts.cart import CartOwner, CheckoutDetails
from shared.db import async_url
from shared.infrastructure import media
from shared.infrastructure.context import services
from shared.models import BackupRun, BlogPost, Order, Product
from shared.tooling import backup, migrate
from shared.tooling.devservers import EmbeddedPostgres
from tests.support import scratch_dir
from tests.support.images import png_bytes
from tests.support.settings import (
    TEST_INTERNAL_SECRET,
    TEST_SECRET_KEY,
    ap_private_key_for_tests,
    asyncpg_dsn,
    make_settings,
)


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """`rose-ash ARGS` in its own process, on ``database_url`` (never a running `up`'s)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ROSE_")},
        "DATABASE_URL": database_url,
        # Nothing listens here: the demo's cached pages are outdated or the warning says so.
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "PYTHONPATH": str(REPO_ROOT),
        "ROSE_ENVIRONMENT": "test",
        "ROSE_SECRET_KEY": TEST_SECRET_KEY,
        "ROSE_INTERNAL_SECRET": TEST_INTERNAL_SECRET,
        "ROSE_AP_PRIVATE_KEY": ap_private_key_for_tests(),
    }
    return subprocess.run(
        [sys.executable, "-m", "shared.tooling.cli", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


class Server:
    """A PostgreSQL server on which the test creates and drops databases of its own."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def _admin(self, sql: str) -> None:
        dsn, kwargs = asyncpg_dsn(self.base_url)
        conn = await asyncpg.connect(dsn, **kwargs)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self, name: str) -> str:
        await self._admin(f'CREATE DATABASE "{name}"')
        url = make_url(self.base_url).set(database=name)
        return async_url(url.render_as_string(hide_password=False))

    async def drop(self, name: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def embedded_server() -> Iterator[Server]:
    with scratch_dir("rose-ash-backup-pg-") as tmp:
        pg = EmbeddedPostgres(tmp / "data", delete_on_stop=True)
        url = pg.start()
        try:
            yield Server(url)
        finally:
            pg.stop()


@pytest.fixture
def test_server(server_urls: tuple[str, str]) -> Server:
    return Server(server_urls[0])


async def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and a checksum of all its rows; every sequence's last value."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            found: dict[str, tuple[int, str]] = {}
            for name, count in (await backup.table_counts(conn)).items():
                digest = await _rows_md5(conn, name)
                found[name] = (count, digest)
            rows = await conn.exec_driver_sql(
                "SELECT schemaname || '.' || sequencename, coalesce(last_value, 0) "
                "FROM pg_sequences"
            )
            for seq, value in cast("list[tuple[str, int]]", rows.all()):
                found[f"sequence {seq}"] = (int(value), "")
    finally:
        await engine.dispose()
    return found


async def _rows_md5(conn: AsyncConnection, table: str) -> str:
    rows = "coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')"
    sql = f"SELECT md5({rows}) FROM {table} t"
    return str((await conn.exec_driver_sql(sql)).scalar_one())


def files_of(root: Path) -> dict[str, str]:
    return {rel: hashlib.sha256(p.read_bytes()).hexdigest() for rel, p in backup.store_files(root)}


async def place_orders_and_upload(url: str, root: Path) -> None:
    """Two orders of the demo's products (one a member's, one a visitor's) and three
    uploaded images, one of them a post's feature image."""
    settings = MediaSettings(root=str(root))
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as session, session.begin():
            products = (await session.scalars(select(Product.id).limit(3))).all()
            seeded = len((await session.scalars(select(Order.id))).all())
        assert len(products) == 3, "the demo has products"
        owners = [CartOwner(cart_key=secrets.token_urlsafe(16)), CartOwner(cart_key="drill")]
        for i, owner in enumerate(owners):
            # One order a transaction, as the cart app places them.
            async with sessions() as session, session.begin():
                await services().cart.add(session, owner, "product", products[i], 2)
                await services().cart.add(session, owner, "product", products[2], 1)
                details = CheckoutDetails(
                    email=f"buyer{i}@example.org", name=f"Buyer {i}", fulfilment="collection"
                )
                await services().cart.place_order(session, owner, details)
        async with sessions() as session, session.begin():
            names = []
            for colour in ((200, 10, 10), (10, 200, 10), (10, 10, 200)):
                image = media.prepare_upload(png_bytes(40, 30, colour), settings, "image")
                path = media.store_prepared(image, settings)
                name = path.rsplit("/", 1)[1]
                await media.record_owner(session, name, "blog", None)
                names.append(path)
            post = await session.scalar(select(BlogPost).limit(1))
            assert post is not None
            post.feature_image = names[0]
            await session.flush()
            assert len((await session.scalars(select(Order.id))).all()) == seeded + 2
    finally:
        await engine.dispose()


async def drill(server: Server, tmp: Path) -> None:
    name = f"rose_ash_drill_{secrets.token_hex(4)}"
    url = await server.create(name)
    root = tmp / "media"
    try:
        settings = make_settings(url, "redis://unused")
        await asyncio.to_thread(migrate.upgrade, settings, url)
        seeded = await asyncio.to_thread(cli, "demo", database_url=url)
        assert seeded.returncode == 0, seeded.stderr
        await place_orders_and_upload(url, root)
        before = await fingerprint(url)
        files_before = files_of(root)
        assert len(files_before) == 3
        assert before["public.orders"][0] >= 2
        assert before["public.blog_posts"][0] > 0

        made = await asyncio.to_thread(
            cli, "backup", str(tmp / "backups"), "--media", f"media={root}", database_url=url
        )
        assert made.returncode == 0, made.stderr
        (taken,) = backup.complete_backups(tmp / "backups")
        manifest = json.loads((taken / backup.MANIFEST).read_text())
        assert manifest["schema_revision"] == await _revision(url)
        assert manifest["database"]["tables"]["public.orders"] == before["public.orders"][0]
        assert {k: v["sha256"] for k, v in manifest["media"]["media"]["files"].items()} == (
            files_before
        )
        # The completed backup is recorded, after its dump: the row is not in the backup.
        assert before["public.backup_runs"][0] == 0
        assert await _recorded_runs(url) == [
            (
                datetime.fromisoformat(manifest["finished_at"]),
                taken.name,
                manifest["database"]["bytes"] + manifest["media"]["media"]["bytes"],
                manifest["schema_revision"],
            )
        ]

        # Destroyed: the database dropped and created again empty, the media gone.
        await server.drop(name)
        url = await server.create(name)
        shutil.rmtree(root)

        restored = await asyncio.to_thread(
            cli, "restore", str(taken), "--media", f"media={root}", database_url=url
        )
        assert restored.returncode == 0, restored.stderr
        assert await fingerprint(url) == before
        assert files_of(root) == files_before

        # A second restore finds both full, and leaves them as they are.
        again = await asyncio.to_thread(
            cli, "restore", str(taken), "--media", f"media={root}", database_url=url
        )
        assert again.returncode == 2
        assert "not empty" in again.stderr
        assert "--replace" in again.stderr
        assert await fingerprint(url) == before
    finally:
        await server.drop(name)


async def test_the_restore_drill_on_the_test_server(test_server: Server, tmp_path: Path) -> None:
    await drill(test_server, tmp_path)


async def test_the_restore_drill_on_the_embedded_postgresql(
    embedded_server: Server, tmp_path: Path
) -> None:
    await drill(embedded_server, tmp_path)


@pytest.fixture
async def small_backup(test_server: Server, tmp_path: Path) -> AsyncIterator[tuple[Path, str]]:
    """A backup of a migrated database with one media file, and an empty database beside."""
    source = f"rose_ash_backup_{secrets.token_hex(4)}"
    target = f"rose_ash_restore_{secrets.token_hex(4)}"
    url = await test_server.create(source)
    empty = await test_server.create(target)
    try:
        await asyncio.to_thread(migrate.upgrade, make_settings(url, "redis://unused"), url)
        root = tmp_path / "media"
        media.store_prepared(
            media.prepare_upload(png_bytes(8, 8), MediaSettings(root=str(root)), "image"),
            MediaSettings(root=str(root)),
        )
        made = await asyncio.to_thread(
            cli, "backup", str(tmp_path / "backups"), "--media", f"media={root}", database_url=url
        )
        assert made.returncode == 0, made.stderr
        (taken,) = backup.complete_backups(tmp_path / "backups")
        yield taken, empty
    finally:
        await test_server.drop(source)
        await test_server.drop(target)


async def _relations(url: str) -> int:
    return len(await fingerprint(url))


async def test_a_backup_from_a_newer_schema_is_refused_and_nothing_changes(
    small_backup: tuple[Path, str], tmp_path: Path
) -> None:
    taken, empty = small_backup
    path = taken / backup.MANIFEST
    manifest = json.loads(path.read_text())
    manifest["schema_revision"] = "9999"
    path.write_text(json.dumps(manifest))
    root = tmp_path / "restored"
    result = await asyncio.to_thread(
        cli, "restore", str(taken), "--media", f"media={root}", database_url=empty
    )
    assert result.returncode == 2
    assert "revision 9999" in result.stderr
    assert "newer Rose Ash" in result.stderr
    assert await _relations(empty) == 0
    assert not root.exists()


async def test_a_file_that_does_not_match_its_checksum_is_refused_before_anything(
    small_backup: tuple[Path, str], tmp_path: Path
) -> None:
    taken, empty = small_backup
    (rel, _), *_ = list(backup.store_files(taken / backup.MEDIA_DIR / "media"))
    damaged = taken / backup.MEDIA_DIR / "media" / rel
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    root = tmp_path / "restored"
    result = await asyncio.to_thread(
        cli, "restore", str(taken), "--media", f"media={root}", database_url=empty
    )
    assert result.returncode == 2
    assert "does not match its checksum" in result.stderr
    assert await _relations(empty) == 0
    assert not root.exists()


async def test_a_dump_that_does_not_match_is_refused_and_replace_empties_first(
    small_backup: tuple[Path, str], tmp_path: Path
) -> None:
    taken, empty = small_backup
    root = tmp_path / "restored"
    first = await asyncio.to_thread(
        cli, "restore", str(taken), "--media", f"media={root}", database_url=empty
    )
    assert first.returncode == 0, first.stderr
    restored = await fingerprint(empty)
    # --replace: what is there goes first, then the backup comes back whole.
    stray = root / "images" / "stray.png"
    stray.write_bytes(b"x")
    again = await asyncio.to_thread(
        cli, "restore", str(taken), "--media", f"media={root}", "--replace", database_url=empty
    )
    assert again.returncode == 0, again.stderr
    assert await fingerprint(empty) == restored
    assert not stray.exists()
    with (taken / backup.DUMP).open("ab") as fh:
        fh.write(b"\0")
    broken = await asyncio.to_thread(
        cli, "restore", str(taken), "--media", f"media={root}", "--replace", database_url=empty
    )
    assert broken.returncode == 2
    assert "database.dump does not match its checksum" in broken.stderr
    assert await fingerprint(empty) == restored


async def test_an_older_backup_restores_at_its_revision_and_migrate_brings_it_forward(
    test_server: Server, tmp_path: Path
) -> None:
    source = f"rose_ash_old_{secrets.token_hex(4)}"
    target = f"rose_ash_new_{secrets.token_hex(4)}"
    url = await test_server.create(source)
    empty = await test_server.create(target)
    try:
        older = await asyncio.to_thread(_previous_revision)
        settings = make_settings(url, "redis://unused")
        await asyncio.to_thread(migrate.upgrade, settings, url, older)
        root = tmp_path / "media"
        made = await asyncio.to_thread(
            cli, "backup", str(tmp_path / "b"), "--media", f"media={root}", database_url=url
        )
        assert made.returncode == 0, made.stderr
        (taken,) = backup.complete_backups(tmp_path / "b")
        done = await asyncio.to_thread(
            cli, "restore", str(taken), "--media", f"media={root}", database_url=empty
        )
        assert done.returncode == 0, done.stderr
        assert f"at revision {older}" in done.stdout
        assert "rose-ash migrate" in done.stdout
        assert await _revision(empty) == older
        moved = await asyncio.to_thread(cli, "migrate", database_url=empty)
        assert moved.returncode == 0, moved.stderr
        assert await _revision(empty) != older
    finally:
        await test_server.drop(source)
        await test_server.drop(target)


async def test_a_backup_of_a_newer_postgresql_is_refused_by_an_older_one(
    embedded_server: Server, test_server: Server, tmp_path: Path
) -> None:
    source = f"rose_ash_newer_{secrets.token_hex(4)}"
    target = f"rose_ash_older_{secrets.token_hex(4)}"
    url = await embedded_server.create(source)
    empty = await test_server.create(target)
    try:
        await asyncio.to_thread(migrate.upgrade, make_settings(url, "redis://unused"), url)
        root = tmp_path / "media"
        made = await asyncio.to_thread(
            cli, "backup", str(tmp_path / "b"), "--media", f"media={root}", database_url=url
        )
        assert made.returncode == 0, made.stderr
        (taken,) = backup.complete_backups(tmp_path / "b")
        made_on = json.loads((taken / backup.MANIFEST).read_text())["database"]["server_version"]
        engine = create_async_engine(empty)
        try:
            async with engine.connect() as conn:
                here, _ = await backup.server_major(conn)
        finally:
            await engine.dispose()
        if here >= int(made_on.split(".")[0]):
            pytest.skip(f"the test server ({here}) is not older than the embedded ({made_on})")
        result = await asyncio.to_thread(
            cli, "restore", str(taken), "--media", f"media={root}", database_url=empty
        )
        assert result.returncode == 2
        assert f"made on PostgreSQL {made_on}" in result.stderr
        assert await _relations(empty) == 0
    finally:
        await embedded_server.drop(source)
        await test_server.drop(target)


def _previous_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = migrate.alembic_config(
        make_settings("postgresql://x/y", "redis://unused"), "postgresql://x/y"
    )
    script = ScriptDirectory.from_config(cfg)
    head = script.get_revision("head")
    assert head is not None
    assert isinstance(head.down_revision, str)
    return head.down_revision


async def _recorded_runs(url: str) -> list[tuple[datetime, str, int, str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    BackupRun.finished_at,
                    BackupRun.name,
                    BackupRun.total_bytes,
                    BackupRun.schema_revision,
                ).order_by(BackupRun.id)
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        await engine.dispose()


async def _revision(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await backup.schema_revision(conn)
    finally:
        await engine.dispose()


def test_backups_older_than_the_retention_go_but_never_the_newest(tmp_path: Path) -> None:
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    made = []
    for days in (30, 10, 2, 0):
        path = tmp_path / backup.backup_name(now - timedelta(days=days))
        path.mkdir()
        (path / backup.MANIFEST).write_text("{}")
        made.append(path)
    (tmp_path / "rose-ash-notes").mkdir()  # not a backup: left alone
    gone = backup.prune(tmp_path, 7, now=now)
    assert gone == made[:2]
    assert backup.complete_backups(tmp_path) == made[2:]
    assert backup.newest_age_hours(tmp_path, now=now) == 0
    # A retention shorter than the newest's age keeps the newest all the same.
    assert backup.prune(tmp_path, 0.5, now=now + timedelta(days=5)) == [made[2]]
    assert backup.complete_backups(tmp_path) == [made[3]]
    assert (tmp_path / "rose-ash-notes").exists()


def test_the_oldest_pg_dump_new_enough_for_the_server_is_chosen() -> None:
    path, major = backup.pg_tool("pg_dump", 10)
    assert major >= 10
    assert backup.tool_major(path) == major
    with pytest.raises(backup.BackupError, match="no pg_dump of PostgreSQL 99 or newer"):
        backup.pg_tool("pg_dump", 99)
