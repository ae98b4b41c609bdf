"""What a running `rose-ash up` tells the commands run beside it.

`up` writes ``running.json`` in its data directory (mode 0600: it holds the URLs with their
credentials and the dev secrets) once its servers are up and the database migrated, and
removes it when it stops. A `rose-ash` command started without ``DATABASE_URL`` and
``REDIS_URL`` in a second terminal of the same checkout reads it, so it works on the
platform's own database and Valkey, credentials included, exactly as `up` gave them to its
apps. The file counts only while `up` holds the data directory's lock
(``devservers.DataDirLock``): one left by a killed launcher is ignored.

Kept apart from ``devservers`` so that the CLI's parser, which every app process builds, does
not import the embedded servers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path

from shared.config import SECRET_ENV

RUNNING_FILE = "running.json"
# The lock file devservers.DataDirLock holds while a launcher runs.
LOCK_FILE = "launcher.lock"


def record(devdata: Path, env: Mapping[str, str]) -> Path:
    """Write what `up` gives its apps (the server URLs and secrets) for commands beside it."""
    values = {var: env[var] for var in SECRET_ENV.values() if env.get(var)}
    path = devdata / RUNNING_FILE
    path.unlink(missing_ok=True)
    # Created 0600, never readable by others for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"pid": os.getpid(), "env": values}, fh, indent=2)
    return path


def forget(devdata: Path) -> None:
    (devdata / RUNNING_FILE).unlink(missing_ok=True)


def _launcher_running(devdata: Path) -> bool:
    try:
        fh = (devdata / LOCK_FILE).open()
    except FileNotFoundError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def recorded(devdata: Path) -> tuple[int, dict[str, str]] | None:
    """(the launcher's pid, the variables it recorded) while a `rose-ash up` runs on
    ``devdata``; None otherwise."""
    if not _launcher_running(devdata):
        return None
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
        data = json.loads((devdata / RUNNING_FILE).read_text())
        return int(data["pid"]), {str(k): str(v) for k, v in data["env"].items()}
    return None
