"""The platform's status page for admins (federation's /admin/status): the queues, the last
Ghost sync, scrapes and backup, and each app's readiness, in words; admins only, linked from
the admin home."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import APP_NAMES
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.operations import GHOST_SCHEDULE_KEY
from tests.federation.test_admin import HTML, signed_in_as
from tests.support.live import Platform

PATH = "/admin/status"


async def seed(db: AsyncSession) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    activity = await db.scalar(
        text(
            "INSERT INTO ap_activities (uri, actor_app, activity_type, payload) "
            "VALUES ('https://status.example/a/1', 'blog', 'Create', '{}') RETURNING id"
        )
    )
    for n, (status, attempts) in enumerate((("pending", 0), ("pending", 3), ("dead", 16))):
        await db.execute(
            text(
                "INSERT INTO ap_deliveries (activity_id, inbox_url, host, status, attempts,"
                " next_attempt_at) VALUES (:a, :inbox, 'status.example', :s, :n, :later)"
            ),
            {
                "a": activity,
                "inbox": f"https://status.example/{n}",
                "s": status,
                "n": attempts,
                "later": later,
            },
        )
    await db.execute(
        text(
            "INSERT INTO ghost_state (name, value) VALUES (:name, CAST(:v AS jsonb)) "
            "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value"
        ),
        {
            "name": GHOST_SCHEDULE_KEY,
            "v": '{"last_run_at": "2026-12-01T03:00:00+00:00", "error": "ghost_unreachable"}',
        },
    )
    await db.flush()


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def in_the_tests_transaction(
    session_factory: async_sessionmaker[AsyncSession],
) -> Callable[[RoseQuart], None]:
    """Federation's requests run in the test's transaction (they see its seeded rows)."""

    def setup(app: RoseQuart) -> None:
        app.extensions["rose"].session_factory = session_factory

    return setup


async def test_an_admin_reads_the_queues_and_each_apps_readiness(
    live: Platform, db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await seed(db)
    await live.serve("blog", "market")  # the other four are not running
    app = await live.consumer("federation", setup=in_the_tests_transaction(session_factory))
    admin = await signed_in_as(app, db, "status_admin", ("admin",))
    resp = await admin.get(PATH, headers=HTML)
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)
    text_ = words(html)
    assert (
        "1 is waiting for a first try, 1 is being retried after failing, and 1 was given up (dead)"
        in text_
    )
    assert "status.example" in html
    assert "failed (ghost_unreachable)" in text_
    assert "No email is waiting to be sent; none has failed." in text_
    assert re.search(r'data-app="blog" data-ready="yes"', html)
    assert re.search(r'data-app="market" data-ready="yes"', html)
    for name in ("cart", "events", "account"):
        assert re.search(rf'data-app="{name}" data-ready="no"', html), name
    assert "Blog is ready." in text_
    assert "Cart is not answering" in text_
    assert len(re.findall(r"data-app=", html)) == len(APP_NAMES)

    assert "No backup recorded yet" in text_

    await db.execute(
        text(
            "INSERT INTO backup_runs (finished_at, name, total_bytes, schema_revision) VALUES"
            " ('2026-12-01T12:00:00+00:00', 'rose-ash-20261201T115900Z', 1234567, '0027'),"
            " ('2026-11-30T12:00:00+00:00', 'rose-ash-20261130T115900Z', 99, '0027')"
        )
    )
    await db.flush()
    html = await (await admin.get(PATH, headers=HTML)).get_data(as_text=True)
    text_ = words(html)
    assert "No backup recorded yet" not in text_
    assert re.search(
        r"The last backup finished 1 December 2026, \d\d:\d\d \S+; it holds 1\.2 MB "
        r"\(rose-ash-20261201T115900Z\)\.",
        text_,
    ), text_

    # Images waiting to be erased (decision 0112): one for more than an hour, failing.
    assert "No image is waiting to be erased" in text_
    await db.execute(
        text(
            "INSERT INTO media_erasures (name, store, requested_at, attempts, last_error) VALUES"
            " ('a.png', 'social', now() - interval '2 hours', 4,"
            " '/var/lib/rose-ash/media-social/images is not a directory here'),"
            " ('b.png', 'social', now(), 0, NULL)"
        )
    )
    await db.flush()
    text_ = words(await (await admin.get(PATH, headers=HTML)).get_data(as_text=True))
    assert re.search(
        r"2 images are waiting to be erased, the oldest since .+; 1 failed and will be tried "
        r"again; 1 has waited more than an hour\. The last error: /var/lib/rose-ash/"
        r"media-social/images is not a directory here\.",
        text_,
    ), text_

    home = await (await admin.get("/admin/", headers=HTML)).get_data(as_text=True)
    assert f'{live.url("federation")}{PATH}"' in home, "linked from the admin home"


async def test_only_admins_see_it(
    live: Platform, db: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    app = await live.consumer("federation", setup=in_the_tests_transaction(session_factory))
    anonymous = app.test_client()
    resp = await anonymous.get(PATH, headers=HTML)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/auth/login")
    for username, roles in (("status_member", ()), ("status_editor", ("editor",))):
        client = await signed_in_as(app, db, username, roles)
        resp = await client.get(PATH, headers=HTML)
        assert resp.status_code == 403, username
