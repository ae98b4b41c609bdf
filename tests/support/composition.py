"""Reading composed pages: an app's home page as a test fetches it (with the test's stand-ins
for who is signed in and whose cart it is), and the header slots other apps' fragments fill."""

from __future__ import annotations

import re

from shared.infrastructure.factory import RoseQuart


async def page(app: RoseQuart, user: int | None = None, cart_key: str | None = None) -> str:
    """``app``'s home page; ``user`` and ``cart_key`` travel in the ``X-Test-User`` and
    ``X-Test-Cart-Key`` headers, for apps that act on them."""
    headers = {}
    if user is not None:
        headers["X-Test-User"] = str(user)
    if cart_key is not None:
        headers["X-Test-Cart-Key"] = cart_key
    resp = await app.test_client().get("/", headers=headers)
    assert resp.status_code == 200
    return await resp.get_data(as_text=True)


def slot(html: str, name: str) -> str:
    match = re.search(rf'<div class="slot slot-{name}">(.*?)</div>\n', html, re.S)
    assert match, f"no {name} slot"
    return match.group(1)


def nav_labels(html: str) -> list[str]:
    return re.findall(r"<li><a [^>]*>([^<]+)</a></li>", slot(html, "nav"))
