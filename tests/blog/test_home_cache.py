"""The blog home's shared listing (blog/bp/home.py, fragments.SharedPart): kept per audience and
page, never anything personal in it, never one audience's copy for another, never kept for
editors, outdated by a publication, read in the fragments' one round trip (a member's cached
home runs no SQL), and harmless when Redis is gone."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as Client
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.infrastructure import pagecache
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.fragments import PART_PREFIX
from tests.blog import factories
from tests.identity.factories import signed_in
from tests.support import BROWSER_ACCEPT, count_statements, csrf_in, refusing_port
from tests.support.settings import AppMaker, make_settings

MEMBER_COPY = f"{PART_PREFIX}blog/home:member:page=1"
PUBLIC_COPY = f"{PART_PREFIX}blog/home:public:page=1"


@pytest.fixture
async def app(make_app: AppMaker, database_url: str, redis_url: str) -> RoseQuart:
    settings = make_settings(database_url, redis_url, ROSE_PAGECACHE__ENABLED="true")
    return await make_app("blog", app_settings=settings)


def visitor_with_a_cookie(app: RoseQuart) -> Client:
    """Not signed in, but not anonymous to the page cache either (a cookie it does not know,
    decision 0091): its home is rendered, with the public listing."""
    client = app.test_client()
    client.cookie_jar = None  # type: ignore[assignment]
    return client


async def home(client: Client, path: str = "/", status: int = 200) -> str:
    headers = {"Cookie": "somebody=unknown"} if client.cookie_jar is None else {}
    resp = await client.get(path, headers=headers)
    assert resp.status_code == status, path
    assert "x-rose-cache" not in resp.headers  # rendered: not the anonymous page cache
    return await resp.get_data(as_text=True)


async def part_keys(redis: aioredis.Redis) -> set[str]:
    return {k.decode() for k in await redis.keys(f"{PART_PREFIX}*")}


async def replace_copy(redis: aioredis.Redis, key: str, html: str) -> None:
    """Swap a stored copy's HTML (its versions kept, so it still counts as current)."""
    stored = json.loads(await redis.get(key))
    await redis.set(key, json.dumps({"v": stored["v"], "h": html}))


async def test_each_audience_gets_its_own_copy_and_editors_none(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    await factories.post(db, "Open news", excerpt="For everyone")
    await factories.post(
        db,
        "Members minutes",
        visibility="members",
        html="<p>The confidential budget.</p>",
        excerpt="What we decided",
    )
    member = await signed_in(app, db, "mira", display_name="Mira Member")
    editor = await signed_in(app, db, "eddie", "editor")
    admin = await signed_in(app, db, "ada", "admin")
    visitor = visitor_with_a_cookie(app)

    for client in (member, visitor, editor, admin):
        html = await home(client)
        assert "Open news" in html
        assert "Members minutes" in html
        assert "confidential" not in html
    # One copy per audience; editors and admins (who may be shown more) keep none.
    assert await part_keys(redis) == {MEMBER_COPY, PUBLIC_COPY}
    for key in (MEMBER_COPY, PUBLIC_COPY):
        stored = (await redis.get(key)).decode()
        assert "Open news" in stored
        for personal in ("Mira Member", "mira", "csrf", "eddie", "ada"):
            assert personal not in stored, (key, personal)

    # Each audience is served its own copy, and only its own.
    await replace_copy(redis, MEMBER_COPY, "<p>the members' copy</p>")
    await replace_copy(redis, PUBLIC_COPY, "<p>the public copy</p>")
    other = await signed_in(app, db, "otto")
    for client in (member, other):
        html = await home(client)
        assert "the members' copy" in html
        assert "the public copy" not in html
    html = await home(visitor)
    assert "the public copy" in html
    assert "the members' copy" not in html
    for client in (editor, admin):
        html = await home(client)
        assert "the members' copy" not in html
        assert "the public copy" not in html
        assert "Open news" in html
    # Nor does the anonymous page cache ever show a member's copy.
    anonymous = app.test_client()
    anonymous.cookie_jar = None  # type: ignore[assignment]
    html = await (await anonymous.get("/")).get_data(as_text=True)
    assert "the members' copy" not in html
    # A member's page is still theirs alone for shared caches (their header).
    assert (await member.get("/")).headers["Cache-Control"] == "private, no-cache"


async def test_a_publication_outdates_the_copy_before_the_members_next_page(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    await factories.post(db, "Already out")
    draft = await factories.post(db, "Fresh from the oven", publish=False)
    member = await signed_in(app, db, "mira")
    editor = await signed_in(app, db, "eddie", "editor")
    assert "Fresh from the oven" not in await home(member)
    assert "Fresh from the oven" not in await home(member)  # from the stored copy

    form = await editor.get(f"/editor/posts/{draft.id}", headers={"Accept": BROWSER_ACCEPT})
    token = csrf_in(await form.get_data(as_text=True))
    resp = await editor.post(f"/editor/posts/{draft.id}/publish", form={"csrf_token": token})
    assert resp.status_code == 302
    assert "Fresh from the oven" in await home(member)

    resp = await editor.post(f"/editor/posts/{draft.id}/unpublish", form={"csrf_token": token})
    assert resp.status_code == 302
    assert "Fresh from the oven" not in await home(member)


async def test_the_workers_commits_outdate_the_copy_too(
    app: RoseQuart, db: AsyncSession, redis: aioredis.Redis
) -> None:
    member = await signed_in(app, db, "mira")
    await factories.post(db, "First")
    await db.commit()
    assert "First" in await home(member)
    pagecache.use_redis(redis)
    try:
        await factories.post(db, "Published by the worker")
        await db.commit()
        await pagecache.flush_pending()
    finally:
        pagecache.use_redis(None)
    assert "Published by the worker" in await home(member)


async def test_a_members_cached_home_runs_no_sql(
    app: RoseQuart, db: AsyncSession, engine: AsyncEngine
) -> None:
    writer = await factories.author(db)
    for i in range(12):
        await factories.post(
            db, tags=(f"tag-{i}", "common"), authors=(writer.slug,), featured=i < 3
        )
    member = await signed_in(app, db, "mira")
    with count_statements(engine) as first:
        await home(member)
    # The listing's seven statements (featured, count, latest, their tags and authors) and
    # the sign-in check (then cached in Redis for a few seconds).
    assert len([s for s in first if "blog_posts" in s or "blog_tags" in s]) >= 5, first
    with count_statements(engine) as cached:
        html = await home(member)
    assert html.count('<article class="post-card') == 10 + 3
    assert cached == [], "\n".join(cached)
    # Another page is a copy of its own; a page past the end is still missing (and not kept).
    with count_statements(engine) as second_page:
        assert 'rel="prev" href="/?page=1"' in await home(member, "/?page=2")
    assert second_page
    with count_statements(engine) as again:
        await home(member, "/?page=2")
    assert again == [], "\n".join(again)
    for _ in range(2):
        with count_statements(engine) as missing:
            await home(member, "/?page=3", status=404)
        assert missing, "nothing is kept for a page that does not exist"


async def test_members_missing_an_outdated_copy_wait_for_one_render(
    app: RoseQuart, db: AsyncSession, engine: AsyncEngine, redis: aioredis.Redis
) -> None:
    await factories.post(db, "Stampede soup", featured=True)
    members = [await signed_in(app, db, f"member{i}") for i in range(8)]
    for member in members:
        await home(member)  # each sign-in checked (and cached); the copy stored
    await redis.incr(pagecache.version_key("blog"))  # a commit to the blog elsewhere
    with count_statements(engine) as statements:
        pages = await asyncio.gather(*(home(m) for m in members))
    assert all("Stampede soup" in html for html in pages)
    # One render: featured + tags + authors, count, latest + tags + authors.
    assert len(statements) == 7, "\n".join(statements)


async def test_the_home_renders_for_members_when_redis_is_unreachable(
    make_app: AppMaker, database_url: str, db: AsyncSession
) -> None:
    await factories.post(db, "Still here")
    settings = make_settings(
        database_url, f"redis://127.0.0.1:{refusing_port()}/0", ROSE_PAGECACHE__ENABLED="true"
    )
    app = await make_app("blog", app_settings=settings)
    member = await signed_in(app, db, "mira")
    for path in ("/", "/", "/?page=1"):
        html = await home(member, path)
        assert "Still here" in html
    assert (await member.get("/")).headers["Cache-Control"] == "private, no-cache"
    await home(visitor_with_a_cookie(app))
