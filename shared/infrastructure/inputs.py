"""What a stranger sends, refused at the edge with a 4xx before it can become a 500.

- ``<int:…>`` in every app's routes is :class:`Int64Converter`: a number PostgreSQL's
  ``bigint`` cannot hold is no match (404), never ``value out of int64 range``.
- :func:`install` refuses a NUL byte anywhere in the path, the query or a form field with 400:
  PostgreSQL's text cannot hold one (``invalid byte sequence for encoding "UTF8": 0x00``), and
  no URL or form of ours ever carries one.
- :func:`query_int` reads an integer argument (a cursor, a page) within bigint's range.
- :func:`parse_json` parses a body strangers send (webhooks, ActivityPub inboxes) with a depth
  limit and no NUL, before any signature is checked.
- :func:`parse_date` and :func:`parse_utc_stamp` read dates from URLs within
  :data:`EARLIEST` … :data:`LATEST`, so the arithmetic pages do around them (the next day, a
  week, an occurrence's end, a zone's offset) cannot overflow.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

from quart import Quart, request
from quart.routing import QuartMap
from werkzeug.datastructures import ImmutableDict
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map

INT64_MAX = 2**63 - 1
# The last page of any listing a route pages through (OFFSET stays far inside bigint).
MAX_PAGE = 100_000
# Dates a page may be asked about: far beyond any event, well inside what datetime and every
# zone's offsets can represent.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)
# No body we read nests deeper (an activity with its object, a tag list, an attachment).
MAX_JSON_DEPTH = 64
_INT = re.compile(r"-?[0-9]{1,19}")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Int64Converter(IntegerConverter):
    """``<int:…>``: a non-negative integer that fits PostgreSQL's ``bigint``."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        bound = INT64_MAX if max is None or max > INT64_MAX else max
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=bound, signed=signed)


class RoseMap(QuartMap):
    """Every app's URL map: ``<int:…>`` is :class:`Int64Converter`."""

    default_converters = ImmutableDict({**QuartMap.default_converters, "int": Int64Converter})


def install(app: Quart) -> None:
    """Refuse a NUL byte in the path, a query argument or a form field (400)."""

    @app.before_request
    async def _refuse_nul() -> None:
        if "\x00" in request.path or _has_nul(request.args):
            raise BadRequest("The address holds a character that no address of ours has.")
        form = request.method != "GET" and request.mimetype in _FORM_TYPES
        if form and _has_nul(await request.form):
            raise BadRequest("The form holds a character that no form of ours sends.")


def _has_nul(values: Any) -> bool:
    return any("\x00" in k or "\x00" in v for k, v in values.items(multi=True))


def query_int(name: str, *, minimum: int = 1, maximum: int = INT64_MAX) -> int | None:
    """``?name=N`` as an int within ``minimum`` … ``maximum`` (bigint's largest unless told);
    None when absent or empty; 400 when it is anything else."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    value = parse_int(raw, minimum=minimum, maximum=maximum)
    if value is None:
        raise BadRequest(f"{name} must be a whole number from {minimum} to {maximum}.")
    return value


def parse_int(raw: str, *, minimum: int = 1, maximum: int = INT64_MAX) -> int | None:
    """``raw`` as an int within ``minimum`` … ``maximum``, or None (never ValueError)."""
    if not _INT.fullmatch(raw):
        return None
    value = int(raw)
    return value if minimum <= value <= maximum else None


def parse_date(raw: str) -> date | None:
    """An ISO date (``YYYY-MM-DD``) within EARLIEST … LATEST, or None."""
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        return None
    return value if EARLIEST <= value <= LATEST else None


def parse_datetime(raw: str) -> datetime | None:
    """An ISO date and time (a form's ``datetime-local``) within EARLIEST … LATEST, or None."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if EARLIEST <= value.date() <= LATEST else None


def parse_utc_stamp(raw: str, fmt: str = "%Y%m%dT%H%M%SZ") -> datetime | None:
    """A UTC moment written as ``fmt`` (the occurrence keys' ``YYYYMMDDTHHMMSSZ`` by default)
    within EARLIEST … LATEST, or None."""
    try:
        value = datetime.strptime(raw, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None
    return value if EARLIEST <= value.date() <= LATEST else None


class JSONBodyError(ValueError):
    """A body that is not JSON we read: malformed, nested too deep, or holding NUL."""


def parse_json(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of ``body``, or JSONBodyError: never RecursionError, however deep the
    nesting, and no string holding NUL (PostgreSQL's text and jsonb cannot store it)."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise JSONBodyError("nested too deep") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise JSONBodyError(str(err)) from None
    # Walked without recursion: the depth is what is being checked.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                raise JSONBodyError("nested too deep")
            for key, child in item.items():
                if "\x00" in key:
                    raise JSONBodyError("holds NUL")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                raise JSONBodyError("nested too deep")
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and "\x00" in item:
            raise JSONBodyError("holds NUL")
    return value
