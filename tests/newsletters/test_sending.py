"""Sending newsletters through a real SMTP server on loopback: the delivered messages (both
parts, the list headers, a working one-click unsubscribe), exactly-once delivery (resending,
two workers at once, a worker killed mid-send and resumed), bounces and temporary failures,
and the send rate."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import signal
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from shared.config import Settings
from shared.contracts import IssueInput
from shared.errors import Conflict
from shared.infrastructure.pace import SharedPace
from shared.models import EmailSuppression, NewsletterDelivery, NewsletterSubscription
from shared.services.newsletters.sender import NewsletterSender, html_to_plain
from shared.services.newsletters.service import SqlNewsletterService
from tests.identity.factories import make_member
from tests.newsletters.factories import draft, list_settings, newsletter_with
from tests.support import GUARD_S, ListServer, closed_port
from tests.support.settings import (
    TEST_INTERNAL_SECRET,
    TEST_SECRET_KEY,
    AppMaker,
    ap_private_key_for_tests,
)


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    return plain.get_content(), html.get_content()


async def statuses(db: AsyncSession, issue_id: int) -> dict[str, int]:
    rows = await db.execute(
        select(NewsletterDelivery.status, func.count())
        .where(NewsletterDelivery.issue_id == issue_id)
        .group_by(NewsletterDelivery.status)
    )
    return dict(rows.all())


async def test_an_issue_reaches_every_confirmed_subscriber_once_with_both_parts_and_list_headers(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    list_mail_settings: Settings,
    smtp_list: ListServer,
    make_app: AppMaker,
) -> None:
    newsletters = SqlNewsletterService.from_settings(list_mail_settings)
    staff = await make_member(db, "editor_nl", roles=("editor",))
    newsletter = await newsletter_with(db, newsletters, ["ann@example.test", "bob@example.test"])
    # Neither a pending address nor an unsubscribed one receives it.
    await newsletters.subscribe(db, newsletter.id, "pending@example.test")
    gone = await newsletters.subscribe(db, newsletter.id, "gone@example.test", confirmed=True)
    await newsletters.unsubscribe(db, newsletters.unsubscribe_token(gone.subscription.id))
    issue = await draft(db, newsletters, newsletter.id, staff.id)
    progress = await newsletters.start_sending(db, issue.id, actor_id=staff.id)
    assert (progress.pending, progress.total) == (2, 2)
    await db.commit()

    sender = NewsletterSender(list_mail_settings, session_factory, newsletters)
    assert await sender() == 2
    assert await sender() == 0
    assert {m["To"] for m in smtp_list.messages} == {"ann@example.test", "bob@example.test"}
    assert len(smtp_list.messages) == 2
    report = await newsletters.issue_progress(db, issue.id)
    assert (report.sent, report.pending, report.issue.status) == (2, 0, "sent")
    assert report.issue.sent_at is not None

    msg = smtp_list.to("ann@example.test")[0]
    assert msg["Subject"] == "Apples are in"
    assert msg["List-Id"] == "Weekly market <weekly-market.127.0.0.1>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = msg["List-Unsubscribe"].strip("<>")
    assert link.startswith(
        list_mail_settings.apps["account"].public_url + "/newsletters/unsubscribe/"
    )
    assert msg["Message-ID"] != smtp_list.to("bob@example.test")[0]["Message-ID"]
    plain, html = parts(msg)
    assert "The first apples are here." in plain
    assert "Read more <https://blog.rose-ash.test/posts/apples>" in plain
    assert f"Unsubscribe: {link}" in plain
    assert "<strong>apples</strong>" in html
    assert f'href="{link}"' in html
    assert "<script" not in html

    # The one-click unsubscribe works as a mail client sends it (RFC 8058): a POST with
    # List-Unsubscribe=One-Click and no session, cookie or token.
    app = await make_app("account", app_settings=list_mail_settings)
    path = link.removeprefix(list_mail_settings.apps["account"].public_url)
    resp = await app.test_client().post(path, form={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 204
    status = await db.scalar(
        select(NewsletterSubscription.status).where(
            NewsletterSubscription.email == "ann@example.test"
        )
    )
    assert status == "unsubscribed"
    # A second click changes nothing and still answers.
    resp = await app.test_client().post(path, form={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 204


async def test_sending_again_adds_no_one_and_a_sent_issue_cannot_change(
    db: AsyncSession, settings: Settings
) -> None:
    newsletters = SqlNewsletterService.from_settings(settings)
    staff = await make_member(db, "editor_again", roles=("editor",))
    newsletter = await newsletter_with(db, newsletters, ["a@example.test"])
    issue = await draft(db, newsletters, newsletter.id, staff.id)
    await newsletters.start_sending(db, issue.id, actor_id=staff.id)
    with pytest.raises(Conflict) as refused:
        await newsletters.start_sending(db, issue.id, actor_id=staff.id)
    assert refused.value.code == "issue_already_sent"
    with pytest.raises(Conflict) as frozen:
        await newsletters.update_issue(db, issue.id, IssueInput("Changed", "<p>x</p>"))
    assert frozen.value.code == "issue_not_draft"
    assert await statuses(db, issue.id) == {"pending": 1}


async def test_a_permanent_refusal_fails_the_delivery_and_suppresses_the_address(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    list_mail_settings: Settings,
    smtp_list: ListServer,
) -> None:
    newsletters = SqlNewsletterService.from_settings(list_mail_settings)
    staff = await make_member(db, "editor_bounce", roles=("editor",))
    smtp_list.refuse["nobody@example.test"] = "550 5.1.1 No such user"
    newsletter = await newsletter_with(db, newsletters, ["nobody@example.test", "ok@example.test"])
    issue = await draft(db, newsletters, newsletter.id, staff.id)
    await newsletters.start_sending(db, issue.id, actor_id=staff.id)
    await db.commit()
    await NewsletterSender(list_mail_settings, session_factory, newsletters)()

    report = await newsletters.issue_progress(db, issue.id)
    assert (report.sent, report.failed, report.issue.status) == (1, 1, "sent")
    assert report.failures[0].email == "nobody@example.test"
    assert report.failures[0].error.startswith("550")
    assert await db.get(EmailSuppression, "nobody@example.test") is not None
    sub = await db.scalar(
        select(NewsletterSubscription).where(NewsletterSubscription.email == "nobody@example.test")
    )
    assert sub is not None
    assert sub.status == "bounced"
    # The next issue does not even queue the suppressed address.
    second = await draft(db, newsletters, newsletter.id, staff.id, subject="Pears")
    progress = await newsletters.start_sending(db, second.id, actor_id=staff.id)
    assert progress.total == 1
    # Confirming the address again (double opt-in) lifts the suppression.
    again = await newsletters.subscribe(db, newsletter.id, "nobody@example.test")
    assert again.confirm_token is not None
    await newsletters.confirm_subscription(db, again.confirm_token)
    assert await db.get(EmailSuppression, "nobody@example.test") is None


async def test_a_temporary_failure_is_retried_later_then_given_up(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    redis_url: str,
    smtp_list: ListServer,
) -> None:
    settings = list_settings(
        database_url, redis_url, smtp_list.port, ROSE_NEWSLETTERS__MAX_ATTEMPTS="2"
    )
    newsletters = SqlNewsletterService.from_settings(settings)
    staff = await make_member(db, "editor_retry", roles=("editor",))
    smtp_list.refuse["busy@example.test"] = "451 4.2.1 Mailbox busy, try later"
    newsletter = await newsletter_with(db, newsletters, ["busy@example.test"])
    issue = await draft(db, newsletters, newsletter.id, staff.id)
    await newsletters.start_sending(db, issue.id, actor_id=staff.id)
    await db.commit()
    sender = NewsletterSender(settings, session_factory, newsletters)
    assert await sender() == 1
    assert await statuses(db, issue.id) == {"pending": 1}
    assert await db.get(EmailSuppression, "busy@example.test") is None
    # Not due again before its time.
    assert await sender() == 0
    await db.execute(update(NewsletterDelivery).values(next_attempt_at=func.now()))
    await db.commit()
    assert await sender() == 1
    report = await newsletters.issue_progress(db, issue.id)
    assert (report.failed, report.issue.status) == (1, "sent")
    assert report.failures[0].attempts == 2
    assert report.failures[0].error.startswith("451")
    # A temporary failure suppresses nothing.
    assert await db.get(EmailSuppression, "busy@example.test") is None


async def test_an_address_unsubscribed_after_the_send_started_is_skipped(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    list_mail_settings: Settings,
    smtp_list: ListServer,
) -> None:
    newsletters = SqlNewsletterService.from_settings(list_mail_settings)
    staff = await make_member(db, "editor_skip", roles=("editor",))
    newsletter = await newsletter_with(db, newsletters, ["stay@example.test", "leave@example.test"])
    issue = await draft(db, newsletters, newsletter.id, staff.id)
    await newsletters.start_sending(db, issue.id, actor_id=staff.id)
    leaving = await db.scalar(
        select(NewsletterSubscription.id).where(
            NewsletterSubscription.email == "leave@example.test"
        )
    )
    assert leaving is not None
    await newsletters.unsubscribe(db, newsletters.unsubscribe_token(leaving))
    await db.commit()
    await NewsletterSender(list_mail_settings, session_factory, newsletters)()
    assert [m["To"] for m in smtp_list.messages] == ["stay@example.test"]
    assert await statuses(db, issue.id) == {"sent": 1, "skipped": 1}


async def test_sending_keeps_to_the_configured_rate(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    redis_url: str,
    smtp_list: ListServer,
) -> None:
    settings = list_settings(
        database_url, redis_url, smtp_list.port, ROSE_NEWSLETTERS__RATE_PER_S="20"
    )
    newsletters = SqlNewsletterService.from_settings(settings)
    staff = await make_member(db, "editor_rate", roles=("editor",))
    newsletter = await newsletter_with(db, newsletters, [f"r{i}@example.test" for i in range(6)])
    issue = await draft(db, newsletters, newsletter.id, staff.id)
    await newsletters.start_sending(db, issue.id, actor_id=staff.id)
    await db.commit()
    # A clock of the test's own that moves only when the sender waits: the pace it keeps is
    # read from its waits, not from seconds on a busy machine.
    now = [0.0]
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    sender = NewsletterSender(
        settings, session_factory, newsletters, clock=lambda: now[0], sleep=wait
    )
    assert await sender() == 6
    # Six messages at 20 a second: the first at once, then five waits of 50 ms.
    assert waits == pytest.approx([0.05] * 5)
    assert len(smtp_list.messages) == 6


def test_the_plain_text_part_keeps_paragraphs_lists_and_links() -> None:
    text = html_to_plain(
        "<h2>News</h2><p>One <em>two</em></p><ul><li>first</li><li>second</li></ul>"
        '<p><a href="https://example.test/x">link</a> and <a href="javascript:x">bad</a></p>'
    )
    assert text == "News\n\nOne two\n\n- first\n- second\n\nlink <https://example.test/x> and bad\n"


# --- several workers, and a worker that dies mid-send (their work really commits) -----------


@pytest.fixture
async def scratch(scratch_database_url: str) -> async_sessionmaker[AsyncSession]:
    engine = create_async_engine(scratch_database_url)
    yield async_sessionmaker(engine, expire_on_commit=False)  # type: ignore[misc]
    await engine.dispose()


async def _queued_issue(
    factory: async_sessionmaker[AsyncSession],
    newsletters: SqlNewsletterService,
    name: str,
    count: int,
) -> tuple[int, list[str]]:
    addresses = [f"{name}{i}@example.test" for i in range(count)]
    async with factory() as db, db.begin():
        staff = await make_member(db, f"staff_{name}", roles=("editor",))
        newsletter = await newsletter_with(db, newsletters, addresses, name=f"List {name}")
        issue = await draft(db, newsletters, newsletter.id, staff.id)
        await newsletters.start_sending(db, issue.id, actor_id=staff.id)
    return issue.id, addresses


async def test_two_workers_side_by_side_send_each_message_once(
    scratch: async_sessionmaker[AsyncSession],
    scratch_database_url: str,
    redis_url: str,
    smtp_list: ListServer,
) -> None:
    settings = list_settings(scratch_database_url, redis_url, smtp_list.port)
    newsletters = SqlNewsletterService.from_settings(settings)
    issue_id, addresses = await _queued_issue(scratch, newsletters, "pair", 30)
    one = NewsletterSender(settings, scratch, newsletters)
    two = NewsletterSender(settings, scratch, newsletters)
    handled = await asyncio.gather(one(), two())
    assert sum(handled) == 30
    assert all(n > 0 for n in handled), handled  # both really took part
    assert sorted(m["To"] for m in smtp_list.messages) == sorted(addresses)
    async with scratch() as db:
        assert (await newsletters.issue_progress(db, issue_id)).sent == 30


@pytest.mark.slow
async def test_a_worker_killed_mid_send_resumes_without_repeating_or_skipping_anyone(
    scratch: async_sessionmaker[AsyncSession],
    scratch_database_url: str,
    redis_url: str,
    smtp_list: ListServer,
    tmp_path: Path,
) -> None:
    settings = list_settings(scratch_database_url, redis_url, smtp_list.port)
    newsletters = SqlNewsletterService.from_settings(settings)
    issue_id, addresses = await _queued_issue(scratch, newsletters, "crash", 12)
    # The 6th message is held at the end of DATA: the server has not said "250" when the
    # worker dies, so it is not delivered, and must be sent again after the restart.
    smtp_list.hold_from = 6
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSE_")}
    env.update(
        DATABASE_URL=scratch_database_url,
        REDIS_URL=redis_url,
        ROSE_ENVIRONMENT="test",
        ROSE_SECRET_KEY=TEST_SECRET_KEY,
        ROSE_INTERNAL_SECRET=TEST_INTERNAL_SECRET,
        ROSE_AP_PRIVATE_KEY=ap_private_key_for_tests(),
        ROSE_SMTP__HOST="127.0.0.1",
        ROSE_SMTP__PORT=str(smtp_list.port),
        ROSE_NEWSLETTERS__RATE_PER_S="50",
        ROSE_WORKER_HEARTBEAT=str(tmp_path / "beat"),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.tooling.cli",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.wait_for(smtp_list.holding.wait(), GUARD_S)
        assert proc.returncode is None
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), GUARD_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert smtp_list.held == 1
    assert len(smtp_list.messages) == 5
    smtp_list.hold_from = None
    smtp_list.release.set()
    # Restarted: it takes up exactly where the dead one stopped.
    sender = NewsletterSender(settings, scratch, newsletters)
    deadline = time.monotonic() + GUARD_S
    while len(smtp_list.messages) < 12 and time.monotonic() < deadline:
        await sender()  # the dead worker's row lock goes once PostgreSQL sees it gone
        await asyncio.sleep(0.1)
    delivered = sorted(m["To"] for m in smtp_list.messages)
    assert delivered == sorted(addresses), delivered
    async with scratch() as db:
        report = await newsletters.issue_progress(db, issue_id)
    assert (report.sent, report.pending, report.issue.status) == (12, 0, "sent")


async def test_send_pressed_twice_at_once_queues_everyone_once(
    scratch: async_sessionmaker[AsyncSession], scratch_database_url: str, redis_url: str
) -> None:
    settings = list_settings(scratch_database_url, redis_url, 25)
    newsletters = SqlNewsletterService.from_settings(settings)
    addresses = [f"twice{i}@example.test" for i in range(20)]
    async with scratch() as db, db.begin():
        staff = await make_member(db, "staff_twice", roles=("editor",))
        newsletter = await newsletter_with(db, newsletters, addresses, name="Twice")
        issue = await draft(db, newsletters, newsletter.id, staff.id)

    async def press() -> str:
        async with scratch() as db, db.begin():
            try:
                await newsletters.start_sending(db, issue.id, actor_id=staff.id)
            except Conflict as err:
                return err.code
            await asyncio.sleep(0.2)  # hold the transaction open while the other waits
            return "queued"

    outcomes = await asyncio.gather(press(), press())
    assert sorted(outcomes) == ["issue_already_sent", "queued"]
    async with scratch() as db:
        assert await statuses(db, issue.id) == {"pending": 20}


async def test_the_same_address_subscribing_twice_at_once_makes_one_subscription(
    scratch: async_sessionmaker[AsyncSession], scratch_database_url: str, redis_url: str
) -> None:
    newsletters = SqlNewsletterService.from_settings(
        list_settings(scratch_database_url, redis_url, 25)
    )
    async with scratch() as db, db.begin():
        staff = await make_member(db, "staff_race", roles=("editor",))
        newsletter = await newsletters.create_newsletter(db, "Race", actor_id=staff.id)

    async def subscribe(address: str) -> str | None:
        async with scratch() as db, db.begin():
            result = await newsletters.subscribe(db, newsletter.id, address)
            await asyncio.sleep(0.1)
            return result.confirm_token

    tokens = await asyncio.gather(
        *(subscribe(a) for a in ("Same@Example.test", "same@example.test"))
    )
    assert all(tokens)
    async with scratch() as db:
        rows = await db.scalar(
            select(func.count())
            .select_from(NewsletterSubscription)
            .where(NewsletterSubscription.newsletter_id == newsletter.id)
        )
    assert rows == 1


class RecordingPace(SharedPace):
    """The real shared pace, keeping the slots it reserved (in Redis's clock) for the test."""

    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        super().__init__(redis, key)
        self.slots: list[float] = []

    async def reserve(self, rate_per_s: float) -> tuple[float, float]:
        slot, now = await super().reserve(rate_per_s)
        self.slots.append(slot)
        return slot, now


async def test_two_workers_keep_one_pace_together_through_redis(
    scratch: async_sessionmaker[AsyncSession],
    scratch_database_url: str,
    redis_url: str,
    smtp_list: ListServer,
) -> None:
    """N workers send at most rate_per_s together, not N times it: their slots, reserved in one
    Redis by two clients of their own, are never closer than 1 / rate_per_s."""
    rate = 40.0
    settings = list_settings(
        scratch_database_url, redis_url, smtp_list.port, ROSE_NEWSLETTERS__RATE_PER_S=str(rate)
    )
    newsletters = SqlNewsletterService.from_settings(settings)
    issue_id, addresses = await _queued_issue(scratch, newsletters, "paced", 16)
    key = f"newsletters:pace:test:{secrets.token_hex(4)}"
    clients = [aioredis.from_url(redis_url), aioredis.from_url(redis_url)]
    paces = [RecordingPace(client, key) for client in clients]
    try:
        handled = await asyncio.gather(
            *(NewsletterSender(settings, scratch, newsletters, pace=pace)() for pace in paces)
        )
    finally:
        for client in clients:
            await client.aclose()
    # (The scratch database may hold other tests' queued messages: they are sent too.)
    assert all(n > 0 for n in handled), handled  # both really took part
    sent_to = [m["To"] for m in smtp_list.messages]
    assert sorted(a for a in sent_to if a in addresses) == sorted(addresses)
    slots = sorted(paces[0].slots + paces[1].slots)
    assert len(slots) == sum(handled) >= 16
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert min(gaps) >= 1 / rate - 1e-6, gaps
    async with scratch() as db:
        assert (await newsletters.issue_progress(db, issue_id)).sent == 16


async def test_the_shared_pace_keeps_going_in_this_process_while_redis_is_down() -> None:
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)

    down = aioredis.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=1)
    pace = SharedPace(down, "newsletters:pace:down", sleep=wait, clock=lambda: 0.0)
    try:
        for _ in range(3):
            await pace.wait(10.0)
    finally:
        await down.aclose()
    # Paced by this process alone (on a clock that stands still here, so the slots add up):
    # the first at once, the second 100 ms after it, the third 200 ms after it.
    assert waits == pytest.approx([0.1, 0.2])
