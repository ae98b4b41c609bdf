"""The worker's heartbeat file: ``rose-ash worker`` keeps it fresh while it runs; the container's
health check (``python -m shared.tooling.container heartbeat``) and ``rose-ash up`` read it.

A module of its own so that the health check, run every 30 s, imports none of the worker.
"""

from __future__ import annotations

import time
from pathlib import Path

HEARTBEAT_ENV = "ROSE_WORKER_HEARTBEAT"
DEFAULT_HEARTBEAT = Path("/tmp/rose-ash-worker.heartbeat")  # noqa: S108 - the container's own /tmp


def heartbeat_is_fresh(path: Path, max_age_s: float, now: float | None = None) -> bool:
    """True when the worker touched ``path`` within ``max_age_s`` seconds."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age <= max_age_s
