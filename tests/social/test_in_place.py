"""Like, Boost and Follow posted in place by htmx (``hx-post``): the answer is the piece of the
page that changed (the post's actions, the profile's Follow box) and what it records is what a
plain POST records; without htmx (a plain form, or a boosted one) the answer stays a redirect.
Also the timeline's avatars and the compose form's one image picker."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.factory import RoseQuart
from shared.models import SocialFavourite, SocialFollow, SocialStatus
from tests.social.factories import FED, form_post, home_html, local_account_id, social_member, token

IN_PLACE = {"HX-Request": "true", "Origin": FED}


async def test_a_like_and_a_boost_in_place_answer_with_the_posts_actions(
    app: RoseQuart, db: AsyncSession
) -> None:
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    assert (await form_post(ash, "/social/statuses", text="Bread is out")).status_code == 303
    status_id = await db.scalar(select(SocialStatus.id))
    csrf = await token(bea, "/social/local")

    resp = await bea.post(
        f"/social/statuses/{status_id}/favourite",
        form={"csrf_token": csrf, "item": str(status_id)},
        headers=IN_PLACE,
    )
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)
    assert html.lstrip().startswith(f'<footer class="social-actions" id="actions-{status_id}">')
    assert "<html" not in html
    assert 'aria-pressed="true">Unlike (1)</button>' in html
    assert f'hx-post="/social/statuses/{status_id}/unfavourite"' in html
    assert resp.headers["Cache-Control"] == "private, no-store"
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(SocialFavourite)) == 1

    resp = await bea.post(
        f"/social/statuses/{status_id}/boost",
        form={"csrf_token": csrf, "item": str(status_id)},
        headers=IN_PLACE,
    )
    assert 'aria-pressed="true">Unboost (1)</button>' in (await resp.get_data(as_text=True))
    # Without a CSRF token, refused as any other form.
    refused = await bea.post(
        f"/social/statuses/{status_id}/unfavourite", form={"item": "1"}, headers=IN_PLACE
    )
    assert refused.status_code == 400
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(SocialFavourite)) == 1
    # A plain POST (no JavaScript) and a boosted one still redirect back.
    plain = await form_post(bea, f"/social/statuses/{status_id}/unfavourite")
    assert plain.status_code == 303
    boosted = await bea.post(
        f"/social/statuses/{status_id}/favourite",
        form={"csrf_token": csrf},
        headers={**IN_PLACE, "HX-Boosted": "true"},
    )
    assert boosted.status_code == 303


async def test_a_follow_in_place_answers_with_the_follow_box(
    app: RoseQuart, db: AsyncSession
) -> None:
    await home_html(await social_member(app, db, "ash"))  # the hub makes his account
    bea = await social_member(app, db, "bea")
    ash_id = await local_account_id(db, "ash")
    csrf = await token(bea, f"/social/accounts/{ash_id}")
    resp = await bea.post(
        f"/social/accounts/{ash_id}/follow", form={"csrf_token": csrf}, headers=IN_PLACE
    )
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)
    assert html.lstrip().startswith(f'<div class="social-follow" id="follow-{ash_id}">')
    assert "Unfollow" in html
    assert 'data-follow-state="accepted"' in html
    await db.commit()
    assert await db.scalar(select(SocialFollow.state)) == "accepted"
    resp = await bea.post(
        f"/social/accounts/{ash_id}/unfollow", form={"csrf_token": csrf}, headers=IN_PLACE
    )
    html = await resp.get_data(as_text=True)
    assert '<button class="primary" type="submit">Follow</button>' in html
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0


async def test_timelines_show_initials_avatars_and_compose_offers_one_picker(
    app: RoseQuart, db: AsyncSession
) -> None:
    ash = await social_member(app, db, "ash")
    await form_post(ash, "/social/statuses", text="Hello")
    await form_post(ash, "/social/statuses", text="Hello again")
    html = await home_html(ash)
    # No uploaded avatar: the initials on a circle, the same colour each time.
    avatars = re.findall(
        r'<svg class="avatar avatar--initials"[^>]*data-initials="([A-Z?]+)"><circle [^>]*'
        r'fill="(#[0-9a-f]{6})"',
        html,
    )
    assert len(avatars) == 2  # one per post
    assert set(avatars) == {("A", avatars[0][1])}
    # One picker shown; each further one behind "Add another image", four in all.
    assert html.count('type="file"') == 4
    assert html.count("<summary>Add another image</summary>") == 3
    compose = html.split('id="compose"', 1)[1]
    assert compose.index('name="media_0"') < compose.index("<details")
