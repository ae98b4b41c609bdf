"""Every CSV the platform writes is escaped against spreadsheet formulas by one helper, and an
escaped export reads back to exactly what was written."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from shared.infrastructure.csvfile import FORMULA_STARTS, escape_cell, read_cell, write_csv

ROOT = Path(__file__).resolve().parents[2]
APPS = ("blog", "market", "cart", "events", "federation", "account")

VALUES = [
    "",
    "'",
    "''",
    "plain",
    "'plain",
    "it's",
    '=HYPERLINK("http://evil.example","Click")',
    "+1",
    "-1",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "'=not a formula",
    "''=x",
    "'-",
    "a=b",
]


def test_cells_that_a_spreadsheet_would_run_begin_with_a_quote() -> None:
    for start in FORMULA_STARTS:
        assert escape_cell(f"{start}cmd|' /C calc'!A0") == f"'{start}cmd|' /C calc'!A0"
    assert escape_cell("Cheddar") == "Cheddar"
    assert escape_cell("a=b") == "a=b"


def test_every_value_reads_back_unchanged() -> None:
    for value in VALUES:
        assert read_cell(escape_cell(value)) == value, value
        assert not escape_cell(value).startswith(FORMULA_STARTS), value


def test_write_csv_escapes_every_cell_of_every_row() -> None:
    text = write_csv(["name", "n"], [["=1+1", -3], ["Mo", None]])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["name", "n"], ["'=1+1", "'-3"], ["Mo", ""]]
    assert text.endswith("\r\n")


def test_no_other_module_writes_csv() -> None:
    """The helper is the one way a CSV is written: a new export cannot forget the escaping."""
    writers = re.compile(r"csv\.(writer|DictWriter)\b|from csv import")
    found = []
    for folder in ("shared", *APPS):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "shared/infrastructure/csvfile.py":
                continue
            if writers.search(path.read_text(encoding="utf-8")):
                found.append(str(path.relative_to(ROOT)))
    assert found == []
