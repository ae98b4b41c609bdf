"""Logging with the request id on every line."""

from __future__ import annotations

import contextvars
import logging
import re
import secrets

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
app_name_var: contextvars.ContextVar[str] = contextvars.ContextVar("app_name", default="-")

# An incoming X-Request-ID (from the reverse proxy) is kept only when it looks like an id.
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
LOG_FORMAT = "%(asctime)s %(levelname)s %(app_name)s [%(request_id)s] %(name)s: %(message)s"


def new_request_id(incoming: str | None) -> str:
    if incoming and _VALID_ID.match(incoming):
        return incoming
    return secrets.token_hex(8)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.app_name = app_name_var.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """Install one stream handler on the root logger (idempotent)."""
    root = logging.getLogger()
    if any(getattr(h, "_rose_ash", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._rose_ash = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request at INFO, and every page makes internal fragment requests.
    logging.getLogger("httpx").setLevel(logging.WARNING)
