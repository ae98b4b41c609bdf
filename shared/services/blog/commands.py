"""`rose-ash ghost-sync` and `rose-ash blog publish-due`.

Both set ``needs_services``: `rose-ash` installs the services before running them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from tqdm import tqdm

from shared.config import Settings, load_settings
from shared.contracts import PostDTO
from shared.db import create_engine, create_session_factory
from shared.infrastructure.context import services
from shared.services.blog.ghost import GhostError
from shared.services.blog.ghost_sync import run_once
from shared.services.blog.ghost_webhooks import WEBHOOK_PATH, register_webhooks
from shared.services.domain import Subcommands


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("ghost-sync", help="sync posts, pages, tags and authors from Ghost")
    p.add_argument(
        "--no-reconcile",
        action="store_true",
        help="only fetch what changed; do not look for items Ghost no longer has",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--register-webhooks",
        action="store_true",
        help="only create Ghost's webhooks to this blog through the Admin API "
        "(ROSE_GHOST_ADMIN_KEY); safe to repeat",
    )
    p.set_defaults(func=_ghost_sync, outdates_pages=True, needs_services=True)

    p = sub.add_parser("blog", help="blog tasks")
    blog = p.add_subparsers(dest="blog_command", required=True)
    p = blog.add_parser("publish-due", help="publish scheduled posts whose time has come")
    p.set_defaults(func=_publish_due, outdates_pages=True, needs_services=True)


def _ghost_sync(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.register_webhooks:
        try:
            outcomes = asyncio.run(_register(settings))
        except GhostError as err:
            print(
                f"rose-ash: ghost-sync --register-webhooks stopped ({err.code}): {err}",
                file=sys.stderr,
            )
            return 1
        for event, outcome in outcomes:
            print(f"{event}: {WEBHOOK_OUTCOMES[outcome]}")
        print(f"Ghost's webhooks point at {settings.apps['blog'].public_url}{WEBHOOK_PATH}.")
        return 0
    bars: dict[str, tqdm[Any]] = {}

    def progress(resource: str, done: int, total: int) -> None:
        if resource not in bars:
            bars[resource] = tqdm(
                total=total, desc=f"Ghost {resource}", unit=" items", disable=args.quiet
            )
        bar = bars[resource]
        bar.total = max(total, done)
        bar.update(done - bar.n)

    try:
        report = asyncio.run(run_once(settings, reconcile=not args.no_reconcile, progress=progress))
    except GhostError as err:
        print(
            f"rose-ash: ghost-sync stopped ({err.code}): {err}. What was stored is kept; "
            "the next run resumes from there.",
            file=sys.stderr,
        )
        return 1
    finally:
        for bar in bars.values():
            bar.close()
    print(
        f"Ghost sync: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.deleted} removed; "
        f"{report.tags} tags, {report.authors} authors; {report.images} images copied."
    )
    if report.without_body:
        print(
            f"{report.without_body} members-only item(s) came without their whole body: "
            "only their teaser is stored. Set ROSE_GHOST_ADMIN_KEY to read whole bodies."
        )
    if report.images_failed:
        print(f"{report.images_failed} image(s) could not be copied and stay on Ghost (logged).")
    return 0


WEBHOOK_OUTCOMES = {
    "created": "created",
    "replaced": "replaced (our old webhook pointed elsewhere or had another secret)",
    "exists": "already registered",
}


async def _register(settings: Settings) -> list[tuple[str, str]]:
    engine = create_engine(settings)
    try:
        return await register_webhooks(settings, create_session_factory(engine))
    finally:
        await engine.dispose()


def _publish_due(_args: argparse.Namespace) -> int:
    settings = load_settings()
    blog = services().blog

    async def run() -> tuple[PostDTO, ...]:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as db, db.begin():
                return await blog.publish_due_scheduled(db)
        finally:
            await engine.dispose()

    published = asyncio.run(run())
    for post in published:
        print(f"published {post.kind} {post.slug!r}")
    print(f"{len(published)} scheduled post(s) published.")
    return 0
