"""What `rose-ash check` needs beyond Python, checked before it lints or tests anything
(README, "What a machine needs"): one line for each thing missing.

Node.js 20+ and npm run the interop tests' Fedify peer, whose packages come from the npm
registry; Debian's Chromium runs the browser tests (installed here with apt-get when missing,
as root); the docker CLI reads the stack file. Without Node the run stops at once. Without
Chromium or docker the tests that need them skip, each saying why, except under ``CI=true``,
where every one of these is required.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from shared.config import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
NODE_MAJOR = 20
PEER_PACKAGES = REPO_ROOT / "tests" / "interop" / "peer" / "node_modules"


def ensure_chromium(out: list[str]) -> None:
    """Install Debian's Chromium for the browser tests when it is missing and we may."""
    if CHROMIUM.exists() or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    out.append("installing Chromium for the browser tests (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.call(cmd, stdout=subprocess.DEVNULL, env=env) != 0:  # noqa: S603
            return


def _node_major(node: str) -> int | None:
    try:
        version = subprocess.run(  # noqa: S603 - the node found on PATH, one fixed argument
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v(\d+)\.", version.strip())
    return int(match.group(1)) if match else None


def _registry_answers(npm: str) -> bool:
    try:
        return (
            subprocess.run(  # noqa: S603 - the npm found on PATH, fixed arguments
                [npm, "ping", "--loglevel=error"], capture_output=True, timeout=60, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def missing(environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(what stops the run, what only makes some tests skip): one line each."""
    path = environ.get("PATH", "")
    ci = bool(environ.get("CI"))
    stops: list[str] = []
    skips: list[str] = []
    node, npm = shutil.which("node", path=path), shutil.which("npm", path=path)
    if node is None or npm is None:
        stops.append(
            f"Node.js {NODE_MAJOR}+ and npm are missing (the interop tests' peer runs on them): "
            "apt-get install nodejs npm"
        )
    elif (major := _node_major(node)) is None or major < NODE_MAJOR:
        stops.append(
            f"Node.js {NODE_MAJOR}+ is needed, {node} is {major or 'unreadable'}: "
            "install a newer nodejs"
        )
    elif not PEER_PACKAGES.is_dir() and not _registry_answers(npm):
        stops.append(
            "the npm registry does not answer (npm ping): the interop tests install their "
            "peer's packages from it"
        )
    if not CHROMIUM.exists():
        (stops if ci else skips).append(
            f"Chromium is missing at {CHROMIUM}: the browser tests (tests/e2e) skip; "
            "run `rose-ash check` as root to have it installed (apt-get install chromium)"
        )
    if shutil.which("docker", path=path) is None:
        (stops if ci else skips).append(
            "the docker CLI is missing: the tests that ask Docker to read the stack file skip "
            "(apt-get install docker.io)"
        )
    return stops, skips
