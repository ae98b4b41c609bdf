"""`rose-ash scrape SUPPLIER`: run each of a supplier's scrape sources now, with a progress
bar on stderr, and print what each run did."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from tqdm import tqdm

from shared.config import Settings, load_settings
from shared.contracts import ScrapeRunDTO, ScrapeSourceDTO
from shared.db import create_engine, create_session_factory
from shared.errors import DomainError
from shared.services.market.importing import SqlCatalogImportService
from shared.services.market.scrape.runner import run_source

MAX_ERRORS_SHOWN = 10


def run_command(args: argparse.Namespace) -> int:
    """`rose-ash scrape SUPPLIER [--source ID] [--quiet]` (declared in market/commands.py)."""
    return scrape_command(load_settings(), args.supplier, source_id=args.source, quiet=args.quiet)


def scrape_command(
    settings: Settings, supplier: str, *, source_id: int | None = None, quiet: bool = False
) -> int:
    """0 when every run finished, 1 when one failed or was already running elsewhere."""
    try:
        return asyncio.run(_scrape(settings, supplier, source_id, quiet))
    except DomainError as err:
        print(f"rose-ash: scrape: {err.message} ({err.code})", file=sys.stderr)
        return 2


async def _scrape(settings: Settings, supplier: str, source_id: int | None, quiet: bool) -> int:
    service = SqlCatalogImportService()
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            found = await service.scrape_supplier(session, supplier)
            sources = await service.supplier_sources(session, found.id)
        if source_id is not None:
            sources = tuple(s for s in sources if s.id == source_id)
        if not sources:
            print(f"rose-ash: scrape: {found.name} has no such scrape source", file=sys.stderr)
            return 2
        status = 0
        for source in sources:
            bar: tqdm[Any] = tqdm(
                total=1, desc=_label(source), unit=" pages", disable=quiet, file=sys.stderr
            )

            def progress(fetched: int, waiting: int, bar: tqdm[Any] = bar) -> None:
                bar.total = max(fetched + waiting, 1)
                bar.update(fetched - bar.n)

            try:
                run = await run_source(settings, engine, source.id, progress=progress)
            finally:
                bar.close()
            if run is None:
                print(f"{_label(source)}: already running elsewhere; skipped.")
                status = 1
                continue
            print(_summary(source, run))
            for error in run.errors[:MAX_ERRORS_SHOWN]:
                print(f"  ! {error.url}: {error.error}")
            if len(run.errors) > MAX_ERRORS_SHOWN:
                print(f"  ! ... and {len(run.errors) - MAX_ERRORS_SHOWN} more (see the run report)")
            if run.status != "finished":
                status = 1
        return status
    finally:
        await engine.dispose()


def _label(source: ScrapeSourceDTO) -> str:
    return f"{source.supplier_slug} #{source.id}"


def _summary(source: ScrapeSourceDTO, run: ScrapeRunDTO) -> str:
    return (
        f"{_label(source)} ({source.start_url}): run {run.id} {run.status}: "
        f"{run.pages_fetched} pages fetched; {run.created} created, {run.updated} updated, "
        f"{run.unchanged} unchanged, {run.unavailable} unavailable; {len(run.errors)} errors."
    )
