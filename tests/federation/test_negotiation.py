"""A public page's URL is also its ActivityPub object (issue #20, item 3).

Mastodon's search GETs a pasted URL with an ActivityStreams ``Accept`` and, given HTML, follows
the page's ``<link rel="alternate" type="application/activity+json">``. Posts, pages, events,
products, market pages and members' posts answer both ways, with the page cache on: a cached
page is never the answer to a server, nor a server's answer to a browser.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from quart import Response
from quart.typing import TestClientProtocol as Client
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import (
    CategoryInput,
    ComposeInput,
    EventInput,
    MarketPageInput,
    PostInput,
    ProductImageDTO,
    ProductInput,
)
from shared.infrastructure.factory import RoseQuart
from shared.services.registry import build_services
from tests.events import factories as event_factories
from tests.identity.factories import make_member
from tests.support.settings import AppMaker, make_settings

ACTIVITY_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
ALTERNATE = re.compile(
    r'<link rel="alternate" type="application/activity\+json" href="(?P<href>[^"]+)">'
)


@pytest.fixture
def cached(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url, ROSE_PAGECACHE__ENABLED="true")


def anonymous(app: RoseQuart) -> Client:
    client = app.test_client()
    client.cookie_jar = None  # type: ignore[assignment]  # no cookies: the page cache serves it
    return client


async def page(client: Client, path: str) -> tuple[Response, str]:
    resp = await client.get(path)
    assert resp.status_code == 200, path
    assert resp.mimetype == "text/html"
    assert "Accept" in resp.headers["Vary"]
    return resp, await resp.get_data(as_text=True)


async def ap(client: Client, path: str, accept: str = ACTIVITY_JSON) -> Response:
    resp = await client.get(path, headers={"Accept": accept})
    assert "x-rose-cache" not in resp.headers, "a server is never served a cached page"
    return resp


async def test_a_posts_url_answers_servers_with_its_article_and_browsers_with_its_page(
    make_app: AppMaker, db: AsyncSession, cached: Settings
) -> None:
    app = await make_app("blog", app_settings=cached)
    blog = build_services(cached).blog
    post = await blog.create_post(
        db, PostInput(title="Harvest supper", html="<p>Bring a dish.</p>", tags=("Food",))
    )
    await blog.publish(db, post.id)
    await db.commit()
    client = anonymous(app)
    path = f"/posts/{post.slug}"

    # A browser first: the page, cached, linking its object.
    _, html = await page(client, path)
    match = ALTERNATE.search(html)
    assert match is not None
    object_id = match["href"]
    assert object_id.startswith(f"{cached.apps['blog'].public_url}/ap/objects/")
    again, _ = await page(client, path)
    assert again.headers["x-rose-cache"] == "hit"

    # Then servers, with either ActivityStreams media type: the object, not the cached page.
    for accept in (ACTIVITY_JSON, LD_JSON):
        resp = await ap(client, path, accept)
        assert resp.status_code == 200
        assert resp.mimetype == ACTIVITY_JSON
        assert "Accept" in resp.headers["Vary"]
        doc = await resp.get_json()
        assert doc["id"] == object_id
        assert doc["type"] == "Article"
        assert doc["name"] == "Harvest supper"
        assert doc["url"] == f"{cached.apps['blog'].public_url}{path}"
        assert isinstance(doc["@context"], list)

    # The server's answer was not stored: the browser still gets the page.
    last, html_again = await page(client, path)
    assert last.headers["x-rose-cache"] == "hit"
    assert html_again == html


async def test_a_page_answers_a_server_first_and_a_browser_after(
    make_app: AppMaker, db: AsyncSession, cached: Settings
) -> None:
    app = await make_app("blog", app_settings=cached)
    blog = build_services(cached).blog
    about = await blog.create_post(
        db, PostInput(title="About us", html="<p>A cooperative.</p>", kind="page")
    )
    await blog.publish(db, about.id)
    members = await blog.create_post(
        db, PostInput(title="AGM minutes", html="<p>Members.</p>", visibility="members")
    )
    await blog.publish(db, members.id)
    draft = await blog.create_post(db, PostInput(title="Not yet"))
    await db.commit()
    client = anonymous(app)
    blog_url = cached.apps["blog"].public_url
    path = f"/pages/{about.slug}"

    resp = await ap(client, path)
    assert resp.status_code == 200
    doc = await resp.get_json()
    # Pages are never sent to followers; looked up, one is an Article under its own URL.
    assert doc["id"] == doc["url"] == f"{blog_url}{path}"
    assert doc["name"] == "About us"
    assert doc["attributedTo"] == f"{blog_url}/ap/users/blog"
    first, html = await page(client, path)
    assert "x-rose-cache" not in first.headers
    match = ALTERNATE.search(html)
    assert match is not None
    assert match["href"] == doc["id"]
    assert (await page(client, path))[0].headers["x-rose-cache"] == "hit"
    assert (await ap(client, path)).mimetype == ACTIVITY_JSON

    # What the public cannot read is no object: a members-only post, a draft.
    for hidden in (f"/posts/{members.slug}", f"/posts/{draft.slug}"):
        assert (await ap(client, hidden)).status_code == 404, hidden
    _, members_html = await page(client, f"/posts/{members.slug}")
    assert ALTERNATE.search(members_html) is None


async def test_an_events_url_answers_its_event(
    make_app: AppMaker, db: AsyncSession, cached: Settings
) -> None:
    app = await make_app("events", app_settings=cached)
    events = build_services(cached).events
    calendar = await event_factories.calendar(db)
    event = await events.save_event(
        db,
        EventInput(
            calendar_id=calendar.id,
            title="Seed swap",
            timezone="Europe/Lisbon",
            start_local=datetime(2030, 12, 1, 18),
            end_local=datetime(2030, 12, 1, 20),
            location_address="12 Rose Lane",
            status="published",
        ),
    )
    await db.commit()
    client = anonymous(app)
    path = f"/events/{event.slug}"
    _, html = await page(client, path)
    match = ALTERNATE.search(html)
    assert match is not None
    resp = await ap(client, path, LD_JSON)
    assert resp.status_code == 200
    doc = await resp.get_json()
    assert doc["id"] == match["href"]
    assert doc["type"] == "Event"
    assert doc["timezone"] == "Europe/Lisbon"
    assert (await ap(client, "/events/no-such-event")).status_code == 404


async def test_a_members_post_answers_its_note_at_its_page(
    make_app: AppMaker, db: AsyncSession, settings: Settings
) -> None:
    app = await make_app("federation")
    social = build_services(settings).social
    ash = await make_member(db, "ash")
    public = await social.compose(db, ash.id, ComposeInput(text="Seeds for #swap"))
    private = await social.compose(
        db, ash.id, ComposeInput(text="Only followers", visibility="private")
    )
    await db.commit()
    client = anonymous(app)
    resp = await ap(client, f"/social/statuses/{public.id}")
    assert resp.status_code == 200
    doc = await resp.get_json()
    assert doc["id"] == public.uri
    assert doc["type"] == "Note"
    _, html = await page(client, f"/social/statuses/{public.id}")
    assert [m["href"] for m in ALTERNATE.finditer(html)] == [public.uri]
    # The post's own URI answers the same, and its page links it too.
    path = public.uri.split("://", 1)[1].split("/", 1)[1]
    _, own = await page(client, f"/{path}")
    assert [m["href"] for m in ALTERNATE.finditer(own)] == [public.uri]
    assert (await ap(client, f"/social/statuses/{private.id}")).status_code == 404
    # The member's profile is their actor, the same way.
    actor = await (await ap(client, "/users/ash")).get_json()
    assert actor["type"] == "Person"
    _, profile = await page(client, "/users/ash")
    assert [m["href"] for m in ALTERNATE.finditer(profile)] == [actor["id"]]


async def test_a_products_and_a_market_pages_urls_answer_their_objects(
    make_app: AppMaker, db: AsyncSession, cached: Settings
) -> None:
    app = await make_app("market", app_settings=cached)
    catalog = build_services(cached).catalog
    veg = await catalog.create_category(db, CategoryInput(name="Vegetables"))
    leeks = await catalog.create_product(
        db,
        ProductInput(
            title="Leeks",
            price_minor=250,
            unit="kg",
            summary="Grown at the farm.",
            categories=(veg.slug,),
            images=(ProductImageDTO("/static/img/market/loaf.svg", "Leeks in a crate"),),
        ),
    )
    autumn = await catalog.create_market_page(
        db, MarketPageInput(title="Autumn box", intro="<p>What is in season.</p>", published=True)
    )
    hidden = await catalog.create_market_page(db, MarketPageInput(title="Not yet"))
    await db.commit()
    client = anonymous(app)
    market = cached.apps["market"].public_url

    path = f"/products/{leeks.slug}"
    _, html = await page(client, path)
    match = ALTERNATE.search(html)
    assert match is not None
    assert match["href"] == f"{market}{path}"
    resp = await ap(client, path)
    assert resp.status_code == 200
    note = await resp.get_json()
    # As Mastodon shows it whole: the text with the price and a link, picture, hashtag.
    assert note["id"] == note["url"] == f"{market}{path}"
    assert note["type"] == "Note"
    assert note["attributedTo"] == f"{market}/ap/users/market"
    assert "£2.50 / kg" in note["content"]
    assert f'href="{market}{path}"' in note["content"]
    assert note["attachment"] == [
        {
            "type": "Document",
            "mediaType": "image/svg+xml",
            "url": f"{market}/static/img/market/loaf.svg",
            "name": "Leeks in a crate",
        }
    ]
    assert note["tag"] == [
        {"type": "Hashtag", "href": f"{market}/categories/{veg.slug}", "name": "#Vegetables"}
    ]

    resp = await ap(client, f"/pages/{autumn.slug}", LD_JSON)
    assert resp.status_code == 200
    article = await resp.get_json()
    assert article["type"] == "Article"
    assert article["name"] == "Autumn box"
    assert (await ap(client, f"/pages/{hidden.slug}")).status_code == 404
    assert (await ap(client, "/products/no-such-thing")).status_code == 404
