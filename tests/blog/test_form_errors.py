"""The blog editor's forms show every problem at once, each beside its field
(``_forms.html``), answer 4xx and change nothing: a post (with its feature image) and a link
of the site navigation."""

from __future__ import annotations

from pathlib import Path

from quart.typing import TestClientProtocol as Client
from sqlalchemy.ext.asyncio import AsyncSession

from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from tests.blog.test_editor import (
    app,
    count_posts,
    editor,
    image,
    media_root,
    post_form,
    stored_files,
    token_of,
)
from tests.identity.factories import signed_in
from tests.support import errors_beside_fields

__all__ = ["app", "editor", "media_root"]


async def test_a_refused_post_shows_every_problem_beside_its_field(
    editor: Client, db: AsyncSession, media_root: Path
) -> None:
    token = await token_of(editor)
    resp = await editor.post(
        "/editor/posts",
        form=post_form(
            token, title="  ", slug="Not A Slug", visibility="paid", feature_image_alt="a" * 300
        ),
        files={"feature_image_file": image(b"<svg onload='alert(1)'/>", "x.png")},
    )
    assert resp.status_code == 400
    errors = errors_beside_fields(await resp.get_data(as_text=True))
    assert set(errors) == {
        "title",
        "slug",
        "visibility",
        "feature_image_alt",
        "feature_image_file",
    }
    assert await count_posts(db) == 0
    assert stored_files(media_root) == []


async def test_a_refused_link_shows_its_problems_beside_its_fields(
    app: RoseQuart, db: AsyncSession
) -> None:
    client = await signed_in(app, db, "eddie", "editor")
    token = await token_of(client, "/editor/navigation")
    before = await services().blog.navigation(db)
    resp = await client.post(
        "/editor/navigation",
        form={"csrf_token": token, "label": " ", "app": "", "path": "javascript:alert(1)"},
    )
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {
        "new-label",
        "new-path",
    }
    item = before[0]
    resp = await client.post(
        f"/editor/navigation/{item.id}",
        form={"csrf_token": token, "label": "x" * 80, "app": "nowhere", "path": "/"},
    )
    assert resp.status_code == 400
    assert set(errors_beside_fields(await resp.get_data(as_text=True))) == {
        f"n{item.id}-label",
        f"n{item.id}-app",
    }
    assert await services().blog.navigation(db) == before
