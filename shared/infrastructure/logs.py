"""Logging with the request id on every line.

Development writes readable lines (``LOG_FORMAT``); production writes one JSON object per line
(:class:`JsonFormatter`: the time, level, app, request id, logger and message, and for each
request's closing line its route, method, status and duration), for a log shipper to read
without a parser of its own. ``configure_logging`` picks one from the settings' environment.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
app_name_var: contextvars.ContextVar[str] = contextvars.ContextVar("app_name", default="-")

# An incoming X-Request-ID (from the reverse proxy) is kept only when it looks like an id.
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
LOG_FORMAT = "%(asctime)s %(levelname)s %(app_name)s [%(request_id)s] %(name)s: %(message)s"
# The one line each request ends with (production only; metrics.observe_http writes it).
REQUEST_LOGGER = "rose_ash.request"
# What a record may carry besides its message (``extra=``), copied into its JSON object.
REQUEST_FIELDS = ("route", "method", "path", "status", "duration_ms")


def new_request_id(incoming: str | None) -> str:
    if incoming and _VALID_ID.match(incoming):
        return incoming
    return secrets.token_hex(8)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # A record may name its own request (the request's closing line, written outside it).
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        if not hasattr(record, "app_name"):
            record.app_name = app_name_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "app": getattr(record, "app_name", "-"),
            "request_id": getattr(record, "request_id", "-"),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # ensure_ascii: a message can never break the line (newlines are escaped anyway).
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool = False) -> None:
    """Install one stream handler on the root logger (idempotent): JSON lines when
    ``json_lines`` (production), readable lines otherwise."""
    root = logging.getLogger()
    if any(getattr(h, "_rose_ash", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._rose_ash = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request at INFO, and every page makes internal fragment requests.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Each request's closing line is for the JSON log; readable logs keep today's lines.
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.INFO if json_lines else logging.WARNING)
