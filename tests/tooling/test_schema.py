"""schema.sql: the committed reference schema is exactly what the migrations produce."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.tooling import schema


@pytest.fixture(scope="module")
def fresh_dump() -> str:
    """The schema of a freshly migrated embedded PostgreSQL, normalised (one dump per module)."""
    return schema.dump()


def test_committed_schema_sql_matches_the_migrations(fresh_dump: str) -> None:
    committed = schema.SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == fresh_dump, "schema.sql is out of date: run `rose-ash schema dump`"


def test_the_dump_names_the_head_and_holds_the_schema(fresh_dump: str) -> None:
    assert f"-- Migration head: {schema.migration_head()}\n" in fresh_dump
    assert "CREATE TABLE public.users (" in fresh_dump
    assert "CREATE TRIGGER audit_log_no_update_delete" in fresh_dump
    # Nothing that varies between two dumps of the same history survives normalisation.
    for volatile in ("\\restrict", "Dumped from database version", "\nSET ", "\n\n\n"):
        assert volatile not in fresh_dump


def test_normalise_drops_what_varies_between_dumps() -> None:
    raw = (
        "--\n-- PostgreSQL database dump\n--\n\n\\restrict AbC123\n\n"
        "-- Dumped from database version 16.4\nSET statement_timeout = 0;\n"
        "SELECT pg_catalog.set_config('search_path', '', false);\n\n\n\n"
        "CREATE TABLE public.t (\n    id bigint NOT NULL   \n);\n\n\n"
        "\\unrestrict AbC123\n"
    )
    assert schema.normalise(raw, "0042") == (
        f"{schema.HEADER}-- Migration head: 0042\n\n"
        "CREATE TABLE public.t (\n    id bigint NOT NULL\n);\n"
    )


def test_cli_check_fails_on_a_stale_file_and_dump_repairs_it(tmp_path: Path) -> None:
    stale = tmp_path / "schema.sql"
    stale.write_text(schema.SCHEMA_FILE.read_text().replace("display_name", "nickname"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSE_")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.tooling.cli", "schema", "dump", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    check = cli("--check", "--output", str(stale))
    assert check.returncode == 1
    assert "does not match the migrations; run `rose-ash schema dump`" in check.stderr
    assert cli("--output", str(stale)).returncode == 0
    assert stale.read_text() == schema.SCHEMA_FILE.read_text()
    assert cli("--check", "--output", str(stale)).returncode == 0
