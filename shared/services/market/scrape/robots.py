"""robots.txt, as RFC 9309 says a crawler reads it (parsed with Protego, Scrapy's parser,
which also reads fractional ``Crawl-delay``).

Fetched once per host per run. A 4xx (no robots.txt) allows everything; a 5xx or a failed
fetch means "unreachable" and disallows everything until the next run.
"""

from __future__ import annotations

from dataclasses import dataclass

from protego import Protego

from shared.infrastructure.netguard import FetchError
from shared.services.market.scrape.fetch import PageFetcher

MAX_ROBOTS_BYTES = 512 * 1024  # RFC 9309: at least 500 KiB must be read


@dataclass
class Robots:
    token: str
    parser: Protego | None  # None: allow everything
    disallow_all: bool = False
    error: str | None = None  # why robots.txt could not be read (everything is disallowed)

    def allowed(self, url: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or bool(self.parser.can_fetch(url, self.token))

    def crawl_delay(self) -> float:
        if self.parser is None:
            return 0.0
        delay = self.parser.crawl_delay(self.token)
        return float(delay) if delay else 0.0


async def fetch_robots(fetcher: PageFetcher, origin: str, token: str) -> Robots:
    """The rules for ``origin`` (``scheme://host:port``)."""
    try:
        resp = await fetcher.get(
            f"{origin}/robots.txt", accept="text/plain", max_bytes=MAX_ROBOTS_BYTES
        )
    except FetchError as err:
        return Robots(token, None, disallow_all=True, error=f"{err.code}: {err.message}")
    if resp.status == 200:
        text = resp.body.decode("utf-8", errors="replace")
        return Robots(token, Protego.parse(text))
    if 400 <= resp.status < 500:
        return Robots(token, None)
    return Robots(token, None, disallow_all=True, error=f"robots.txt answered {resp.status}")
