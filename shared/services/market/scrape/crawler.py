"""The crawl of one scrape source: which pages to fetch, and what each one holds.

A ``page`` source starts at a catalogue page and follows links within the supplier's host
(breadth first, so listing pages come before the depths of the site); a ``sitemap`` source
fetches the pages its sitemap (or sitemap index) lists on that host. Either way robots.txt is
obeyed before every fetch, at most the page limit is fetched, and nothing is written: the
result (:class:`~shared.contracts.CrawlResult`) is stored afterwards in one transaction
(``CatalogImportService.finish_scrape_run``), so a crawl that dies writes no product at all.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

from shared.config import Settings
from shared.contracts import (
    CrawledPage,
    CrawlResult,
    KnownPage,
    ScrapedProduct,
    ScrapeErrorDTO,
    ScrapeSourceDTO,
)
from shared.infrastructure.netguard import FetchError
from shared.services.market.scrape.extract import ExtractError, extract_product
from shared.services.market.scrape.fetch import (
    XML_ACCEPT,
    HostThrottle,
    PageFetcher,
    host_key,
    scrape_client,
)
from shared.services.market.scrape.robots import Robots, fetch_robots
from shared.services.market.scrape.sitemap import parse_sitemap

log = logging.getLogger(__name__)

# progress(pages fetched so far, pages known to be waiting)
Progress = Callable[[int, int], None]

SKIPPED_EXTENSIONS = (
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".ico", ".pdf", ".zip", ".gz", ".css",
    ".js", ".mp3", ".mp4", ".webm", ".woff", ".woff2", ".ttf", ".xml", ".json", ".txt",
)  # fmt: skip
MAX_LINKS_PER_PAGE = 2000
MAX_CHILD_SITEMAPS = 50
MAX_ERRORS = 200


def normalize(url: str, base: str) -> str | None:
    """An absolute http(s) URL without its fragment, or None for anything else."""
    try:
        absolute = urljoin(base, url.strip())
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(absolute) > 2000:
        return None
    return parts._replace(fragment="", scheme=parts.scheme.lower()).geturl()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Crawl:
    settings: Settings
    source: ScrapeSourceDTO
    known: dict[str, KnownPage]
    fetcher: PageFetcher
    throttle: HostThrottle
    progress: Progress | None = None
    pages: list[CrawledPage] = field(default_factory=list)
    errors: list[ScrapeErrorDTO] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    fetched: int = 0
    robots: dict[str, Robots] = field(default_factory=dict)

    @property
    def limit(self) -> int:
        wanted = self.source.max_pages or self.settings.scrape.max_pages
        return max(1, min(wanted, self.settings.scrape.max_pages))

    def error(self, url: str, message: str) -> None:
        log.info("scrape %s: %s", url, message)
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(ScrapeErrorDTO(url=url, error=message))

    def in_scope(self, url: str) -> bool:
        return host_key(url) == host_key(self.source.start_url)

    async def allowed(self, url: str) -> bool:
        """robots.txt of the URL's host says we may fetch it (read once per host)."""
        origin = origin_of(url)
        if origin not in self.robots:
            rules = await fetch_robots(self.fetcher, origin, self.settings.scrape.robots_token)
            self.robots[origin] = rules
            if rules.error:
                self.error(f"{origin}/robots.txt", f"robots.txt unreadable ({rules.error})")
            delay = min(rules.crawl_delay(), self.settings.scrape.max_delay_s)
            self.throttle.set_delay(host_key(url), max(delay, float(self.source.delay_s or 0)))
        return self.robots[origin].allowed(url)

    def report(self, waiting: int) -> None:
        if self.progress is not None:
            self.progress(self.fetched, waiting)

    async def page(self, url: str) -> CrawledPage | None:
        """Fetch and read one page (conditionally when we know it); None when it failed."""
        known = self.known.get(url)
        self.fetched += 1
        try:
            resp = await self.fetcher.get(
                url,
                etag=known.etag if known else None,
                last_modified=known.last_modified if known else None,
            )
        except FetchError as err:
            self.error(url, f"{err.code}: {err.message}")
            self.failed.append(url)
            return None
        if resp.status == 304 and known is not None:
            return CrawledPage(
                url=url,
                etag=resp.etag or known.etag,
                last_modified=resp.last_modified or known.last_modified,
                content_hash=known.content_hash,
                product=known.product,
                links=known.links,
                not_modified=True,
            )
        if resp.status in (404, 410):
            return CrawledPage(url=url, gone=True)
        if resp.status != 200:
            self.error(url, f"fetch_status: answered {resp.status}")
            self.failed.append(url)
            return None
        if not resp.is_html:
            return CrawledPage(url=url)  # an image or a file: nothing to read, nothing gone
        digest = hashlib.sha256(resp.body).hexdigest()
        if known is not None and known.content_hash == digest:
            return CrawledPage(
                url=url,
                etag=resp.etag,
                last_modified=resp.last_modified,
                content_hash=digest,
                product=known.product,
                links=known.links,
                not_modified=True,
            )
        product, links = self.read(url, resp.body, resp.final_url, resp.encoding())
        return CrawledPage(
            url=url,
            etag=resp.etag,
            last_modified=resp.last_modified,
            content_hash=digest,
            product=product,
            links=links,
        )

    def read(
        self, url: str, body: bytes, final_url: str, encoding: str
    ) -> tuple[ScrapedProduct | None, tuple[str, ...]]:
        """The page's product (errors recorded, the page marked failed: its product, if it
        had one, is kept as it was) and the in-scope links to follow from it."""
        product = None
        try:
            extracted = extract_product(body, final_url, encoding, self.source.currency)
        except ExtractError as err:
            self.error(final_url, f"product_unreadable: {err}")
            self.failed.append(url)
        else:
            product = extracted.product
            if product is None and extracted.problems:
                self.error(final_url, f"page_malformed: {', '.join(extracted.problems)}")
                self.failed.append(url)
        links: list[str] = []
        if self.source.kind == "page":
            links = self.links(body, final_url, encoding)
        return product, tuple(links)

    def links(self, body: bytes, base: str, encoding: str) -> list[str]:
        try:
            parser = lxml.html.HTMLParser(encoding=encoding)
            tree = lxml.html.document_fromstring(body, parser=parser)
        except (lxml.etree.ParserError, ValueError, LookupError):
            return []
        base_href = tree.xpath("string(//base/@href)")
        if base_href:
            base = normalize(str(base_href), base) or base
        found: list[str] = []
        for href in tree.xpath("//a/@href | //link[@rel='next']/@href")[:MAX_LINKS_PER_PAGE]:
            url = normalize(str(href), base)
            if (
                url is not None
                and self.in_scope(url)
                and not urlsplit(url).path.lower().endswith(SKIPPED_EXTENSIONS)
                and url not in found
            ):
                found.append(url)
        return found

    async def walk_pages(self) -> bool:
        """Breadth first from the start page; True when nothing was left unvisited."""
        start = normalize(self.source.start_url, self.source.start_url) or self.source.start_url
        queue: deque[str] = deque([start])
        seen = {start}
        start_ok = False
        while queue:
            if self.fetched >= self.limit:
                return False
            url = queue.popleft()
            if not await self.allowed(url):
                continue
            crawled = await self.page(url)
            self.report(len(queue))
            if crawled is None:
                continue
            if url == start:
                start_ok = not crawled.gone
            if url not in self.failed:
                self.pages.append(crawled)
            for link in crawled.links:
                if link not in seen:
                    seen.add(link)
                    queue.append(link)
        return start_ok

    async def walk_sitemap(self) -> bool:
        """The pages the sitemap lists; True when every sitemap was read and every page
        fitted in the page limit."""
        complete = True
        todo = deque([self.source.start_url])
        sitemaps_read = 0
        listed: list[str] = []
        while todo and sitemaps_read <= MAX_CHILD_SITEMAPS:
            sitemap_url = todo.popleft()
            if not self.in_scope(sitemap_url) or not await self.allowed(sitemap_url):
                complete = False
                continue
            sitemaps_read += 1
            self.fetched += 1
            try:
                resp = await self.fetcher.get(sitemap_url, accept=XML_ACCEPT)
                if resp.status != 200:
                    raise FetchError("fetch_status", f"answered {resp.status}")
                sitemap = parse_sitemap(
                    resp.body, resp.final_url, self.settings.scrape.max_body_bytes
                )
            except FetchError as err:
                self.error(sitemap_url, f"{err.code}: {err.message}")
                complete = False
                continue
            todo.extend(sitemap.children)
            for loc in sitemap.pages:
                url = normalize(loc, resp.final_url)
                if url is not None and self.in_scope(url) and url not in listed:
                    listed.append(url)
        if todo:
            complete = False
        self.report(len(listed))
        for index, url in enumerate(listed):
            if self.fetched >= self.limit:
                return False
            if not await self.allowed(url):
                continue
            crawled = await self.page(url)
            self.report(len(listed) - index - 1)
            if crawled is not None and url not in self.failed:
                self.pages.append(crawled)
        return complete


async def crawl(
    settings: Settings,
    source: ScrapeSourceDTO,
    known: tuple[KnownPage, ...] = (),
    *,
    progress: Progress | None = None,
    throttle: HostThrottle | None = None,
) -> CrawlResult:
    """Crawl ``source`` politely and return what it holds (nothing is written)."""
    throttle = throttle or HostThrottle(settings.scrape.min_delay_s)
    async with scrape_client(settings) as client:
        job = Crawl(
            settings=settings,
            source=source,
            known={page.url: page for page in known},
            fetcher=PageFetcher(settings, client, throttle),
            throttle=throttle,
            progress=progress,
        )
        try:
            complete = await (job.walk_sitemap() if source.kind == "sitemap" else job.walk_pages())
        except FetchError as err:  # a start URL that is not a URL at all
            job.error(source.start_url, f"{err.code}: {err.message}")
            complete = False
    return CrawlResult(
        pages=tuple(job.pages),
        errors=tuple(job.errors),
        pages_fetched=job.fetched,
        complete=complete,
        failed=tuple(dict.fromkeys(job.failed)),
    )
