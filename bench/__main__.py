"""`python -m bench`: run every scenario against the platform and the same-run baseline.

Starts an embedded PostgreSQL and Valkey (or uses BENCH_DATABASE_URL / BENCH_REDIS_URL),
the baseline (a bare Quart route) and the platform in production mode under Hypercorn,
warms up, runs each scenario several times with a loopback load generator, and writes
bench/results.md and bench/results.json with medians and ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.browser import BrowserSession, Visit, browse
from bench.checkout import run_checkout
from bench.fanout import run_fanout
from bench.ghost import GhostSite, running_ghost
from bench.ghost import unavailable as ghost_unavailable
from bench.load import Sample, run_load
from bench.member import member_account, member_cookie
from shared.config import APP_NAMES, load_settings
from shared.tooling.devservers import EmbeddedPostgres, EmbeddedValkey, free_ports
from shared.tooling.launcher import DEV_SECRET_GENERATORS

HERE = Path(__file__).resolve().parent


@dataclass
class Scenario:
    name: str
    app: str | None  # None: the baseline server
    path: str
    target: str
    min_ratio: float | None = None
    max_p99_ms: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    min_ghost_ratio: float | None = None  # requests/s at least this many times Ghost's home
    # "member": signed in; "churn": every header fragment outdated continuously during the run;
    # "stop-cart": the cart app is stopped first (then churn, so pages really ask for it);
    # "browser": the cookies of Chromium's visit; "browser-member": those of its signed-in
    # member profile.
    condition: str = ""
    # A member's row: how one more request was answered after it (memberframe.py's header).
    answer: str = ""


# A cookie the platform never sets makes a request "somebody": the page is rendered, not served
# whole from the anonymous page cache (shared/infrastructure/pagecache.py, decision 0091).
RENDERED = {"Cookie": "bench=1"}
# A category with sub-categories (every "Food" product of the scaled demo, ~1,000), filtered
# by supplier, in stock and a price range, sorted by price.
CATEGORY_PATH = "/categories/food?supplier=hill-farm&in_stock=1&min=1.00&max=20.00&sort=price-asc"
# The header's fragments, as every page composes them.
HEADER_FRAGMENTS = ("blog/nav", "cart/mini", "account/menu")

GHOST_HOME = "Ghost 5 home page, production (reference)"
SCENARIOS = [
    Scenario("baseline: bare Quart route", None, "/", "the reference (1.00)"),
    Scenario(GHOST_HOME, "ghost", "/", "report"),
    Scenario("Ghost 5 post page, production (reference)", "ghost", "{ghost_post}", "report"),
    Scenario("blog home, anonymous", "blog", "/", ">= 0.5 of bare; p99 < 50 ms", 0.5, 50.0),
    Scenario(
        "blog home, rendered (page cache bypassed, fragments cached)",
        "blog",
        "/",
        "report",
        headers=RENDERED,
    ),
    Scenario(
        "blog home, signed-in member",
        "blog",
        "/",
        ">= 0.5 of bare",
        0.5,
        condition="member",
    ),
    Scenario(
        "blog home, cold fragment cache (every fragment fetched)",
        "blog",
        "/",
        "p99 < 150 ms",
        max_p99_ms=150.0,
        headers=RENDERED,
        condition="churn",
    ),
    Scenario(
        "blog home, browser cookies (Chromium's, after its first pages)",
        "blog",
        "/",
        ">= 0.75 of bare",
        0.75,
        condition="browser",
    ),
    Scenario(
        "blog post, browser cookies",
        "blog",
        "{post}",
        ">= 0.5 of bare",
        0.5,
        condition="browser",
    ),
    Scenario("market home, anonymous", "market", "/", ">= 0.5 of bare", 0.5),
    Scenario(
        "market category with filters (2,000 products), anonymous",
        "market",
        CATEGORY_PATH,
        ">= 0.25 of bare",
        0.25,
    ),
    Scenario(
        "market category with filters, browser cookies",
        "market",
        CATEGORY_PATH,
        ">= 0.25 of bare",
        0.25,
        condition="browser",
    ),
    Scenario(
        "market category with filters, rendered (page cache bypassed)",
        "market",
        CATEGORY_PATH,
        ">= 0.25 of bare",
        0.25,
        headers=RENDERED,
    ),
    Scenario(
        "events month page, browser cookies",
        "events",
        "{month}",
        ">= 20 x Ghost's home",
        condition="browser",
        min_ghost_ratio=20.0,
    ),
    Scenario(
        "member's dashboard (account app), browser cookies, signed in",
        "account",
        "/",
        ">= 20 x Ghost's home",
        condition="browser-member",
        min_ghost_ratio=20.0,
    ),
    Scenario("readyz (PostgreSQL + Redis round trip)", "blog", "/readyz", "report"),
    # Last: it stops the cart app.
    Scenario(
        "blog home, cart stopped, cold fragment cache",
        "blog",
        "/",
        "p99 < fragment timeout (1 s) + 20 ms; no errors",
        max_p99_ms=1020.0,
        headers=RENDERED,
        condition="stop-cart",
    ),
]

# Scenarios of the benchmark issue not measured yet, with what they wait for.
PENDING: list[tuple[str, str]] = []


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"bench: {url} did not answer within {timeout:.0f}s")


def _start_baseline(port: int) -> subprocess.Popen[bytes]:
    code = (
        "from hypercorn.run import run; "
        "from shared.tooling.cli import hypercorn_config; "
        f"run(hypercorn_config('bench.baseline:app', '127.0.0.1:{port}', 0))"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=HERE.parent)  # noqa: S603


class Churn:
    """Outdates the header's fragments every few milliseconds from a thread of its own, so
    nearly every page finds its cached copies outdated and fetches them (a cold cache)."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        import redis.asyncio as aioredis

        from shared.infrastructure.fragments import invalidate

        client = aioredis.Redis.from_url(self.redis_url)
        try:
            while not self.stop.is_set():
                for fragment_id in HEADER_FRAGMENTS:
                    await invalidate(client, fragment_id, keep_s=86_400)
                await asyncio.sleep(0.002)
        finally:
            await client.aclose()

    def __enter__(self) -> Churn:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _platform_env(
    ports: dict[str, int], database_url: str, redis_url: str, devdata: Path
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSE_")}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ROSE_ENVIRONMENT="production",
        ROSE_COOKIE_SECURE="true",
        ROSE_LOG_LEVEL="WARNING",
        ROSE_DEVDATA_DIR=str(devdata),
        # Production refuses to start without a mail server; the benchmark sends no mail.
        ROSE_SMTP__HOST="127.0.0.1",
        # Production takes payments only from SumUp over https, and the benchmark must not
        # leave the machine: a loopback port where nothing listens. A checkout then places
        # the order and reserves its stock (what is measured) and finds payment unavailable
        # at once, as it would with SumUp down.
        ROSE_SUMUP__BASE_URL="https://127.0.0.1:9",
        # Every buyer of the checkout scenario comes from 127.0.0.1: the per-address limit is
        # raised (still counted in Redis on every request, as in production).
        ROSE_RATE_LIMITS__CART__PER_ADDRESS="1000000",
    )
    # Every secret production requires, generated the way `rose-ash up` makes dev ones.
    env.update({name: make() for name, make in DEV_SECRET_GENERATORS.items()})
    for name, port in ports.items():
        prefix = f"ROSE_APPS__{name.upper()}__"
        env[prefix + "PORT"] = str(port)
        env[prefix + "PUBLIC_URL"] = env[prefix + "INTERNAL_URL"] = f"http://127.0.0.1:{port}"
    return env


def _seed(env: dict[str, str]) -> float:
    """Migrate and seed the demo at the benchmark's scale (`rose-ash demo --scale`) before the
    platform starts; returns the seconds it took."""
    started = time.perf_counter()
    for cmd in (["migrate"], ["demo", "--scale"]):
        subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "shared.tooling.cli", *cmd], env=env, check=True
        )
    return time.perf_counter() - started


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()  # noqa: S607


def _start_platform(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "shared.tooling.cli", "up", "--demo"], env=env)


def _memory(launcher: subprocess.Popen[bytes]) -> dict[str, int]:
    """Each app's (and the worker's) resident memory in MB."""

    def name(cmdline: list[str]) -> str:
        if "scrape.demo_site" in " ".join(cmdline):
            return "demo supplier site"
        return cmdline[-1]

    return {
        name(p.cmdline()): p.memory_info().rss // (1024 * 1024)
        for p in psutil.Process(launcher.pid).children()
    }


def _stop_app(launcher: subprocess.Popen[bytes], name: str) -> None:
    for child in psutil.Process(launcher.pid).children():
        if child.cmdline()[-2:] == ["serve", name]:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)
            return
    raise SystemExit(f"bench: no {name} process to stop")


def _median(samples: list[Sample]) -> dict[str, float | int | str]:
    return {
        "rps": statistics.median(s.rps for s in samples),
        "p50_ms": statistics.median(s.p50_ms for s in samples),
        "p99_ms": statistics.median(s.p99_ms for s in samples),
        "errors": sum(s.errors for s in samples),
        "requests": sum(s.requests for s in samples),
        "tool": samples[0].tool,
    }


def _run_scenario(
    scenario: Scenario,
    url: str,
    args: argparse.Namespace,
    env: dict[str, str],
    redis_url: str,
    browser: BrowserSession | None = None,
) -> list[Sample]:
    headers = dict(scenario.headers)
    if scenario.condition.startswith("browser"):
        assert browser is not None
        headers.update(browser.headers(_origin(url), member=scenario.condition.endswith("member")))
    if scenario.condition == "member":
        headers["Cookie"] = member_cookie(load_settings(environ=env))
    churn = Churn(redis_url) if scenario.condition in ("churn", "stop-cart") else None
    with churn or contextlib.nullcontext():
        run_load(url, args.warmup, args.connections, headers)
        samples = [
            run_load(url, args.duration, args.connections, headers) for _ in range(args.runs)
        ]
    if scenario.condition == "member":
        scenario.answer = _frame_answer(url, headers)
    return samples


def _frame_answer(url: str, headers: dict[str, str]) -> str:
    """How one more member's request was answered: from the shared frame (``hit``) or not."""
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        return str(answer.headers.get("x-rose-frame") or "rendered")


def _browser_report(session: BrowserSession) -> dict[str, object]:
    return {
        "post": session.post_path,
        "redirects": session.redirects,
        "cookies": {url.rsplit(":", 1)[-1]: names for url, names in session.names.items()},
        "member_cookies": {
            url.rsplit(":", 1)[-1]: names for url, names in session.member_names.items()
        },
    }


def _origin(url: str) -> str:
    return "/".join(url.split("/", 3)[:3])


def _cache_answer(url: str, session: BrowserSession, *, member: bool = False) -> str:
    """What the page cache says to one more request with the browser's cookies."""
    headers = session.headers(_origin(url), member=member)
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        return str(answer.headers.get("x-rose-cache") or "rendered")


def _wanted(args: argparse.Namespace, name: str) -> bool:
    return not args.only or any(part in name for part in args.only)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (median taken)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--buyers", type=int, default=200, help="checkout: buyers at once")
    parser.add_argument("--units", type=int, default=20, help="checkout: units in stock")
    parser.add_argument("--hosts", type=int, default=1000, help="fan-out: follower hosts")
    parser.add_argument("--per-host", type=int, default=10, help="fan-out: followers per host")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only scenarios whose name contains this (repeatable; 'checkout', 'fan-out'); "
        "the baseline always runs",
    )
    parser.add_argument(
        "--output", default=str(HERE), help="folder for results.md and results.json"
    )
    parser.add_argument("--ghost-posts", type=int, default=100, help="Ghost: posts published")
    args = parser.parse_args()
    load_start = _uptime()
    print(f"bench: {load_start}", flush=True)

    scratch = Path(tempfile.mkdtemp(prefix="rose-ash-bench-"))
    servers: list[EmbeddedPostgres | EmbeddedValkey] = []
    database_url = os.environ.get("BENCH_DATABASE_URL")
    redis_url = os.environ.get("BENCH_REDIS_URL")
    if not database_url:
        pg = EmbeddedPostgres(scratch / "postgres", delete_on_stop=True)
        database_url = pg.start()
        servers.append(pg)
    if not redis_url:
        vk = EmbeddedValkey(scratch / "valkey", persist=False)
        redis_url = vk.start()
        servers.append(vk)

    *app_ports, baseline_port = free_ports(len(APP_NAMES) + 1)
    ports = dict(zip(APP_NAMES, app_ports, strict=True))
    env = _platform_env(ports, database_url, redis_url, scratch / "devdata")
    results = []
    browser_report: dict[str, object] = {}
    memory: dict[str, int] = {}
    checkout: list[dict[str, object]] = []
    fanout: list[dict[str, object]] = []
    launcher = baseline = None
    stack = contextlib.ExitStack()
    try:
        seed_s = _seed(env)
        print(f"bench: demo seeded at scale in {seed_s:.1f}s", flush=True)
        baseline = _start_baseline(baseline_port)
        launcher = _start_platform(env)
        _wait_http(f"http://127.0.0.1:{baseline_port}/")
        for port in ports.values():
            _wait_http(f"http://127.0.0.1:{port}/healthz", timeout=180)
        base_rps = None
        last = [s for s in SCENARIOS if s.condition == "stop-cart"]
        session = None
        month = datetime.now(UTC).strftime("/month/%Y/%-m")
        if any(s.condition.startswith("browser") and _wanted(args, s.name) for s in SCENARIOS):
            session = browse(_visit_plan(ports, env, month))
            browser_report = _browser_report(session)
            print(f"bench: a real browser's session: {browser_report}", flush=True)
        ghost_site = None
        if any(s.app == "ghost" and _wanted(args, s.name) for s in SCENARIOS):
            ghost_site, ghost_note = stack.enter_context(_ghost(scratch, args.ghost_posts))
        for scenario in [s for s in SCENARIOS if s.condition != "stop-cart"]:
            if scenario.app is not None and not _wanted(args, scenario.name):
                continue
            if scenario.app == "ghost" and ghost_site is None:
                results.append(_not_measured(scenario, ghost_note))
                continue
            path = scenario.path.format(
                post=session.post_path if session else "/",
                month=month,
                ghost_post=ghost_site.post_path if ghost_site else "/",
            )
            if scenario.app == "ghost":
                assert ghost_site is not None
                url = ghost_site.url + path
            else:
                port = baseline_port if scenario.app is None else ports[scenario.app]
                url = f"http://127.0.0.1:{port}{path}"
            print(f"bench: {scenario.name} ({url})", flush=True)
            samples = _run_scenario(scenario, url, args, env, redis_url, session)
            row = _row(scenario, samples, base_rps)
            if scenario.condition.startswith("browser") and session is not None:
                member = scenario.condition.endswith("member")
                row["cache"] = _cache_answer(url, session, member=member)
            if scenario.answer:
                row["frame"] = scenario.answer
            base_rps = base_rps or float(row["rps"])
            results.append(row)
        if _wanted(args, "checkout"):
            settings = load_settings(environ=env)
            for _ in range(args.runs):
                print(f"bench: checkout, {args.buyers} buyers of {args.units} units", flush=True)
                checkout.append(run_checkout(settings, args.buyers, args.units))
                print(f"bench: {checkout[-1]}", flush=True)
        memory = _memory(launcher)  # after the load, while every app still runs
        for scenario in last:
            if not _wanted(args, scenario.name):
                continue
            _stop_app(launcher, "cart")
            url = f"http://127.0.0.1:{ports[scenario.app or 'blog']}{scenario.path}"
            print(f"bench: {scenario.name} ({url})", flush=True)
            results.append(
                _row(scenario, _run_scenario(scenario, url, args, env, redis_url), base_rps)
            )
        # The platform's own worker would deliver too: the fan-out runs without it.
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)
        if _wanted(args, "fan-out"):
            fanout = run_fanout(env, args.hosts, args.per_host, (1, 2))
    finally:
        stack.close()
        if launcher is not None and launcher.poll() is None:
            launcher.send_signal(signal.SIGTERM)
            launcher.wait(timeout=60)
        if baseline is not None:
            baseline.send_signal(signal.SIGTERM)
            baseline.wait(timeout=30)
        for server in reversed(servers):
            server.stop()

    ghost_rps = next(
        (float(r["rps"]) for r in results if r["scenario"] == GHOST_HOME and r.get("rps")), None
    )
    wants = {s.name: s.min_ghost_ratio for s in SCENARIOS}
    for r in results:
        r["ghost_ratio"] = float(r["rps"]) / ghost_rps if ghost_rps and r.get("rps") else None  # type: ignore[arg-type]
        want = wants.get(str(r["scenario"]))
        if want is not None and "met" in r:
            # Without Ghost there is nothing to compare with: the row cannot say it met this.
            r["met"] = bool(r["met"]) and r["ghost_ratio"] is not None and r["ghost_ratio"] >= want  # type: ignore[operator]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load": {"start": load_start, "end": _uptime()},
        "settings": vars(args),
        "seed_s": seed_s,
        "results": results,
        "checkout": checkout,
        "fanout": fanout,
        "memory_mb": memory,
        "browser": browser_report,
        "pending": [{"scenario": s, "waits_for": w} for s, w in PENDING],
    }
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "results.md").write_text(_markdown(report))
    print((out / "results.md").read_text())
    return 0


def _visit_plan(ports: dict[str, int], env: dict[str, str], month: str) -> Visit:
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return Visit(
        blog_url=base["blog"],
        market_url=base["market"],
        category_path=CATEGORY_PATH,
        events_url=base["events"],
        month_path=month,
        account_url=base["account"],
        member=member_account(load_settings(environ=env)),
    )


@contextlib.contextmanager
def _ghost(scratch: Path, posts: int) -> Iterator[tuple[GhostSite | None, str]]:
    """Ghost running (or None and why not) while the scenarios run."""
    reason = ghost_unavailable()
    if reason is not None:
        yield None, reason
        return
    print(f"bench: starting Ghost in production mode with {posts} posts", flush=True)
    with running_ghost(scratch, posts) as site:
        yield site, ""


def _not_measured(scenario: Scenario, reason: str) -> dict[str, object]:
    return {"scenario": scenario.name, "target": scenario.target, "not_measured": reason}


def _row(scenario: Scenario, samples: list[Sample], base_rps: float | None) -> dict[str, object]:
    row: dict[str, object] = {
        "scenario": scenario.name,
        "target": scenario.target,
        **_median(samples),
    }
    rps = float(row["rps"])  # type: ignore[arg-type]
    row["ratio"] = rps / (base_rps or rps)
    met = True
    if scenario.min_ratio is not None:
        met = met and float(row["ratio"]) >= scenario.min_ratio  # type: ignore[arg-type]
    if scenario.max_p99_ms is not None:
        met = met and float(row["p99_ms"]) < scenario.max_p99_ms  # type: ignore[arg-type]
    row["met"] = met and row["errors"] == 0
    return row


def _median_of(rows: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)  # type: ignore[arg-type]


def _markdown(report: dict[str, object]) -> str:
    settings = report["settings"]
    assert isinstance(settings, dict)
    load = report["load"]
    assert isinstance(load, dict)
    lines = [
        "# Rose Ash benchmark results",
        "",
        f"Run {report['when']} on {report['machine']}; {settings['runs']} runs of "
        f"{settings['duration']:.0f} s at {settings['connections']} connections per scenario, "
        "medians shown; ratio = requests/s ÷ the baseline's in the same run. Data: the demo "
        "at the benchmark's scale (`rose-ash demo --scale`: 1,000 posts, 2,000 products, 200 "
        f"events), seeded in {report['seed_s']:.1f} s.",
        "",
        f"Machine load (`uptime`) at the start: `{load['start']}`; at the end: `{load['end']}`.",
        "",
        "| scenario | req/s | p50 ms | p99 ms | ratio | times Ghost home | errors | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in report["results"]:  # type: ignore[attr-defined]
        if r.get("not_measured"):
            lines.append(
                f"| {r['scenario']} | not measured: {r['not_measured']} | | | | | | "
                f"{r['target']} | |"
            )
            continue
        times_ghost = f"{r['ghost_ratio']:.1f}" if r.get("ghost_ratio") else "-"
        lines.append(
            f"| {r['scenario']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['ratio']:.2f} | {times_ghost} | {r['errors']} | {r['target']} | "
            f"{'yes' if r['met'] else 'NO'} |"
        )
    checkout = report["checkout"]
    assert isinstance(checkout, list)
    if checkout:
        first = checkout[0]
        lines += [
            "",
            f"Checkout contention: {first['buyers']} buyers at once (each its own cookies: "
            f"product page, add to cart on the market, checkout form and order on the cart "
            f"app) for {first['units']} units; target: exactly {first['units']} orders.",
            "",
            "| round | orders placed | refused (sold out) | errors | orders in the DB | "
            "stock left | sold out after s | orders/s | all buyers answered s | buyers/s | "
            "exact |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for n, c in enumerate(checkout, 1):
            lines.append(
                f"| {n} | {c['placed']} | {c['sold_out']} | {c['errors']} | "
                f"{c['orders_in_db']} | {c['stock_left']} | {c['last_order_s']:.2f} | "
                f"{c['orders_per_s']:.1f} | {c['elapsed_s']:.2f} | {c['buyers_per_s']:.1f} | "
                f"{'yes' if c['exact'] else 'NO'} |"
            )
        lines.append(
            f"| median | | | | | | {_median_of(checkout, 'last_order_s'):.2f} | "
            f"{_median_of(checkout, 'orders_per_s'):.1f} | "
            f"{_median_of(checkout, 'elapsed_s'):.2f} | "
            f"{_median_of(checkout, 'buyers_per_s'):.1f} | |"
        )
    fanout = report["fanout"]
    assert isinstance(fanout, list)
    if fanout:
        first = fanout[0]
        lines += [
            "",
            f"ActivityPub fan-out: one `Create{{Article}}` from the blog to {first['followers']:,} "
            f"followers on {first['hosts']:,} hosts (loopback sinks in a process of their own), "
            "delivered by worker processes started together; target: every inbox exactly once, "
            ">= 300 signed deliveries/s per worker.",
            "",
            "| workers | delivered | per worker | inboxes reached | duplicates | bad signatures "
            "| fan-out s | delivery s | deliveries/s | per worker/s | workers' CPU s | "
            "sinks' CPU s | met |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for f in fanout:
            met = f["exact"] and f["per_worker_per_s"] >= 300
            lines.append(
                f"| {f['workers']} | {f['delivered']} | {f['per_worker']} | "
                f"{f['inboxes_reached']} | {f['duplicates']} | {f['bad_signatures']} | "
                f"{f['fan_out_s']:.2f} | {f['elapsed_s']:.2f} | {f['deliveries_per_s']:.0f} | "
                f"{f['per_worker_per_s']:.0f} | {f['worker_cpu_s']:.1f} | "
                f"{f['sink_cpu_s']:.1f} | {'yes' if met else 'NO'} |"
            )
    browser = report.get("browser")
    if isinstance(browser, dict) and browser:
        redirects = ", ".join(f"{u}: {n}" for u, n in browser["redirects"].items())
        cookies = "; ".join(
            f"port {port}: {', '.join(names) or 'none'}"
            for port, names in browser["cookies"].items()
        )
        member = "; ".join(
            f"port {port}: {', '.join(names) or 'none'}"
            for port, names in browser.get("member_cookies", {}).items()
        )
        answers = ", ".join(
            f"{r['scenario'].split(',')[0]}: {r['cache']}"
            for r in report["results"]  # type: ignore[attr-defined]
            if "cache" in r
        )
        lines += [
            "",
            "Browser cookies: Chromium (Playwright, a fresh profile) visited the blog home, the "
            f"post `{browser['post']}`, the market category and the events month page, as a new "
            "visitor, and a member signed in at the account app in a second profile; redirects "
            f"per navigation: {redirects}. The cookies it then held, sent with every request "
            f"of those rows (with a navigation's Accept and Sec-Fetch headers): {cookies}; "
            f"those of the member's profile, signed in at the account app: {member}. "
            f"The page cache's answer to one more such request after each row: {answers}.",
        ]
    frames = [r for r in report["results"] if "frame" in r]  # type: ignore[attr-defined]
    if frames:
        lines += [
            "",
            "A member's page from the shared frame (memberframe.py): one more request after "
            "each member's row was answered "
            + ", ".join(f"`{r['frame']}` ({r['scenario']})" for r in frames)
            + ".",
        ]
    lines += ["", "Resident memory after the run (MB):", ""]
    for proc, mb in report["memory_mb"].items():  # type: ignore[attr-defined]
        lines.append(f"- {proc}: {mb}")
    pending = report["pending"]
    assert isinstance(pending, list)
    if pending:
        lines += ["", "Not yet measured:", ""]
        for p in pending:
            lines.append(f"- {p['scenario']} — waits for {p['waits_for']}")
    # What profiles showed and what was changed, kept by hand beside the harness.
    notes = HERE / "changes.md"
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
