"""Small factories for blog content, going through the real BlogService, and the blog pages
and fragments the tests read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from quart.typing import TestClientProtocol as Client
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PostDTO, PostInput
from shared.infrastructure import internal_auth
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.visitor import ANONYMOUS
from shared.models import BlogAuthor
from tests.support import BROWSER_ACCEPT, csrf_in
from tests.support.settings import TEST_INTERNAL_SECRET

_seq = count(1)
BASE_TIME = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
# The secret the Ghost stand-in signs its webhooks with (the blog tests' settings expect it).
WEBHOOK_SECRET = "ghost-webhook-secret-" + "z" * 20


async def author(db: AsyncSession, slug: str = "", name: str = "") -> BlogAuthor:
    n = next(_seq)
    row = BlogAuthor(slug=slug or f"author-{n}", name=name or f"Author {n}")
    db.add(row)
    await db.flush()
    return row


async def post(
    db: AsyncSession,
    title: str = "",
    *,
    html: str = "<p>Body text.</p>",
    publish: bool = True,
    when: datetime | None = None,
    **fields: object,
) -> PostDTO:
    """A post (published by default, at ``when`` or a fresh time after the last one)."""
    n = next(_seq)
    dto = await services().blog.create_post(
        db,
        PostInput(title=title or f"Post number {n}", html=html, **fields),  # type: ignore[arg-type]
    )
    if publish:
        dto = await services().blog.publish(
            db, dto.id, now=when or BASE_TIME + timedelta(minutes=n)
        )
    return dto


async def navigation_page(client: Client, path: str = "/editor/navigation") -> tuple[str, str]:
    """The editor's navigation page as ``client`` sees it, and its CSRF token."""
    resp = await client.get(path, headers={"Accept": BROWSER_ACCEPT})
    assert resp.status_code == 200, path
    html = await resp.get_data(as_text=True)
    return html, csrf_in(html)


async def nav_fragment(app: RoseQuart) -> str:
    """The blog's ``nav`` fragment, fetched as another app fetches it."""
    path = "/internal/fragments/nav"
    query, headers = internal_auth.sign(TEST_INTERNAL_SECRET, "GET", path, [], ANONYMOUS)
    resp = await app.test_client().get(f"{path}?{query}", headers=headers)
    assert resp.status_code == 200
    return await resp.get_data(as_text=True)
