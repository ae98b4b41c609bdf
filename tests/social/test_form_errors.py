"""The social hub's forms show every problem at once, each beside its field
(``_forms.html``), answer 4xx and change nothing: the profile, a new post, an edit of a post,
and the account search."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from shared.models import SocialAccount, SocialStatus
from tests.social.factories import form_post, social_member
from tests.support import errors_beside_fields


async def test_the_profile_form_shows_every_problem_beside_its_field(
    app: RoseQuart, db: AsyncSession
) -> None:
    ash = await social_member(app, db, "ash")
    resp = await form_post(
        ash,
        "/social/profile",
        display_name="A" * 101,
        bio="b" * 5001,
        avatar_url="javascript:alert(1)",
        header_url="ftp://header",
    )
    assert resp.status_code == 400
    html = await resp.get_data(as_text=True)
    assert set(errors_beside_fields(html)) == {"display_name", "bio", "avatar_url", "header_url"}
    assert f'value="{"A" * 101}"' in html  # what was typed stays
    names = set(await db.scalars(select(SocialAccount.display_name)))
    assert "A" * 101 not in names


async def test_a_refused_post_and_edit_show_their_problems_beside_the_fields(
    app: RoseQuart, db: AsyncSession
) -> None:
    ash = await social_member(app, db, "ash")
    resp = await form_post(
        ash, "/social/statuses", text="x" * 6000, spoiler_text="w" * 600, visibility="everyone"
    )
    assert resp.status_code == 400
    html = await resp.get_data(as_text=True)
    assert set(errors_beside_fields(html)) == {"text", "spoiler_text", "visibility"}
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 0

    assert (await form_post(ash, "/social/statuses", text="Hello co-op")).status_code == 303
    status_id = await db.scalar(select(SocialStatus.id))
    resp = await form_post(
        ash, f"/social/statuses/{status_id}/edit", text="  ", spoiler_text="w" * 600
    )
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {"text", "spoiler_text"}
    assert "Hello co-op" in str(await db.scalar(select(SocialStatus.content)))


async def test_a_refused_search_says_so_beside_the_field(app: RoseQuart, db: AsyncSession) -> None:
    ash = await social_member(app, db, "ash")
    resp = await ash.get("/social/search?q=not-a-handle-at-all")
    assert resp.status_code >= 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {"search"}
