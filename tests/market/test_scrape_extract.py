"""Reading products out of pages (no network): prices to integer minor units without floats,
the order of syntaxes, refusals with a reason; the address allow-list and its setting."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml

from shared.config import REPO_ROOT, ConfigError, ScrapeSettings, load_settings
from shared.infrastructure.netguard import address_allowed, parse_networks
from shared.services.market.scrape.extract import ExtractError, extract_product, to_minor
from tests.market.scrape_support import jsonld_page, microdata_page, og_page

URL = "https://shop.example/p/1"


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("2.95", "GBP", 295),
        (Decimal("0.1"), "GBP", 10),
        (Decimal("19.99"), "EUR", 1999),
        (3, "GBP", 300),
        ("1,234.50", "USD", 123450),
        (" £4.50 ", "GBP", 450),
        ("1500", "JPY", 1500),
        ("1.2345", "KWD", 1235),  # three decimals, rounded half up
        ("2.499", "GBP", 250),
        ("0", "GBP", 0),
    ],
)
def test_prices_become_integer_minor_units(value: object, currency: str, minor: int) -> None:
    assert to_minor(value, currency) == minor


@pytest.mark.parametrize(
    "value", ["", "free", "12,50", "-3.00", "1e9", "NaN", 2.95, True, None, "99999999999"]
)
def test_unreadable_prices_are_refused(value: object) -> None:
    with pytest.raises(ExtractError):
        to_minor(value, "GBP")


def test_json_ld_numbers_are_never_floats() -> None:
    page = jsonld_page("Juice", "X").replace('"X"', "0.1")  # a JSON number, not a string
    product = extract_product(page.encode(), URL, "utf-8").product
    assert product is not None
    assert product.price_minor == 10


def test_json_ld_wins_over_microdata_and_opengraph_is_the_fallback() -> None:
    both = jsonld_page("From JSON-LD", "1.00").replace(
        "</body>", microdata_page("From microdata", "2.00") + "</body>"
    )
    product = extract_product(both.encode(), URL, "utf-8").product
    assert product is not None
    assert (product.title, product.syntax) == ("From JSON-LD", "json-ld")
    og = extract_product(og_page("Jam", "4.50").encode(), URL, "utf-8").product
    assert og is not None
    assert (og.syntax, og.price_minor, og.images) == (
        "opengraph",
        450,
        ("https://shop.example/img/jam.jpg",),
    )


def test_a_product_without_currency_uses_the_sources_or_is_refused() -> None:
    page = jsonld_page("Juice", "2.00", currency="")
    with pytest.raises(ExtractError, match="currency"):
        extract_product(page.encode(), URL, "utf-8")
    product = extract_product(page.encode(), URL, "utf-8", default_currency="EUR").product
    assert product is not None
    assert product.currency == "EUR"


def test_a_page_without_structured_data_is_no_product() -> None:
    extracted = extract_product(b"<html><body><p>About us</p></body></html>", URL, "utf-8")
    assert extracted.product is None
    assert extracted.problems == ()


def test_the_allow_list_opens_only_its_networks() -> None:
    loopback = parse_networks("127.0.0.1/32")
    assert address_allowed("127.0.0.1", False, loopback) is True
    assert address_allowed("127.0.0.2", False, loopback) is False
    assert address_allowed("::ffff:127.0.0.1", False, loopback) is True
    assert address_allowed("10.0.0.1", False, loopback) is False
    assert address_allowed("169.254.169.254", False, loopback) is False
    assert address_allowed("224.0.0.1", False, parse_networks("224.0.0.0/4")) is False
    assert address_allowed("93.184.215.14", False, ()) is True


def test_the_allow_list_setting_is_checked_and_empty_in_production() -> None:
    with pytest.raises(ConfigError, match=r"scrape\.allow_addresses"):
        load_settings(environ={"ROSE_SCRAPE__ALLOW_ADDRESSES": "localhost"})
    production = yaml.safe_load((REPO_ROOT / "_config" / "app-config.production.yaml").read_text())
    assert production["scrape"]["allow_addresses"] == ""
    assert ScrapeSettings().allow_addresses == ""  # the default, whatever the file
