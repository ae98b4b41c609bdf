"""Every app's home page renders through the shared layout, and static files are served safely."""

from __future__ import annotations

import pytest

from shared.config import APP_NAMES
from tests.support.settings import AppMaker

TITLES = {
    "blog": "Blog",
    "market": "Market",
    "cart": "Cart",
    "events": "Events",
    "federation": "Local",  # the social hub's local timeline, for visitors
    "account": "Account",
}


@pytest.mark.parametrize("name", APP_NAMES)
async def test_home_page_renders_through_the_shared_layout(make_app: AppMaker, name: str) -> None:
    app = await make_app(name)
    resp = await app.test_client().get("/")
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)
    assert f"<h1>{TITLES[name]}</h1>" in html
    assert '<header class="site-header">' in html
    assert '<main id="content">' in html
    assert '<footer class="site-footer">' in html
    assert f'<body class="app-{name}" hx-boost="true"' in html
    # The header's slots are there; with no other provider reachable in this test they are
    # empty and the page still renders (tests/test_composition.py fills them from real apps).
    # The blog renders its own navigation in-process, so its nav slot is filled.
    for slot in ("slot-nav", "slot-cart", "slot-account"):
        if slot == "slot-nav" and name == "blog":
            assert '<div class="slot slot-nav"><nav' in html
        else:
            assert f'<div class="slot {slot}"></div>' in html


async def test_static_files_are_served_with_caching(make_app: AppMaker) -> None:
    app = await make_app("events")
    resp = await app.test_client().get("/static/css/site.css")
    assert resp.status_code == 200
    assert resp.mimetype == "text/css"
    assert "max-age" in resp.headers["Cache-Control"]
    assert "--rose" in await resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/static/../config.py",
        "/static/%2e%2e/config.py",
        "/static/css/../../config.py",
        "/static/..%2fconfig.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static//etc/passwd",
    ],
)
async def test_static_refuses_paths_outside_its_folder(make_app: AppMaker, path: str) -> None:
    app = await make_app("events")
    resp = await app.test_client().get(path, follow_redirects=True)
    assert resp.status_code == 404
    body = await resp.get_data(as_text=True)
    assert "APP_NAMES" not in body
    assert "root:" not in body
