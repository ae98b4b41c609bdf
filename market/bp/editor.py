"""The market's staff desk at ``/editor`` (editors and admins): products, suppliers, the
category tree, market pages, and the CSV import and export of products.

Every route needs the editor role (admins hold every role); tests/infrastructure/test_auth.py checks
it for every ``/editor`` route, and every form carries the CSRF token. A refused change
re-renders its form with each field's error and writes nothing (the service checks
everything before it writes, and the request's transaction is rolled back besides). Changes
to products outdate the cached product cards and featured lists everywhere.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, redirect, request
from werkzeug.datastructures import MultiDict

from market.bp.fragments import CATEGORY, FEATURED, PRODUCT_CARD
from shared.contracts import (
    CategoryDTO,
    CategoryInput,
    MarketPageDTO,
    MarketPageInput,
    ProductDTO,
    ProductImageDTO,
    ProductInput,
    SupplierDTO,
    SupplierInput,
    parse_amount_minor,
)
from shared.contracts.errors import CsvImportRefused, InvalidCatalogInput
from shared.contracts.widgets import WidgetError, placements
from shared.errors import DomainError
from shared.infrastructure import auth, inputs
from shared.infrastructure.context import db_session, services
from shared.infrastructure.fragments import invalidate_after_commit, render_page
from shared.services.registry import WIDGETS

bp = Blueprint("editor", __name__, url_prefix="/editor")

PER_PAGE = 50
# An upload larger than this is refused before it is parsed (the service checks again).
MAX_CSV_BYTES = 2 * 1024 * 1024


def _actor() -> int | None:
    user = auth.current_user()
    return user.id if user is not None else None


def _products_changed() -> None:
    """Cached product cards and featured lists (in blog posts, on other apps' pages) are
    outdated once the change commits (a rolled-back change bumps nothing)."""
    invalidate_after_commit(db_session(), PRODUCT_CARD)
    invalidate_after_commit(db_session(), FEATURED)
    invalidate_after_commit(db_session(), CATEGORY)


async def _refused(template: str, err: DomainError, **context: Any) -> Any:
    # Nothing of the refused change may survive, whatever the service had flushed.
    await db_session().rollback()
    errors = err.errors if isinstance(err, InvalidCatalogInput) else {}
    body = await render_page(template, error=err, errors=errors, **context)
    return body, err.status


def _int_or_none(value: str | None) -> int | None:
    return inputs.parse_int((value or "").strip(), minimum=0, maximum=999_999_999)


@bp.get("/")
@auth.require_role("editor")
async def desk() -> Any:
    """The staff's start page: the products."""
    return redirect("/editor/products")


# --- products ----------------------------------------------------------------------------


@bp.get("/products")
@auth.require_role("editor")
async def products() -> Any:
    """Every product, unavailable ones too; ``?q=`` narrows by title, slug or SKU."""
    page = inputs.parse_int(request.args.get("page", "1"), maximum=inputs.MAX_PAGE) or 1
    query = request.args.get("q", "")
    listing = await services().catalog.staff_products(
        db_session(), query=query, page=page, per_page=PER_PAGE
    )
    return await render_page("editor/products.html", listing=listing, query=query)


def _product_input(form: MultiDict[str, str]) -> ProductInput:
    """The form as a ProductInput; a price or stock that is not a number is reported with
    the service's own checks (it is given as an impossible value the service refuses)."""
    errors: dict[str, str] = {}
    try:
        price = parse_amount_minor(form.get("price", ""))
    except ValueError:
        errors["price"] = "A price like 4.50."
        price = 0
    stock_text = form.get("stock", "").strip()
    stock: int | None = None
    if stock_text:
        stock = inputs.parse_int(stock_text, minimum=0, maximum=999_999_999)
        if stock is None:
            errors["stock"] = "A whole number, or empty for unlimited."
    images = []
    for line in form.get("images", "").splitlines():
        url, _, alt = line.strip().partition(" ")
        if url:
            images.append(ProductImageDTO(url, alt.strip()))
    if errors:
        raise InvalidCatalogInput(errors)
    return ProductInput(
        title=form.get("title", ""),
        price_minor=price,
        slug=form.get("slug", "").strip(),
        summary=form.get("summary", ""),
        description=form.get("description", ""),
        sku=form.get("sku", ""),
        supplier=form.get("supplier", ""),
        categories=tuple(form.getlist("categories")),
        currency=form.get("currency", "GBP") or "GBP",
        unit=form.get("unit", "each"),
        stock=stock,
        available=form.get("available") == "on",
        featured=form.get("featured") == "on",
        images=tuple(images),
    )


async def _product_form_context() -> dict[str, Any]:
    catalog = services().catalog
    return {
        "suppliers": await catalog.suppliers(db_session()),
        "categories": _flatten(await catalog.category_tree(db_session())),
    }


def _flatten(tree: tuple[CategoryDTO, ...], depth: int = 0) -> list[tuple[int, CategoryDTO]]:
    """The tree in display order, each category with its depth (for indented choices)."""
    out: list[tuple[int, CategoryDTO]] = []
    for node in tree:
        out.append((depth, node))
        out.extend(_flatten(node.children, depth + 1))
    return out


async def _save_product(product: ProductDTO | None) -> Any:
    form = await request.form
    catalog = services().catalog
    try:
        data = _product_input(form)
        if product is None:
            saved = await catalog.create_product(db_session(), data, actor_user_id=_actor())
        else:
            saved = await catalog.update_product(
                db_session(), product.id, data, actor_user_id=_actor()
            )
    except DomainError as err:
        await db_session().rollback()
        return await _refused(
            "editor/product_form.html",
            err,
            product=product,
            form=form,
            **await _product_form_context(),
        )
    _products_changed()
    return redirect(f"/editor/products/{saved.id}?saved=1")


@bp.get("/products/new")
@auth.require_role("editor")
async def new_product() -> Any:
    return await render_page(
        "editor/product_form.html",
        product=None,
        form=None,
        errors={},
        error=None,
        **await _product_form_context(),
    )


@bp.post("/products")
@auth.require_role("editor")
async def create_product() -> Any:
    return await _save_product(None)


@bp.get("/products/<int:product_id>")
@auth.require_role("editor")
async def edit_product(product_id: int) -> Any:
    product = await services().catalog.product_by_id(db_session(), product_id)
    return await render_page(
        "editor/product_form.html",
        product=product,
        form=None,
        errors={},
        error=None,
        saved=request.args.get("saved") == "1",
        **await _product_form_context(),
    )


@bp.post("/products/<int:product_id>")
@auth.require_role("editor")
async def update_product(product_id: int) -> Any:
    return await _save_product(await services().catalog.product_by_id(db_session(), product_id))


@bp.get("/products/export.csv")
@auth.require_role("editor")
async def export_products() -> Response:
    """Every product as CSV (for a spreadsheet; import it back after editing)."""
    text = await services().catalog.export_products_csv(db_session())
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="products.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/products/import")
@auth.require_role("editor")
async def import_form() -> Any:
    return await render_page("editor/import.html", error=None, report=None)


@bp.post("/products/import")
@auth.require_role("editor")
async def import_products() -> Any:
    """Create or update products from an uploaded CSV file: all rows or none."""
    upload = (await request.files).get("file")
    try:
        if upload is None or not upload.filename:
            raise CsvImportRefused("Choose a CSV file to import.")
        data = upload.stream.read(MAX_CSV_BYTES + 1)
        if len(data) > MAX_CSV_BYTES:
            raise CsvImportRefused(
                f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB: split it."
            )
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CsvImportRefused("The file is not UTF-8 text: save it as CSV UTF-8.") from None
        report = await services().catalog.import_products_csv(
            db_session(), text, actor_user_id=_actor()
        )
    except DomainError as err:
        await db_session().rollback()
        body = await render_page("editor/import.html", error=err, report=None)
        return body, err.status
    _products_changed()
    return await render_page("editor/import.html", error=None, report=report)


# --- suppliers ---------------------------------------------------------------------------


def _supplier_input(form: MultiDict[str, str]) -> SupplierInput:
    return SupplierInput(
        name=form.get("name", ""),
        slug=form.get("slug", "").strip(),
        website=form.get("website") or None,
        description=form.get("description", ""),
        logo_url=form.get("logo_url") or None,
    )


@bp.get("/suppliers")
@auth.require_role("editor")
async def suppliers() -> Any:
    found = await services().catalog.suppliers(db_session())
    return await render_page("editor/suppliers.html", suppliers=found)


async def _supplier_form(supplier: SupplierDTO | None) -> Any:
    return await render_page(
        "editor/supplier_form.html", supplier=supplier, form=None, errors={}, error=None
    )


@bp.get("/suppliers/new")
@auth.require_role("editor")
async def new_supplier() -> Any:
    return await _supplier_form(None)


@bp.get("/suppliers/<int:supplier_id>")
@auth.require_role("editor")
async def edit_supplier(supplier_id: int) -> Any:
    return await _supplier_form(await services().catalog.get_supplier(db_session(), supplier_id))


async def _save_supplier(supplier: SupplierDTO | None) -> Any:
    form = await request.form
    catalog = services().catalog
    try:
        if supplier is None:
            await catalog.create_supplier(
                db_session(), _supplier_input(form), actor_user_id=_actor()
            )
        else:
            await catalog.update_supplier(
                db_session(), supplier.id, _supplier_input(form), actor_user_id=_actor()
            )
    except DomainError as err:
        return await _refused("editor/supplier_form.html", err, supplier=supplier, form=form)
    _products_changed()  # cards name the supplier
    return redirect("/editor/suppliers")


@bp.post("/suppliers")
@auth.require_role("editor")
async def create_supplier() -> Any:
    return await _save_supplier(None)


@bp.post("/suppliers/<int:supplier_id>")
@auth.require_role("editor")
async def update_supplier(supplier_id: int) -> Any:
    return await _save_supplier(await services().catalog.get_supplier(db_session(), supplier_id))


@bp.post("/suppliers/<int:supplier_id>/delete")
@auth.require_role("editor")
async def delete_supplier(supplier_id: int) -> Any:
    supplier = await services().catalog.get_supplier(db_session(), supplier_id)
    try:
        await services().catalog.delete_supplier(db_session(), supplier_id, actor_user_id=_actor())
    except DomainError as err:
        return await _refused("editor/supplier_form.html", err, supplier=supplier, form=None)
    return redirect("/editor/suppliers")


# --- categories --------------------------------------------------------------------------


def _category_input(form: MultiDict[str, str]) -> CategoryInput:
    position = form.get("position", "0").strip() or "0"
    place = inputs.parse_int(position, minimum=-99_999, maximum=999_999)
    if place is None:
        raise InvalidCatalogInput({"position": "A whole number."})
    return CategoryInput(
        name=form.get("name", ""),
        slug=form.get("slug", "").strip(),
        description=form.get("description", ""),
        parent_id=_int_or_none(form.get("parent")),
        position=place,
    )


async def _categories_page(
    category: CategoryDTO | None = None,
    *,
    error: DomainError | None = None,
    form: Any = None,
) -> Any:
    tree = _flatten(await services().catalog.category_tree(db_session()))
    errors = error.errors if isinstance(error, InvalidCatalogInput) else {}
    body = await render_page(
        "editor/categories.html",
        categories=tree,
        category=category,
        error=error,
        errors=errors,
        form=form,
    )
    return (body, error.status) if error is not None else body


@bp.get("/categories")
@auth.require_role("editor")
async def categories() -> Any:
    """The tree, and a form to add a category."""
    return await _categories_page()


@bp.get("/categories/<int:category_id>")
@auth.require_role("editor")
async def edit_category(category_id: int) -> Any:
    return await _categories_page(await services().catalog.get_category(db_session(), category_id))


@bp.post("/categories")
@auth.require_role("editor")
async def create_category() -> Any:
    form = await request.form
    try:
        await services().catalog.create_category(
            db_session(), _category_input(form), actor_user_id=_actor()
        )
    except DomainError as err:
        await db_session().rollback()
        return await _categories_page(error=err, form=form)
    return redirect("/editor/categories")


@bp.post("/categories/<int:category_id>")
@auth.require_role("editor")
async def update_category(category_id: int) -> Any:
    form = await request.form
    category = await services().catalog.get_category(db_session(), category_id)
    try:
        await services().catalog.update_category(
            db_session(), category_id, _category_input(form), actor_user_id=_actor()
        )
    except DomainError as err:
        await db_session().rollback()
        return await _categories_page(category, error=err, form=form)
    _products_changed()
    return redirect("/editor/categories")


@bp.post("/categories/<int:category_id>/delete")
@auth.require_role("editor")
async def delete_category(category_id: int) -> Any:
    category = await services().catalog.get_category(db_session(), category_id)
    try:
        await services().catalog.delete_category(db_session(), category_id, actor_user_id=_actor())
    except DomainError as err:
        await db_session().rollback()
        return await _categories_page(category, error=err)
    return redirect("/editor/categories")


# --- market pages ------------------------------------------------------------------------


def _page_input(form: MultiDict[str, str]) -> MarketPageInput:
    items = []
    for line in form.get("items", "").splitlines():
        text = line.strip()
        if text:
            kind, _, slug = text.partition(":")
            items.append((kind.strip().lower(), slug.strip().lower()))
    return MarketPageInput(
        title=form.get("title", ""),
        slug=form.get("slug", "").strip(),
        intro=form.get("intro", ""),
        published=form.get("published") == "on",
        items=tuple(items),
    )


@bp.get("/pages")
@auth.require_role("editor")
async def pages() -> Any:
    found = await services().catalog.market_pages(db_session(), include_unpublished=True)
    return await render_page("editor/pages.html", pages=found)


async def _page_form(page: MarketPageDTO | None) -> Any:
    return await render_page(
        "editor/page_form.html",
        page=page,
        form=None,
        errors={},
        error=None,
        widgets=WIDGETS.values(),
    )


@bp.get("/pages/new")
@auth.require_role("editor")
async def new_page() -> Any:
    return await _page_form(None)


@bp.get("/pages/<int:page_id>")
@auth.require_role("editor")
async def edit_page(page_id: int) -> Any:
    return await _page_form(await services().catalog.get_market_page(db_session(), page_id))


async def _save_page(page: MarketPageDTO | None) -> Any:
    form = await request.form
    catalog = services().catalog
    try:
        try:  # a widget placed in the intro must be one that can be shown
            placements(form.get("intro", ""), WIDGETS)
        except WidgetError as err:
            raise InvalidCatalogInput({"intro": err.message}) from err
        if page is None:
            saved = await catalog.create_market_page(
                db_session(), _page_input(form), actor_user_id=_actor()
            )
        else:
            saved = await catalog.update_market_page(
                db_session(), page.id, _page_input(form), actor_user_id=_actor()
            )
    except DomainError as err:
        return await _refused(
            "editor/page_form.html", err, page=page, form=form, widgets=WIDGETS.values()
        )
    return redirect(f"/editor/pages/{saved.id}")


@bp.post("/pages")
@auth.require_role("editor")
async def create_page() -> Any:
    return await _save_page(None)


@bp.post("/pages/<int:page_id>")
@auth.require_role("editor")
async def update_page(page_id: int) -> Any:
    return await _save_page(await services().catalog.get_market_page(db_session(), page_id))


@bp.post("/pages/<int:page_id>/delete")
@auth.require_role("editor")
async def delete_page(page_id: int) -> Any:
    await services().catalog.delete_market_page(db_session(), page_id, actor_user_id=_actor())
    return redirect("/editor/pages")
