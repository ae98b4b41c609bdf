"""Each domain registers itself (STYLE.md item 13): its services, worker stages, commands and
demo seeders are declared in ``shared/services/<domain>/domain.py`` and collected from the one
list, ``shared.services.registry.DOMAINS``."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

import shared.services
from shared.config import Settings
from shared.contracts.services import Services
from shared.services.domain import Lazy, ServiceParts, demo_content
from shared.services.registry import DOMAINS, build_services
from shared.tooling import demo
from shared.tooling.cli import build_parser

SERVICES_DIR = Path(shared.services.__file__).parent


def test_every_domain_package_declares_itself_once() -> None:
    packages = sorted(p.parent.name for p in SERVICES_DIR.glob("*/__init__.py"))
    assert sorted(domain.name for domain in DOMAINS) == packages
    for name in packages:
        assert (SERVICES_DIR / name / "domain.py").is_file()


def test_every_named_part_is_the_domains_own_and_loads() -> None:
    for domain in DOMAINS:
        named: list[Lazy[Any]] = [*domain.demo_seeders]
        named += [part for part in (domain.worker_stages, domain.commands) if part is not None]
        for part in named:
            assert part.target.startswith(f"shared.services.{domain.name}."), part
            assert callable(part.load()), part
    assert {d.name for d in DOMAINS if d.worker_stages} == {
        "blog",
        "market",
        "cart",
        "newsletters",
        "identity",
        "events",
        "social",
    }
    assert {d.name for d in DOMAINS if d.commands} == {"identity", "federation", "blog", "market"}


def test_apps_import_the_domains_but_not_their_worker_cli_or_demo_parts() -> None:
    # Every app imports the registry; the scraper's stack and the commands stay out of it.
    probe = (
        "import sys, shared.services.registry; "
        "print(sorted(m for m in sys.modules if m in ('extruct', 'tqdm') or "
        "m.startswith('shared.services.') and m.split('.')[-1] in ('stages', 'commands', 'demo')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_parts_being_built_are_typed_as_the_services() -> None:
    parts = typing.get_type_hints(ServiceParts)
    services = typing.get_type_hints(Services)
    assert parts == services


def test_each_domain_builds_only_from_the_domains_before_it(settings: Settings) -> None:
    fields = {field.name for field in dataclasses.fields(Services)}
    built: dict[str, object] = {}
    for domain in DOMAINS:
        # A read of a service not built yet is a KeyError here: the order would be wrong.
        new = domain.build(settings, typing.cast(ServiceParts, dict(built)))
        assert new, f"{domain.name} builds nothing"
        assert not set(new) & set(built), f"{domain.name} builds again what another built"
        built.update(new)
    assert set(built) == fields
    assert set(dataclasses.asdict(build_services(settings))) == fields


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        ",".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
    )


# What `rose-ash --help` offered before the domains declared their own commands (and the
# oidc-client, screenshots and db roles commands added since).
COMMANDS = {
    "up": ["--demo"],
    "serve": ["--access-log", "--bind", "--workers", "app"],
    "migrate": ["--check"],
    "demo": ["--scale"],
    "worker": ["--once"],
    "schema dump": ["--check", "--output"],
    "check": ["pytest_args"],
    "screenshots": ["--every-width", "--out", "--running"],
    "db roles": [],
    "backup": ["--keep-days", "--media", "--min-age-hours", "dest"],
    "restore": ["--media", "--replace", "src"],
    "user create": [
        "--admin",
        "--display-name",
        "--editor",
        "--email",
        "--password",
        "--username",
    ],
    "user set-password": ["--password", "login"],
    "oidc-client create": [
        "--backchannel-logout-uri",
        "--name",
        "--post-logout-redirect-uri",
        "--public",
        "--redirect-uri",
        "--scope",
        "--trusted",
        "client_id",
    ],
    "oidc-client list": [],
    "oidc-client rotate-secret": ["client_id"],
    "oidc-client delete": ["client_id"],
    "keys generate": ["--bits", "--out"],
    "ghost-sync": ["--no-reconcile", "--quiet", "--register-webhooks"],
    "blog publish-due": [],
    "scrape": ["--quiet", "--source", "supplier"],
}


def test_the_cli_collects_every_domains_commands() -> None:
    found: dict[str, list[str]] = {}
    for name, parser in _subcommands(build_parser()).items():
        nested = _subcommands(parser)
        for sub, subparser in nested.items():
            found[f"{name} {sub}"] = _options(subparser)
        if not nested:
            found[name] = _options(parser)
    assert found == COMMANDS


@pytest.mark.parametrize(
    ("argv", "outdates", "needs_services"),
    [
        (["demo"], True, False),
        (["ghost-sync"], True, True),
        (["blog", "publish-due"], True, True),
        (["scrape", "hill-farm"], True, False),
        (["user", "set-password", "alice"], False, True),
        (["keys", "generate"], False, False),
        (["backup"], False, False),
        (["restore", "some-backup"], False, False),
    ],
)
def test_what_a_command_asks_of_the_cli(
    argv: list[str], outdates: bool, needs_services: bool
) -> None:
    args = build_parser().parse_args(argv)
    assert getattr(args, "outdates_pages", False) is outdates
    assert getattr(args, "needs_services", False) is needs_services


def test_the_demo_runs_every_domains_seeders_in_domain_order() -> None:
    names = [seeder.__name__ for seeder in demo.seeders()]
    # Members first (everything else refers to them); the market's catalogue before the cart,
    # which adds products only to an empty one; the blog's posts before the newsletter digest.
    assert names[0] == "seed_identity"
    assert names.index("seed_market") < names.index("seed_cart")
    assert names.index("seed_blog") < names.index("seed_newsletters")
    assert len(set(names)) == len(names) == 8


def test_demo_content_is_data_shipped_with_the_package() -> None:
    pyproject = (SERVICES_DIR.parents[1] / "pyproject.toml").read_text()
    assert '"*.yaml"' in pyproject  # package-data: every package's *.yaml
    for domain in DOMAINS:
        if domain.demo_seeders:
            assert demo_content(str(SERVICES_DIR / domain.name / "demo.py")), domain.name
