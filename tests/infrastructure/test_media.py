"""Image work off the event loop and within bounds: every frame's pixels count, a time budget
holds, and a full disk is a clear refusal that leaves nothing behind."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from shared.config import MediaSettings
from shared.contracts.errors import InvalidUpload
from shared.infrastructure import media
from tests.support.images import animated_gif_bytes, png_bytes


def settings_for(root: Path, **overrides: object) -> MediaSettings:
    return MediaSettings(root=str(root), **overrides)  # type: ignore[arg-type]


async def test_a_small_gif_of_many_huge_frames_is_refused_before_any_frame_is_decoded(
    tmp_path: Path,
) -> None:
    bomb = animated_gif_bytes(4096, 4096, 150)
    assert len(bomb) < 4000  # 150 frames of 16.7 million pixels each, in 3.5 KB
    with pytest.raises(InvalidUpload) as refused:
        await media.prepare(bomb, settings_for(tmp_path), "media")
    assert refused.value.code == "upload_too_many_pixels"
    assert refused.value.status == 400


async def test_an_animation_within_the_bound_keeps_its_frames(tmp_path: Path) -> None:
    gif = animated_gif_bytes(64, 64, 12)
    prepared = await media.prepare(gif, settings_for(tmp_path), "media")
    with Image.open(io.BytesIO(prepared.data)) as again:
        assert (again.format, again.size, again.n_frames) == ("GIF", (64, 64), 12)
    # The bound is over all frames: the same animation with a lower one is refused.
    with pytest.raises(InvalidUpload) as refused:
        await media.prepare(gif, settings_for(tmp_path, max_total_pixels=64 * 64 * 11), "m")
    assert refused.value.code == "upload_too_many_pixels"


async def test_image_work_that_outlasts_its_budget_is_refused(tmp_path: Path) -> None:
    # No budget at all: the work, done in a worker thread, cannot be finished in it.
    with pytest.raises(InvalidUpload) as refused:
        await media.prepare(png_bytes(32, 32), settings_for(tmp_path, work_budget_s=0), "m")
    assert refused.value.code == "upload_too_complex"


async def test_a_full_disk_is_a_clear_refusal_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path / "media")
    prepared = await media.prepare(png_bytes(8, 8), settings, "media")

    def no_space(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", no_space)
    with pytest.raises(media.MediaStoreFull) as refused:
        await media.store(prepared, settings)
    monkeypatch.undo()
    assert (refused.value.code, refused.value.status) == ("media_store_full", 503)
    assert [p for p in (tmp_path / "media").rglob("*") if p.is_file()] == []
    assert "is full" in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
    # With room again, the same image is stored.
    assert (await media.store(prepared, settings)).startswith("/media/images/")
