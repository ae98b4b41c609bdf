"""Prometheus metrics (shared/infrastructure/metrics.py, decision 0084): every app's
``/metrics`` read after real traffic over HTTP; only a scraper with the token is answered (401
without it, 404 when none is configured); the route label is the rule, never the raw path; and
production's request lines are JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from shared.config import APP_NAMES, Settings
from shared.infrastructure import metrics
from shared.infrastructure.logs import REQUEST_LOGGER, ContextFilter, JsonFormatter
from tests.support.live import Platform
from tests.support.settings import AppMaker, make_settings

TOKEN = "metrics-token-" + "z" * 24
MISSING = "/no-such-page-7f3a/deeper/still"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for s in found
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def scrape(http: httpx.AsyncClient, url: str) -> list[Sample]:
    answer = await http.get(f"{url}/metrics", headers=SCRAPE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return samples(answer.text)


async def test_every_app_counts_its_traffic_per_route(live: Platform) -> None:
    live.env.update(ROSE_METRICS_TOKEN=TOKEN, ROSE_PAGECACHE__ENABLED="true")
    await live.serve(*APP_NAMES)
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        before = {name: await scrape(http, live.url(name)) for name in APP_NAMES}
        for name in APP_NAMES:
            for _ in range(2):
                # An anonymous page, twice: rendered (fragments fetched) then from the cache.
                assert (await http.get(live.url(name) + "/")).status_code in (200, 302)
            assert (await http.get(live.url(name) + MISSING)).status_code == 404
            assert (await http.get(live.url(name) + "/healthz")).status_code == 200
        for name in APP_NAMES:
            found = await scrape(http, live.url(name))
            was = before[name]
            key = "rose_ash_http_requests_total"
            assert (
                value(found, key, app=name, route="/", method="GET")
                - value(was, key, app=name, route="/", method="GET")
                == 2
            ), name
            assert (
                value(found, key, app=name, route="/healthz", status="200")
                - value(was, key, app=name, route="/healthz", status="200")
                == 1
            ), name
            # A missing page counts under the rule it matched or as one "(unmatched)" label,
            # never as the path itself (bounded cardinality).
            rule = metrics.route_of(live.apps[name].url_map, MISSING, "GET")
            assert value(found, key, app=name, route=rule, status="404") >= 1, (name, rule)
            assert not [s for s in found if "no-such-page" in s.labels.get("route", "")]
            hist = "rose_ash_http_request_duration_seconds_count"
            grew = value(found, hist, app=name, route="/") - value(was, hist, app=name, route="/")
            assert grew == 2
            assert value(found, "rose_ash_db_pool_connections_limit", app=name) > 0
            assert [s for s in found if s.name == "rose_ash_db_pool_connections_in_use"]
            hits = "rose_ash_page_cache_requests_total"
            assert value(found, hits, app=name) > value(was, hits, app=name), name
        blog = await scrape(http, live.url("blog"))
        # The blog's pages compose every app's fragments: fetched once, then cached.
        frag = "rose_ash_fragment_cache_requests_total"
        assert value(blog, frag, app="blog", outcome="miss") > 0
        assert value(blog, frag, app="blog", outcome="hit") > 0
        assert value(blog, "rose_ash_page_cache_requests_total", app="blog", outcome="hit") >= 1


async def test_fragment_failures_are_counted_per_provider(live: Platform) -> None:
    live.env["ROSE_METRICS_TOKEN"] = TOKEN
    await live.serve("blog")  # every other app's port: nothing listens
    name = "rose_ash_fragment_fetch_failures_total"

    def failures(found: list[Sample]) -> dict[str, float]:
        return {p: value(found, name, app="blog", provider=p) for p in APP_NAMES}

    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        before = failures(await scrape(http, live.url("blog")))
        assert (await http.get(live.url("blog") + "/")).status_code == 200
        after = failures(await scrape(http, live.url("blog")))
    failed = {p for p in APP_NAMES if after[p] > before[p]}
    assert failed, "the header's fragments come from apps that are not running"
    assert "blog" not in failed, "blog answers its own fragments"


async def test_metrics_need_the_token(settings: Settings, make_app: AppMaker) -> None:
    # Without a token configured, /metrics is a page that does not exist.
    unconfigured = (await make_app("market")).test_client()
    assert (await unconfigured.get("/metrics", headers=SCRAPE)).status_code == 404
    urls = (settings.secrets.database_url or "", settings.secrets.redis_url or "")
    with_token = make_settings(*urls, ROSE_METRICS_TOKEN=TOKEN)
    client = (await make_app("market", app_settings=with_token)).test_client()
    assert (await client.get("/metrics")).status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * len(TOKEN)}
    assert (await client.get("/metrics", headers=wrong)).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": TOKEN})).status_code == 401
    answer = await client.get("/metrics", headers=SCRAPE)
    assert answer.status_code == 200
    assert "rose_ash_http_requests_total" in await answer.get_data(as_text=True)


@pytest.fixture
def json_lines() -> Iterator[list[str]]:
    """What production's handler writes for the request logger, line by line."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(REQUEST_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_production_request_lines_are_json(make_app: AppMaker, json_lines: list[str]) -> None:
    client = (await make_app("events")).test_client()
    answer = await client.get("/healthz", headers={"X-Request-ID": "req-0123456789"})
    assert answer.status_code == 200
    entries = [json.loads(line) for line in json_lines]
    assert all("\n" not in line for line in json_lines)
    (entry,) = [e for e in entries if e.get("route") == "/healthz"]
    assert entry["app"] == "events"
    assert entry["request_id"] == "req-0123456789"
    assert entry["status"] == 200
    assert entry["method"] == "GET"
    assert isinstance(entry["duration_ms"], float)
    assert entry["duration_ms"] >= 0
    assert entry["level"] == "INFO"
    assert entry["time"]


def test_an_exception_stays_on_one_json_line() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom\nsecond line", None, None)
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "boom\nsecond line"
    assert "ValueError: bad" in entry["exception"]
