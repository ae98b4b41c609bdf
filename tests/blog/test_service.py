"""BlogService on real PostgreSQL: listings, slugs and redirects, archives, search, writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import PostInput
from shared.contracts.errors import InvalidPost
from shared.errors import Conflict, DomainError, NotFound
from shared.infrastructure.context import services
from shared.infrastructure.sanitize import slugify
from shared.models import BlogPost, BlogTag
from tests.blog import factories
from tests.blog.factories import BASE_TIME


def test_slugify() -> None:
    assert slugify("Crème brûlée & Coffee!") == "creme-brulee-coffee"
    assert slugify("  --Hello   World--  ") == "hello-world"
    assert slugify("日本") == ""
    assert len(slugify("a" * 500)) == 180


async def test_create_makes_a_draft_with_a_slug_from_the_title(db: AsyncSession) -> None:
    writer = await factories.author(db, slug="rosa")
    dto = await services().blog.create_post(
        db,
        PostInput(
            title="  Harvest   Supper  ",
            html="<p>Come <b>along</b></p><script>alert(1)</script>",
            tags=("Food", "Events", "food"),
            authors=(writer.slug,),
        ),
    )
    assert dto.status == "draft"
    assert dto.published_at is None
    assert dto.title == "Harvest Supper"
    assert dto.slug == "harvest-supper"
    assert dto.html == "<p>Come <b>along</b></p>"
    assert [t.slug for t in dto.tags] == ["food", "events"]
    assert [a.slug for a in dto.authors] == ["rosa"]
    assert dto.excerpt == "Come along"
    # A second post with the same title gets a free slug.
    again = await services().blog.create_post(db, PostInput(title="Harvest supper"))
    assert again.slug == "harvest-supper-2"


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        (PostInput(title="   "), "title_required", "title"),
        (PostInput(title="x" * 256), "too_long", "title"),
        (PostInput(title="t", kind="essay"), "invalid_kind", "kind"),
        (PostInput(title="t", visibility="paid"), "invalid_visibility", "visibility"),
        (PostInput(title="t", slug="Not A Slug"), "invalid_slug", "slug"),
        (PostInput(title="t", feature_image="javascript:alert(1)"), "invalid_url", "feature_image"),
        (PostInput(title="t", og_image="//evil.example/x.png"), "invalid_url", "og_image"),
        (PostInput(title="t", canonical_url="data:text/html,x"), "invalid_url", "canonical_url"),
        (PostInput(title="t", authors=("nobody",)), "unknown_author", "authors"),
        (PostInput(title="t", meta_description="d" * 501), "too_long", "meta_description"),
    ],
)
async def test_bad_input_is_refused_with_a_code_and_changes_nothing(
    db: AsyncSession, data: PostInput, code: str, field: str
) -> None:
    with pytest.raises(InvalidPost) as err:
        async with db.begin_nested():
            await services().blog.create_post(db, data)
    assert err.value.code == code
    assert err.value.field == field
    assert await db.scalar(select(BlogPost.id)) is None
    assert await db.scalar(select(BlogTag.id)) is None


async def test_changing_a_slug_keeps_the_old_one_as_a_redirect(db: AsyncSession) -> None:
    dto = await factories.post(db, "Opening hours")
    await services().blog.update_post(db, dto.id, PostInput(title="Opening hours", slug="hours"))
    await services().blog.update_post(db, dto.id, PostInput(title="Opening hours", slug="open"))

    found = await services().blog.get_by_slug(db, "open")
    assert (found.post.id, found.moved) == (dto.id, False)
    for old in ("opening-hours", "hours"):
        moved = await services().blog.get_by_slug(db, old)
        assert (moved.post.slug, moved.moved) == ("open", True)

    # A new post may take an old slug: the live slug wins over the redirect.
    other = await factories.post(db, "Hours", slug="hours")
    found = await services().blog.get_by_slug(db, "hours")
    assert (found.post.id, found.moved) == (other.id, False)

    with pytest.raises(Conflict) as err:
        await services().blog.update_post(db, other.id, PostInput(title="Hours", slug="open"))
    assert err.value.code == "slug_taken"


async def test_drafts_and_scheduled_posts_are_not_public(db: AsyncSession) -> None:
    draft = await factories.post(db, "Draft", publish=False)
    with pytest.raises(NotFound):
        await services().blog.get_by_slug(db, draft.slug)
    found = await services().blog.get_by_slug(db, draft.slug, include_unpublished=True)
    assert found.post.status == "draft"
    home = await services().blog.home(db)
    assert home.latest.total == 0


async def test_home_lists_featured_and_latest_newest_first(db: AsyncSession) -> None:
    posts = [await factories.post(db, f"Post {i}", featured=(i % 2 == 0)) for i in range(7)]
    await factories.post(db, "A page", kind="page")
    home = await services().blog.home(db, per_page=3, featured_limit=2)
    assert [p.title for p in home.featured] == ["Post 6", "Post 4"]
    assert [p.title for p in home.latest.posts] == ["Post 6", "Post 5", "Post 4"]
    assert (home.latest.total, home.latest.pages, home.latest.has_next) == (7, 3, True)
    last = await services().blog.home(db, page=3, per_page=3)
    assert last.featured == ()
    assert [p.id for p in last.latest.posts] == [posts[0].id]
    assert not last.latest.has_next
    with pytest.raises(NotFound):
        await services().blog.home(db, page=4, per_page=3)
    with pytest.raises(NotFound):
        await services().blog.home(db, page=0)
    with pytest.raises(DomainError):
        await services().blog.home(db, per_page=1000)


async def test_members_only_bodies_are_withheld_from_non_members(db: AsyncSession) -> None:
    dto = await factories.post(
        db, "Members news", html="<p>Secret minutes</p>", visibility="members", excerpt="Teaser"
    )
    anonymous = (await services().blog.get_by_slug(db, dto.slug)).post
    assert anonymous.locked
    assert anonymous.html == ""
    assert anonymous.excerpt == "Teaser"
    member = (await services().blog.get_by_slug(db, dto.slug, viewer_is_member=True)).post
    assert not member.locked
    assert member.html == "<p>Secret minutes</p>"
    home = await services().blog.home(db)
    assert home.latest.posts[0].html == ""
    feed = await services().blog.feed(db)
    assert feed[0].html == ""


async def test_tag_and_author_archives(db: AsyncSession) -> None:
    rosa = await factories.author(db, slug="rosa", name="Rosa")
    await factories.post(db, "Bread", tags=("Bakery",), authors=("rosa",))
    await factories.post(db, "Cake", tags=("Bakery", "Sweet"))
    await factories.post(db, "Draft bread", tags=("Bakery",), authors=("rosa",), publish=False)
    archive = await services().blog.tag_archive(db, "bakery")
    assert archive.tag.name == "Bakery"
    assert [p.title for p in archive.posts.posts] == ["Cake", "Bread"]
    by_rosa = await services().blog.author_archive(db, "rosa")
    assert by_rosa.author.id == rosa.id
    assert [p.title for p in by_rosa.posts.posts] == ["Bread"]
    with pytest.raises(NotFound) as err:
        await services().blog.tag_archive(db, "nope")
    assert err.value.code == "tag_not_found"
    with pytest.raises(NotFound):
        await services().blog.author_archive(db, "nobody")


async def test_internal_tags_are_neither_shown_nor_archived(db: AsyncSession) -> None:
    dto = await factories.post(db, "Tagged", tags=("Visible", "hash-wide"))
    await db.execute(text("UPDATE blog_tags SET visibility = 'internal' WHERE slug = 'hash-wide'"))
    found = await services().blog.get_by_slug(db, dto.slug)
    assert [t.slug for t in found.post.tags] == ["visible"]
    with pytest.raises(NotFound):
        await services().blog.tag_archive(db, "hash-wide")


async def test_search_ranks_highlights_and_escapes(db: AsyncSession) -> None:
    await factories.post(db, "Sourdough workshop", html="<p>Learn to bake sourdough bread.</p>")
    await factories.post(
        db, "Café news", html="<p>Our baker &lt;script&gt; loves <em>sourdough</em> too.</p>"
    )
    await factories.post(db, "Unrelated", html="<p>Nothing to see.</p>")
    await factories.post(db, "Draft sourdough", publish=False)
    await factories.post(db, "Symbols", html="<p>1 &lt; 2 &amp; mark &gt; 0 &lt;i&gt;</p>")
    symbols = await services().blog.search(db, "mark")
    assert "<mark>mark</mark>" in symbols.hits[0].snippet
    results = await services().blog.search(db, "sourdough")
    assert results.total == 2
    # The title hit ranks first (weight A over C).
    assert [h.post.title for h in results.hits] == ["Sourdough workshop", "Café news"]
    second = results.hits[1].snippet
    assert "<mark>sourdough</mark>" in second
    assert "baker" in second
    assert "script" in second  # text after a "<" is still searchable and shown
    assert "<script>" not in second
    assert second.replace("<mark>", "").replace("</mark>", "").count("<") == 0
    # Web-search syntax: quoted phrases and exclusions.
    assert (await services().blog.search(db, '"sourdough bread"')).total == 1
    assert (await services().blog.search(db, "sourdough -workshop")).total == 1
    assert (await services().blog.search(db, "   ")).total == 0
    assert (await services().blog.search(db, "the")).total == 0
    # Operators and quotes of to_tsquery syntax are just text to websearch_to_tsquery.
    assert (await services().blog.search(db, "'\"):*&|! <>")).total == 0
    assert (await services().blog.search(db, "<mark>")).total == 1


async def test_a_visitors_search_looks_only_at_what_a_visitor_may_read(
    db: AsyncSession,
) -> None:
    """A members-only body is not searched for a visitor: neither matching nor ranking may
    tell whether it holds a phrase; members search it and see it quoted."""
    for title, body in (("Members meeting", "a confidential budget"), ("Members tea", "scones")):
        await factories.post(
            db,
            title,
            html=f"<p>The treasurer reported {body}.</p>",
            visibility="members",
            excerpt="Minutes of the meeting.",
        )
    await factories.post(db, "Open day", html="<p>Our public budget, line by line.</p>")
    anonymous = await services().blog.search(db, "budget")
    assert [h.post.title for h in anonymous.hits] == ["Open day"]
    assert anonymous.total == 1
    assert (await services().blog.search(db, '"confidential budget"')).total == 0
    # Title and excerpt are what a visitor sees in the listing: those are searched, and the
    # two members-only items rank the same whatever their bodies hold.
    minutes = await services().blog.search(db, "minutes treasurer")
    assert minutes.total == 0
    minutes = await services().blog.search(db, "minutes")
    assert {h.post.title for h in minutes.hits} == {"Members meeting", "Members tea"}
    assert len({h.rank for h in minutes.hits}) == 1
    for hit in minutes.hits:
        assert "treasurer" not in hit.snippet
        assert hit.post.html == ""
    member = await services().blog.search(db, "budget", viewer_is_member=True)
    assert {h.post.title for h in member.hits} == {"Members meeting", "Open day"}
    assert any("confidential <mark>budget</mark>" in h.snippet for h in member.hits)


async def test_search_column_is_generated_and_indexed(db: AsyncSession) -> None:
    dto = await factories.post(db, "Apples", html="<p>Orchard</p>")
    await services().blog.update_post(db, dto.id, PostInput(title="Pears", html="<p>Grove</p>"))
    assert (await services().blog.search(db, "apples")).total == 0
    assert (await services().blog.search(db, "grove")).total == 1
    # Force the planner to show it uses the GIN index even on a tiny table.
    await db.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        await db.scalars(
            text(
                "EXPLAIN SELECT id FROM blog_posts "
                "WHERE search @@ websearch_to_tsquery('english', 'grove')"
            )
        )
    )
    assert "ix_blog_posts_search" in plan
    plan = "\n".join(
        await db.scalars(
            text(
                "EXPLAIN SELECT id FROM blog_posts "
                "WHERE visitor_search @@ websearch_to_tsquery('english', 'grove')"
            )
        )
    )
    assert "ix_blog_posts_visitor_search" in plan


async def test_publish_schedule_unpublish_delete(db: AsyncSession) -> None:
    dto = await factories.post(db, "Lifecycle", publish=False)
    at = BASE_TIME + timedelta(days=1)
    with pytest.raises(InvalidPost) as err:
        await services().blog.schedule(db, dto.id, BASE_TIME - timedelta(minutes=1), now=BASE_TIME)
    assert err.value.code == "schedule_in_past"
    with pytest.raises(InvalidPost) as err:
        await services().blog.schedule(db, dto.id, at.replace(tzinfo=None), now=BASE_TIME)
    assert err.value.code == "naive_datetime"

    scheduled = await services().blog.schedule(db, dto.id, at, now=BASE_TIME)
    assert (scheduled.status, scheduled.published_at) == ("scheduled", at)
    unscheduled = await services().blog.unpublish(db, dto.id)
    assert (unscheduled.status, unscheduled.published_at) == ("draft", None)

    published = await services().blog.publish(db, dto.id, now=BASE_TIME)
    assert (published.status, published.published_at) == ("published", BASE_TIME)
    again = await services().blog.publish(db, dto.id, now=BASE_TIME + timedelta(hours=1))
    assert again.published_at == BASE_TIME
    with pytest.raises(Conflict):
        await services().blog.schedule(db, dto.id, at, now=BASE_TIME)
    await services().blog.unpublish(db, dto.id)
    republished = await services().blog.publish(db, dto.id, now=BASE_TIME + timedelta(days=3))
    assert republished.published_at == BASE_TIME  # the original date is kept

    await services().blog.delete_post(db, dto.id)
    with pytest.raises(NotFound):
        await services().blog.get_post(db, dto.id)
    with pytest.raises(NotFound):
        await services().blog.publish(db, dto.id)


async def test_publish_due_scheduled_publishes_only_what_is_due_and_is_idempotent(
    db: AsyncSession,
) -> None:
    due = await factories.post(db, "Due", publish=False)
    later = await factories.post(db, "Later", publish=False)
    await services().blog.schedule(db, due.id, BASE_TIME + timedelta(hours=1), now=BASE_TIME)
    await services().blog.schedule(db, later.id, BASE_TIME + timedelta(days=1), now=BASE_TIME)

    published = await services().blog.publish_due_scheduled(db, BASE_TIME + timedelta(hours=2))
    assert [(p.id, p.status) for p in published] == [(due.id, "published")]
    assert await services().blog.publish_due_scheduled(db, BASE_TIME + timedelta(hours=2)) == ()
    assert (await services().blog.get_post(db, later.id)).status == "scheduled"
    assert (await services().blog.get_by_slug(db, "due")).post.id == due.id


async def test_sitemap_lists_public_urls(db: AsyncSession) -> None:
    await factories.author(db, slug="rosa")
    await factories.post(db, "Post", tags=("Food",), authors=("rosa",))
    await factories.post(db, "About", kind="page")
    await factories.post(db, "Hidden", tags=("Secret",), publish=False)
    entries = {(e.kind, e.slug) for e in await services().blog.sitemap(db)}
    assert entries == {("post", "post"), ("page", "about"), ("tag", "food"), ("author", "rosa")}


async def test_the_generated_search_column_matches_the_model(db: AsyncSession) -> None:
    """`alembic check` does not compare generated expressions: compare them here."""
    from shared.models.blog import SEARCH_EXPRESSION, VISITOR_SEARCH_EXPRESSION

    in_database = await db.scalar(
        text(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
            "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = 'blog_posts'::regclass AND a.attname = 'search'"
        )
    )
    # Same functions over the same columns with the same weights, in the same order.
    for column, weight in (("title", "A"), ("excerpt", "B"), ("plaintext", "C")):
        assert f"coalesce({column}, ''" in SEARCH_EXPRESSION
        assert f"COALESCE({column}, ''" in in_database
        assert f"'{weight}'::\"char\"" in in_database
    assert in_database.count("translate(") == SEARCH_EXPRESSION.count("translate(") == 3
    visitor = await db.scalar(
        text(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
            "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = 'blog_posts'::regclass AND a.attname = 'visitor_search'"
        )
    )
    assert "WHEN ((visibility)::text = 'public'::text) THEN plaintext" in visitor
    assert "CASE WHEN visibility = 'public' THEN plaintext END" in VISITOR_SEARCH_EXPRESSION
    assert visitor.count("translate(") == VISITOR_SEARCH_EXPRESSION.count("translate(") == 3
