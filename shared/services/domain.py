"""What a domain declares about itself: :class:`Domain`.

Each domain package declares one in its ``domain.py`` (``shared/services/<domain>/domain.py``):
how its services are built, the stages it adds to each cycle of ``rose-ash worker``, its
``rose-ash`` commands, its demo seeders and the widgets its app provides.
``shared.services.registry.DOMAINS`` lists them once, in the order their services are built;
the app factory (through ``build_services``), the worker, the CLI and ``rose-ash demo`` iterate
over it and hold no list of domains of their own (``registry.WIDGETS`` collects the widgets).
(STYLE.md item 13; Warehouse's ``includeme(config)``, pretix's periodic-task receivers.)

Only ``build`` is imported with the declaration. The other parts are named (:class:`Lazy`, like
an entry point) and imported by the process that runs them: every app imports the registry, and
the stages alone would bring the scraper's stack (extruct, rdflib, requests: ~400 modules) into
each of them (measured: 1,164 modules after ``import shared.services.registry`` with the parts
named, 1,574 with them imported).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeAlias, TypedDict, TypeVar, cast

import redis.asyncio as aioredis
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.contracts import (
    BlogService,
    CartService,
    CatalogImportService,
    CatalogService,
    EventService,
    FederationService,
    IdentityService,
    NewsletterService,
    SocialService,
)
from shared.contracts.services import Services
from shared.contracts.widgets import WidgetType


class ServiceParts(TypedDict, total=False):
    """:class:`~shared.contracts.services.Services` while it is being built: the fields the
    domains built so far have filled in, typed as there (a test checks the two agree)."""

    identity: IdentityService
    blog: BlogService
    catalog: CatalogService
    cart: CartService
    events: EventService
    newsletters: NewsletterService
    federation: FederationService
    catalog_import: CatalogImportService
    social: SocialService


# A domain's builder: the settings and what the domains before it built, to its own services.
Build = Callable[[Settings, ServiceParts], ServiceParts]

# One stage of each OutboxProcessor cycle: does what is due; returns how much it did (the
# processor repeats a cycle until every stage returns 0).
Stage = Callable[[], Awaitable[int]]

# A demo seeder: adds the domain's demo content once (running it again changes nothing).
Seeder = Callable[[AsyncSession], Awaitable[None]]

# `rose-ash`'s subcommands, to which a domain adds its own parsers.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


@dataclass(frozen=True)
class WorkerContext:
    """What ``rose-ash worker`` gives the domains to build their stages from."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    # The worker's services, also installed for services() (stages reach other domains there).
    services: Services
    # The worker's Redis (what several workers share: a pace, a lock); None in tests without.
    redis: aioredis.Redis | None = None


@dataclass(frozen=True)
class WorkerStage:
    """A stage of the worker's cycle, with what it started in the background to wait for."""

    run: Stage
    # `rose-ash worker --once` waits for it after the last cycle (work the stage started).
    drain: Callable[[], Awaitable[None]] | None = None
    # Called as the worker stops, after a failure too (cancel what is still running).
    close: Callable[[], Awaitable[None]] | None = None


# A domain's stages for one worker, built from what the worker gives.
StagesOf = Callable[[WorkerContext], Sequence[WorkerStage]]

# Adds a domain's `rose-ash` subcommands; each sets ``func`` (``outdates_pages=True`` for one
# that writes what pages show, ``needs_services=True`` for one that calls services()).
AddCommands = Callable[[Subcommands], None]

T = TypeVar("T")


@dataclass(frozen=True)
class Lazy(Generic[T]):
    """A part of a domain named ``"module:attribute"``, imported when :meth:`load` is called
    (as an entry point is). The type is declared where it is named; tests/services/test_domains.py
    loads every one and checks it."""

    target: str

    def load(self) -> T:
        module, _, attribute = self.target.partition(":")
        return cast(T, getattr(importlib.import_module(module), attribute))


@dataclass(frozen=True)
class Domain:
    """One domain's parts, collected by the registry, the worker, the CLI and the demo."""

    name: str
    build: Build
    worker_stages: Lazy[StagesOf] | None = None
    commands: Lazy[AddCommands] | None = None
    # Run in this order, after the seeders of the domains before it.
    demo_seeders: tuple[Lazy[Seeder], ...] = ()
    # The widgets its app provides to other pages (shared/contracts/widgets.py).
    widgets: tuple[WidgetType, ...] = ()


def demo_content(module_file: str) -> dict[str, Any]:
    """The demo content beside a domain's ``demo.py``: its ``demo.yaml``."""
    path = Path(module_file).with_name("demo.yaml")
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping at the top")
    return content
