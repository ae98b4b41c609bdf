"""The `rose-ash` command.

    rose-ash up [--demo]        the whole platform on one machine (embedded servers when needed)
    rose-ash serve APP          one app the way production runs it (Hypercorn)
    rose-ash migrate [--check]  upgrade the database to head; --check compares models and migrations
    rose-ash db roles           the apps' PostgreSQL role (DATABASE_URL's user): rows only, no DDL
    rose-ash demo [--scale]     seed the demo content into the configured database
                                (--scale: the benchmark's 1,000 posts, 2,000 products, 200 events)
    rose-ash worker [--once]    every domain's worker stages, the ActivityPub outbox among them
    rose-ash schema dump        regenerate schema.sql from the migrations; --check compares
    rose-ash backup [DEST]      the database and the media store, with a manifest (checksums)
                                (--keep-days: remove older ones; --media NAME=PATH per store)
    rose-ash restore SRC        a backup into an empty database and media store (--replace)
    rose-ash screenshots        the demo's key pages at 1280 and 390 px into docs/screenshots/
                                (Chromium and the dev extra's Playwright; --running: this
                                checkout's running `rose-ash up` instead of a new demo site)
    rose-ash check [-- ARGS]    the lint (ruff, mypy, import-linter) and the whole test suite
                                (ARGS go to pytest)

and the commands the domains declare (``Domain.commands``, in each domain's ``commands.py``):

    rose-ash user create ...    create an account (--admin for the first administrator)
    rose-ash user set-password  set an account's password
    rose-ash keys generate      print a new RSA private key for ROSE_AP_PRIVATE_KEY
    rose-ash ghost-sync         import and update posts, pages, tags, authors from Ghost
                                (--register-webhooks: create Ghost's webhooks to the blog)
    rose-ash blog publish-due   publish the scheduled posts whose time has come
    rose-ash scrape SUPPLIER    import a supplier's catalogue from its website (its scrape sources)

Settings and start-up errors are printed as one line, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import redis
from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run as hypercorn_run

from shared.config import APP_NAMES, REPO_ROOT, ConfigError, load_settings
from shared.errors import CommandError
from shared.infrastructure import metrics, pagecache
from shared.infrastructure.context import use_services
from shared.services.domain import Lazy
from shared.services.registry import DOMAINS, build_services
from shared.tooling import running

# Commands that never borrow a running `rose-ash up`'s servers: up starts its own, check runs
# the tests on theirs, and up already runs the apps and the worker.
OWN_SERVERS = ("up", "check", "serve", "worker")


def hypercorn_config(
    application_path: str, bind: str, workers: int, *, access_log: bool = False
) -> HypercornConfig:
    """The Hypercorn configuration every app runs with (the benchmark's baseline uses it too)."""
    config = HypercornConfig()
    config.application_path = application_path
    config.bind = [bind]
    config.workers = workers
    config.graceful_timeout = 10.0
    config.keep_alive_timeout = 15.0
    # Hypercorn logs through our root handler, so its lines carry the app name too.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.accesslog = logging.getLogger("hypercorn.access") if access_log else None
    return config


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    # Fail here, with one line, rather than inside a worker with a traceback.
    for secret in ("database_url", "redis_url", "secret_key"):
        settings.require(secret)
    bind = args.bind or os.environ.get("ROSE_BIND") or f"127.0.0.1:{settings.apps[args.app].port}"
    workers = args.workers
    if workers is None:
        workers = int(os.environ.get("WEB_CONCURRENCY", "0"))
    config = hypercorn_config(
        f"{args.app}.app:create_app()", bind, workers, access_log=args.access_log
    )
    if workers == 0 or os.environ.get(metrics.MULTIPROC_ENV):
        return int(hypercorn_run(config) or 0)
    # Several processes answer: /metrics adds up their figures from a directory of this
    # run's own, which the processes (spawned, so they inherit the variable) write to.
    directory = tempfile.mkdtemp(prefix=f"rose-ash-metrics-{args.app}-")
    os.environ[metrics.MULTIPROC_ENV] = directory
    try:
        return int(hypercorn_run(config) or 0)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rose-ash", description="Run and manage Rose Ash.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="run the whole platform on this machine")
    p.add_argument("--demo", action="store_true", help="seed demo content first")
    p.set_defaults(func=Lazy("shared.tooling.commands:up_command"))

    p = sub.add_parser("serve", help="run one app with Hypercorn, as in production")
    p.add_argument("app", choices=APP_NAMES)
    p.add_argument("--bind", help="host:port (default: the app's port on 127.0.0.1, or ROSE_BIND)")
    p.add_argument("--workers", type=int, help="worker processes (default WEB_CONCURRENCY or 0)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=_serve)

    p = sub.add_parser("migrate", help="upgrade the database to the latest migration")
    p.add_argument("--check", action="store_true", help="only check that models match migrations")
    p.set_defaults(func=Lazy("shared.tooling.commands:migrate_command"))

    p = sub.add_parser("db", help="the database's roles")
    db_sub = p.add_subparsers(dest="db_command", required=True)
    p = db_sub.add_parser(
        "roles", help="create or update the apps' role (DATABASE_URL) as MIGRATE_DATABASE_URL's"
    )
    p.set_defaults(func=Lazy("shared.tooling.commands:db_roles_command"))

    p = sub.add_parser("demo", help="seed demo content into the configured database")
    p.add_argument(
        "--scale",
        action="store_true",
        help="also 1,000 posts, 2,000 products and 200 events (the benchmark's data)",
    )
    p.set_defaults(func=Lazy("shared.tooling.commands:demo_command"), outdates_pages=True)

    # The domains' own commands (each domain's commands.py), in the registry's order.
    for domain in DOMAINS:
        if domain.commands is not None:
            domain.commands.load()(sub)

    p = sub.add_parser("schema", help="the reference schema (schema.sql)")
    schema_sub = p.add_subparsers(dest="schema_command", required=True)
    p = schema_sub.add_parser("dump", help="regenerate schema.sql from the migrations")
    p.add_argument("--check", action="store_true", help="only check that the file is current")
    p.add_argument("--output", help="the file to write or check (default: schema.sql)")
    p.set_defaults(func=Lazy("shared.tooling.commands:schema_dump_command"))

    p = sub.add_parser("worker", help="run the OutboxProcessor (ActivityPub delivery)")
    p.add_argument("--once", action="store_true", help="work until nothing is due, then exit")
    p.set_defaults(func=Lazy("shared.tooling.worker:command"))

    p = sub.add_parser("backup", help="back up the database and the media store")
    p.add_argument("dest", nargs="?", help="the directory of backups (default: <devdata>/backups)")
    p.add_argument(
        "--media",
        action="append",
        metavar="NAME=PATH",
        help="a media store to include (repeatable; default: media=<media.root>)",
    )
    p.add_argument(
        "--keep-days", type=float, help="then remove backups older than this (never the newest)"
    )
    p.add_argument(
        "--min-age-hours",
        type=float,
        help="write one only when the newest backup in DEST is at least this old",
    )
    p.set_defaults(func=Lazy("shared.tooling.commands:backup_command"))

    p = sub.add_parser("restore", help="restore a backup into an empty database and media store")
    p.add_argument("src", help="the backup's directory (DEST/rose-ash-<time>)")
    p.add_argument(
        "--media",
        action="append",
        metavar="NAME=PATH",
        help="where each media store of the backup goes (default: media=<media.root>)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="delete every table and media file there first (otherwise both must be empty)",
    )
    p.set_defaults(func=Lazy("shared.tooling.commands:restore_command"))

    p = sub.add_parser("screenshots", help="render the demo's key pages into docs/screenshots/")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    p.add_argument(
        "--running",
        action="store_true",
        help="show the site at the configured app URLs (a running `rose-ash up`), not a new one",
    )
    p.add_argument("--every-width", action="store_true", help="every page at 1280 and 390 px")
    p.set_defaults(func=Lazy("shared.tooling.screenshots:command"))

    p = sub.add_parser("check", help="lint and run the whole test suite")
    p.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")
    p.set_defaults(func=Lazy("shared.tooling.commands:check_command"))
    return parser


def _outdate_pages(domains: set[str]) -> None:
    """Outdate the cached pages of what a command committed (pagecache.collect_commits)."""
    try:
        client = redis.Redis.from_url(load_settings().require("redis_url"))
        try:
            with client.pipeline(transaction=False) as pipe:
                for domain in sorted(domains):
                    pipe.incr(pagecache.version_key(domain))
                pipe.execute()
        finally:
            client.close()
    except (ConfigError, redis.RedisError, OSError) as err:
        print(
            f"rose-ash: cached pages of {', '.join(sorted(domains))} could not be outdated "
            f"({err}); they refresh within pagecache.ttl_s",
            file=sys.stderr,
        )


def _beside_up() -> None:
    """Without DATABASE_URL and REDIS_URL, a command uses the servers (and dev secrets) of the
    `rose-ash up` running for this checkout, as recorded there (shared/tooling/running.py)."""
    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
        return
    try:
        devdata = load_settings().devdata_path()
    except ConfigError:
        return  # the command reports it
    found = running.recorded(devdata)
    if found is None:
        return
    pid, env = found
    for name, value in env.items():
        os.environ.setdefault(name, value)
    print(
        f"rose-ash: using the database and Valkey of the `rose-ash up` running here (pid {pid})",
        file=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in OWN_SERVERS:
        _beside_up()
    # Commands that write what pages show outdate the cached copies as they end.
    gathering: contextlib.AbstractContextManager[set[str]] = (
        pagecache.collecting_commits()
        if getattr(args, "outdates_pages", False)
        else contextlib.nullcontext(set())
    )
    with gathering as committed:
        try:
            if getattr(args, "needs_services", False):
                # A domain's command reaches the domains through services(), as apps do.
                use_services(build_services(load_settings()))
            # A domain may name its handler (Lazy) so that building the parser imports little.
            func = args.func.load() if isinstance(args.func, Lazy) else args.func
            return int(func(args))
        # The embedded servers' and the schema's errors are CommandErrors too.
        except (ConfigError, CommandError) as err:
            hint = ""
            unset = str(err).startswith(("DATABASE_URL is not set", "REDIS_URL is not set"))
            if unset and args.command not in OWN_SERVERS:
                hint = "; or run `rose-ash up` in another terminal and its servers are used"
            print(f"rose-ash: error: {err}{hint}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        finally:
            if committed:
                _outdate_pages(committed)


if __name__ == "__main__":
    sys.exit(main())
