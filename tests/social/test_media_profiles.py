"""The social hub's uploads, profiles, suspended accounts and personal data: images on posts
(checked by their content, re-encoded without metadata, federated as Mastodon sends them),
avatars and headers on the actor, 410 Gone for suspended and erased members, and the
member's part of the data export and erasure — through the real apps, the real database and
the OutboxProcessor delivering to a remote server on loopback."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from quart.datastructures import FileStorage
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from account import personal
from shared.config import Settings
from shared.contracts import PersonalData, implements
from shared.db import run_after_commit
from shared.errors import Conflict
from shared.infrastructure import media_erasure
from shared.infrastructure.factory import RoseQuart
from shared.models import ApActivity, SocialAccount, SocialFollow, SocialStatus, User
from shared.services.federation.outbox import OutboxProcessor
from shared.services.registry import build_services
from tests.identity.factories import signed_in
from tests.social.factories import (
    AS,
    FED,
    HTML,
    activity,
    form_post,
    home_html,
    note,
    send,
    social_member,
    token,
)
from tests.support.activitypub import LoopbackServer, RemoteActor, make_actor
from tests.support.settings import AppMaker, make_settings

MAX_BYTES = 200_000
MAX_DIMENSION = 512


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def settings(database_url: str, redis_url: str, media_root: Path) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        ROSE_MEDIA__ROOT=str(media_root),
        ROSE_MEDIA__MAX_BYTES=str(MAX_BYTES),
        ROSE_MEDIA__MAX_DIMENSION=str(MAX_DIMENSION),
    )


def image(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, fmt, **save)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "secret-location-51.5N"  # ImageDescription
    exif[0x010F] = "SpyCam"  # Make
    return image("JPEG", exif=exif.tobytes())


def upload(data: bytes, name: str = "photo.jpg", mimetype: str = "image/jpeg") -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name, content_type=mimetype)


async def multipart(client: Client, path: str, files: dict[str, FileStorage], **fields: str) -> Any:
    return await client.post(
        path,
        form={"csrf_token": await token(client), **fields},
        files=files,
        headers={"Origin": FED},
    )


async def worker_erases(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> int:
    """What the worker's stage does with the files released so far (they are queued)."""
    return await media_erasure.erase_due(session_factory, settings.media, "social")


def stored(root: Path) -> list[Path]:
    return sorted(p for p in (root / "images").glob("*") if p.is_file()) if root.exists() else []


async def remote_follower(
    app: RoseQuart, remote: LoopbackServer, processor: OutboxProcessor, username: str
) -> RemoteActor:
    carol = make_actor(remote, "carol")
    inbox = f"/users/{username}/inbox"
    resp = await send(app, carol, activity(carol, "Follow", f"{FED}/users/{username}"), inbox)
    assert resp.status_code == 202
    await processor.run_once()
    assert [r.json()["type"] for r in remote.received] == ["Accept"]
    remote.received.clear()
    return carol


# --- images on posts ---------------------------------------------------------------------


async def test_a_post_with_images_reaches_the_peer_as_attachments(
    app: RoseQuart,
    db: AsyncSession,
    remote: LoopbackServer,
    processor: OutboxProcessor,
    media_root: Path,
) -> None:
    ash = await social_member(app, db, "ash")
    await remote_follower(app, remote, processor, "ash")

    resp = await multipart(
        ash,
        "/social/statuses",
        {
            "media_0": upload(jpeg_with_exif()),
            "media_1": upload(image("PNG", (40, 30)), "diagram.png", "image/png"),
        },
        text="Today's loaves",
        alt_0="Three sourdough loaves on a rack",
        alt_1="How the starter is fed",
    )
    assert resp.status_code == 303, await resp.get_data(as_text=True)
    await db.commit()
    await processor.run_once()

    [delivered] = remote.received
    create = delivered.json()
    assert create["type"] == "Create"
    attachments = create["object"]["attachment"]
    assert [(a["type"], a["mediaType"], a["name"]) for a in attachments] == [
        ("Document", "image/jpeg", "Three sourdough loaves on a rack"),
        ("Document", "image/png", "How the starter is fed"),
    ]
    assert (attachments[0]["width"], attachments[0]["height"]) == (64, 48)
    assert all(a["url"].startswith(f"{FED}/media/images/") for a in attachments)

    # The files are served by federation at that stable URL, immutable and never sniffed.
    client = app.test_client()
    for a in attachments:
        resp = await client.get(a["url"].removeprefix(FED))
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == a["mediaType"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "immutable" in resp.headers["Cache-Control"]
        assert "max-age=31536000" in resp.headers["Cache-Control"]
    # Re-encoded: the EXIF the camera wrote is gone, the image is still an image.
    files = stored(media_root)
    assert len(files) == 2
    jpeg = next(p for p in files if p.suffix == ".jpg")
    assert b"secret-location" not in jpeg.read_bytes()
    assert b"SpyCam" not in jpeg.read_bytes()
    with Image.open(jpeg) as decoded:
        assert decoded.getexif() == {}

    # The member's own images are shown inline, with their alt text.
    html = await home_html(ash)
    assert 'alt="Three sourdough loaves on a rack"' in html
    assert '<img src="' + attachments[0]["url"] in html


@pytest.mark.parametrize(
    ("data", "name", "status", "code"),
    [
        (b"<html><script>alert(1)</script></html>", "cat.png", 400, "upload_type"),
        (b"\x89PNG\r\n\x1a\n" + b"not really a png" * 20, "fake.png", 400, "upload_type"),
        (b"GIF89a" + b"\x00" * (MAX_BYTES + 1), "big.gif", 413, "upload_too_large"),
        (image("PNG", (MAX_DIMENSION + 1, 10)), "wide.png", 400, "upload_dimensions"),
        (b"", "empty.png", None, None),  # an empty file field is no upload at all
    ],
)
async def test_bad_uploads_are_refused_and_nothing_is_written(
    app: RoseQuart,
    db: AsyncSession,
    media_root: Path,
    data: bytes,
    name: str,
    status: int | None,
    code: str | None,
) -> None:
    ash = await social_member(app, db, "ash")
    resp = await multipart(
        ash, "/social/statuses", {"media_0": upload(data, name, "image/png")}, text=""
    )
    body = await resp.get_data(as_text=True)
    # Without an image the empty post is refused for its text; with a bad one, for the image.
    assert resp.status_code == (status or 400), body
    assert ("Upload a PNG" in body) == (code == "upload_type")
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 0
    assert await db.scalar(select(func.count()).select_from(ApActivity)) == 0
    assert stored(media_root) == []


async def test_at_most_four_images_and_alt_text_has_a_limit(
    app: RoseQuart, db: AsyncSession, media_root: Path
) -> None:
    ash = await social_member(app, db, "ash")
    five = {
        f"media_{i}": upload(image("PNG", (8 + i, 8)), f"{i}.png", "image/png") for i in range(5)
    }
    resp = await multipart(ash, "/social/statuses", five, text="Too many")
    assert resp.status_code == 400
    assert "At most 4 images" in await resp.get_data(as_text=True)
    resp = await multipart(
        ash, "/social/statuses", {"media_0": upload(image())}, text="Long alt", alt_0="x" * 1501
    )
    assert resp.status_code == 400
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 0
    assert stored(media_root) == []


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: about 3 * side**2 bytes, before and after re-encoding."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


async def test_four_images_at_the_size_limit_fit_in_one_post(
    make_app: AppMaker, db: AsyncSession, database_url: str, redis_url: str, media_root: Path
) -> None:
    # Four images just under media.max_bytes come to more than the other apps' 10 MB cap.
    limit = 3_000_000
    app = await make_app(
        "federation",
        app_settings=make_settings(
            database_url,
            redis_url,
            ROSE_MEDIA__ROOT=str(media_root),
            ROSE_MEDIA__MAX_BYTES=str(limit),
        ),
    )
    images = [noise_png(990 + i) for i in range(4)]
    assert all(2_900_000 < len(data) < limit for data in images)
    assert sum(map(len, images)) > 10 * 1024 * 1024
    ash = await social_member(app, db, "ash")
    files = {f"media_{i}": upload(data, f"{i}.png", "image/png") for i, data in enumerate(images)}
    resp = await multipart(ash, "/social/statuses", files, text="The whole harvest")
    assert resp.status_code == 303, await resp.get_data(as_text=True)
    assert len(stored(media_root)) == 4
    # Past the cap (four images and the form) the request is refused whole.
    files = {f"media_{i}": upload(data, f"{i}.png", "image/png") for i, data in enumerate(images)}
    resp = await multipart(
        ash, "/social/statuses", files, text="Too much", spoiler_text="x" * 2_000_000
    )
    assert resp.status_code == 413
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 1
    assert len(stored(media_root)) == 4


async def test_remote_attachments_are_linked_never_loaded(
    app: RoseQuart, db: AsyncSession, remote: LoopbackServer
) -> None:
    ash = await social_member(app, db, "ash")
    alice = make_actor(remote, "alice")
    # ash follows alice (accepted), then her post with an image on a private address arrives.
    social = build_services(app.extensions["rose"].settings).social
    found = await social.resolve_account(db, alice.id)
    await social.follow(db, ash.user_id, found.id)  # type: ignore[attr-defined]
    await db.execute(update(SocialFollow).values(state="accepted"))
    await db.commit()
    attached = note(
        alice,
        "<p>Look</p>",
        attachment=[
            {
                "type": "Document",
                "mediaType": "image/png",
                "url": "http://10.0.0.7/private.png",
                "name": "A hidden image",
            }
        ],
    )
    resp = await send(app, alice, activity(alice, "Create", attached), "/ap/inbox")
    assert resp.status_code == 202
    html = await home_html(ash)
    assert 'href="http://10.0.0.7/private.png"' in html
    assert "A hidden image" in html
    assert 'src="http://10.0.0.7' not in html


# --- profiles --------------------------------------------------------------------------------


async def test_a_member_uploads_an_avatar_and_header_and_followers_get_the_update(
    app: RoseQuart,
    make_app: AppMaker,
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    remote: LoopbackServer,
    processor: OutboxProcessor,
    media_root: Path,
) -> None:
    ash = await social_member(app, db, "ash")
    await remote_follower(app, remote, processor, "ash")
    resp = await multipart(
        ash,
        "/social/profile",
        {
            "avatar": upload(image("PNG", (96, 96)), "me.png", "image/png"),
            "header": upload(image("JPEG", (300, 100))),
        },
        display_name="Ash Grove",
        bio="Bakes bread <b>daily</b>.",
        field_name_0="Bakery",
        field_value_0="Rose Ash café",
        discoverable="on",
    )
    assert resp.status_code == 303, await resp.get_data(as_text=True)
    await db.commit()

    person = await (await app.test_client().get("/users/ash", headers=AS)).get_json()
    assert person["name"] == "Ash Grove"
    assert person["summary"] == "<p>Bakes bread &lt;b&gt;daily&lt;/b&gt;.</p>"
    assert person["icon"]["type"] == "Image"
    assert person["icon"]["url"].startswith(f"{FED}/media/images/")
    assert person["icon"]["url"].endswith(".png")
    assert person["image"]["url"].endswith(".jpg")
    assert person["attachment"] == [
        {"type": "PropertyValue", "name": "Bakery", "value": "Rose Ash café"}
    ]
    assert len(stored(media_root)) == 2

    # Followers hear of it: an Update of the Person, delivered to the remote follower.
    await processor.run_once()
    [update] = [r.json() for r in remote.received]
    assert update["type"] == "Update"
    assert update["object"]["icon"]["url"] == person["icon"]["url"]

    # The profile page shows our own images; a bad upload changes nothing.
    page = await home_html(app.test_client(), "/users/ash")
    assert f'src="{person["icon"]["url"]}"' in page
    resp = await multipart(
        ash, "/social/profile", {"avatar": upload(b"MZ\x90\x00 not an image", "x.png")}
    )
    assert resp.status_code == 400
    again = await (await app.test_client().get("/users/ash", headers=AS)).get_json()
    assert again["icon"] == person["icon"]
    assert len(stored(media_root)) == 2

    # The account dashboard shows the avatar and bio (through the social contract).
    account = await make_app("account")
    user_id = ash.user_id  # type: ignore[attr-defined]
    dash = account.test_client()
    async with ash.session_transaction() as mine, dash.session_transaction() as theirs:
        theirs["_auth"] = mine["_auth"]
    html = await home_html(dash, "/")
    assert f'src="{person["icon"]["url"]}"' in html
    assert "Bakes bread &lt;b&gt;daily&lt;/b&gt;." in html
    assert "Ash Grove" in html
    assert user_id

    # A new avatar replaces the old one's file (the header's stays).
    header = person["image"]["url"]
    old_avatar = media_root / "images" / person["icon"]["url"].rsplit("/", 1)[1]
    assert old_avatar in stored(media_root)
    resp = await multipart(
        ash,
        "/social/profile",
        {"avatar": upload(image("PNG", (64, 64)), "new.png", "image/png")},
        header_url=header,
    )
    assert resp.status_code == 303
    # The old file is queued for the worker, which erases it.
    assert old_avatar in stored(media_root)
    await db.commit()
    assert await worker_erases(session_factory, settings) == 1
    assert old_avatar not in stored(media_root)
    assert len(stored(media_root)) == 2
    avatar = (await (await app.test_client().get("/users/ash", headers=AS)).get_json())["icon"]
    # A typed URL that looks like one of our files on another host never removes ours.
    lookalike = "https://elsewhere.example" + avatar["url"].split(FED, 1)[1]
    for typed in (lookalike, ""):
        resp = await multipart(
            ash, "/social/profile", {}, avatar_url=avatar["url"], header_url=typed
        )
        assert resp.status_code == 303
    await db.commit()
    assert await worker_erases(session_factory, settings) == 1
    assert media_root / "images" / avatar["url"].rsplit("/", 1)[1] in stored(media_root)
    assert len(stored(media_root)) == 1  # the header was replaced, then erased


async def test_a_member_points_only_at_their_own_uploads_and_no_file_in_use_goes(
    app: RoseQuart,
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    media_root: Path,
    settings: Settings,
) -> None:
    """The probe's attack: an avatar set to the blog's feature image, then cleared, removed
    the blog's file. A stored file is its uploader's; nothing is removed while used."""
    from shared.infrastructure import media
    from tests.blog import factories as blog_factories

    blog_path = media.store_prepared(
        media.prepare_upload(image("PNG", (80, 40)), settings.media, "image"), settings.media
    )
    blog_name = media.stored_name(blog_path, settings.media)
    assert blog_name is not None
    await media.record_owner(db, blog_name, "blog", None)
    await blog_factories.post(db, "Harvest", feature_image=blog_path)
    await db.commit()
    blog_file = media_root / "images" / blog_name

    ash = await social_member(app, db, "ash")
    for typed in (FED + blog_path, "http://127.0.0.1:8001" + blog_path):
        resp = await multipart(ash, "/social/profile", {}, avatar_url=typed)
        assert resp.status_code == 400, typed
        assert 'data-error-code="social_not_your_image"' in await resp.get_data(as_text=True)
    resp = await multipart(ash, "/social/profile", {}, avatar_url="", remove_avatar="on")
    assert resp.status_code == 303
    assert blog_file.is_file()

    # Another member's upload is theirs alone, too.
    bea = await social_member(app, db, "bea")
    resp = await multipart(
        bea, "/social/profile", {"avatar": upload(image("PNG", (70, 70)), "b.png", "image/png")}
    )
    assert resp.status_code == 303
    await db.commit()
    beas = (await (await app.test_client().get("/users/bea", headers=AS)).get_json())["icon"]
    resp = await multipart(ash, "/social/profile", {}, avatar_url=beas["url"])
    assert resp.status_code == 400
    # While the blog uses bea's file (an editor typed its address), replacing her avatar
    # keeps it; once nothing uses it, it goes.
    beas_file = media_root / "images" / beas["url"].rsplit("/", 1)[1]
    used = await blog_factories.post(db, "Bea's bread", feature_image=beas["url"])
    await db.commit()
    resp = await multipart(
        bea, "/social/profile", {"avatar": upload(image("PNG", (60, 60)), "c.png", "image/png")}
    )
    assert resp.status_code == 303
    await db.commit()
    await worker_erases(session_factory, settings)
    assert beas_file.is_file()
    assert blog_file.is_file()
    assert used.feature_image == beas["url"]


# --- suspended members -------------------------------------------------------------------------


async def test_a_suspended_member_is_gone_for_other_servers(
    app: RoseQuart, db: AsyncSession
) -> None:
    await social_member(app, db, "ash")
    admin = await social_member(app, db, "rowan", "admin")
    client = app.test_client()
    webfinger = "/.well-known/webfinger?resource=acct:ash@127.0.0.1:8005"
    paths = ["/users/ash", "/users/ash/outbox", "/users/ash/followers", "/@ash"]
    assert (await client.get(webfinger)).status_code == 200
    for path in paths:
        assert (await client.get(path, headers=AS)).status_code in (200, 301), path
    ash_id = await db.scalar(select(SocialAccount.id).where(SocialAccount.username == "ash"))

    resp = await form_post(admin, f"/admin/social/accounts/{ash_id}/suspend")
    assert resp.status_code == 303
    assert (await client.get(webfinger)).status_code == 410
    for path in paths:
        assert (await client.get(path, headers=AS)).status_code == 410, path
        assert (await client.get(path, headers=HTML)).status_code == 410, path
    # Someone who never existed is a plain 404.
    assert (await client.get("/users/nobody", headers=AS)).status_code == 404
    nobody = "/.well-known/webfinger?resource=acct:nobody@127.0.0.1:8005"
    assert (await client.get(nobody)).status_code == 404

    resp = await form_post(admin, f"/admin/social/accounts/{ash_id}/unsuspend")
    assert (await client.get(webfinger)).status_code == 200


# --- personal data -------------------------------------------------------------------------------


async def test_export_and_erasure_of_a_members_social_data(
    app: RoseQuart,
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    remote: LoopbackServer,
    processor: OutboxProcessor,
    media_root: Path,
) -> None:
    registry = build_services(app.extensions["rose"].settings)
    assert implements(registry.social, PersonalData)
    assert "social" in [name for name, _ in personal.providers(registry)]

    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    carol = await remote_follower(app, remote, processor, "ash")
    ash_id = ash.user_id  # type: ignore[attr-defined]
    resp = await multipart(
        ash, "/social/statuses", {"media_0": upload(image())}, text="Crumb shot", alt_0="Crumb"
    )
    assert resp.status_code == 303
    await form_post(ash, "/social/statuses", text="Followers only", visibility="private")
    await form_post(bea, "/social/statuses", text="Bea's own post")
    bea_account = await db.scalar(select(SocialAccount.id).where(SocialAccount.username == "bea"))
    assert (await form_post(ash, f"/social/accounts/{bea_account}/follow")).status_code == 303
    await form_post(ash, f"/social/accounts/{bea_account}/mute")
    await db.commit()
    await processor.run_once()
    remote.received.clear()

    archive = await personal.export(db, registry, ash_id)
    json.dumps(archive)  # JSON-ready
    social = archive["social"]
    assert social["account"]["handle"] == "ash@127.0.0.1:8005"
    assert sorted(p["content"] for p in social["posts"]) == [
        "<p>Crumb shot</p>",
        "<p>Followers only</p>",
    ]
    [with_media] = [p for p in social["posts"] if p["media"]]
    assert with_media["media"][0]["description"] == "Crumb"
    assert social["following"] == [{"uri": f"{FED}/users/bea", "state": "accepted"}]
    assert social["followers"] == [{"uri": carol.id, "state": "accepted"}]
    assert social["blocks"] == [{"uri": f"{FED}/users/bea", "kind": "mute"}]
    assert social["media"] == [with_media["media"][0]["url"]]
    assert len(stored(media_root)) == 1

    await personal.erase(db, registry, ash_id)
    await db.commit()
    await run_after_commit(db)

    # Each post's Delete, then the actor's own, reach the follower (signed by ash's key).
    await processor.run_once()
    deletes = [r.json() for r in remote.received]
    assert [d["type"] for d in deletes] == ["Delete", "Delete", "Delete"]
    assert deletes[-1]["object"] == f"{FED}/users/ash"
    assert all(d["actor"] == f"{FED}/users/ash" for d in deletes)
    # Nothing of theirs is left to read; their files are gone (the worker's stage erases
    # what the erasure queued); the actor is Gone.
    assert len(stored(media_root)) == 1
    assert await worker_erases(session_factory, settings) == 1
    assert stored(media_root) == []
    assert (
        await db.scalar(
            select(func.count())
            .select_from(SocialStatus)
            .join(SocialAccount, SocialAccount.id == SocialStatus.account_id)
            .where(SocialAccount.user_id == ash_id, SocialStatus.content != "")
        )
        == 0
    )
    assert await db.scalar(select(func.count()).select_from(SocialFollow)) == 0
    row = await db.scalar(select(SocialAccount).where(SocialAccount.user_id == ash_id))
    assert row is not None
    assert (row.display_name, row.summary, row.avatar_url, row.fields) == ("", "", None, [])
    client = app.test_client()
    assert (await client.get("/users/ash", headers=AS)).status_code == 410
    assert "Crumb shot" not in await home_html(client, "/social/local")
    assert "Bea's own post" in await home_html(client, "/social/local")
    user = await db.get(User, ash_id)
    assert user is not None
    assert not user.is_active
    assert (await personal.export(db, registry, ash_id))["social"]["posts"] == []

    # The name stays with the gone actor (other servers know its URL as the old ash), and
    # with the erased account: nobody can sign up as ash again.
    assert user.username == "ash"
    with pytest.raises(Conflict) as taken:
        await signed_in(app, db, "ash")
    assert taken.value.code == "username_taken"
    assert (await client.get("/users/ash", headers=AS)).status_code == 410


def test_each_image_type_is_re_encoded_without_its_metadata(settings: Settings) -> None:
    from PIL import PngImagePlugin

    from shared.contracts.errors import InvalidUpload
    from shared.infrastructure import media

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "home-address-secret")
    rgba = io.BytesIO()
    Image.new("RGBA", (20, 10), (0, 0, 0, 0)).save(rgba, "PNG", pnginfo=text)
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    gif = io.BytesIO()
    frames[0].save(
        gif,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=100,
        loop=0,
        comment=b"gif-comment-secret",
    )
    cases = {
        "png": rgba.getvalue(),
        "gif": gif.getvalue(),
        "webp": image("WEBP", (30, 20)),
        "jpg": jpeg_with_exif(),
    }
    for ext, data in cases.items():
        assert (b"secret" in data) == (ext != "webp"), ext  # the metadata is there to drop
        prepared = media.prepare_upload(data, settings.media, "media")
        assert prepared.ext == ext
        assert b"secret" not in prepared.data, ext
        with Image.open(io.BytesIO(prepared.data)) as decoded:
            assert decoded.size == (prepared.width, prepared.height)
    with Image.open(
        io.BytesIO(media.prepare_upload(gif.getvalue(), settings.media, "m").data)
    ) as g:
        assert getattr(g, "n_frames", 1) == 3  # an animation stays one
    # A decompression bomb (a huge canvas in a small file) is refused before it is decoded.
    bomb = io.BytesIO()
    Image.new("1", (MAX_DIMENSION * 8, 8)).save(bomb, "PNG")
    with pytest.raises(InvalidUpload) as refused:
        media.prepare_upload(bomb.getvalue(), settings.media, "media")
    assert refused.value.code == "upload_dimensions"
