"""`rose-ash screenshots`: the demo's key pages at desktop and phone width, in docs/screenshots/.

Without ``--running`` it starts a `rose-ash up --demo` of its own (embedded PostgreSQL and
Valkey in a temporary data directory, every app on a free port) and stops it at the end; with
it, it shows the site at the configured app URLs (a `rose-ash up` running for this checkout).
Some pages are a member's (the social hub, the dashboard, a cart with a loaf in it): a demo
member is created beside the site for them (`rose-ash user create`) and signed in as a visitor
would. Pages are drawn by Debian's Chromium (``ROSE_CHROMIUM``, default /usr/bin/chromium)
through Playwright, which comes with the dev extra (``pip install -e '.[dev]'``); each picture
is the first screen of the page, reduced to a 256-colour palette to keep the repository light.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import APP_NAMES, load_settings
from shared.errors import CommandError
from shared.tooling.devservers import free_ports

DESKTOP, PHONE = 1280, 390
HEIGHTS = {DESKTOP: 800, PHONE: 844}
READY_LINE = "Rose Ash is running"
STARTUP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Shot:
    name: str
    app: str
    path: str
    widths: tuple[int, ...]  # the ones drawn by default (--every-width: both)
    member: bool = False  # seen signed in as the demo member


# What the README shows: every app, both widths among them.
SHOTS = (
    Shot("blog-home", "blog", "/", (DESKTOP, PHONE)),
    Shot("blog-post", "blog", "/posts/the-harvest-supper-a-look-back", (PHONE,)),
    Shot("market-product", "market", "/products/sourdough-loaf", (DESKTOP,)),
    Shot("events-month", "events", "/month", (DESKTOP, PHONE)),
    Shot("cart", "cart", "/", (PHONE,), member=True),
    Shot("social", "federation", "/social", (DESKTOP,), member=True),
    Shot("account", "account", "/", (DESKTOP,), member=True),
)


def command(args: argparse.Namespace) -> int:
    chromium = Path(os.environ.get("ROSE_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists():
        raise CommandError(f"no Chromium at {chromium} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError as err:
        raise CommandError("screenshots need Playwright: pip install -e '.[dev]'") from err
    args.out.mkdir(parents=True, exist_ok=True)
    if args.running:
        settings = load_settings()
        urls = {name: settings.apps[name].public_url for name in APP_NAMES}
        written = asyncio.run(_shoot(urls, dict(os.environ), chromium, args))
    else:
        with _own_site() as (urls, env):
            written = asyncio.run(_shoot(urls, env, chromium, args))
    for path in written:
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0


@contextmanager
def _own_site() -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """A `rose-ash up --demo` on free ports and embedded servers; its URLs and the environment
    of a command run beside it."""
    with tempfile.TemporaryDirectory(prefix="rose-ash-screenshots-") as devdata:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ROSE_") and k not in ("DATABASE_URL", "REDIS_URL")
        }
        ports = free_ports(len(APP_NAMES) + 2)
        env["ROSE_DEVDATA_DIR"] = devdata
        env["ROSE_SCRAPE__DEMO_SITE_PORT"] = str(ports[-2])
        env["ROSE_SUMUP__STANDIN_PORT"] = str(ports[-1])
        urls = {}
        for name, port in zip(APP_NAMES, ports, strict=False):
            urls[name] = f"http://127.0.0.1:{port}"
            for key in ("PUBLIC_URL", "INTERNAL_URL"):
                env[f"ROSE_APPS__{name.upper()}__{key}"] = urls[name]
            env[f"ROSE_APPS__{name.upper()}__PORT"] = str(port)
        log = Path(devdata) / "up.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "shared.tooling.cli", "up", "--demo"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while READY_LINE not in log.read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = "\n".join(log.read_text().splitlines()[-20:])
                    raise CommandError(f"the demo site did not start:\n{tail}")
                time.sleep(0.5)
            yield urls, env
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def _create_member(env: dict[str, str]) -> tuple[str, str]:
    username = f"rowan_{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    done = subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [sys.executable, "-m", "shared.tooling.cli", "user", "create", "--email",
         f"{username}@example.org", "--username", username, "--display-name", "Rowan Ash",
         "--password", password],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise CommandError(f"could not create the demo member: {done.stderr.strip()}")
    return username, password


async def _shoot(
    urls: dict[str, str], env: dict[str, str], chromium: Path, args: argparse.Namespace
) -> list[Path]:
    from playwright.async_api import Page, async_playwright

    async def settle(page: Page, url: str) -> None:
        await page.goto(url, wait_until="networkidle")
        await page.evaluate("document.fonts.ready")

    written: list[Path] = []
    member = _create_member(env) if any(s.member for s in SHOTS) else None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            for signed_in in (False, True):
                shots = [s for s in SHOTS if s.member == signed_in]
                if not shots:
                    continue
                context = await browser.new_context(color_scheme="light")
                page = await context.new_page()
                if signed_in and member:
                    await page.set_viewport_size({"width": DESKTOP, "height": HEIGHTS[DESKTOP]})
                    await _sign_in(page, urls, member)
                    # Something in the cart, as a shopper would have.
                    await settle(page, urls["market"] + "/products/sourdough-loaf")
                    add = page.locator("main").get_by_role("button", name="Add to cart")
                    async with page.expect_response(
                        lambda r: r.url.endswith("/cart-add") and r.request.method == "POST"
                    ):
                        await add.first.click()
                for shot in shots:
                    widths = (DESKTOP, PHONE) if args.every_width else shot.widths
                    for width in widths:
                        await page.set_viewport_size({"width": width, "height": HEIGHTS[width]})
                        await settle(page, urls[shot.app] + shot.path)
                        path = args.out / f"{shot.name}-{width}.png"
                        _save(await page.screenshot(), path)
                        written.append(path)
                await context.close()
        finally:
            await browser.close()
    return written


async def _sign_in(page: Any, urls: dict[str, str], member: tuple[str, str]) -> None:
    """Sign in as a visitor does, at each app whose pages are shown signed in: the header's
    "Sign in" (federation's form the first time, single sign-on after)."""
    for app in dict.fromkeys(s.app for s in SHOTS if s.member):
        await page.goto(urls[app] + "/", wait_until="networkidle")
        sign_in = page.get_by_role("navigation", name="Your account").get_by_role(
            "link", name="Sign in"
        )
        if not await sign_in.count():
            continue
        await sign_in.click()
        await page.wait_for_load_state("networkidle")
        if page.url.startswith(urls["federation"] + "/signin"):
            await page.get_by_label("Email address or username").fill(member[0])
            await page.get_by_label("Password").fill(member[1])
            await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(urls[app] + "/**")
        await page.wait_for_load_state("networkidle")


def _save(png: bytes, path: Path) -> None:
    """The screenshot reduced to a 256-colour palette (a third of the bytes, no visible loss
    on pages of flat colour)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
