"""One worker process for the fan-out benchmark: ``python -m bench.apworker``.

It starts the way ``rose-ash worker --once`` does (settings from the environment), but waits
for a line on stdin before working, so that several of them begin at the same moment; then it
works until nothing is due and prints ``delivered=N elapsed=S cpu=S`` on its last line
(``cpu``: the seconds of CPU it used from the start signal on).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import re
import sys
import tempfile
import time
from pathlib import Path

from shared.config import load_settings
from shared.services.registry import DOMAINS
from shared.tooling import worker

# What worker.run imports as it starts, imported before the start signal: the benchmark times
# delivering, not a process booting (on a slow machine these imports were 3 s of a 37 s
# one-worker run). The worker module imports the rest at its top, except the domains' stages
# (loaded below) and the database driver (imported when the engine is created).
WORKER_IMPORTS = ("asyncpg",)


def main() -> int:
    settings = load_settings()
    for module in WORKER_IMPORTS:
        importlib.import_module(module)
    for domain in DOMAINS:
        if domain.worker_stages is not None:
            domain.worker_stages.load()
    heartbeat = Path(tempfile.mkdtemp(prefix="bench-worker-")) / "heartbeat"
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    cpu_started = time.process_time()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = asyncio.run(worker.run(settings, heartbeat=heartbeat, once=True))
    elapsed = time.perf_counter() - started
    found = re.search(r"delivered=(\d+)", out.getvalue())
    print(
        f"delivered={found.group(1) if found else 0} elapsed={elapsed:.3f} "
        f"cpu={time.process_time() - cpu_started:.3f}",
        flush=True,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
