"""How a product's selling unit (``800 g``, ``kg``, ``box of 4``, ``6``) reads on its page:
``Weighs 800 g``, ``Sold by the kg``, ``Sold as a box of 4``, ``Pack of 6``."""

from __future__ import annotations

import re

WEIGHTS = ("g", "kg", "oz", "lb")
VOLUMES = ("ml", "cl", "l", "litre", "litres", "liter", "liters")
AMOUNT = re.compile(r"^(\d+(?:[.,]\d+)?)\s*([a-z]+)$")


def sold_as(unit: str) -> str:
    """A short sentence saying what one of these is, from the unit a price is per."""
    text = " ".join(unit.split())
    lower = text.lower()
    if not text or lower == "each":
        return "Sold individually"
    if lower in WEIGHTS or lower in VOLUMES:
        return f"Sold by the {text}"
    found = AMOUNT.match(lower)
    if found and found.group(2) in WEIGHTS:
        return f"Weighs {text}"
    if found and found.group(2) in VOLUMES:
        return f"Holds {text}"
    if lower.isdigit():
        return f"Pack of {text}"
    article = "an" if lower[0] in "aeiou" else "a"
    return f"Sold as {article} {text}"
