"""Sitemaps (sitemaps.org 0.9): ``<urlset>`` pages and ``<sitemapindex>`` children.

Sitemaps come from strangers, so they are parsed with ``defusedxml`` (no entity expansion,
no external entities, no DTD tricks); a gzip-compressed one is inflated with the same size
cap as any other body.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from urllib.parse import urljoin

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from shared.infrastructure.netguard import FetchError

MAX_LOCS = 50_000  # the protocol's own limit per file


@dataclass(frozen=True)
class Sitemap:
    pages: tuple[str, ...]
    children: tuple[str, ...]  # further sitemaps (from a sitemap index)


def inflate(body: bytes, limit: int) -> bytes:
    """A gzip body inflated, refusing to grow past ``limit`` bytes (a gzip bomb)."""
    if body[:2] != b"\x1f\x8b":
        return body
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise FetchError("sitemap_malformed", "the sitemap is not valid gzip.") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise FetchError("fetch_too_large", f"the sitemap inflates past {limit} bytes.")
    return out


def parse_sitemap(body: bytes, base_url: str, limit: int) -> Sitemap:
    try:
        root = ElementTree.fromstring(inflate(body, limit))
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as err:
        raise FetchError("sitemap_malformed", f"the sitemap cannot be read: {err}") from None
    kind = root.tag.rsplit("}", 1)[-1]
    locs: list[str] = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "loc" and element.text and element.text.strip():
            locs.append(urljoin(base_url, element.text.strip()))
            if len(locs) >= MAX_LOCS:
                break
    if kind == "sitemapindex":
        return Sitemap(pages=(), children=tuple(locs))
    if kind == "urlset":
        return Sitemap(pages=tuple(locs), children=())
    raise FetchError("sitemap_malformed", f"not a sitemap (<{kind[:40]}>).")
