"""The demo supplier's website: Orchard Lane Farm's little shop, served on loopback by
`rose-ash up --demo` so `rose-ash scrape orchard-lane` has a real site to import.

Its product pages carry their data the ways real shops do: schema.org JSON-LD, microdata and
RDFa, and one page with OpenGraph product tags only. It has a catalogue split over two pages,
a robots.txt that keeps crawlers out of /staff/, a sitemap, and ETag/Last-Modified answers
(304 when nothing changed), so a second import reports everything unchanged.

    python -m shared.services.market.scrape.demo_site --port 8010
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SUPPLIER_SLUG = "orchard-lane"
SUPPLIER_NAME = "Orchard Lane Farm"


@dataclass(frozen=True)
class DemoProduct:
    slug: str
    name: str
    price: str
    description: str
    syntax: str  # json-ld, microdata, rdfa, opengraph
    in_stock: bool = True
    colour: str = "#b5443b"


PRODUCTS = (
    DemoProduct(
        "apple-juice",
        "Cloudy apple juice, 75 cl",
        "3.20",
        "Pressed from Bramley, Cox and Egremont Russet apples grown on the farm.",
        "json-ld",
        colour="#d9a43b",
    ),
    DemoProduct(
        "cider-vinegar",
        "Raw cider vinegar, 50 cl",
        "4.75",
        "Unfiltered, with the mother. Aged for a year in oak.",
        "json-ld",
        colour="#a8652b",
    ),
    DemoProduct(
        "heather-honey",
        "Heather honey, 340 g",
        "7.50",
        "From our hives on the moor above the orchard, cold extracted.",
        "microdata",
        colour="#e0a80f",
    ),
    DemoProduct(
        "free-range-eggs",
        "Free-range eggs, half dozen",
        "2.60",
        "From hens that roam under the apple trees.",
        "rdfa",
        colour="#c9b79c",
    ),
    DemoProduct(
        "damson-jam",
        "Damson jam, 340 g",
        "4.20",
        "Made in small batches with damsons from the hedgerow.",
        "opengraph",
        colour="#5b2a4a",
    ),
    DemoProduct(
        "perry",
        "Sparkling perry, 50 cl",
        "5.40",
        "Bottle-conditioned perry from our old pear trees. Back in autumn.",
        "json-ld",
        in_stock=False,
        colour="#9fb54a",
    ),
)


def _layout(title: str, body: str, head: str = "", prefix: str = "") -> str:
    attr = f' prefix="{prefix}"' if prefix else ""
    return (
        f'<!doctype html><html lang="en"{attr}><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} · {SUPPLIER_NAME}</title>{head}</head><body>"
        f'<header><a href="/">{SUPPLIER_NAME}</a> · <a href="/about">About us</a></header>'
        f"<main>{body}</main></body></html>"
    )


def _product_page(p: DemoProduct) -> str:
    name, desc = html.escape(p.name), html.escape(p.description)
    image = f"/images/{p.slug}.svg"
    availability = "https://schema.org/" + ("InStock" if p.in_stock else "OutOfStock")
    if p.syntax == "json-ld":
        data = {
            "@context": "https://schema.org",
            "@type": "Product",
            "name": p.name,
            "sku": f"OLF-{p.slug.upper()}",
            "description": p.description,
            "image": image,
            "brand": {"@type": "Brand", "name": SUPPLIER_NAME},
            "offers": {
                "@type": "Offer",
                "price": p.price,
                "priceCurrency": "GBP",
                "availability": availability,
            },
        }
        script = json.dumps(data).replace("</", "<\\/")
        head = f'<script type="application/ld+json">{script}</script>'
        body = f'<h1>{name}</h1><img src="{image}" alt=""><p>{desc}</p><p>£{p.price}</p>'
        return _layout(p.name, body, head)
    if p.syntax == "microdata":
        body = (
            '<div itemscope itemtype="https://schema.org/Product">'
            f'<h1 itemprop="name">{name}</h1><img itemprop="image" src="{image}" alt="">'
            f'<p itemprop="description">{desc}</p>'
            '<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
            f'<span itemprop="price" content="{p.price}">£{p.price}</span>'
            '<meta itemprop="priceCurrency" content="GBP">'
            f'<link itemprop="availability" href="{availability}"></div></div>'
        )
        return _layout(p.name, body)
    if p.syntax == "rdfa":
        body = (
            '<div vocab="https://schema.org/" typeof="Product">'
            f'<h1 property="name">{name}</h1><img property="image" src="{image}" alt="">'
            f'<p property="description">{desc}</p>'
            '<div property="offers" typeof="Offer">'
            f'<span property="price" content="{p.price}">£{p.price}</span>'
            '<meta property="priceCurrency" content="GBP">'
            f'<link property="availability" href="{availability}"></div></div>'
        )
        return _layout(p.name, body)
    head = (
        '<meta property="og:type" content="product">'
        f'<meta property="og:title" content="{name}">'
        f'<meta property="og:description" content="{desc}">'
        f'<meta property="og:image" content="{image}">'
        f'<meta property="product:price:amount" content="{p.price}">'
        '<meta property="product:price:currency" content="GBP">'
        f'<meta property="product:availability" content="{"in stock" if p.in_stock else "oos"}">'
    )
    body = f'<h1>{name}</h1><img src="{image}" alt=""><p>{desc}</p><p>£{p.price}</p>'
    return _layout(
        p.name, body, head, prefix="og: https://ogp.me/ns# product: https://ogp.me/ns/product#"
    )


def _catalogue(page: int, per_page: int = 4) -> str:
    chunk = PRODUCTS[(page - 1) * per_page : page * per_page]
    items = "".join(
        f'<li><a href="/products/{p.slug}">{html.escape(p.name)}</a> £{p.price}</li>' for p in chunk
    )
    pages = (len(PRODUCTS) + per_page - 1) // per_page
    nav = " ".join(
        f'<a href="{"/" if n == 1 else f"/?page={n}"}">Page {n}</a>' for n in range(1, pages + 1)
    )
    return _layout("Shop", f"<h1>Our shop</h1><ul>{items}</ul><nav>{nav}</nav>")


def _svg(p: DemoProduct) -> str:
    initial = html.escape(p.name[:1])
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">'
        f'<rect width="320" height="240" fill="#f4efe6"/><circle cx="160" cy="120" r="80" '
        f'fill="{p.colour}"/><text x="160" y="145" font-size="72" text-anchor="middle" '
        f'font-family="serif" fill="#fff">{initial}</text></svg>'
    )


def site_pages(base: str) -> dict[str, tuple[str, bytes]]:
    """Path (with query) -> (content type, body) for the whole site at ``base``."""
    pages: dict[str, tuple[str, str]] = {
        "/": ("text/html; charset=utf-8", _catalogue(1)),
        "/?page=2": ("text/html; charset=utf-8", _catalogue(2)),
        "/about": (
            "text/html; charset=utf-8",
            _layout("About us", "<h1>About us</h1><p>A family orchard since 1952.</p>"),
        ),
        "/staff/price-list": (
            "text/html; charset=utf-8",
            _layout("Trade prices", "<h1>Trade prices (staff only)</h1>"),
        ),
        "/robots.txt": (
            "text/plain; charset=utf-8",
            f"User-agent: *\nDisallow: /staff/\nCrawl-delay: 1\n\nSitemap: {base}/sitemap.xml\n",
        ),
        "/sitemap.xml": (
            "application/xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>{base}/products/{p.slug}</loc></url>" for p in PRODUCTS)
            + "</urlset>",
        ),
        "/healthz": ("text/plain", "ok"),
    }
    for p in PRODUCTS:
        pages[f"/products/{p.slug}"] = ("text/html; charset=utf-8", _product_page(p))
        pages[f"/images/{p.slug}.svg"] = ("image/svg+xml", _svg(p))
    return {path: (ctype, body.encode()) for path, (ctype, body) in pages.items()}


def make_server(host: str, port: int) -> ThreadingHTTPServer:
    started = formatdate(usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        server_version = "OrchardLane/1.0"
        pages: dict[str, tuple[str, bytes]] = {}

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            key = parts.path + (f"?{parts.query}" if parts.query else "")
            found = self.pages.get(key)
            if found is None:
                body = b"<h1>Not found</h1>"
                self.send_response(404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            ctype, body = found
            etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
            if self.headers.get("If-None-Match") == etag or (
                "If-None-Match" not in self.headers
                and self.headers.get("If-Modified-Since") == started
            ):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", started)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: `rose-ash up` shares its terminal with six apps

    server = ThreadingHTTPServer((host, port), Handler)
    Handler.pages = site_pages(f"http://{host}:{server.server_address[1]}")
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the demo supplier's website.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
