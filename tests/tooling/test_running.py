"""The record a running `rose-ash up` keeps for the commands beside it."""

from __future__ import annotations

import stat
from pathlib import Path

from shared.tooling import running
from shared.tooling.devservers import DataDirLock


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
