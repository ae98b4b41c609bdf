"""The editor's posts and pages at /editor: list, create, edit, preview, schedule, publish,
unpublish, delete, feature images; members refused, CSRF required, bad input writes nothing."""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from quart.datastructures import FileStorage
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.media import sniff_image
from shared.models import BlogPost, MediaOwner
from tests.blog import factories
from tests.identity.factories import signed_in
from tests.support import BROWSER_ACCEPT, csrf_in
from tests.support.images import animated_gif_bytes, png_bytes, png_header_only
from tests.support.settings import AppMaker, make_settings

PNG = png_bytes(8, 6)
BROWSER = {"Accept": BROWSER_ACCEPT}


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
async def app(make_app: AppMaker, database_url: str, redis_url: str, media_root: Path) -> RoseQuart:
    settings: Settings = make_settings(
        database_url, redis_url, ROSE_MEDIA__ROOT=str(media_root), ROSE_MEDIA__MAX_BYTES="1000"
    )
    return await make_app("blog", app_settings=settings)


@pytest.fixture
async def editor(app: RoseQuart, db: AsyncSession) -> Client:
    return await signed_in(app, db, "eddie", "editor")


async def token_of(client: Client, path: str = "/editor/posts/new") -> str:
    resp = await client.get(path, headers=BROWSER)
    assert resp.status_code == 200, path
    return csrf_in(await resp.get_data(as_text=True))


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def count_posts(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(BlogPost)) or 0)


def post_form(token: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": token, "kind": "post", "visibility": "public", **fields}


def image(data: bytes, name: str = "cover.png", mimetype: str = "image/png") -> FileStorage:
    from io import BytesIO

    return FileStorage(BytesIO(data), filename=name, content_type=mimetype)


def test_sniffing_trusts_the_bytes_only() -> None:
    assert sniff_image(PNG) == "png"
    assert sniff_image(b"\xff\xd8\xff\xe0rest") == "jpg"
    assert sniff_image(b"GIF89a...") == "gif"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert sniff_image(b"") is None


async def test_an_editor_writes_previews_publishes_and_deletes_a_post(
    app: RoseQuart, editor: Client, db: AsyncSession, media_root: Path
) -> None:
    token = await token_of(editor)
    resp = await editor.post(
        "/editor/posts",
        form=post_form(
            token,
            title="Harvest supper",
            html="<h2>Menu</h2><p><strong>Soup</strong> <a href='https://x.example/'>x</a></p>"
            "<script>alert(1)</script>",
            tags="Food, Events",
            feature_image_alt="A long table",
        ),
        files={"feature_image_file": image(PNG)},
    )
    assert resp.status_code == 302
    post_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    post = await services().blog.get_post(db, post_id)
    assert post.status == "draft"
    assert "<script" not in post.html
    assert "<strong>Soup</strong>" in post.html
    assert [t.name for t in post.tags] == ["Food", "Events"]
    assert post.feature_image is not None
    assert post.feature_image.startswith("/media/images/")
    stored = media_root / post.feature_image.removeprefix("/media/")
    # What is stored is the image re-encoded (decoded, checked, written again).
    with Image.open(stored) as kept:
        assert (kept.format, kept.size) == ("PNG", (8, 6))
    # The file is the blog's, uploaded by this editor: no member's profile may take it.
    owners = (
        await db.execute(
            select(MediaOwner.domain, MediaOwner.user_id).where(MediaOwner.name == stored.name)
        )
    ).all()
    assert [tuple(o) for o in owners] == [("blog", editor.user_id)]  # type: ignore[attr-defined]
    served = await editor.get(post.feature_image)
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert "immutable" in served.headers["Cache-Control"]

    listing = await (await editor.get("/editor/posts", headers=BROWSER)).get_data(as_text=True)
    assert "Harvest supper" in listing
    assert "draft" in listing
    form_html = await (await editor.get(f"/editor/posts/{post_id}")).get_data(as_text=True)
    assert '<textarea id="f-html" name="html"' in form_html
    preview = await editor.get(f"/editor/posts/{post_id}/preview")
    assert preview.status_code == 200
    assert "no-store" in preview.headers["Cache-Control"]
    assert "<strong>Soup</strong>" in await preview.get_data(as_text=True)
    assert (await app.test_client().get("/posts/harvest-supper")).status_code == 404

    # Edit keeps the image; publish; unpublish; publish; delete after confirming.
    resp = await editor.post(
        f"/editor/posts/{post_id}",
        form=post_form(token, title="Harvest supper!", html="<p>New</p>"),
    )
    assert resp.status_code == 302
    post = await services().blog.get_post(db, post_id)
    assert (post.title, post.html, post.feature_image is not None) == (
        "Harvest supper!",
        "<p>New</p>",
        True,
    )
    for action, status in (
        ("publish", "published"),
        ("unpublish", "draft"),
        ("publish", "published"),
    ):
        resp = await editor.post(f"/editor/posts/{post_id}/{action}", form={"csrf_token": token})
        assert resp.status_code == 302
        assert (await services().blog.get_post(db, post_id)).status == status
    assert (await app.test_client().get(f"/posts/{post.slug}")).status_code == 200
    confirm = await editor.get(f"/editor/posts/{post_id}/delete", headers=BROWSER)
    assert "Delete “Harvest supper!”?" in await confirm.get_data(as_text=True)
    resp = await editor.post(f"/editor/posts/{post_id}/delete", form={"csrf_token": token})
    assert resp.status_code == 302
    assert await count_posts(db) == 0


async def test_scheduling_takes_a_local_time_and_its_zone(editor: Client, db: AsyncSession) -> None:
    draft = await factories.post(db, "Later", publish=False)
    await db.commit()
    token = await token_of(editor)
    local = (datetime.now(UTC) + timedelta(days=3)).astimezone().replace(tzinfo=None)
    local = local.replace(second=0, microsecond=0)
    resp = await editor.post(
        f"/editor/posts/{draft.id}/schedule",
        form={
            "csrf_token": token,
            "at": local.strftime("%Y-%m-%dT%H:%M"),
            "timezone": "Asia/Tokyo",
        },
    )
    assert resp.status_code == 302
    post = await services().blog.get_post(db, draft.id)
    assert post.status == "scheduled"
    assert post.published_at is not None
    from zoneinfo import ZoneInfo

    assert post.published_at == local.replace(tzinfo=ZoneInfo("Asia/Tokyo"))
    for form, code in (
        ({"at": "2001-01-01T10:00", "timezone": "UTC"}, "schedule_in_past"),
        ({"at": "tomorrow", "timezone": "UTC"}, "invalid_datetime"),
        ({"at": "2999-01-01T10:00", "timezone": "Mars/Olympus"}, "invalid_timezone"),
    ):
        await services().blog.unpublish(db, draft.id)
        await db.commit()
        resp = await editor.post(
            f"/editor/posts/{draft.id}/schedule", form={"csrf_token": token, **form}
        )
        assert resp.status_code == 400
        assert f'data-error-code="{code}"' in await resp.get_data(as_text=True)
        assert (await services().blog.get_post(db, draft.id)).status == "draft"


@pytest.mark.parametrize(
    ("fields", "upload", "code", "status"),
    [
        ({"title": "  "}, None, "title_required", 400),
        ({"title": "T", "slug": "Not A Slug"}, None, "invalid_slug", 400),
        ({"title": "T"}, image(b"<svg onload='alert(1)'/>", "x.png"), "upload_type", 400),
        ({"title": "T"}, image(PNG + b"\x00" * 2000), "upload_too_large", 413),
        # Starts like a PNG, but is not one.
        ({"title": "T"}, image(PNG[:40] + b"\x00" * 60), "upload_type", 400),
        ({"title": "T"}, image(png_header_only(30000, 30000)), "upload_dimensions", 400),
        ({"title": "T"}, image(png_header_only(5000, 20)), "upload_dimensions", 400),
        # 30 frames of 4096x4096 in 700 bytes: half a billion pixels to decode.
        (
            {"title": "T"},
            image(animated_gif_bytes(4096, 4096, 30), "a.gif", "image/gif"),
            "upload_too_many_pixels",
            400,
        ),
        ({"title": "T", "visibility": "paid"}, None, "invalid_visibility", 400),
    ],
)
async def test_bad_input_shows_the_error_and_writes_nothing(
    editor: Client,
    db: AsyncSession,
    media_root: Path,
    fields: dict[str, str],
    upload: FileStorage | None,
    code: str,
    status: int,
) -> None:
    token = await token_of(editor)
    resp = await editor.post(
        "/editor/posts",
        form=post_form(token, html="<p>Kept</p>", **fields),
        files={"feature_image_file": upload} if upload else None,
    )
    assert resp.status_code == status
    html = await resp.get_data(as_text=True)
    assert f'data-error-code="{code}"' in html
    assert "&lt;p&gt;Kept&lt;/p&gt;</textarea>" in html  # what was typed comes back
    assert await count_posts(db) == 0
    assert stored_files(media_root) == []


async def test_a_full_disk_refuses_the_post_clearly_and_writes_nothing(
    editor: Client,
    db: AsyncSession,
    media_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = await token_of(editor)

    def no_space(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # The disk is full where the media store writes (the operating system's write fails).
    monkeypatch.setattr(os, "write", no_space)
    resp = await editor.post(
        "/editor/posts",
        form=post_form(token, title="Full", html="<p>Kept</p>"),
        files={"feature_image_file": image(PNG)},
    )
    monkeypatch.undo()
    assert resp.status_code == 503
    html = await resp.get_data(as_text=True)
    assert 'data-error-code="media_store_full"' in html
    assert "run out of storage space" in html
    assert "&lt;p&gt;Kept&lt;/p&gt;</textarea>" in html  # what was typed comes back
    assert await count_posts(db) == 0
    assert stored_files(media_root) == []
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


async def test_members_are_refused_and_csrf_is_required(
    app: RoseQuart, editor: Client, db: AsyncSession
) -> None:
    draft = await factories.post(db, "Secret", publish=False)
    await db.commit()
    member = await signed_in(app, db, "molly")
    async with member.session_transaction() as cookie:
        cookie["_csrf"] = "member-token-" + "m" * 20
    assert (await member.get("/editor/posts")).status_code == 403
    assert (await member.get(f"/editor/posts/{draft.id}/preview")).status_code == 403
    for path in (
        "/editor/posts",
        f"/editor/posts/{draft.id}",
        f"/editor/posts/{draft.id}/publish",
        f"/editor/posts/{draft.id}/delete",
    ):
        form = post_form("member-token-" + "m" * 20, title="Hijacked")
        assert (await member.post(path, form=form)).status_code == 403, path
    # An editor without the token changes nothing either.
    resp = await editor.post(f"/editor/posts/{draft.id}/publish", form={})
    assert resp.status_code == 400
    assert (await services().blog.get_post(db, draft.id)).status == "draft"
    assert (await services().blog.get_post(db, draft.id)).title == "Secret"


@pytest.mark.parametrize(
    "path",
    [
        "/media/../config.yaml",
        "/media/images/../../etc/passwd",
        "/media/images/%2e%2e%2fsecret.png",
        "/media/images/abc.png",
        "/media/images/" + "0" * 64 + ".svg",
        "/media/images/" + "0" * 64 + ".png",
    ],
)
async def test_media_serving_refuses_anything_but_stored_names(app: RoseQuart, path: str) -> None:
    assert (await app.test_client().get(path)).status_code == 404


async def test_the_rich_text_editor_loads_for_editors_only(
    app: RoseQuart, editor: Client, db: AsyncSession
) -> None:
    script = '<script src="/static/editor/editor.min.js" defer></script>'
    form = await (await editor.get("/editor/posts/new")).get_data(as_text=True)
    assert script in form
    assert '<textarea id="f-html" name="html" rows="18" data-rich-text ' in form
    member = await signed_in(app, db, "molly")
    for client in (member, app.test_client()):
        assert script not in await (await client.get("/")).get_data(as_text=True)
    assert (await editor.get("/static/editor/editor.min.js")).status_code == 200


# --- the rich-text editor's image and embed buttons -------------------------------------------


def real_png() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (4, 3), (200, 40, 80)).save(out, format="PNG")
    return out.getvalue()


async def test_the_image_button_uploads_into_the_body_and_bad_files_change_nothing(
    app: RoseQuart, editor: Client, db: AsyncSession, media_root: Path
) -> None:
    token = await token_of(editor)
    form = await (await editor.get("/editor/posts/new", headers=BROWSER)).get_data(as_text=True)
    assert 'data-image-upload="/editor/images"' in form
    assert 'data-embed-search="/editor/embeds"' in form
    headers = {"X-CSRF-Token": token, "Accept": "application/json"}
    resp = await editor.post("/editor/images", files={"image": image(real_png())}, headers=headers)
    assert resp.status_code == 200
    answer = await resp.get_json()
    assert answer["url"].startswith("/media/images/")
    assert (answer["width"], answer["height"]) == (4, 3)
    assert (await editor.get(answer["url"])).status_code == 200
    [stored] = stored_files(media_root)
    # Not an image, or none: refused with its code, nothing stored.
    for files in ({"image": image(b"<svg/>", "x.svg", "image/svg+xml")}, {}):
        bad = await editor.post("/editor/images", files=files, headers=headers)
        assert bad.status_code == 400
        assert (await bad.get_json())["error"] in ("upload_type", "upload_empty")
    assert stored_files(media_root) == [stored]
    # Without the token, or as a member, nothing either.
    no_token = await editor.post(
        "/editor/images", files={"image": image(real_png())}, headers={"Accept": "application/json"}
    )
    assert no_token.status_code == 400  # CSRF refused
    member = await signed_in(app, db, "molly")
    assert (await member.get("/editor/embeds?q=rye", headers=BROWSER)).status_code == 403


async def test_the_embed_button_finds_products_and_events_by_title(
    editor: Client, db: AsyncSession
) -> None:
    from shared.contracts import ProductInput
    from tests.events import factories as event_factories

    await services().catalog.create_product(
        db, ProductInput(title="Rye loaf", slug="rye-loaf", price_minor=450)
    )
    soon = (datetime.now(UTC) + timedelta(days=5)).replace(tzinfo=None, microsecond=0)
    await event_factories.event(db, start=soon, end=soon + timedelta(hours=2), title="Rye tasting")
    await event_factories.event(
        db, start=soon, end=soon + timedelta(hours=1), title="Rye draft", status="draft"
    )
    await db.commit()
    found = (await (await editor.get("/editor/embeds?q=rye")).get_json())["results"]
    markers = {r["marker"]: r for r in found}
    assert markers["[product:rye-loaf]"]["title"] == "Rye loaf"
    assert markers["[product:rye-loaf]"]["detail"] == "£4.50"
    [event] = [r for r in found if r["kind"] == "event"]
    assert event["title"] == "Rye tasting"
    assert event["marker"].startswith("[event:rye-tasting")
    assert (await (await editor.get("/editor/embeds?q=")).get_json()) == {"results": []}


def test_a_body_embeds_products_and_events_in_order_each_once() -> None:
    from blog.bp.embeds import card_refs

    html = (
        "<p>[event:harvest-supper]</p><p>Text</p><p>[product:rye]</p>"
        '<div data-product="eggs"></div><p>[event:harvest-supper]</p>'
    )
    assert [(r.id, dict(r.args)["slug"]) for r in card_refs(html)] == [
        ("events/event-card", "harvest-supper"),
        ("market/product-card", "rye"),
        ("market/product-card", "eggs"),
    ]
