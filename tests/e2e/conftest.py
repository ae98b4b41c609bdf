"""Browser tests: the platform started for real, driven in Debian's headless Chromium.

Playwright's async API runs on the test session's event loop (its sync API would hold a
loop of its own open in the main thread and break every async test after it).

The suite starts `rose-ash up --demo` on free ports against a fresh database on the test
PostgreSQL server and a private embedded Valkey, with its email going to an SMTP server of the
suite's own (aiosmtpd on loopback) that tests read, and stops it at the end. Chromium comes from
Debian (`rose-ash check` installs it when missing); Playwright never downloads a browser.
A failing test leaves a screenshot and the page's HTML in tests/e2e/artifacts/.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.engine import make_url

from shared.config import APP_NAMES
from shared.tooling.devservers import EmbeddedValkey, free_ports
from tests.support import GUARD_S, SmtpSink, Up, smtp_sink_server
from tests.support.settings import asyncpg_dsn

CHROMIUM = Path(os.environ.get("ROSE_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# The platform shares two cores with the browser and the suite (and, on a loaded machine, with
# another suite): a sign-up (argon2id, a new actor's keypair) can take many seconds there.
# Assertions and actions wait up to GUARD_S before failing, like every other wait in the tests:
# a bound that only stops a hung test, never a measure.
GUARD_MS = int(GUARD_S * 1000)
expect.set_options(timeout=GUARD_MS)


@dataclass(frozen=True)
class Site:
    urls: dict[str, str]
    mail: SmtpSink  # every email the platform sent
    database_url: str = ""
    redis_url: str = ""

    def url(self, app: str, path: str = "/") -> str:
        return self.urls[app] + path

    async def cli(self, *args: str) -> str:
        """Run ``rose-ash <args>`` against this site's database (e.g. ``user set-password``)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ROSE_") and k not in ("DATABASE_URL", "REDIS_URL")
        }
        env.update(DATABASE_URL=self.database_url, REDIS_URL=self.redis_url)
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "shared.tooling.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


async def open_header_menu(page: Page) -> None:
    """On a phone the site's navigation and the account menu are inside the header's Menu (a
    <details> disclosure): open it, as a visitor would, when it is closed. On a wide screen
    they are in the header row and there is nothing to open."""
    await page.wait_for_load_state()
    menu = page.locator("details.site-menu")
    summary = menu.locator("summary").first
    if await summary.is_visible() and await menu.get_attribute("open") is None:
        await summary.click()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)  # type: ignore[attr-defined]
    return report


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = (
            f"browser tests need Chromium at {CHROMIUM}; `rose-ash check` installs it "
            "with apt-get when it runs as root"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
async def mail() -> AsyncIterator[SmtpSink]:
    async with smtp_sink_server() as sink:
        yield sink


@pytest.fixture(scope="session")
async def site(
    server_urls: tuple[str, str], tmp_path_factory: pytest.TempPathFactory, mail: SmtpSink
) -> AsyncIterator[Site]:
    base_url, _ = server_urls
    name = f"rose_ash_e2e_{secrets.token_hex(4)}"
    dsn, kwargs = asyncpg_dsn(base_url)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn, **kwargs)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f'CREATE DATABASE "{name}"')
    valkey = EmbeddedValkey(tmp_path_factory.mktemp("e2e-valkey"), persist=False)
    redis_url = valkey.start()
    ports = dict(zip(APP_NAMES, free_ports(len(APP_NAMES)), strict=True))
    database_url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    up = Up(
        tmp_path_factory.mktemp("e2e-devdata"),
        ports,
        "--demo",
        extra_env={
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "ROSE_SMTP__HOST": "127.0.0.1",
            "ROSE_SMTP__PORT": str(mail.port),
            # Journey 6 federates with a fediverse server on loopback.
            "ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES": "true",
            # A delivery the peer could not take in time (a loaded machine) is tried again
            # within seconds, not after production's backoff of minutes: the journey waits on
            # what happens, the schedule itself is tested in tests/federation.
            "ROSE_ACTIVITYPUB__DELIVERY_BACKOFF_BASE_S": "1",
            "ROSE_ACTIVITYPUB__DELIVERY_BACKOFF_MAX_S": "5",
            # Every browser of the suite is one client address (127.0.0.1), which signs in and
            # up more often in minutes than a household would in hours: the per-address windows
            # are tested in tests/identity and tests/infrastructure, not here. Per account, the
            # limits stay as configured.
            **{
                f"ROSE_RATE_LIMITS__{scope}__PER_ADDRESS": "10000"
                for scope in ("SIGNIN", "SIGNUP", "RESET", "PASSWORD", "SUBSCRIBE")
            },
        },
    )
    try:
        await asyncio.to_thread(up.wait_ready)
        urls = {app: f"http://127.0.0.1:{port}" for app, port in ports.items()}
        yield Site(urls, mail, database_url, redis_url)
    finally:
        await asyncio.to_thread(up.stop)
        valkey.stop()
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_FLAGS, headless=True
        )
        yield browser
        await browser.close()


async def _save_artifacts(page: Page, nodeid: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid)
    await page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
    (ARTIFACTS / f"{stem}.html").write_text(await page.content(), encoding="utf-8")


async def _page(
    browser: Browser, request: pytest.FixtureRequest, **options: bool
) -> AsyncIterator[Page]:
    context = await browser.new_context(**options)
    context.set_default_timeout(GUARD_MS)
    page = await context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        await _save_artifacts(page, request.node.nodeid)
    await context.close()


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    async for p in _page(browser, request):
        yield p


@pytest.fixture(params=["javascript", "no-javascript"])
async def any_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """The test runs twice: once with JavaScript, once with it disabled (plain HTML)."""
    async for p in _page(browser, request, java_script_enabled=request.param == "javascript"):
        yield p
