"""Staff pages for the delivery queue at federation: admins see the queue, failures and dead
letters and can retry; members are refused (403) and anonymous visitors are sent to sign in.
(tests/infrastructure/test_auth.py checks that every /admin route of every app requires the
admin role.)"""

from __future__ import annotations

import re

from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ApObjectDTO, FederationService
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.staff import STAFF_PAGES
from shared.models import ApDelivery, ApFollower
from shared.services.federation.outbox import OutboxProcessor
from shared.services.identity.service import SqlIdentityService
from tests.identity.factories import client_signed_in, make_member
from tests.support import BROWSER_ACCEPT, csrf_in
from tests.support.activitypub import LoopbackServer
from tests.support.settings import AppMaker

HTML = {"Accept": BROWSER_ACCEPT}
PAGES = ("/admin/federation/", "/admin/federation/?view=dead", "/admin/federation/deliveries/1")
ACTIONS = ("/admin/federation/retry-dead", "/admin/federation/deliveries/1/retry")


async def signed_in_as(
    app: RoseQuart, db: AsyncSession, username: str, roles: tuple[str, ...] = ()
) -> QuartClient:
    """A browser at ``app`` signed in as a new member with ``roles`` (as after sign-on)."""
    account = await make_member(db, username, roles=roles)
    session = await SqlIdentityService(b"k").start_session(db, account.id)
    await db.flush()
    client = await client_signed_in(app, account.id, session.sid)
    return client


async def csrf_token(client: QuartClient) -> str:
    """The CSRF token of this browser's session, from a form page it can open."""
    return csrf_in(await (await client.get("/auth/logout", headers=HTML)).get_data(as_text=True))


async def seed_dead_letter(
    db: AsyncSession, federation: FederationService, processor: OutboxProcessor, port: int
) -> int:
    db.add(
        ApFollower(
            actor_app="blog",
            actor_uri=f"http://127.0.0.1:{port}/users/a",
            inbox_url=f"http://127.0.0.1:{port}/users/a/inbox",
            follow_activity_uri=f"http://127.0.0.1:{port}/f/1",
        )
    )
    await federation.publish(db, "blog", "Create", ApObjectDTO({"type": "Note", "content": "x"}))
    await db.commit()
    await processor.run_once()
    row = await db.scalar(select(ApDelivery).execution_options(populate_existing=True))
    assert row is not None
    assert row.status == "dead"
    return row.id


async def test_anonymous_visitors_are_sent_to_sign_in(make_app: AppMaker) -> None:
    app = await make_app("federation")
    client = app.test_client()
    for path in PAGES:
        resp = await client.get(path, headers=HTML)
        assert resp.status_code == 302, path
        assert resp.headers["Location"].startswith("/auth/login?next=%2Fadmin%2Ffederation%2F")
    async with client.session_transaction() as cookie:
        cookie["_csrf"] = "t" * 43
    for path in ACTIONS:
        resp = await client.post(path, form={"csrf_token": "t" * 43})
        assert resp.status_code == 401, path


async def test_members_without_the_admin_role_are_refused(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("federation")
    for username, roles in (("sorrel", ()), ("yarrow", ("editor",))):
        client = await signed_in_as(app, db, username, roles)
        for path in PAGES:
            resp = await client.get(path, headers=HTML)
            assert resp.status_code == 403, (username, path)
            assert 'data-error-code="forbidden"' in await resp.get_data(as_text=True)
        token = await csrf_token(client)
        for path in ACTIONS:
            resp = await client.post(path, form={"csrf_token": token})
            assert resp.status_code == 403, (username, path)


async def test_an_admin_sees_the_queue_and_dead_letters_and_retries_them(
    make_app: AppMaker,
    db: AsyncSession,
    federation: FederationService,
    processor: OutboxProcessor,
    remote: LoopbackServer,
) -> None:
    remote.post_status[remote.ports[0]] = 410
    delivery_id = await seed_dead_letter(db, federation, processor, remote.ports[0])
    app = await make_app("federation")
    admin = await signed_in_as(app, db, "tansy", ("admin",))

    resp = await admin.get("/admin/federation/?view=dead", headers=HTML)
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)
    assert re.search(r"<strong>1</strong> dead letters", html)
    assert "/users/a/inbox" in html
    assert "Retry every dead letter" in html
    assert 'class="slot slot-nav"' in html, "a page of the site, with the composed header"

    resp = await admin.get(f"/admin/federation/deliveries/{delivery_id}", headers=HTML)
    html = await resp.get_data(as_text=True)
    assert 'data-status="dead"' in html
    assert "HTTP 410" in html

    token = csrf_in(html)
    resp = await admin.post(
        f"/admin/federation/deliveries/{delivery_id}/retry", form={"csrf_token": token}
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/admin/federation/deliveries/{delivery_id}")
    overview = await federation.queue_overview(db)
    assert (overview.dead, overview.pending) == (0, 1)

    # Dead again, then the whole set of dead letters back in the queue at once.
    await processor.run_once()
    assert (await federation.queue_overview(db)).dead == 1
    resp = await admin.post("/admin/federation/retry-dead", form={"csrf_token": token})
    assert resp.status_code == 302
    assert (await federation.queue_overview(db)).dead == 0

    resp = await admin.post("/admin/federation/deliveries/999999/retry", form={"csrf_token": token})
    assert resp.status_code == 404


async def test_the_admin_home_lists_every_staff_page_of_every_app(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("federation")
    admin = await signed_in_as(app, db, "hazel", roles=("admin",))
    await db.commit()
    resp = await admin.get("/admin/", headers=HTML)
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)
    urls = app.extensions["rose"].settings.apps
    for page in STAFF_PAGES:
        assert f'<a href="{urls[page.app].public_url}{page.path}">{page.title}</a>' in html
    assert "<h1>Admin</h1>" in html


async def test_an_editors_admin_home_lists_exactly_what_editors_may_do(
    make_app: AppMaker, db: AsyncSession
) -> None:
    """Every member of staff has an admin home; it lists only the pages their roles allow.
    A member who is not staff gets 403."""
    app = await make_app("federation")
    editor = await signed_in_as(app, db, "rowan", roles=("editor",))
    member = await signed_in_as(app, db, "sorrel")
    await db.commit()
    resp = await editor.get("/admin/", headers=HTML)
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)
    urls = app.extensions["rose"].settings.apps
    listed = [
        page
        for page in STAFF_PAGES
        if f'<a href="{urls[page.app].public_url}{page.path}">{page.title}</a>' in html
    ]
    assert listed == [page for page in STAFF_PAGES if page.role == "editor"]
    assert "/admin/users" not in html
    assert "/admin/orders" not in html
    assert "<h1>Staff</h1>" in html
    assert (await editor.get("/admin/users", headers=HTML)).status_code == 403
    assert (await member.get("/admin/", headers=HTML)).status_code == 403
