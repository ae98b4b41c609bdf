"""The boosted single-page site, server side: a boosted navigation (htmx's ``HX-Request``)
gets the title and ``#content`` only, a history restore and every other request the full
page; the answer varies on those headers; redirects out of the app become full navigations."""

from __future__ import annotations

import re

from quart.typing import TestClientProtocol as Client
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from tests.blog import factories
from tests.support.settings import AppMaker

BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}
RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}


async def get(client: Client, path: str, headers: dict[str, str]) -> tuple[int, str, str]:
    resp = await client.get(path, headers=headers)
    return resp.status_code, await resp.get_data(as_text=True), resp.headers.get("Vary", "")


def varies_on_htmx(vary: str) -> bool:
    names = {v.strip().lower() for v in vary.split(",")}
    return {"hx-request", "hx-history-restore-request"} <= names


async def test_a_boosted_navigation_gets_only_the_title_and_content(
    make_app: AppMaker, db: AsyncSession
) -> None:
    await factories.post(db, "Harvest supper")
    await db.commit()
    client = (await make_app("blog")).test_client()
    status, html, vary = await get(client, "/posts/harvest-supper", BOOSTED)
    assert status == 200
    assert html.startswith('<title>Harvest supper · Rose Ash</title>\n<main id="content">')
    assert html.rstrip().endswith("</main>")
    assert "<h1>Harvest supper</h1>" in html
    for whole_page_only in ("<!doctype", "<head>", "<body", "site-header", "site-footer"):
        assert whole_page_only not in html
    assert varies_on_htmx(vary)


async def test_history_restores_and_plain_requests_get_the_whole_page(
    make_app: AppMaker, db: AsyncSession
) -> None:
    client = (await make_app("blog")).test_client()
    for headers in (RESTORE, {}):
        status, html, vary = await get(client, "/", headers)
        assert status == 200
        assert html.startswith("<!doctype html>")
        assert '<header class="site-header">' in html
        assert '<main id="content">' in html
        assert html.count("<title>") == 1
        assert varies_on_htmx(vary)


async def test_error_pages_are_partial_too_and_non_html_does_not_vary(
    make_app: AppMaker,
) -> None:
    client = (await make_app("blog")).test_client()
    status, html, vary = await get(client, "/posts/no-such-post", BOOSTED)
    assert status == 404
    assert html.startswith("<title>")
    assert "<!doctype" not in html
    assert varies_on_htmx(vary)
    _status, _xml, vary = await get(client, "/feed.xml", BOOSTED)
    assert not varies_on_htmx(vary)


async def test_htmx_is_loaded_without_inline_script_and_its_config_keeps_csp(
    make_app: AppMaker,
) -> None:
    app: RoseQuart = await make_app("market")
    client = app.test_client()
    resp = await client.get("/")
    html = await resp.get_data(as_text=True)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert [re.search(r'src="([^"]+)"', attrs).group(1) for attrs, _ in scripts] == [  # type: ignore[union-attr]
        "/static/vendor/htmx/htmx.min.js",
        "/static/js/boost.js",
    ]
    assert all(body == "" for _, body in scripts)
    assert '"includeIndicatorStyles":false' in html
    assert re.search(r'<body [^>]*hx-boost="true" hx-target="#content" hx-select="#content"', html)
    for path in ("/static/vendor/htmx/htmx.min.js", "/static/js/boost.js"):
        assert (await client.get(path)).status_code == 200


async def test_a_redirect_to_another_origin_becomes_a_full_navigation(
    make_app: AppMaker,
) -> None:
    client = (await make_app("blog")).test_client()
    # Signing in goes through federation: htmx is told to load it as a whole page.
    resp = await client.get("/auth/login?next=/", headers=BOOSTED)
    assert resp.status_code == 200
    assert resp.headers["HX-Redirect"].startswith("http://127.0.0.1:8005/oauth/authorize?")
    assert "Location" not in resp.headers
    # Without htmx, the same redirect as ever; and a redirect inside the app stays one.
    plain = await client.get("/auth/login?next=/")
    assert plain.status_code == 302
    assert "HX-Redirect" not in plain.headers
    inside = await client.get("/editor/navigation", headers={**BOOSTED, "Accept": "text/html"})
    assert inside.status_code == 302
    assert inside.headers["Location"].startswith("/auth/login")
