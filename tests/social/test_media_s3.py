"""Media in an object store (media.backend: s3) against a real S3-compatible server: uploads
become objects, every app serves them at the same /media URLs as from a directory, and erasing
a member from any app (the account app has no media volume) queues their objects' erasure,
which the worker carries out, retrying while the store refuses, after which the URLs answer
404 everywhere."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from quart.datastructures import FileStorage
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from account import personal
from shared.config import Settings
from shared.db import run_after_commit
from shared.infrastructure import media, media_erasure
from shared.infrastructure.factory import RoseQuart
from shared.models import MediaErasure, SocialStatus
from shared.services.registry import build_services
from tests.social.factories import FED, social_member, token
from tests.support.objectstore import S3Server, ThrottlingS3
from tests.support.settings import AppMaker, make_settings


@pytest.fixture
def settings(database_url: str, redis_url: str, s3_server: S3Server) -> Settings:
    return make_settings(database_url, redis_url, **s3_server.env())


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (40, 120, 200)).save(out, "JPEG")
    return out.getvalue()


async def test_an_upload_is_an_object_served_at_the_same_url_by_every_app(
    make_app: AppMaker,
    settings: Settings,
    s3_server: S3Server,
) -> None:
    prepared = await media.prepare(jpeg(), settings.media, "image")
    url = await media.store(prepared, settings.media)
    name = url.rsplit("/", 1)[1]
    assert url == f"/media/images/{name}"
    assert s3_server.keys() == [f"images/{name}"]
    assert media.stored_image_size(url, settings.media) == (64, 48)

    for app_name in ("blog", "federation"):
        app = await make_app(app_name, app_settings=settings)
        resp = await app.test_client().get(url)
        assert resp.status_code == 200, app_name
        assert await resp.get_data() == prepared.data
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] == media.CACHE_CONTROL
        missing = await app.test_client().get(f"/media/images/{'0' * 64}.png")
        assert missing.status_code == 404

    assert media_erasure.erase_file(settings.media, "blog", name) is True
    assert s3_server.keys() == []
    resp = await (await make_app("federation", app_settings=settings)).test_client().get(url)
    assert resp.status_code == 404


async def test_erasing_a_member_removes_their_objects_wherever_the_erasure_runs(
    app: RoseQuart,
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    s3_server: S3Server,
    database_url: str,
    redis_url: str,
) -> None:
    ash = await social_member(app, db, "ash")
    resp = await ash.post(
        "/social/statuses",
        form={"csrf_token": await token(ash), "text": "Crumb shot", "alt_0": "Crumb"},
        files={"media_0": FileStorage(io.BytesIO(jpeg()), "p.jpg", content_type="image/jpeg")},
        headers={"Origin": FED},
    )
    assert resp.status_code == 303
    await db.commit()
    status = await db.scalar(select(SocialStatus).where(SocialStatus.content.contains("Crumb")))
    assert status is not None
    url = status.attachments[0]["url"]
    path = url[url.index("/media/") :]
    assert len(s3_server.keys()) == 1
    assert (await app.test_client().get(path)).status_code == 200

    # The erasure runs as the account app runs it (its own services, no media volume of its
    # own): it queues the object's erasure, as it would a file's (decision 0112).
    registry = build_services(settings)
    await personal.erase(db, registry, ash.user_id)  # type: ignore[attr-defined]
    await db.commit()
    await run_after_commit(db)
    assert len(s3_server.keys()) == 1
    [queued] = list(await db.scalars(select(MediaErasure)))
    assert (queued.store, queued.done_at) == ("social", None)
    queued_id = queued.id

    # The worker's stage, while the store answers every delete with S3's "slow down": the
    # failure is recorded, the object stays, and it waits for its retry.
    throttled = ThrottlingS3(s3_server)
    try:
        worker = make_settings(database_url, redis_url, **throttled.env())
        assert await media_erasure.erase_due(session_factory, worker.media, "social") == 0
        assert throttled.refused > 0
    finally:
        throttled.close()
    db.expire_all()
    failed = await db.get(MediaErasure, queued_id)
    assert failed is not None
    assert (failed.attempts, failed.done_at, failed.outcome) == (1, None, None)
    assert failed.last_error is not None
    assert "SlowDown" in failed.last_error
    assert len(s3_server.keys()) == 1
    assert (await app.test_client().get(path)).status_code == 200

    # When its time comes the store answers again: removed, seen gone, done.
    await db.execute(update(MediaErasure).values(next_attempt_at=func.now()))
    await db.commit()
    assert await media_erasure.erase_due(session_factory, settings.media, "social") == 1
    assert s3_server.keys() == []
    db.expire_all()
    erased = await db.get(MediaErasure, queued_id)
    assert erased is not None
    assert (erased.attempts, erased.outcome, erased.last_error) == (2, "erased", None)
    assert (await app.test_client().get(path)).status_code == 404
