"""deploy.sh on a scratch git repository: the plan for each kind of change (--dry-run), and a
real run against a stand-in for the Docker client (no Docker engine runs on these machines)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.config import APP_NAMES, REPO_ROOT

SERVICES = [*APP_NAMES, "worker"]
REGISTRY = "registry.rose-ash.com:5000"

# A stand-in for the docker client: logs each call (with the variables a rollout depends on),
# keeps a "registry" as a list of pushed references, and fails a build when told to.
FAKE_DOCKER = r"""#!/usr/bin/env bash
set -euo pipefail
printf '%s|DOCKER_HOST=%s|TAG=%s\n' "$*" "${DOCKER_HOST:-}" "${TAG:-}" >> "$FAKE_DOCKER_LOG"
case "$1" in
    manifest) grep -qxF "$3" "$FAKE_REGISTRY" ;;
    push) printf '%s\n' "$2" >> "$FAKE_REGISTRY" ;;
    build) [[ -z "${FAKE_FAIL_BUILD:-}" || "$*" != *"${FAKE_FAIL_BUILD}/Dockerfile"* ]] ;;
esac
"""


@dataclass
class Scratch:
    root: Path
    env: dict[str, str]

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.root, env=self.env, capture_output=True, text=True, check=True
        ).stdout.strip()

    def commit(self, *paths: str, message: str = "change") -> None:
        for path in paths:
            file = self.root / path
            file.parent.mkdir(parents=True, exist_ok=True)
            with file.open("a") as fh:
                fh.write(f"# {message}\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def record_deploy(self, *services: str) -> None:
        """What a successful deploy leaves: deployed/<service> (and deployed/stack) at HEAD."""
        for name in services or [*SERVICES, "stack"]:
            self.git("tag", "--force", f"deployed/{name}", "HEAD")

    def deploy(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.root / "deploy.sh"), *args],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def docker_calls(self) -> list[str]:
        log = Path(self.env["FAKE_DOCKER_LOG"])
        return log.read_text().splitlines() if log.exists() else []

    def tag_of(self, name: str) -> str:
        return self.git("rev-parse", "-q", "--verify", f"refs/tags/deployed/{name}^{{commit}}")


def plan_of(result: subprocess.CompletedProcess[str]) -> tuple[list[str], str]:
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    plan = next(line for line in lines if line.startswith("plan:"))
    rollout = next(line for line in lines if line.startswith("rollout:"))
    return plan.removeprefix("plan:").split(), rollout.removeprefix("rollout:").strip()


@pytest.fixture
def scratch(tmp_path: Path) -> Scratch:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy2(REPO_ROOT / "deploy.sh", root / "deploy.sh")
    shutil.copy2(REPO_ROOT / "docker-compose.yml", root / "docker-compose.yml")
    for path in [
        "pyproject.toml",
        "requirements.lock",
        "README.md",
        "docs/notes.md",
        "tests/test_blog.py",
        "shared/config.py",
        "docker/entrypoint.sh",
        ".gitea/workflows/ci.yml",
        *(f"{s}/Dockerfile" for s in SERVICES),
        *(f"{a}/app.py" for a in APP_NAMES),
    ]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(f"# {path}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DOCKER", "DEPLOY_"))}
    env.update(
        HOME=str(tmp_path),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Rose Ash",
        GIT_AUTHOR_EMAIL="dev@rose-ash.com",
        GIT_COMMITTER_NAME="Rose Ash",
        GIT_COMMITTER_EMAIL="dev@rose-ash.com",
        DOCKER=str(docker),
        FAKE_DOCKER_LOG=str(tmp_path / "docker.log"),
        FAKE_REGISTRY=str(tmp_path / "registry.txt"),
    )
    repo = Scratch(root, env)
    repo.git("init", "-q", "-b", "main")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "initial")
    return repo


ALL = SERVICES


@pytest.mark.parametrize(
    ("changed", "planned", "rollout"),
    [
        pytest.param(["blog/app.py"], ["blog"], "service-update", id="one-app"),
        pytest.param(
            ["market/app.py", "blog/templates/home.html"],
            ["blog", "market"],
            "service-update",
            id="two-apps",
        ),
        pytest.param(["worker/Dockerfile"], ["worker"], "service-update", id="worker"),
        pytest.param(["shared/config.py"], ALL, "stack-deploy", id="shared"),
        pytest.param(["pyproject.toml"], ALL, "stack-deploy", id="pyproject"),
        pytest.param(["requirements.lock"], ALL, "stack-deploy", id="lock"),
        pytest.param(["docker-compose.yml"], ALL, "stack-deploy", id="stack-file"),
        pytest.param(
            ["README.md", "docs/notes.md", "tests/test_blog.py", ".gitea/workflows/ci.yml"],
            [],
            "none",
            id="docs-only",
        ),
    ],
)
def test_dry_run_plans_what_changed_since_the_last_deploy(
    scratch: Scratch, changed: list[str], planned: list[str], rollout: str
) -> None:
    scratch.record_deploy()
    scratch.commit(*changed)
    tags_before = scratch.git("show-ref", "--tags")
    result = scratch.deploy("--dry-run")
    assert plan_of(result) == (planned, rollout)
    assert scratch.docker_calls() == [], "a dry run never runs docker"
    assert scratch.git("show-ref", "--tags") == tags_before, "a dry run records nothing"
    for service in planned:
        assert f"run: {scratch.env['DOCKER']} build --file {service}/Dockerfile" in result.stdout


def test_with_no_previous_deploy_everything_is_planned(scratch: Scratch) -> None:
    result = scratch.deploy("--dry-run")
    assert plan_of(result) == (ALL, "stack-deploy")
    assert "reason: blog: never deployed" in result.stdout
    head = scratch.git("rev-parse", "--short=12", "HEAD")
    assert f"TAG={head}" in result.stdout
    assert "stack deploy --with-registry-auth" in result.stdout


def test_each_service_remembers_its_own_last_deploy(scratch: Scratch) -> None:
    scratch.record_deploy()
    scratch.commit("blog/app.py", "market/app.py")
    scratch.record_deploy("blog")  # `./deploy.sh blog` ran; market's change is still pending
    assert plan_of(scratch.deploy("--dry-run")) == (["market"], "service-update")


def test_a_file_moved_out_of_an_app_counts_for_that_app(scratch: Scratch) -> None:
    scratch.record_deploy()
    (scratch.root / "docs" / "cart-notes.py").write_text((scratch.root / "cart/app.py").read_text())
    (scratch.root / "cart" / "app.py").unlink()
    scratch.git("add", "-A")
    scratch.git("commit", "-q", "-m", "move")
    assert plan_of(scratch.deploy("--dry-run")) == (["cart"], "service-update")


def test_named_services_and_all(scratch: Scratch) -> None:
    scratch.record_deploy()
    assert plan_of(scratch.deploy("--dry-run", "cart", "blog", "cart")) == (
        ["blog", "cart"],
        "service-update",
    )
    assert plan_of(scratch.deploy("--dry-run", "--all")) == (ALL, "stack-deploy")


def test_a_named_service_after_a_stack_file_change_deploys_the_whole_stack(
    scratch: Scratch,
) -> None:
    scratch.record_deploy()
    scratch.commit("docker-compose.yml")
    result = scratch.deploy("--dry-run", "blog")
    assert plan_of(result) == (ALL, "stack-deploy")
    assert "reason: market: docker-compose.yml changed since" in result.stdout


@pytest.mark.parametrize("shipped", ["Caddyfile", "deploy/prometheus/prometheus.yml"])
def test_a_change_to_what_the_stack_ships_deploys_the_stack(scratch: Scratch, shipped: str) -> None:
    # The Caddyfile and Prometheus's files are Docker configs named after the commit: only a
    # stack deploy ships them.
    (scratch.root / shipped).parent.mkdir(parents=True, exist_ok=True)
    (scratch.root / shipped).write_text("# first\n")
    scratch.git("add", "-A")
    scratch.git("commit", "-q", "-m", "configs")
    scratch.record_deploy()
    scratch.commit("blog/app.py")
    scratch.commit(shipped)
    result = scratch.deploy("--dry-run")
    assert plan_of(result) == (ALL, "stack-deploy")
    assert f"{shipped} changed since" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dry-run", "shop"], "unknown service 'shop'"),
        (["--dry-run", "--all", "blog"], "--all and service names do not go together"),
        (["--dry-run", "--yes"], "unknown option --yes"),
        (["--local", "blog"], "--local builds and runs everything"),
        (["--local", "--dry-run"], "--local builds and runs everything"),
    ],
)
def test_bad_arguments_are_refused(scratch: Scratch, args: list[str], message: str) -> None:
    result = scratch.deploy(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_dirty_tree_is_refused_unless_forced(scratch: Scratch) -> None:
    scratch.record_deploy()
    (scratch.root / "blog" / "app.py").write_text("# not committed\n")
    refused = scratch.deploy("blog")
    assert refused.returncode == 1
    assert "uncommitted changes; commit them or use --force" in refused.stderr
    assert scratch.docker_calls() == []
    dry = scratch.deploy("--dry-run", "blog")
    assert "a real deploy would refuse" in dry.stdout
    forced = scratch.deploy("--force", "blog")
    assert forced.returncode == 0, forced.stderr
    head = scratch.git("rev-parse", "--short=12", "HEAD")
    assert any(f"push {REGISTRY}/blog:{head}-dirty" in c for c in scratch.docker_calls())


def test_help_describes_the_usage(scratch: Scratch) -> None:
    result = scratch.deploy("--help")
    assert result.returncode == 0
    assert "./deploy.sh --dry-run" in result.stdout
    assert "set -euo" not in result.stdout


def _calls(scratch: Scratch, verb: str) -> list[str]:
    return [c.split("|")[0] for c in scratch.docker_calls() if c.startswith(verb)]


def test_a_real_first_deploy_builds_pushes_deploys_the_stack_and_records(
    scratch: Scratch, tmp_path: Path
) -> None:
    remote = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    scratch.git("remote", "add", "origin", str(remote))
    head = scratch.git("rev-parse", "HEAD")
    tag = head[:12]
    result = scratch.deploy(
        ROLLOUT_DOCKER_HOST="ssh://deploy@swarm.rose-ash.com", DEPLOY_PUSH_TAGS="origin"
    )
    assert plan_of(result) == (ALL, "stack-deploy")
    builds = _calls(scratch, "build")
    assert [b.split()[2] for b in builds] == [f"{s}/Dockerfile" for s in SERVICES]
    assert _calls(scratch, "push") == [f"push {REGISTRY}/{s}:{tag}" for s in SERVICES]
    # Builds come first, then pushes, then the one rollout, which runs on the Swarm manager.
    last = scratch.docker_calls()[-1]
    assert last.startswith("stack deploy --with-registry-auth --detach=false")
    assert last.endswith(f"rose-ash|DOCKER_HOST=ssh://deploy@swarm.rose-ash.com|TAG={tag}")
    assert all("DOCKER_HOST=|" in c for c in scratch.docker_calls()[:-1]), "builds stay local"
    for name in [*SERVICES, "stack"]:
        assert scratch.tag_of(name) == head
    pushed = subprocess.run(
        ["git", "--git-dir", str(remote), "tag", "--list", "deployed/*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(pushed) == sorted(f"deployed/{n}" for n in [*SERVICES, "stack"])

    # Nothing changed: nothing to do, and every image is in the registry.
    again = scratch.deploy()
    assert plan_of(again) == ([], "none")
    assert "Nothing to deploy" in again.stdout


def test_a_real_partial_deploy_updates_one_service_and_moves_only_its_tag(
    scratch: Scratch,
) -> None:
    scratch.deploy()  # the first deploy, everything
    first = scratch.git("rev-parse", "HEAD")
    scratch.commit("events/app.py")
    head = scratch.git("rev-parse", "HEAD")
    log_size = len(scratch.docker_calls())
    result = scratch.deploy()
    assert plan_of(result) == (["events"], "service-update")
    calls = [c.split("|")[0] for c in scratch.docker_calls()[log_size:]]
    manifests = [c for c in calls if c.startswith("manifest")]
    assert len(manifests) == len(SERVICES) - 1, "each unchanged service's image is checked"
    assert [c for c in calls if not c.startswith("manifest")] == [
        f"build --file events/Dockerfile --tag {REGISTRY}/events:{head[:12]} "
        f"--label org.opencontainers.image.revision={head} .",
        f"push {REGISTRY}/events:{head[:12]}",
        f"service update --with-registry-auth --detach=false "
        f"--image {REGISTRY}/events:{head[:12]} rose-ash_events",
    ]
    assert scratch.tag_of("events") == head
    assert scratch.tag_of("blog") == first
    assert scratch.tag_of("stack") == first


def test_a_partial_deploy_of_the_worker_moves_the_backup_service_to_its_image(
    scratch: Scratch,
) -> None:
    scratch.deploy()
    scratch.commit("worker/entrypoint.sh")
    head = scratch.git("rev-parse", "HEAD")
    log_size = len(scratch.docker_calls())
    result = scratch.deploy()
    assert plan_of(result) == (["worker"], "service-update")
    updates = [c for c in scratch.docker_calls()[log_size:] if c.startswith("service update")]
    image = f"{REGISTRY}/worker:{head[:12]}"
    assert [u.split("|")[0] for u in updates] == [
        f"service update --with-registry-auth --detach=false --image {image} rose-ash_worker",
        f"service update --with-registry-auth --detach=false --image {image} rose-ash_backup",
    ]


def test_a_service_whose_image_is_missing_is_rebuilt(scratch: Scratch) -> None:
    scratch.deploy()
    registry = Path(scratch.env["FAKE_REGISTRY"])
    registry.write_text(
        "".join(line + "\n" for line in registry.read_text().split() if "/market:" not in line)
    )
    result = scratch.deploy()
    assert plan_of(result) == (["market"], "service-update")
    assert "reason: market: image registry.rose-ash.com:5000/market:" in result.stdout
    assert "is missing" in result.stdout


def test_a_failed_build_rolls_nothing_out_and_records_nothing(scratch: Scratch) -> None:
    scratch.record_deploy()
    before = scratch.git("show-ref", "--tags")
    scratch.commit("blog/app.py", "cart/app.py")
    result = scratch.deploy(FAKE_FAIL_BUILD="cart")
    assert result.returncode != 0
    assert _calls(scratch, "push") == []
    assert _calls(scratch, "service") == []
    assert scratch.git("show-ref", "--tags") == before
