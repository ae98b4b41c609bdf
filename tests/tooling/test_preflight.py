"""`rose-ash check` says what the machine lacks before it lints or tests anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.config import REPO_ROOT
from shared.tooling import preflight


def _fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_without_node_the_run_stops_and_says_what_to_install(tmp_path: Path) -> None:
    stops, skips = preflight.missing({"PATH": str(tmp_path)})
    assert stops[0].startswith("Node.js 20+ and npm are missing")
    assert "apt-get install nodejs npm" in stops[0]
    assert any("docker CLI is missing" in line for line in skips)


def test_an_old_node_is_named(tmp_path: Path) -> None:
    _fake(tmp_path, "node", "echo v18.19.0")
    _fake(tmp_path, "npm", "exit 0")
    stops, _ = preflight.missing({"PATH": str(tmp_path)})
    assert stops == [f"Node.js 20+ is needed, {tmp_path}/node is 18: install a newer nodejs"]


def test_under_ci_what_would_skip_stops_the_run(tmp_path: Path) -> None:
    _fake(tmp_path, "node", "echo v20.1.0")
    _fake(tmp_path, "npm", "exit 0")
    stops, skips = preflight.missing({"PATH": str(tmp_path), "CI": "true"})
    assert skips == []
    assert any("docker CLI is missing" in line for line in stops)


def test_check_stops_with_one_line_before_linting_when_node_is_missing(tmp_path: Path) -> None:
    # No node, no apt-get on this PATH: nothing is installed, nothing else is run.
    env = {**os.environ, "PATH": str(tmp_path)}
    env.pop("CI", None)
    result = subprocess.run(
        [sys.executable, "-m", "shared.tooling.cli", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "rose-ash check: Node.js 20+ and npm are missing (the interop tests' peer runs on "
        "them): apt-get install nodejs npm"
    ]
    assert "==> ruff" not in result.stdout
