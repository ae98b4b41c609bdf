"""The market's staff desk at /editor: editors and admins manage suppliers, categories,
products and market pages; members and visitors are refused; every form needs its CSRF token;
a refused form names each bad field and writes nothing; changes are audited, prices keep
their history and stock goes through the catalogue's locked ``set_stock``."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.models import AuditLog, Category, MarketPage, PriceChange, Product, Supplier
from tests.identity.factories import signed_in
from tests.market import factories
from tests.market.factories import BROWSER, token_of
from tests.support.settings import AppMaker


@pytest.fixture
async def app(make_app: AppMaker) -> RoseQuart:
    return await make_app("market")


@pytest.fixture
async def editor(app: RoseQuart, db: AsyncSession) -> Client:
    return await signed_in(app, db, "marta", "editor")


async def count(db: AsyncSession, model: type) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


def product_form(token: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "title": "Wildflower honey",
        "price": "6.50",
        "currency": "GBP",
        "unit": "340 g",
        "stock": "12",
        "available": "on",
        **fields,
    }


async def test_visitors_and_members_are_kept_out(app: RoseQuart, db: AsyncSession) -> None:
    anonymous = app.test_client()
    assert (await anonymous.get("/editor/products")).status_code == 401
    member = await signed_in(app, db, "molly")
    for path in ("/editor/products", "/editor/suppliers", "/editor/categories", "/editor/pages"):
        assert (await member.get(path, headers=BROWSER)).status_code == 403, path
    admin = await signed_in(app, db, "ada", "admin")
    assert (await admin.get("/editor/products", headers=BROWSER)).status_code == 200


async def test_an_editor_adds_and_edits_a_product(
    editor: Client, db: AsyncSession, redis: aioredis.Redis
) -> None:
    farm = await factories.supplier(db, "Bee Farm")
    sweet = await factories.category(db, "Sweet things")
    await db.commit()
    token = await token_of(editor)
    resp = await editor.post(
        "/editor/products",
        form={
            **product_form(
                token,
                supplier=farm.slug,
                description="<p>Raw <em>honey</em></p><script>alert(1)</script>",
                images="/static/img/market/jar.svg A jar of honey\nhttps://img.example/h.jpg",
                featured="on",
            ),
            "categories": sweet.slug,
        },
    )
    assert resp.status_code == 302, await resp.get_data(as_text=True)
    product_id = int(resp.headers["Location"].split("/")[3].split("?")[0])
    product = await services().catalog.product_by_id(db, product_id)
    assert product.slug == "wildflower-honey"
    assert (product.price.amount_minor, product.price.currency, product.unit) == (
        650,
        "GBP",
        "340 g",
    )
    assert product.stock == 12
    assert product.description == "<p>Raw <em>honey</em></p>"
    assert [i.url for i in product.images] == [
        "/static/img/market/jar.svg",
        "https://img.example/h.jpg",
    ]
    assert product.images[0].alt == "A jar of honey"
    assert product.supplier is not None
    assert product.supplier.slug == farm.slug
    assert [c.slug for c in product.categories] == [sweet.slug]
    assert product.featured
    assert (await editor.get("/products/wildflower-honey")).status_code == 200
    # Cached product cards and featured lists on other apps' pages are outdated.
    assert await redis.get("rose:fragver:market/product-card") == b"1"
    assert await redis.get("rose:fragver:market/featured") == b"1"

    # A new price and stock: the price history grows, the stock goes through set_stock.
    resp = await editor.post(
        f"/editor/products/{product_id}",
        form={**product_form(token, price="7.00", stock=""), "categories": sweet.slug},
    )
    assert resp.status_code == 302
    product = await services().catalog.product_by_id(db, product_id)
    assert await redis.get("rose:fragver:market/product-card") == b"2"
    assert product.price.amount_minor == 700
    assert product.stock is None
    history = (
        await db.execute(
            select(PriceChange.old_price_minor, PriceChange.new_price_minor, PriceChange.source)
            .where(PriceChange.product_id == product_id)
            .order_by(PriceChange.id)
        )
    ).all()
    assert [tuple(h) for h in history] == [(None, 650, "staff"), (650, 700, "staff")]
    audit = (
        await db.execute(
            select(AuditLog.action, AuditLog.actor_user_id, AuditLog.before, AuditLog.after)
            .where(AuditLog.object_type == "market_product", AuditLog.object_id == str(product_id))
            .order_by(AuditLog.id)
        )
    ).all()
    assert [a.action for a in audit] == ["market.product.created", "market.product.updated"]
    assert audit[0].actor_user_id is not None
    assert audit[1].before["price"] == {"amount_minor": 650, "currency": "GBP"}
    assert audit[1].after["price"] == {"amount_minor": 700, "currency": "GBP"}
    assert audit[1].after["stock"] is None
    listing = await (await editor.get("/editor/products?q=wildflower")).get_data(as_text=True)
    assert "Wildflower honey" in listing


async def test_a_bad_product_form_names_every_field_and_writes_nothing(
    editor: Client, db: AsyncSession
) -> None:
    await factories.product(db, "Taken", slug="taken")
    await db.commit()
    before = await count(db, Product)
    audited = await count(db, AuditLog)
    token = await token_of(editor)
    resp = await editor.post(
        "/editor/products",
        form=product_form(
            token,
            title="",
            slug="taken",
            currency="pounds",
            supplier="nobody",
            images="javascript:alert(1)",
        ),
    )
    assert resp.status_code == 400
    html = await resp.get_data(as_text=True)
    for field in ("title", "slug", "currency", "supplier", "images"):
        assert f'data-field="{field}"' in html, field
    assert 'aria-invalid="true"' in html
    assert 'value="pounds"' in html, "what was typed comes back"
    resp = await editor.post("/editor/products", form=product_form(token, price="12,50"))
    assert resp.status_code == 400
    assert 'data-field="price"' in await resp.get_data(as_text=True)
    # Plain http images would be blocked by every page's Content-Security-Policy.
    resp = await editor.post(
        "/editor/products", form=product_form(token, images="http://img.example/a.jpg")
    )
    assert 'data-field="images"' in await resp.get_data(as_text=True)
    resp = await editor.post("/editor/products", form=product_form(token, stock="-3"))
    assert 'data-field="stock"' in await resp.get_data(as_text=True)
    assert await count(db, Product) == before
    assert await count(db, AuditLog) == audited


async def test_every_form_needs_its_csrf_token(editor: Client, db: AsyncSession) -> None:
    supplier = await factories.supplier(db, "Csrf Farm")
    await db.commit()
    for path in (
        "/editor/products",
        "/editor/suppliers",
        f"/editor/suppliers/{supplier.id}/delete",
        "/editor/categories",
        "/editor/pages",
        "/editor/products/import",
    ):
        resp = await editor.post(
            path,
            form={"title": "x", "name": "x", "price": "1"},
            headers={"Accept": "application/json"},
        )
        assert resp.status_code == 400, path
        assert (await resp.get_json())["error"]["code"].startswith("csrf_"), path
    assert await count(db, Supplier) == 1


async def test_suppliers_and_the_category_tree(editor: Client, db: AsyncSession) -> None:
    token = await token_of(editor, "/editor/suppliers/new")
    resp = await editor.post(
        "/editor/suppliers",
        form={
            "csrf_token": token,
            "name": "Orchard Co-op",
            "website": "https://orchard.example/",
            "description": "<p>Apples</p><img src=x onerror=alert(1)>",
        },
    )
    assert resp.status_code == 302
    supplier = (await services().catalog.suppliers(db))[0]
    assert supplier.slug == "orchard-co-op"
    assert supplier.description == '<p>Apples</p><img src="x">'
    resp = await editor.post(
        "/editor/suppliers", form={"csrf_token": token, "name": "", "website": "ftp://x"}
    )
    html = await resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert 'data-field="name"' in html
    assert 'data-field="website"' in html

    resp = await editor.post("/editor/categories", form={"csrf_token": token, "name": "Fruit"})
    assert resp.status_code == 302
    fruit = (await services().catalog.category_tree(db))[0]
    resp = await editor.post(
        "/editor/categories", form={"csrf_token": token, "name": "Apples", "parent": str(fruit.id)}
    )
    assert resp.status_code == 302
    tree = await services().catalog.category_tree(db)
    assert [(c.name, [k.name for k in c.children]) for c in tree] == [("Fruit", ["Apples"])]
    apples = tree[0].children[0]
    # A category cannot go under its own descendant.
    resp = await editor.post(
        f"/editor/categories/{fruit.id}",
        form={"csrf_token": token, "name": "Fruit", "parent": str(apples.id)},
    )
    assert resp.status_code == 400
    assert 'data-field="parent"' in await resp.get_data(as_text=True)
    assert (await services().catalog.get_category(db, fruit.id)).parent_id is None
    # A category with sub-categories, or a supplier with products, is not deleted.
    resp = await editor.post(f"/editor/categories/{fruit.id}/delete", form={"csrf_token": token})
    assert resp.status_code == 409
    await factories.product(db, "Cox", supplier=supplier.slug, categories=(apples.slug,))
    await db.commit()
    resp = await editor.post(f"/editor/suppliers/{supplier.id}/delete", form={"csrf_token": token})
    assert resp.status_code == 409
    assert 'data-error-code="supplier_in_use"' in await resp.get_data(as_text=True)
    assert await count(db, Category) == 2
    assert await count(db, Supplier) == 1
    actions = set(await db.scalars(select(AuditLog.action)))
    assert {"market.supplier.created", "market.category.created"} <= actions


async def test_an_editor_composes_a_market_page(
    app: RoseQuart, editor: Client, db: AsyncSession
) -> None:
    eggs = await factories.product(db, "Eggs")
    bread = await factories.category(db, "Bread")
    await db.commit()
    token = await token_of(editor, "/editor/pages/new")
    form = {
        "csrf_token": token,
        "title": "Sunday breakfast",
        "intro": "<p>All you need.</p>",
        "items": f"category:{bread.slug}\nproduct:{eggs.slug}\nproduct:nothing\nshelf:x",
        "published": "on",
    }
    resp = await editor.post("/editor/pages", form=form)
    assert resp.status_code == 400
    html = await resp.get_data(as_text=True)
    assert "there is no product &#39;nothing&#39;" in html.lower()
    assert "item 4" in html.lower()
    assert await count(db, MarketPage) == 0
    form["items"] = f"product:{eggs.slug}\ncategory:{bread.slug}"
    resp = await editor.post("/editor/pages", form=form)
    assert resp.status_code == 302
    page = (await services().catalog.market_pages(db))[0]
    assert page.slug == "sunday-breakfast"
    detail = await services().catalog.market_page(db, page.slug)
    assert [(i.product.slug if i.product else i.category.slug) for i in detail.items] == [  # type: ignore[union-attr]
        eggs.slug,
        bread.slug,
    ]
    public = await (await app.test_client().get("/pages/sunday-breakfast")).get_data(as_text=True)
    assert "All you need." in public
    # Edited: a new title (the row's updated_at is the database's, read back).
    resp = await editor.post(f"/editor/pages/{page.id}", form={**form, "title": "Sunday brunch"})
    assert resp.status_code == 302
    edited = await services().catalog.get_market_page(db, page.id)
    assert edited.title == "Sunday brunch"
    assert edited.updated_at >= page.updated_at
    resp = await editor.post(f"/editor/pages/{page.id}/delete", form={"csrf_token": token})
    assert resp.status_code == 302
    assert await count(db, MarketPage) == 0
