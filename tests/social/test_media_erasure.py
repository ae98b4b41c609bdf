"""Erasing members' files where they live (decision 0112): a release queues the file in its own
transaction, whichever process runs it; the worker's stage of the store erases it there,
re-checking that nothing took it up again, verifying that it is gone, retrying what fails; two
workers side by side erase each file once. Real PostgreSQL, real files in temporary stores."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from quart.datastructures import FileStorage
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from account import personal
from shared.config import Settings
from shared.db import run_after_commit
from shared.infrastructure import media, media_erasure
from shared.infrastructure.factory import RoseQuart
from shared.models import MediaErasure
from shared.services.registry import build_services
from shared.tooling import worker
from tests.blog import factories as blog_factories
from tests.social.factories import AS, FED, social_member, token
from tests.support.settings import make_settings


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    """The social hub's store: where federation keeps its members' files."""
    return tmp_path / "social-media"


@pytest.fixture
def settings(database_url: str, redis_url: str, media_root: Path) -> Settings:
    return make_settings(database_url, redis_url, ROSE_MEDIA__ROOT=str(media_root))


def image(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def stored(root: Path) -> list[Path]:
    return sorted(p for p in (root / "images").glob("*") if p.is_file()) if root.exists() else []


async def upload(client: Client, path: str, files: dict[str, bytes], **fields: str) -> None:
    resp = await client.post(
        path,
        form={"csrf_token": await token(client), **fields},
        files={
            field: FileStorage(io.BytesIO(data), f"{field}.png", content_type="image/png")
            for field, data in files.items()
        },
        headers={"Origin": FED},
    )
    assert resp.status_code == 303, await resp.get_data(as_text=True)


async def erasures(db: AsyncSession) -> list[MediaErasure]:
    db.expire_all()
    return list(await db.scalars(select(MediaErasure).order_by(MediaErasure.id)))


async def make_due(db: AsyncSession) -> None:
    """The erasures' retry time has come."""
    await db.execute(update(MediaErasure).values(next_attempt_at=func.now()))
    await db.commit()


async def avatar_path(app: RoseQuart, username: str) -> str:
    person = await (await app.test_client().get(f"/users/{username}", headers=AS)).get_json()
    url: str = person["icon"]["url"]
    return url[len(FED) :]


async def test_an_erasure_run_without_the_store_queues_the_files_the_worker_erases_them(
    app: RoseQuart,
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    redis_url: str,
    media_root: Path,
    tmp_path: Path,
) -> None:
    ash = await social_member(app, db, "ash")
    await upload(ash, "/social/statuses", {"media_0": image((200, 0, 0))}, text="Red", alt_0="R")
    await upload(ash, "/social/profile", {"avatar": image((0, 0, 200), (96, 96))})
    await db.commit()
    files = stored(media_root)
    assert len(files) == 2
    avatar = await avatar_path(app, "ash")
    assert (await app.test_client().get(avatar)).status_code == 200

    # The account app erases the member: its media root is not the social hub's store.
    account = make_settings(
        database_url, redis_url, ROSE_MEDIA__ROOT=str(tmp_path / "account-has-no-media")
    )
    await personal.erase(db, build_services(account), ash.user_id)  # type: ignore[attr-defined]
    await db.commit()
    await run_after_commit(db)
    assert stored(media_root) == files
    queued = await erasures(db)
    assert sorted((e.store, e.name) for e in queued) == sorted(("social", f.name) for f in files)
    assert all(e.done_at is None and e.attempts == 0 for e in queued)

    # Had the stage run there, it would find no store: nothing is marked done, it waits.
    assert await media_erasure.erase_due(session_factory, account.media, "social") == 0
    assert stored(media_root) == files
    for e in await erasures(db):
        assert (e.attempts, e.done_at, e.outcome) == (1, None, None)
        assert e.last_error is not None
        assert "not mounted" in e.last_error
        assert e.next_attempt_at > e.requested_at

    # The worker mounts the store at media.social_root (its own media.root is elsewhere), and
    # leaves the erasures until their retry time.
    worker = make_settings(
        database_url,
        redis_url,
        ROSE_MEDIA__ROOT=str(tmp_path / "worker-root"),
        ROSE_MEDIA__SOCIAL_ROOT=str(media_root),
    )
    assert await media_erasure.erase_due(session_factory, worker.media, "social") == 0
    assert stored(media_root) == files
    await make_due(db)
    assert await media_erasure.erase_due(session_factory, worker.media, "social") == 2
    assert stored(media_root) == []
    for e in await erasures(db):
        assert (e.attempts, e.outcome, e.last_error) == (2, "erased", None)
        assert e.done_at is not None
    assert (await app.test_client().get(avatar)).status_code == 404
    # Done is done: the stage finds nothing more to do.
    assert await media_erasure.erase_due(session_factory, worker.media, "social") == 0


async def test_a_file_taken_up_again_before_the_stage_runs_is_kept(
    app: RoseQuart,
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    media_root: Path,
) -> None:
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    first, second, third = image((10, 150, 10)), image((10, 10, 150)), image((150, 150, 10))
    await upload(ash, "/social/profile", {"avatar": first})
    first_path = await avatar_path(app, "ash")
    first_file = media_root / "images" / first_path.rsplit("/", 1)[1]

    # A new avatar: the old file is queued, not removed by the request; and another.
    await upload(ash, "/social/profile", {"avatar": second})
    second_path = await avatar_path(app, "ash")
    second_file = media_root / "images" / second_path.rsplit("/", 1)[1]
    await upload(ash, "/social/profile", {"avatar": third})
    await db.commit()
    queued = await erasures(db)
    assert [(e.store, e.name, e.done_at) for e in queued] == [
        ("social", first_file.name, None),
        ("social", second_file.name, None),
    ]
    assert first_file.is_file()
    assert second_file.is_file()

    # Before the worker comes to them, bea uploads the same image as the first (it is hers
    # now) and a post of the blog names the second.
    await upload(bea, "/social/profile", {"avatar": first})
    await blog_factories.post(db, "Blue", feature_image=FED + second_path)
    await db.commit()

    # In `rose-ash up` every store is media.root: the worker's settings are the apps'.
    assert await media_erasure.erase_due(session_factory, settings.media, "social") == 2
    assert first_file.is_file()
    assert second_file.is_file()
    assert [(e.outcome, e.attempts) for e in await erasures(db)] == [("kept", 0), ("kept", 0)]
    assert (await app.test_client().get(await avatar_path(app, "bea"))).status_code == 200

    # Once nothing uses it, a later release erases it after all.
    await upload(bea, "/social/profile", {"avatar": third})
    await db.commit()
    assert await media_erasure.erase_due(session_factory, settings.media, "social") == 1
    assert not first_file.is_file()
    assert [e.outcome for e in await erasures(db)] == ["kept", "kept", "erased"]


# --- workers side by side ----------------------------------------------------------------------


@pytest.fixture
async def engines(
    scratch_database_url: str,
) -> AsyncIterator[list[async_sessionmaker[AsyncSession]]]:
    """Two workers' connections to a database whose work really commits."""
    made = [create_async_engine(scratch_database_url, pool_size=2) for _ in range(2)]
    yield [async_sessionmaker(e, expire_on_commit=False) for e in made]
    for e in made:
        await e.dispose()


async def test_two_workers_side_by_side_erase_each_file_once(
    engines: list[async_sessionmaker[AsyncSession]],
    scratch_database_url: str,
    tmp_path: Path,
) -> None:
    root = tmp_path / "media"
    (root / "images").mkdir(parents=True)
    names = []
    for n in range(16):
        data = f"file {n}".encode()
        name = f"{hashlib.sha256(data).hexdigest()}.png"
        (root / "images" / name).write_bytes(data)
        names.append(name)
    first, second = engines
    async with first.begin() as session:
        session.add_all(MediaErasure(name=name, store="social") for name in names)
    worker = make_settings(scratch_database_url, "redis://unused", ROSE_MEDIA__ROOT=str(root))

    done = await asyncio.gather(
        *(
            media_erasure.erase_due(factory, worker.media, "social", limit=len(names))
            for factory in (first, second, first, second)
        )
    )
    assert sum(done) == len(names)
    assert stored(root) == []
    async with second() as session:
        rows = list(await session.scalars(select(MediaErasure)))
    assert sorted(r.name for r in rows) == sorted(names)
    assert {(r.attempts, r.outcome) for r in rows} == {(1, "erased")}


async def test_the_worker_process_erases_what_a_release_queued(
    engines: list[async_sessionmaker[AsyncSession]],
    scratch_database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    """`rose-ash worker` runs the social hub's stage (the domain registers it), with the store
    where media.social_root names it."""
    store = tmp_path / "social-volume"
    (store / "images").mkdir(parents=True)
    data = image((90, 30, 60))
    name = f"{hashlib.sha256(data).hexdigest()}.png"
    (store / "images" / name).write_bytes(data)
    sessions, _ = engines
    async with sessions.begin() as session:
        await media.record_owner(session, name, "social", None)
    async with sessions.begin() as session:
        await media.release(session, name, "social", None)
    assert (store / "images" / name).is_file()

    settings = make_settings(
        scratch_database_url,
        redis_url,
        ROSE_MEDIA__ROOT=str(tmp_path / "worker-root"),
        ROSE_MEDIA__SOCIAL_ROOT=str(store),
    )
    assert await worker.run(settings, heartbeat=tmp_path / "beat", once=True) == 0
    assert not (store / "images" / name).exists()
    async with sessions() as session:
        row = await session.scalar(select(MediaErasure).where(MediaErasure.name == name))
    assert row is not None
    assert (row.store, row.outcome, row.attempts) == ("social", "erased", 1)
