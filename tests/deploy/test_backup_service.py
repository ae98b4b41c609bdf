"""The stack's backup service, its own command run as the container runs it (bash, the entrypoint's
environment) on a database of the test's: it writes a backup of the database and of both media
stores, touches the heartbeat its health check reads, and on its next round, the newest backup
being younger than ROSE_BACKUP_EVERY_HOURS, writes none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from shared.config import REPO_ROOT, MediaSettings
from shared.infrastructure import media
from shared.tooling import backup
from tests.support import GUARD_S
from tests.support.images import png_bytes

STACK_FILE = REPO_ROOT / "docker-compose.yml"

# Stands in for `sleep 3600`: counts the rounds in $ROUNDS and ends the loop at the second.
FAKE_SLEEP = """#!/bin/sh
echo x >> "$ROUNDS"
if [ "$(wc -l < "$ROUNDS")" -ge 2 ]; then kill -TERM "$PPID"; fi
"""


def test_the_backup_service_writes_a_backup_a_day_and_touches_its_heartbeat(
    scratch_database_url: str, tmp_path: Path
) -> None:
    service = yaml.safe_load(STACK_FILE.read_text())["services"]["backup"]
    assert service["command"][:2] == ["bash", "-c"]
    # What Docker runs: `$$` in the stack file is a `$` in the container.
    script = service["command"][2].replace("$$", "$")
    script = script.replace("/var/lib/rose-ash/", f"{tmp_path}/")
    stores = {}
    for name, colour in (("blog", (1, 2, 3)), ("social", (3, 2, 1))):
        settings = MediaSettings(root=str(tmp_path / f"media-{name}"))
        image = media.prepare_upload(png_bytes(9, 9, colour), settings, "image")
        stores[name] = media.store_prepared(image, settings).rsplit("/", 1)[1]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sleep").write_text(FAKE_SLEEP)
    (bin_dir / "sleep").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO_ROOT),
        **{k: str(v) for k, v in service["environment"].items()},
        # Set by the entrypoint from the secret file in the container.
        "DATABASE_URL": scratch_database_url,
        "ROUNDS": str(tmp_path / "rounds"),
    }
    del env["DATABASE_URL_FILE"]
    env["ROSE_BACKUP_DIR"] = str(tmp_path / "backups")
    env["ROSE_WORKER_HEARTBEAT"] = str(tmp_path / "heartbeat")
    env["ROSE_CONFIG_FILE"] = str(REPO_ROOT / "_config" / "app-config.production.yaml")
    result = subprocess.run(
        ["bash", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        check=False,
    )
    assert (tmp_path / "rounds").read_text().count("x") == 2, result.stderr
    assert "none written" in result.stdout, result.stdout + result.stderr
    (taken,) = backup.complete_backups(tmp_path / "backups")
    manifest = json.loads((taken / backup.MANIFEST).read_text())
    for name, file in stores.items():
        assert list(manifest["media"][name]["files"]) == [f"images/{file}"]
    assert manifest["database"]["tables"]["public.alembic_version"] == 1
    assert (tmp_path / "heartbeat").exists()
