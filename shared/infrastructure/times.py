"""Dates and times as people read them: in the site's time zone (``time_zone`` in the
settings), whatever zone they were stored in (UTC). Templates use the ``local`` filter:
``{{ order.created_at|local("%-d %B %Y, %H:%M %Z") }}`` (``%Z`` names the zone: GMT, BST)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo


@cache
def zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def in_zone(moment: datetime, zone_name: str) -> datetime:
    """``moment`` in the zone ``zone_name``; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(zone_name))


def local_filter(zone_name: str) -> Callable[[datetime | date | None, str], str]:
    """The ``local`` Jinja filter for a site whose zone is ``zone_name``."""

    def local(value: datetime | date | None, fmt: str = "%-d %B %Y, %H:%M %Z") -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return in_zone(value, zone_name).strftime(fmt)
        return value.strftime(fmt)

    return local
