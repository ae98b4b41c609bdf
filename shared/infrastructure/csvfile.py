"""Every CSV the platform writes goes through :func:`write_csv`, so that no cell opened in a
spreadsheet is taken for a formula (CSV injection: OWASP's "CSV Injection" page).

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a
leading ``'``, which spreadsheets read as "this is text" and do not show. To keep an export that
is imported back unchanged, a cell that already begins with ``'`` followed by one of those (or by
another ``'``) gets one more, and :func:`read_cell` takes exactly one off the cells that begin so:
``read_cell(escape_cell(v)) == v`` for every ``v``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def escape_cell(value: str) -> str:
    """``value`` as a cell no spreadsheet runs as a formula."""
    if value.startswith(FORMULA_STARTS) or _quoted(value):
        return _QUOTE + value
    return value


def read_cell(value: str) -> str:
    """The value :func:`escape_cell` was given (a cell typed by a person is left as it is)."""
    return value[1:] if _quoted(value) else value


def _quoted(value: str) -> bool:
    return value[:1] == _QUOTE and value[1:2] in (*FORMULA_STARTS, _QUOTE)


def write_csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """The rows as CSV text (RFC 4180 line ends), header first, every cell escaped."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    for row in (header, *rows):
        writer.writerow([escape_cell("" if cell is None else str(cell)) for cell in row])
    return out.getvalue()
