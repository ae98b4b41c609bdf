"""The record a running `rose-ash up` keeps for the commands beside it."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from shared.tooling import running
from shared.tooling.devservers import DataDirLock
from shared.tooling.launcher import command_name


def test_the_record_counts_only_while_a_launcher_holds_the_data_directory(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://x", "REDIS_URL": "redis://:pw@127.0.0.1:1/0", "HOME": "/"}
    lock = DataDirLock(tmp_path)
    lock.acquire()
    try:
        path = running.record(tmp_path, env)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        found = running.recorded(tmp_path)
        assert found is not None
        _pid, recorded = found
        assert recorded == {
            "DATABASE_URL": "postgresql://x",
            "REDIS_URL": "redis://:pw@127.0.0.1:1/0",
        }
    finally:
        lock.release()
    # A launcher killed without cleaning up leaves the file, and no lock: it is ignored.
    assert path.exists()
    assert running.recorded(tmp_path) is None


def test_nothing_is_recorded_where_no_launcher_ever_ran(tmp_path: Path) -> None:
    assert running.recorded(tmp_path) is None


def test_the_banner_names_the_command_as_it_can_be_typed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "rose-ash").write_text("#!/bin/sh\n")
    (bin_dir / "rose-ash").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [".venv/bin/rose-ash", "up", "--demo"])  # the README's
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert command_name() == ".venv/bin/rose-ash"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")  # an activated venv
    assert command_name() == "rose-ash"
    monkeypatch.setattr(sys, "argv", ["/src/shared/tooling/cli.py", "up"])  # python -m
    assert command_name() == "rose-ash"
