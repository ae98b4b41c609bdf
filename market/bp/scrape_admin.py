"""Staff pages for importing supplier catalogues, at ``/editor/scrape`` (editors and admins):
each supplier's scrape sources, adding one, "run now" (queued for the worker), and the report
of every run (pages fetched, created, updated, unchanged, unavailable, errors with URLs).

Every route needs the editor role (tests/infrastructure/test_auth.py checks every ``/editor``
route). A refused form is shown again with its error and nothing written.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, request
from werkzeug.datastructures import MultiDict

from shared.contracts import ScrapeSourceInput
from shared.contracts.errors import InvalidScrapeSource
from shared.errors import DomainError, field_errors
from shared.infrastructure import auth, inputs
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import render_page

bp = Blueprint("scrape_admin", __name__, url_prefix="/editor/scrape")

RUNS_SHOWN = 20


def _actor() -> int | None:
    user = auth.current_user()
    return user.id if user is not None else None


def _int_field(form: MultiDict[str, str], name: str, default: int | None) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return default
    value = inputs.parse_int(raw, minimum=0, maximum=999_999_999)
    if value is None:
        raise InvalidScrapeSource(f"invalid_{name}", "Enter a whole number.", name)
    return value


def _source_input(form: MultiDict[str, str]) -> ScrapeSourceInput:
    return ScrapeSourceInput(
        start_url=form.get("start_url", ""),
        kind=form.get("kind", "page"),
        interval_hours=_int_field(form, "interval_hours", 24) or 0,
        max_pages=_int_field(form, "max_pages", None),
        currency=form.get("currency", "").strip() or None,
        enabled=form.get("enabled") == "on",
    )


@bp.get("/")
@auth.require_role("editor")
async def suppliers() -> Any:
    """Every supplier and how many scrape sources it has."""
    listing = await services().catalog_import.scrape_suppliers(db_session())
    return await render_page("scrape/suppliers.html", suppliers=listing)


async def _supplier_page(slug: str, *, error: DomainError | None = None, form: Any = None) -> Any:
    service = services().catalog_import
    supplier = await service.scrape_supplier(db_session(), slug)
    sources = await service.supplier_sources(db_session(), supplier.id)
    body = await render_page(
        "scrape/supplier.html",
        supplier=supplier,
        sources=sources,
        error=error,
        errors=field_errors(error),
        form=form or {},
    )
    return (body, error.status) if error is not None else body


@bp.get("/<slug>")
@auth.require_role("editor")
async def supplier(slug: str) -> Any:
    """A supplier's scrape sources and the form to add one."""
    return await _supplier_page(slug)


@bp.post("/<slug>/sources")
@auth.require_role("editor")
async def add_source(slug: str) -> Any:
    form = await request.form
    service = services().catalog_import
    found = await service.scrape_supplier(db_session(), slug)
    try:
        source = await service.add_scrape_source(
            db_session(), found.id, _source_input(form), _actor()
        )
    except DomainError as err:
        await db_session().rollback()
        return await _supplier_page(slug, error=err, form=form)
    return redirect(f"/editor/scrape/sources/{source.id}")


@bp.get("/sources/<int:source_id>")
@auth.require_role("editor")
async def source(source_id: int) -> Any:
    """A source and its latest runs."""
    service = services().catalog_import
    found = await service.scrape_source(db_session(), source_id)
    runs = await service.scrape_runs(db_session(), source_id, RUNS_SHOWN)
    return await render_page("scrape/source.html", source=found, runs=runs)


@bp.post("/sources/<int:source_id>/run")
@auth.require_role("editor")
async def run_now(source_id: int) -> Any:
    """Queue a run for the worker (asking twice queues it once)."""
    await services().catalog_import.request_scrape_run(db_session(), source_id, _actor())
    return redirect(f"/editor/scrape/sources/{source_id}")


@bp.post("/sources/<int:source_id>/schedule")
@auth.require_role("editor")
async def schedule(source_id: int) -> Any:
    """Turn the source's scheduled runs on or off."""
    enabled = (await request.form).get("enabled") == "on"
    await services().catalog_import.set_scrape_source_enabled(
        db_session(), source_id, enabled, _actor()
    )
    return redirect(f"/editor/scrape/sources/{source_id}")


@bp.get("/runs/<int:run_id>")
@auth.require_role("editor")
async def run(run_id: int) -> Any:
    """What one run did, with every error and its URL."""
    service = services().catalog_import
    found = await service.scrape_run(db_session(), run_id)
    source = await service.scrape_source(db_session(), found.source_id)
    return await render_page("scrape/run.html", run=found, source=source)
