"""The Gitea Actions workflow: tests on every push to main, then deploy.sh over SSH."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.config import REPO_ROOT

WORKFLOW = REPO_ROOT / ".gitea" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_it_runs_on_push_to_main(workflow: dict[str, Any]) -> None:
    assert workflow["on"]["push"]["branches"] == ["main"]


def test_the_test_job_runs_the_ci_script_on_real_services(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["test"]
    assert {"postgres", "redis"} <= set(job["services"])
    assert job["services"]["postgres"]["image"].startswith("postgres:16")
    assert job["services"]["redis"]["image"].startswith("redis:7")
    assert "TEST_DATABASE_URL" in job["env"]
    assert "TEST_REDIS_URL" in job["env"]
    assert any(step.get("run") == "bash .ci/run" for step in job["steps"])


def test_the_deploy_job_needs_the_tests_and_deploys_over_ssh(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["deploy"]
    assert job["needs"] == "test"
    assert "refs/heads/main" in job["if"]
    assert job["steps"][0]["with"]["fetch-depth"] == 0, "deploy.sh needs the history and tags"
    text = WORKFLOW.read_text()
    assert "${{ secrets.DEPLOY_SSH_KEY }}" in text
    assert "${{ secrets.DEPLOY_HOST }}" in text
    last = job["steps"][-1]
    assert last["run"] == "./deploy.sh"
    assert last["env"]["ROLLOUT_DOCKER_HOST"] == "ssh://${{ secrets.DEPLOY_HOST }}"
    assert last["env"]["DEPLOY_PUSH_TAGS"] == "origin"


def test_every_run_step_passes_shellcheck(workflow: dict[str, Any], tmp_path: Path) -> None:
    scripts = []
    for name, job in workflow["jobs"].items():
        for i, step in enumerate(job["steps"]):
            if "run" in step:
                # Expressions are filled in by the runner before the shell sees the script.
                body = re.sub(r"\$\{\{[^}]*\}\}", "value", step["run"])
                path = tmp_path / f"{name}-{i}.sh"
                path.write_text("#!/usr/bin/env bash\n" + body)
                scripts.append(str(path))
    assert len(scripts) >= 5
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run(
        [str(shellcheck), *scripts], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_swarm_smoke_test_when_the_deployment_files_changed() -> None:
    from tests.deploy import test_swarm_smoke as smoke

    script = (REPO_ROOT / ".ci" / "run").read_text()
    listed = re.search(r"^DEPLOYMENT_FILES=\(([^)]*)\)", script, re.MULTILINE)
    assert listed is not None
    assert [p.strip('"') for p in listed.group(1).split()] == list(smoke.DEPLOYMENT_FILES)
    assert "ROSE_SWARM_SMOKE=1" in script
    assert "tests/deploy/swarm-smoke.sha256" in script
    # The digest .ci/run computes is the test's: the same files, the same bytes.
    listing = subprocess.run(
        ["git", "ls-files", "-s", "--", *smoke.DEPLOYMENT_FILES],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    shell = subprocess.run(
        ["sha256sum"], input=listing, capture_output=True, check=True
    ).stdout.split()[0]
    assert shell.decode() == smoke.deployment_digest()
    assert "Dockerfile" in listing.decode()
    assert "docker/offline/build.sh" in listing.decode()
