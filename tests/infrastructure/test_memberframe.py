"""Members' pages from a shared frame (shared/infrastructure/memberframe.py, decision 0103), for
real: the fragments' providers (blog, cart, account, federation, events) served on loopback, the
page's app in the test with its page cache on, members signed in through their sessions.
Structural: a cached member page renders no template (Jinja's renders counted) and each
member's slots hold their own fragments, never another's."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager

import jinja2
import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as QuartClient

from shared.infrastructure import pagecache
from shared.infrastructure.memberframe import FRAME_PREFIX, STATUS_HEADER
from tests.account.test_menu import signed_in_at
from tests.support.live import Platform

pytestmark = pytest.mark.slow

PROVIDERS = ("blog", "cart", "account", "federation", "events")


@contextmanager
def counting_renders(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every Jinja template rendered (Quart's render_template, shared parts, fragments) while
    the block runs, by name."""
    rendered: list[str] = []
    render_async = jinja2.Template.render_async
    render = jinja2.Template.render

    async def counted_async(self: jinja2.Template, *args: object, **kw: object) -> str:
        rendered.append(str(self.name))
        return await render_async(self, *args, **kw)

    def counted(self: jinja2.Template, *args: object, **kw: object) -> str:
        rendered.append(str(self.name))
        return render(self, *args, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(jinja2.Template, "render_async", counted_async)
        patch.setattr(jinja2.Template, "render", counted)
        yield rendered


@pytest.fixture
async def site(live: Platform) -> Platform:
    live.env.update(ROSE_PAGECACHE__ENABLED="true")
    for name in PROVIDERS:
        await live.start(name)
    return live


async def page(client: QuartClient, path: str = "/") -> tuple[str, str]:
    resp = await client.get(path)
    assert resp.status_code == 200, path
    assert resp.headers["Cache-Control"] == "private, no-cache"
    return resp.headers.get(STATUS_HEADER, ""), await resp.get_data(as_text=True)


def account_slot(html: str) -> str:
    found = re.search(r'<div class="slot slot-account">(.*?)</div>\n', html, re.S)
    assert found, "no account slot"
    return found.group(1)


async def frames(redis: aioredis.Redis) -> dict[str, bytes]:
    keys = [k.decode() for k in await redis.keys(f"{FRAME_PREFIX}*")]
    return {k: await redis.hget(k, "body") for k in keys}


async def test_members_share_one_frame_with_their_own_fragments_in_its_slots(
    site: Platform, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    blog = await site.consumer("blog")
    ann = await signed_in_at(site, blog, await site.member("ann_oak", display_name="Ann Acorn"))
    bob = await signed_in_at(site, blog, await site.member("bob_elm", display_name="Bob Birch"))

    how, html = await page(ann)
    assert how == "stored"
    assert "Ann Acorn" in account_slot(html)
    assert "Bob Birch" not in html
    # One frame, kept for every member: nobody's name, menu or token in it.
    stored = await frames(redis)
    assert len(stored) == 1
    body = next(iter(stored.values())).decode()
    for personal in ("Ann Acorn", "ann_oak", "Bob Birch", "bob_elm", "Sign out"):
        assert personal not in body, personal
    assert "<!--rose-slot:" in body

    how, html = await page(bob)
    assert how == "hit"
    assert "Bob Birch" in account_slot(html)
    assert "Ann Acorn" not in html

    # With every fragment cached, a member's page renders no template at all.
    for client, mine, theirs in ((ann, "Ann Acorn", "Bob Birch"), (bob, "Bob Birch", "Ann Acorn")):
        with counting_renders(monkeypatch) as rendered:
            how, html = await page(client)
        assert how == "hit"
        assert rendered == [], rendered
        assert mine in account_slot(html)
        assert theirs not in html
    # The same page rendered by Jinja has the same shape (the slots at their places).
    with counting_renders(monkeypatch) as rendered:
        await page(ann, "/?page=1")
    assert "home.html" in rendered


async def test_a_change_to_the_domain_outdates_the_frame(
    site: Platform, redis: aioredis.Redis
) -> None:
    blog = await site.consumer("blog")
    ann = await signed_in_at(site, blog, await site.member("ann_oak", display_name="Ann Acorn"))
    assert (await page(ann))[0] == "stored"
    assert (await page(ann))[0] == "hit"
    await redis.incr(pagecache.version_key("blog"))  # a commit to the blog anywhere
    assert (await page(ann))[0] == "stored"
    assert (await page(ann))[0] == "hit"
    # A shared fragment shown in the frame outdates it too (the events widget, the nav).
    await redis.incr("rose:fragver:blog/nav")
    assert (await page(ann))[0] == "stored"


async def test_members_missing_an_outdated_frame_wait_for_one_render(
    site: Platform, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    blog = await site.consumer("blog")
    members = [
        await signed_in_at(site, blog, await site.member(f"mem_{i}", display_name=f"Member {i}"))
        for i in range(6)
    ]
    for member in members:
        await page(member)  # each one's fragments cached; the frame stored once
    await redis.incr(pagecache.version_key("blog"))  # a commit to the blog anywhere
    with counting_renders(monkeypatch) as rendered:
        answers = await asyncio.gather(*(page(m) for m in members))
    assert rendered.count("home.html") == 1, rendered
    assert sorted(how for how, _ in answers) == ["hit"] * 5 + ["stored"]
    for i, (_how, html) in enumerate(answers):
        assert f"Member {i}" in account_slot(html)


async def test_editors_are_rendered_alone_and_a_frame_showing_the_member_is_not_kept(
    site: Platform, redis: aioredis.Redis
) -> None:
    blog = await site.consumer("blog")
    editor = await signed_in_at(site, blog, await site.member("eda_ash", roles=("editor",)))
    for _ in range(2):
        resp = await editor.get("/")
        assert resp.status_code == 200
        assert STATUS_HEADER not in resp.headers
    assert await frames(redis) == {}
    # A member whose name the page itself shows (the site's name, in every page's header):
    # the frame would carry it, so that render is theirs alone.
    name = blog.extensions["rose"].settings.site_name
    shown = await signed_in_at(site, blog, await site.member("sam_yew", display_name=name))
    how, _html = await page(shown)
    assert how == "rendered"
    assert await frames(redis) == {}
