"""The events widget on partner websites, in the browser: a page served from another origin
(a tiny static server on its own port) frames ``/embed/upcoming`` and runs the widget's script;
from an origin staff listed both show, from one they did not the browser refuses the frame
(``frame-ancestors``) and the script gets nothing (CORS)."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import asyncpg
from playwright.async_api import Page, expect

from shared.tooling.devservers import free_ports
from tests.e2e.conftest import Site
from tests.support import eventually
from tests.support.settings import asyncpg_dsn


def partner_page(site: Site) -> bytes:
    events = site.url("events")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Partner</title></head>"
        "<body><h1>A partner's page</h1>"
        f"<iframe src='{events}/embed/upcoming?theme=dark&amp;accent=2f6f4f&amp;count=3'"
        " title='Upcoming events' width='400' height='360'></iframe>"
        "<div id='scripted' data-rose-events='month' data-theme='light'></div>"
        f"<script src='{events}/static/js/events-widget.js' async></script>"
        "</body></html>"
    ).encode()


@contextlib.contextmanager
def static_server(port: int, body: bytes) -> Iterator[str]:
    """Serve ``body`` at every path of ``http://127.0.0.1:<port>`` (in a thread)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def allow(site: Site, origin: str) -> None:
    """Staff list ``origin`` (as /editor/embed/ does)."""
    dsn, kwargs = asyncpg_dsn(site.database_url)
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        await conn.execute("INSERT INTO event_embed_origins (origin) VALUES ($1)", origin)
    finally:
        await conn.close()


async def test_a_partner_on_a_listed_origin_shows_the_widget_and_another_is_refused(
    site: Site, page: Page
) -> None:
    listed_port, other_port = free_ports(2)
    body = partner_page(site)
    await allow(site, f"http://127.0.0.1:{listed_port}")
    with static_server(listed_port, body) as listed, static_server(other_port, body) as other:
        await page.goto(listed + "/")
        frame = page.frame_locator("iframe")
        await expect(frame.locator(".rose-embed--dark")).to_be_visible()
        await expect(frame.locator(".events-upcoming li a").first).to_be_visible()
        scripted = page.locator("#scripted")
        await expect(scripted.locator(".rose-embed .widget-month")).to_be_visible()

        said: list[str] = []
        page.on("console", lambda message: said.append(message.text))
        await page.goto(other + "/")
        await eventually(lambda: any("frame-ancestors" in m for m in said), "the frame refused")
        framing = next(m for m in said if "frame-ancestors" in m)
        assert re.search(r"blocked|Refused", framing), framing
        assert f"frame-ancestors 'self' {listed}" in framing, "only the listed origin may frame it"
        await expect(page.frame_locator("iframe").locator(".rose-embed")).to_have_count(0)
        # The script's request was answered without CORS (a 403): its element stays empty.
        await eventually(
            lambda: any("CORS" in m and "/embed/month" in m for m in said), "the script refused"
        )
        await expect(page.locator("#scripted")).to_be_empty()
