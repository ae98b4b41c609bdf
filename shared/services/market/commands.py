"""`rose-ash scrape SUPPLIER` (shared/services/market/scrape/cli.py runs it)."""

from __future__ import annotations

import argparse

from shared.config import load_settings
from shared.services.domain import Subcommands
from shared.services.market.scrape.cli import scrape_command


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("scrape", help="import a supplier's catalogue from its website")
    p.add_argument("supplier", help="the supplier's slug")
    p.add_argument("--source", type=int, help="only this scrape source (its id)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_scrape, outdates_pages=True)


def _scrape(args: argparse.Namespace) -> int:
    return scrape_command(load_settings(), args.supplier, source_id=args.source, quiet=args.quiet)
