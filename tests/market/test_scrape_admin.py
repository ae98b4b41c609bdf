"""Staff pages of the catalogue importer (/editor/scrape): sources listed and added, bad input
refused with nothing written, "run now" queued once, run reports with their errors; editors
only, CSRF required; listings run a bounded number of queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.contracts import ScrapeSourceInput
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import AuditLog, ScrapeRequest, ScrapeRun, ScrapeSource, Supplier
from tests.identity.factories import signed_in
from tests.support import BROWSER_ACCEPT, count_statements, csrf_in, errors_beside_fields
from tests.support.settings import AppMaker

BROWSER = {"Accept": BROWSER_ACCEPT}


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("market")


@pytest.fixture
async def editor(app: RoseQuart, db: AsyncSession) -> Client:
    return await signed_in(app, db, "scrape_ed", "editor")


async def supplier(db: AsyncSession, slug: str = "hill-farm") -> Supplier:
    row = Supplier(slug=slug, name=slug.replace("-", " ").title(), website="https://hill.example")
    db.add(row)
    await db.flush()
    return row


async def html(client: Client, path: str) -> str:
    resp = await client.get(path, headers=BROWSER)
    assert resp.status_code == 200, path
    return await resp.get_data(as_text=True)


async def test_editors_add_a_source_and_queue_a_run(editor: Client, db: AsyncSession) -> None:
    farm = await supplier(db)
    await db.commit()
    page = await html(editor, "/editor/scrape/")
    assert 'href="/editor/scrape/hill-farm"' in page
    page = await html(editor, "/editor/scrape/hill-farm")
    token = csrf_in(page)
    resp = await editor.post(
        "/editor/scrape/hill-farm/sources",
        form={
            "csrf_token": token,
            "start_url": "https://hill.example/shop",
            "kind": "page",
            "interval_hours": "12",
            "max_pages": "50",
            "currency": "gbp",
            "enabled": "on",
        },
    )
    assert resp.status_code == 302
    [source] = await db.scalars(select(ScrapeSource).where(ScrapeSource.supplier_id == farm.id))
    assert resp.headers["Location"] == f"/editor/scrape/sources/{source.id}"
    assert (source.start_url, source.kind, source.interval_hours, source.settings) == (
        "https://hill.example/shop",
        "page",
        12,
        {"max_pages": 50, "currency": "GBP"},
    )
    page = await html(editor, f"/editor/scrape/sources/{source.id}")
    assert "No runs yet." in page
    for _ in range(2):
        resp = await editor.post(
            f"/editor/scrape/sources/{source.id}/run", form={"csrf_token": csrf_in(page)}
        )
        assert resp.status_code == 302
    assert await db.scalar(select(func.count()).select_from(ScrapeRequest)) == 1
    assert "A run is queued" in await html(editor, f"/editor/scrape/sources/{source.id}")
    actions = set(
        await db.scalars(select(AuditLog.action).where(AuditLog.object_type == "scrape_source"))
    )
    assert actions == {"market.scrape_source.add", "market.scrape_source.run_requested"}

    resp = await editor.post(
        f"/editor/scrape/sources/{source.id}/schedule",
        form={"csrf_token": csrf_in(page), "enabled": "off"},
    )
    assert resp.status_code == 302
    await db.refresh(source)
    assert source.enabled is False


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"start_url": "file:///etc/passwd"}, "invalid_start_url"),
        ({"start_url": "javascript:alert(1)"}, "invalid_start_url"),
        ({"start_url": "https://u:p@hill.example/"}, "invalid_start_url"),
        ({"kind": "ftp"}, "invalid_kind"),
        ({"interval_hours": "0"}, "invalid_interval"),
        ({"interval_hours": "-3"}, "invalid_interval_hours"),
        ({"max_pages": "lots"}, "invalid_max_pages"),
        ({"currency": "pounds"}, "invalid_currency"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    editor: Client, db: AsyncSession, fields: dict[str, str], code: str
) -> None:
    await supplier(db)
    await db.commit()
    token = csrf_in(await html(editor, "/editor/scrape/hill-farm"))
    form = {"csrf_token": token, "start_url": "https://hill.example/", "kind": "page", **fields}
    resp = await editor.post("/editor/scrape/hill-farm/sources", form=form)
    assert resp.status_code == 400
    assert f'data-error-code="{code}"' in await resp.get_data(as_text=True)
    assert await db.scalar(select(func.count()).select_from(ScrapeSource)) == 0


async def test_every_problem_of_a_source_shows_beside_its_field(
    editor: Client, db: AsyncSession
) -> None:
    await supplier(db)
    await db.commit()
    token = csrf_in(await html(editor, "/editor/scrape/hill-farm"))
    form = {"csrf_token": token, "start_url": "ftp://hill.example/", "kind": "page",
            "interval_hours": "0", "max_pages": "0", "currency": "pounds"}  # fmt: skip
    resp = await editor.post("/editor/scrape/hill-farm/sources", form=form)
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {
        "start_url",
        "interval_hours",
        "max_pages",
        "currency",
    }
    assert await db.scalar(select(func.count()).select_from(ScrapeSource)) == 0


async def test_members_and_strangers_are_refused_and_csrf_is_required(
    app: RoseQuart, editor: Client, db: AsyncSession
) -> None:
    farm = await supplier(db)
    source = await services().catalog_import.add_scrape_source(
        db, farm.id, ScrapeSourceInput(start_url="https://hill.example/"), None
    )
    await db.commit()
    member = await signed_in(app, db, "scrape_member")
    for client in (member, app.test_client()):
        resp = await client.get("/editor/scrape/hill-farm", headers=BROWSER)
        assert resp.status_code in (302, 401, 403)
        resp = await client.post(f"/editor/scrape/sources/{source.id}/run", form={})
        assert resp.status_code in (302, 400, 401, 403)
    resp = await editor.post(f"/editor/scrape/sources/{source.id}/run", form={})
    assert resp.status_code == 400  # no CSRF token
    assert await db.scalar(select(func.count()).select_from(ScrapeRequest)) == 0
    for path in (
        "/editor/scrape/no-such-farm",
        "/editor/scrape/sources/999999",
        "/editor/scrape/runs/999999",
    ):
        assert (await editor.get(path, headers=BROWSER)).status_code == 404, path


async def test_a_run_report_shows_its_counts_and_errors(editor: Client, db: AsyncSession) -> None:
    farm = await supplier(db)
    source = await services().catalog_import.add_scrape_source(
        db, farm.id, ScrapeSourceInput(start_url="https://hill.example/"), None
    )
    run = ScrapeRun(
        source_id=source.id,
        status="finished",
        finished_at=datetime.now(UTC),
        pages_fetched=9,
        created=4,
        updated=1,
        unchanged=2,
        unavailable=1,
        errors=[{"url": "https://hill.example/p/<b>x</b>", "error": "fetch_too_large: big"}],
    )
    db.add(run)
    await db.commit()
    page = await html(editor, f"/editor/scrape/sources/{source.id}")
    assert f'href="/editor/scrape/runs/{run.id}"' in page
    report = await html(editor, f"/editor/scrape/runs/{run.id}")
    assert "<dt>Pages fetched</dt><dd>9</dd>" in report
    assert "<dt>Marked unavailable</dt><dd>1</dd>" in report
    assert "https://hill.example/p/&lt;b&gt;x&lt;/b&gt;" in report  # escaped, never markup
    assert "fetch_too_large: big" in report


async def test_the_suppliers_listing_runs_a_bounded_number_of_queries(
    editor: Client, db: AsyncSession, engine: AsyncEngine
) -> None:
    async def add(start: int, n: int) -> None:
        for i in range(start, start + n):
            farm = await supplier(db, f"farm-{i}")
            db.add(ScrapeSource(supplier_id=farm.id, start_url=f"https://f{i}.example/"))
        await db.commit()

    await add(0, 3)
    await html(editor, "/editor/scrape/")  # the sign-in check is cached from here on
    with count_statements(engine) as few:
        await html(editor, "/editor/scrape/")
    await add(3, 27)
    with count_statements(engine) as many:
        page = await html(editor, "/editor/scrape/")
    assert page.count("data-supplier=") == 30
    assert len(many) == len(few) == 1, "\n".join(many)
