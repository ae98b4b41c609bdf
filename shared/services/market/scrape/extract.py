"""Products from the structured data shops publish, read with ``extruct``.

Each syntax is read on its own, so one malformed block does not hide the others; the first
that describes a product wins, in this order: JSON-LD, microdata, RDFa (all schema.org
``Product``/``Offer``), then OpenGraph (``og:type`` product with ``product:price:*``). Prices
become integer minor units through :class:`~decimal.Decimal`: JSON-LD is parsed with
``parse_float=Decimal`` so a price is never a float, not even for a moment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urljoin, urlsplit

import extruct
from extruct.jsonld import HTML_OR_JS_COMMENTLINE, JsonLdExtractor

from shared.contracts import ScrapedProduct
from shared.infrastructure.sanitize import clean_text, html_to_text, sanitize_html

SCHEMA_PREFIXES = ("http://schema.org/", "https://schema.org/", "schema:")
PRODUCT_TYPES = frozenset({"Product", "IndividualProduct", "ProductModel", "SomeProducts"})
OFFER_TYPES = frozenset({"Offer", "AggregateOffer"})
# schema.org ItemAvailability values that mean "cannot be bought now".
UNAVAILABLE = frozenset({"OutOfStock", "SoldOut", "Discontinued"})
OG_UNAVAILABLE = frozenset({"oos", "out of stock", "outofstock", "discontinued", "sold out"})
# ISO 4217 currencies whose minor unit is not the cent (all others have two decimals).
MINOR_DIGITS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
         "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}  # fmt: skip
MAX_MINOR = 2**31 - 1  # the column is a PostgreSQL integer
MAX_IMAGES = 10
TITLE_MAX = 300
SKU_MAX = 100
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
PRICE_RE = re.compile(r"^\d+(?:\.\d+)?$")
THOUSANDS_RE = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


class ExtractError(Exception):
    """The page claims a product but it cannot be read; ``str()`` says why (one line)."""


@dataclass(frozen=True)
class Extracted:
    """What a page holds: at most one product, and the syntaxes that could not be read."""

    product: ScrapedProduct | None
    problems: tuple[str, ...] = ()


class _DecimalJsonLd(JsonLdExtractor):  # type: ignore[misc]
    """extruct's JSON-LD reader, with numbers read as Decimal instead of float."""

    def _extract_items(self, node: Any) -> Iterator[Any]:
        script = node.xpath("string()")
        try:
            data = json.loads(script, strict=False, parse_float=Decimal)
        except ValueError:
            # Leading HTML or JavaScript comments, as extruct itself tolerates them.
            data = json.loads(
                HTML_OR_JS_COMMENTLINE.sub("", script), strict=False, parse_float=Decimal
            )
        if isinstance(data, list):
            yield from data
        elif isinstance(data, dict):
            yield data


def extract_product(
    body: bytes, url: str, encoding: str, default_currency: str | None = None
) -> Extracted:
    """The product ``body`` (an HTML page fetched from ``url``) describes, if any.

    Raises :class:`ExtractError` when the page says it is a product but the product cannot be
    used (no price, an unreadable price, no currency).
    """
    problems: list[str] = []
    candidates: list[tuple[str, list[dict[str, Any]]]] = []
    try:
        jsonld = _DecimalJsonLd().extract(body, base_url=url, encoding=encoding)
    except Exception:
        problems.append("malformed JSON-LD")
        jsonld = []
    candidates.append(("json-ld", jsonld))
    for syntax in ("microdata", "rdfa"):
        try:
            data = extruct.extract(
                body, base_url=url, encoding=encoding, syntaxes=[syntax], uniform=True
            ).get(syntax, [])
        except Exception:
            problems.append(f"malformed {syntax}")
            data = []
        candidates.append((syntax, _compact_rdfa(data) if syntax == "rdfa" else data))
    refusal: ExtractError | None = None
    for syntax, items in candidates:
        products = list(_products(items))
        if not products:
            continue
        chosen = _choose(products, url)
        if chosen is None:
            return Extracted(None, tuple(problems))  # a listing of several products
        try:
            return Extracted(_product(chosen, syntax, url, default_currency), tuple(problems))
        except ExtractError as err:
            refusal = refusal or err
    try:
        og = extruct.extract(
            body, base_url=url, encoding=encoding, syntaxes=["opengraph"], uniform=True
        ).get("opengraph", [])
    except Exception:
        problems.append("malformed OpenGraph")
        og = []
    for item in og:
        if str(item.get("@type", "")).lower() in ("product", "og:product", "product.item"):
            try:
                return Extracted(_og_product(item, url, default_currency), tuple(problems))
            except ExtractError as err:
                refusal = refusal or err
    if refusal is not None:
        raise refusal
    return Extracted(None, tuple(problems))


def _local(name: str) -> str:
    for prefix in SCHEMA_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _types(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type", ())
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return {_local(v) for v in values if isinstance(v, str)}


def _products(items: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every schema.org Product in a tree of JSON-LD-shaped items (graphs, main entities)."""
    if depth > 8:
        return
    if isinstance(items, list):
        for item in items[:200]:
            yield from _products(item, depth + 1)
    elif isinstance(items, dict):
        if _types(items) & PRODUCT_TYPES:
            yield items
            return
        for key, value in items.items():
            if key in ("@graph", "mainEntity", "mainEntityOfPage", "itemListElement", "item"):
                yield from _products(value, depth + 1)


def _choose(products: list[dict[str, Any]], url: str) -> dict[str, Any] | None:
    """The page's own product: the only one, or the one whose url is the page's."""
    if len(products) == 1:
        return products[0]
    page = _strip_fragment(url)
    mine = [p for p in products if _strip_fragment(urljoin(url, _text(p.get("url")))) == page]
    return mine[0] if len(mine) == 1 else None


def _strip_fragment(url: str) -> str:
    return urlsplit(url)._replace(fragment="").geturl()


def _first(value: Any) -> Any:
    while isinstance(value, list):
        if not value:
            return None
        value = value[0]
    return value


def _text(value: Any) -> str:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("@value", value.get("name", ""))
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def _product(
    node: dict[str, Any], syntax: str, url: str, default_currency: str | None
) -> ScrapedProduct:
    title = clean_text(_text(node.get("name")))[:TITLE_MAX]
    if not title:
        raise ExtractError("product without a name")
    offers = [o for o in _as_list(node.get("offers")) if isinstance(o, dict)]
    if not offers:
        raise ExtractError(f"product {title!r} has no offer (no price)")
    offer = offers[0]
    spec = _first(offer.get("priceSpecification"))
    raw_price = offer.get("price")
    if raw_price is None and "AggregateOffer" in _types(offer):
        raw_price = offer.get("lowPrice")
    if raw_price is None and isinstance(spec, dict):
        raw_price = spec.get("price")
    currency = _text(offer.get("priceCurrency")) or (
        _text(spec.get("priceCurrency")) if isinstance(spec, dict) else ""
    )
    currency = _currency(currency or default_currency)
    availability = _local(_text(offer.get("availability")).strip())
    sku = next(
        (
            clean_text(_text(node.get(key)))[:SKU_MAX]
            for key in ("sku", "mpn", "gtin13", "gtin", "productID")
            if _text(node.get(key)).strip()
        ),
        None,
    )
    return ScrapedProduct(
        url=_strip_fragment(url),
        title=title,
        price_minor=to_minor(_first(raw_price), currency),
        currency=currency,
        available=availability not in UNAVAILABLE,
        description=_description(_text(node.get("description"))),
        sku=sku,
        images=_images(node.get("image"), url),
        syntax=syntax,
    )


def _og_product(item: dict[str, Any], url: str, default_currency: str | None) -> ScrapedProduct:
    title = clean_text(_text(item.get("og:title")))[:TITLE_MAX]
    if not title:
        raise ExtractError("OpenGraph product without og:title")
    amount = _text(item.get("product:price:amount") or item.get("og:price:amount"))
    if not amount:
        raise ExtractError(f"OpenGraph product {title!r} has no product:price:amount")
    currency = _currency(
        _text(item.get("product:price:currency") or item.get("og:price:currency"))
        or default_currency
    )
    availability = _text(item.get("product:availability") or item.get("og:availability"))
    return ScrapedProduct(
        url=_strip_fragment(url),
        title=title,
        price_minor=to_minor(amount, currency),
        currency=currency,
        available=availability.strip().lower() not in OG_UNAVAILABLE,
        description=_description(_text(item.get("og:description"))),
        sku=None,
        images=_images(item.get("og:image"), url),
        syntax="opengraph",
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _currency(value: str | None) -> str:
    code = (value or "").strip().upper()
    if not code:
        raise ExtractError("price without a currency")
    if not CURRENCY_RE.match(code):
        raise ExtractError(f"{code[:20]!r} is not an ISO 4217 currency code")
    return code


def to_minor(value: Any, currency: str) -> int:
    """A price as integer minor units of ``currency`` (rounded half up to the minor unit)."""
    if isinstance(value, (bool, float)):
        raise ExtractError("unreadable price")  # never arrives: JSON-LD numbers are Decimal
    if isinstance(value, dict):
        value = value.get("@value")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = "".join(value.split()).lstrip("£$€")
        if THOUSANDS_RE.match(text):
            text = text.replace(",", "")
        if not PRICE_RE.match(text):
            raise ExtractError(f"unreadable price {value[:40]!r}")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ExtractError(f"unreadable price {value[:40]!r}") from None
    else:
        raise ExtractError("product without a price")
    if not amount.is_finite() or amount < 0:
        raise ExtractError("unreadable price")
    minor = (amount.scaleb(MINOR_DIGITS.get(currency, 2))).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    if minor > MAX_MINOR:
        raise ExtractError("price too large")
    return int(minor)


def _description(value: str) -> str:
    """Sanitized HTML: plain text becomes one paragraph, markup is reduced to the allow-list."""
    value = value.strip()
    if not value:
        return ""
    if "<" not in value:
        text = clean_text(value)
        return f"<p>{sanitize_html(text)}</p>" if text else ""
    cleaned = sanitize_html(value)
    return cleaned if html_to_text(cleaned) else ""


def _images(value: Any, url: str) -> tuple[str, ...]:
    found: list[str] = []
    for item in _as_list(value):
        if isinstance(item, dict):
            item = item.get("url") or item.get("contentUrl") or item.get("@id")
        src = _text(item).strip()
        if not src:
            continue
        absolute = urljoin(url, src)
        if (
            urlsplit(absolute).scheme in ("http", "https")
            and len(absolute) <= 2000
            and absolute not in found
        ):
            found.append(absolute)
        if len(found) >= MAX_IMAGES:
            break
    return tuple(found)


def _compact_rdfa(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """extruct's RDFa (expanded JSON-LD: full IRIs, ``@value`` lists, blank-node references)
    as compact schema.org items like the other syntaxes give."""
    by_id = {n.get("@id"): n for n in nodes if isinstance(n, dict) and n.get("@id")}

    def compact(node: dict[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {"@type": [_local(t) for t in node.get("@type", [])]}
        for key, values in node.items():
            if key.startswith("@"):
                continue
            name = _local(key)
            items = []
            for value in _as_list(values):
                if isinstance(value, dict) and "@value" in value:
                    items.append(value["@value"])
                elif isinstance(value, dict) and "@id" in value:
                    target = by_id.get(value["@id"])
                    if target is not None and depth < 6 and target.get("@type"):
                        items.append(compact(target, depth + 1))
                    else:
                        items.append(value["@id"])
            out[name] = items[0] if len(items) == 1 else items
        return out

    return [compact(n, 0) for n in nodes if isinstance(n, dict) and n.get("@type")]
