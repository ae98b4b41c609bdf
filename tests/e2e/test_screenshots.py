"""`rose-ash screenshots --running` against the suite's demo site: every picture of the set,
at its width, reduced to a palette, the member's pages seen signed in."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from PIL import Image

from shared.tooling.screenshots import HEIGHTS, SHOTS
from tests.e2e.conftest import Site
from tests.support.settings import asyncpg_dsn


async def test_the_command_renders_every_shot_of_the_demo(site: Site, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ROSE_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(DATABASE_URL=site.database_url, REDIS_URL=site.redis_url)
    for app, url in site.urls.items():
        env[f"ROSE_APPS__{app.upper()}__PUBLIC_URL"] = url
        env[f"ROSE_APPS__{app.upper()}__INTERNAL_URL"] = url
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shared.tooling.cli", "screenshots", "--running", "--out",
         str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    expected = {f"{s.name}-{w}.png" for s in SHOTS for w in s.widths}
    assert set(await asyncio.to_thread(os.listdir, tmp_path)) == expected
    for name in expected:
        size, mode = await asyncio.to_thread(_size_and_mode, tmp_path / name)
        width = int(name.rsplit("-", 1)[1].removesuffix(".png"))
        assert size == (width, HEIGHTS[width])
        assert mode == "P", "reduced to a palette"
    # The member's pages were taken signed in: the member it created put the loaf in their
    # own cart (an anonymous visitor's would belong to a cart key).
    dsn, kwargs = asyncpg_dsn(site.database_url)
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        in_cart = await conn.fetchval(
            "SELECT count(*) FROM cart_items c JOIN users u ON u.id = c.user_id"
            " WHERE u.username LIKE 'rowan\\_%' AND u.display_name = 'Rowan Ash'"
        )
    finally:
        await conn.close()
    assert in_cart >= 1


def _size_and_mode(path: Path) -> tuple[tuple[int, int], str]:
    with Image.open(path) as image:
        return image.size, image.mode
