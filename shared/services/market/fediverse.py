"""The market's pages as ActivityPub objects, for servers that look them up by URL (issue #20,
item 3: Mastodon's search GETs a pasted product link with an ActivityStreams ``Accept``).

The market sends nothing to followers yet; a product or a curated page is an object only when
asked for, under its own page's URL, attributed to the ``market`` actor. A product is a
``Note`` (what Mastodon shows whole: its text with the price and a link, its pictures and its
categories as hashtags); a curated page an ``Article`` (its title, introduction and link).
"""

from __future__ import annotations

import html
import mimetypes
from typing import Any
from urllib.parse import urljoin, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ApObjectDTO, MarketPageDTO, ProductDTO
from shared.errors import NotFound
from shared.infrastructure.activitypub.actors import PUBLIC, ActorUrls, hashtag
from shared.services.market.listings import MarketListings
from shared.services.market.pages import MarketPages


def _iso(moment: Any) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


class MarketFediverse(MarketListings, MarketPages):
    """Products and market pages as ActivityStreams objects (part of ``SqlCatalogService``)."""

    public_url: str

    async def product_object(self, session: AsyncSession, slug: str) -> ApObjectDTO | None:
        """The product at ``/products/<slug>`` as a ``Note``, or None when there is none."""
        try:
            product = await self.product_by_slug(session, slug)
        except NotFound:
            return None
        return ApObjectDTO(self._product_note(product))

    async def page_object(self, session: AsyncSession, slug: str) -> ApObjectDTO | None:
        """The published market page at ``/pages/<slug>`` as an ``Article``, or None."""
        try:
            page = await self.market_page(session, slug)
        except NotFound:
            return None
        return ApObjectDTO(self._page_article(page))

    def _actor(self) -> ActorUrls:
        return ActorUrls("market", self.public_url)

    def _addressed(self, url: str) -> dict[str, Any]:
        actor = self._actor()
        return {"id": url, "url": url, "attributedTo": actor.id, "to": [PUBLIC], "cc": []}

    def _product_note(self, product: ProductDTO) -> dict[str, Any]:
        url = f"{self.public_url}/products/{product.slug}"
        price = f"{product.price}" + (f" / {product.unit}" if product.unit else "")
        stock = "" if product.in_stock else " (out of stock)"
        content = (
            f'<p><a href="{html.escape(url)}">{html.escape(product.title)}</a>: '
            f"{html.escape(price)}{stock}</p>"
        )
        if product.summary:
            content += f"<p>{html.escape(product.summary)}</p>"
        note: dict[str, Any] = {
            **self._addressed(url),
            "type": "Note",
            "content": content,
            "published": _iso(product.created_at),
            "updated": _iso(product.updated_at),
            "attachment": [],
            "tag": [
                hashtag(c.name, f"{self.public_url}/categories/{c.slug}")
                for c in product.categories
            ],
        }
        for image in product.images[:4]:
            src = urljoin(f"{self.public_url}/", image.url)
            note["attachment"].append(
                {
                    "type": "Document",
                    "mediaType": mimetypes.guess_type(urlsplit(src).path)[0] or "image/jpeg",
                    "url": src,
                    "name": image.alt or product.title,
                }
            )
        return note

    def _page_article(self, page: MarketPageDTO) -> dict[str, Any]:
        url = f"{self.public_url}/pages/{page.slug}"
        return {
            **self._addressed(url),
            "type": "Article",
            "name": page.title,
            "content": page.intro or "",
            "updated": _iso(page.updated_at),
        }
