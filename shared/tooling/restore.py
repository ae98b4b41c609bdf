"""`rose-ash restore`: a backup (shared/tooling/backup.py) brought back into an empty database
and empty media stores.

Nothing is touched before everything is checked: the manifest is read, its format known; the
backup's schema revision is one this code's migrations know (a backup from a newer Rose Ash is
refused: its tables are ones this code does not have); the dump and every media file match the
size and SHA-256 the manifest gives; every store of the backup has somewhere to go; the database
is of PostgreSQL's version the backup was made on or newer and holds no table, and the stores
no file (unless ``--replace``: then the database's schemas and the
stores' files go first). Then ``pg_restore`` loads the dump in one transaction, the files are
copied, and every table's row count is compared with the manifest's. The database is then at
the backup's revision: `rose-ash migrate` brings it forward when the code is newer.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError as AlembicCommandError

from shared.db import ALEMBIC_DIR
from shared.infrastructure.media import UPLOAD_TEMP_PREFIX
from shared.tooling.backup import (
    DUMP,
    FORMAT,
    MANIFEST,
    MEDIA_DIR,
    BackupError,
    connected,
    libpq_env,
    pg_tool,
    run_tool,
    server_major,
    sha256_file,
    store_files,
    table_counts,
)

# Schemas that are the server's own, never the platform's.
_RELATIONS = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_temp%'
  AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
"""
_SCHEMAS = """
SELECT quote_ident(nspname) FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg_temp%'
  AND nspname NOT LIKE 'pg_toast%'
"""


def read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{src} is not a backup: it has no {MANIFEST}") from None
    except (OSError, ValueError) as err:
        raise BackupError(f"{path} cannot be read: {err}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: format {manifest.get('format')!r} is not one this code reads")
    return manifest


def check_revision(revision: str) -> bool:
    """Whether ``revision`` is this code's head (False: older, `rose-ash migrate` after);
    a BackupError when the code does not know it (a newer Rose Ash made the backup)."""
    script = ScriptDirectory(str(ALEMBIC_DIR))
    try:
        known = script.get_revision(revision)
    except AlembicCommandError:
        known = None
    if known is None:
        raise BackupError(
            f"the backup's schema is at revision {revision}, which this code does not know: "
            "it was made by a newer Rose Ash; restore it with that version"
        )
    return revision in script.get_heads()


def verify_files(src: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest names is there with its size and SHA-256; a BackupError naming
    the first that is not."""
    database = manifest["database"]
    checks: list[tuple[Path, dict[str, Any]]] = [(src / DUMP, database)]
    for store, entry in manifest["media"].items():
        for rel, meta in entry["files"].items():
            path = (src / MEDIA_DIR / store / rel).resolve()
            if not path.is_relative_to((src / MEDIA_DIR / store).resolve()):
                raise BackupError(f"the manifest names a file outside the backup: {rel}")
            checks.append((path, meta))
    for path, meta in checks:
        if not path.is_file():
            raise BackupError(f"{path} is missing from the backup")
        if path.stat().st_size != meta["bytes"] or sha256_file(path) != meta["sha256"]:
            raise BackupError(f"{path} does not match its checksum in the manifest")


def _target_stores(manifest: dict[str, Any], stores: dict[str, Path]) -> dict[str, Path]:
    held = set(manifest["media"])
    unknown = set(stores) - held
    missing = held - set(stores)
    if missing and len(held) == 1 and set(stores) == {"media"}:
        # One store backed up, one given: whatever their names, it goes there.
        return {next(iter(held)): stores["media"]}
    if unknown or missing:
        names = ", ".join(sorted(held)) or "none"
        raise BackupError(
            f"the backup holds the media stores {names}: give each with --media NAME=PATH"
        )
    return stores


async def _database_state(url: str) -> tuple[int, int]:
    async with connected(url) as conn:
        relations = int((await conn.exec_driver_sql(_RELATIONS)).scalar_one())
        major, _ = await server_major(conn)
    return relations, major


async def _empty_database(url: str) -> None:
    async with connected(url, begin=True) as conn:
        for schema in (await conn.exec_driver_sql(_SCHEMAS)).scalars().all():
            await conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        await conn.exec_driver_sql("CREATE SCHEMA public")


async def _counts(url: str) -> dict[str, int]:
    async with connected(url) as conn:
        return await table_counts(conn)


def restore_backup(
    url: str, src: Path, stores: dict[str, Path], *, replace: bool = False
) -> dict[str, Any]:
    """Restore the backup ``src`` into the database at ``url`` and ``stores``; returns its
    manifest. Raises BackupError, having changed nothing, when any check fails."""
    manifest = read_manifest(src)
    at_head = check_revision(str(manifest["schema_revision"]))
    verify_files(src, manifest)
    targets = _target_stores(manifest, stores)
    relations, major = asyncio.run(_database_state(url))
    made_on = str(manifest["database"]["server_version"])
    if major < int(made_on.split(".")[0]):
        # pg_dump writes for its own server's version; an older server need not read it.
        raise BackupError(
            f"the backup was made on PostgreSQL {made_on} and this server is {major}: "
            f"restore it into PostgreSQL {made_on.split('.')[0]} or newer"
        )
    occupied = [name for name, root in targets.items() if next(store_files(root), None)]
    if not replace and (relations or occupied):
        what = [f"the database ({relations} tables and other relations)"] if relations else []
        what += [f"the media store {name} ({targets[name]})" for name in occupied]
        verb = "are" if len(what) > 1 else "is"
        raise BackupError(
            f"{' and '.join(what)} {verb} not empty: restore into an empty one, or pass --replace "
            "to delete what is there first"
        )
    pg_restore, _ = pg_tool("pg_restore", max(major, int(manifest["database"]["pg_dump_major"])))
    if replace:
        asyncio.run(_empty_database(url))
        for root in targets.values():
            for _rel, path in list(store_files(root)):
                path.unlink()
    run_tool(
        [
            str(pg_restore),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={libpq_env(url)['PGDATABASE']}",
            str(src / DUMP),
        ],
        url,
    )
    for name, root in targets.items():
        for rel in manifest["media"][name]["files"]:
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f"{UPLOAD_TEMP_PREFIX}restore-{dest.name}")
            shutil.copyfile(src / MEDIA_DIR / name / rel, tmp)
            tmp.replace(dest)
    counts = asyncio.run(_counts(url))
    expected = manifest["database"]["tables"]
    if counts != expected:
        differ = sorted(k for k in set(counts) | set(expected) if counts.get(k) != expected.get(k))
        raise BackupError(f"restored, but the row counts differ from the backup's: {differ}")
    manifest["at_head"] = at_head
    return manifest
