"""Money: integer minor units and a currency, exact arithmetic, one way to print it."""

from __future__ import annotations

import pytest

from shared.contracts import Money


def test_sums_and_multiples_are_exact() -> None:
    # 0.1 + 0.2 in floats is not 0.3; in minor units it is.
    assert Money(10, "GBP") + Money(20, "GBP") == Money(30, "GBP")
    assert Money(333, "GBP") * 3 == Money(999, "GBP")
    assert Money(500, "EUR") - Money(501, "EUR") == Money(-1, "EUR")
    assert sum((Money(1, "GBP") for _ in range(1000)), Money.zero("GBP")) == Money(1000, "GBP")


def test_mixing_currencies_floats_or_bad_codes_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot add"):
        Money(1, "GBP") + Money(1, "EUR")
    with pytest.raises(ValueError, match="cannot subtract"):
        Money(1, "GBP") - Money(1, "EUR")
    with pytest.raises(TypeError):
        Money(1.5, "GBP")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "GBP")
    for code in ("gbp", "GB", "GBPX", "G1P"):
        with pytest.raises(ValueError, match="ISO 4217"):
            Money(1, code)


@pytest.mark.parametrize(
    ("money", "decimal", "shown"),
    [
        (Money(0, "GBP"), "0.00", "£0.00"),
        (Money(5, "GBP"), "0.05", "£0.05"),
        (Money(1250, "EUR"), "12.50", "€12.50"),
        (Money(-199, "GBP"), "-1.99", "-£1.99"),
        (Money(123456, "SEK"), "1234.56", "1234.56 SEK"),
    ],
)
def test_printed_one_way(money: Money, decimal: str, shown: str) -> None:
    assert money.decimal_str() == decimal
    assert str(money) == shown
