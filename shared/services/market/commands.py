"""`rose-ash scrape SUPPLIER`, run by shared/services/market/scrape/cli.py.

Its handler is named, not imported: every process of the platform builds `rose-ash`'s parser
(the apps are started as `rose-ash serve`), and the scraper's stack (extruct, rdflib, lxml) would
otherwise be loaded into each of them (measured: +25 MB resident per app process).
"""

from __future__ import annotations

from shared.services.domain import Lazy, Subcommands


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("scrape", help="import a supplier's catalogue from its website")
    p.add_argument("supplier", help="the supplier's slug")
    p.add_argument("--source", type=int, help="only this scrape source (its id)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=Lazy("shared.services.market.scrape.cli:run_command"), outdates_pages=True)
