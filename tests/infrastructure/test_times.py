"""Dates and times are shown in the site's time zone, named where it matters."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.config import load_settings
from shared.infrastructure.times import local_filter


def test_times_are_shown_in_the_sites_zone_with_its_name() -> None:
    assert load_settings(environ={}).time_zone == "Europe/London"
    local = local_filter("Europe/London")
    summer = datetime(2027, 7, 1, 18, 30, tzinfo=UTC)
    winter = datetime(2027, 1, 5, 18, 30, tzinfo=UTC)
    assert local(summer, "%-d %B %Y, %H:%M %Z") == "1 July 2027, 19:30 BST"
    assert local(winter, "%H:%M %Z") == "18:30 GMT"
    # Near midnight the date is the local one; a naive time is taken to be UTC.
    assert local(datetime(2027, 7, 1, 23, 30), "%-d %B") == "2 July"
    assert local_filter("America/New_York")(summer, "%H:%M %Z") == "14:30 EDT"
    assert local(date(2027, 7, 1), "%-d %B") == "1 July"
    assert local(None, "%H:%M") == ""
