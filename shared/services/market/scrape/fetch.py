"""Polite, bounded GETs of a supplier's pages.

Every request goes through the address guard (:mod:`shared.infrastructure.netguard`: private,
loopback and link-local addresses refused after DNS resolution, except the networks of
``scrape.allow_addresses``), names us in its User-Agent, waits its turn per host (at least
``scrape.min_delay_s`` apart, more when robots.txt asks), carries the page's validators
(``If-None-Match``/``If-Modified-Since``) when we have them, and is bounded: one deadline per
hop, a body read in chunks and abandoned past ``scrape.max_body_bytes``, and at most
``scrape.max_redirects`` redirects, each hop checked again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from shared.config import Settings
from shared.infrastructure.netguard import (
    FetchError,
    GuardedTransport,
    check_url,
    parse_networks,
)

HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
XML_ACCEPT = "application/xml,text/xml;q=0.9,*/*;q=0.5"
REDIRECTS = (301, 302, 303, 307, 308)
_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def user_agent(settings: Settings) -> str:
    """Who we are, where to read about it, and the token robots.txt can address."""
    market = settings.apps["market"].public_url
    return f"{settings.scrape.robots_token}/1.0 (+{market}/; {settings.site_name} market importer)"


@dataclass(frozen=True)
class Response:
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    content_type: str
    etag: str | None
    last_modified: str | None
    body: bytes

    @property
    def is_html(self) -> bool:
        kind = self.content_type.split(";", 1)[0].strip().lower()
        return kind in ("text/html", "application/xhtml+xml") or (not kind and bool(self.body))

    def encoding(self) -> str:
        """The declared charset (header, else a <meta> near the top), else UTF-8."""
        for part in self.content_type.split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        found = _CHARSET.search(self.body[:2048])
        return found.group(1).decode("ascii") if found else "utf-8"


class HostThrottle:
    """At most one request at a time per host, at least ``delay`` apart.

    ``clock`` and ``sleep`` are the event loop's time by default; a test gives a virtual
    clock to see the spacing without waiting for it."""

    def __init__(
        self,
        min_delay_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.min_delay_s = min_delay_s
        self._clock = clock
        self._sleep = sleep
        self.delays: dict[str, float] = {}
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def set_delay(self, host: str, seconds: float) -> None:
        self.delays[host] = max(self.min_delay_s, seconds)

    async def wait(self, host: str) -> None:
        async with self._locks[host]:
            now = self._clock()
            ready = self._next.get(host, now)
            if ready > now:
                await self._sleep(ready - now)
            self._next[host] = self._clock() + self.delays.get(host, self.min_delay_s)


def host_key(url: str) -> str:
    """``host:port`` (the default port spelled out), the unit of politeness and of scope."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


def scrape_client(settings: Settings) -> httpx.AsyncClient:
    """An httpx client whose every connection passes the address guard; never follows
    redirects by itself (:class:`PageFetcher` does, checking each hop)."""
    scrape = settings.scrape
    return httpx.AsyncClient(
        transport=GuardedTransport(
            allow_private=False,
            max_connections=8,
            per_host=2,
            allowed_networks=parse_networks(scrape.allow_addresses),
        ),
        follow_redirects=False,
        timeout=httpx.Timeout(scrape.timeout_s),
        headers={"User-Agent": user_agent(settings)},
        trust_env=False,
    )


class PageFetcher:
    def __init__(
        self, settings: Settings, client: httpx.AsyncClient, throttle: HostThrottle
    ) -> None:
        self.settings = settings
        self.client = client
        self.throttle = throttle

    async def get(
        self,
        url: str,
        *,
        accept: str = HTML_ACCEPT,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
    ) -> Response:
        scrape = self.settings.scrape
        limit = max_bytes or scrape.max_body_bytes
        current = url
        for _hop in range(scrape.max_redirects + 1):
            check_url(current)
            headers = {"Accept": accept}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            await self.throttle.wait(host_key(current))
            try:
                async with asyncio.timeout(scrape.timeout_s):
                    response, location = await self._once(url, current, headers, limit)
            except TimeoutError:
                raise FetchError("fetch_timeout", f"{current} did not answer in time.") from None
            except httpx.HTTPError as err:
                raise FetchError("fetch_failed", f"{current} could not be fetched: {err}") from None
            if response is not None:
                return response
            assert location is not None
            current = urljoin(current, location)
        raise FetchError("fetch_redirects", f"{url}: more than {scrape.max_redirects} redirects.")

    async def _once(
        self, url: str, current: str, headers: dict[str, str], limit: int
    ) -> tuple[Response | None, str | None]:
        async with self.client.stream("GET", current, headers=headers) as resp:
            if resp.status_code in REDIRECTS:
                location = resp.headers.get("Location")
                if not location:
                    raise FetchError("fetch_redirect", f"{current} redirects nowhere.")
                return None, location
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchError("fetch_too_large", f"{current} is larger than {limit} bytes.")
            body = bytearray()
            if resp.status_code == 200:
                async for chunk in resp.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > limit:
                        raise FetchError(
                            "fetch_too_large", f"{current} is larger than {limit} bytes."
                        )
            return (
                Response(
                    url=url,
                    final_url=current,
                    status=resp.status_code,
                    content_type=resp.headers.get("Content-Type", ""),
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                    body=bytes(body),
                ),
                None,
            )
