"""The SMTP server's answers read by their enhanced status codes (RFC 3463): a relay that
refuses every message (554 to DATA, "550 5.7.1 Relaying denied" to every recipient) leaves
the subscribers alone, and a run of such refusals pauses the issue and tells every member of
staff who can resume it; a recipient's own permanent failure (5.1.1) still bounces
(tests/newsletters/test_sending.py)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.infrastructure.mail import plain_text
from shared.models import EmailSuppression, NewsletterDelivery, NewsletterSubscription, User
from shared.services.newsletters.sender import NewsletterSender, classify
from shared.services.newsletters.service import SqlNewsletterService
from tests.identity.factories import make_member, signed_in
from tests.newsletters.factories import draft, list_settings, newsletter_with
from tests.support import BROWSER_ACCEPT, ListServer, csrf_in
from tests.support.settings import AppMaker

SUBSCRIBERS = [f"reader{i}@example.test" for i in range(6)]


@pytest.mark.parametrize(
    ("code", "message", "recipient", "expected"),
    [
        (550, "5.1.1 No such user", True, "bounced"),
        (553, "5.1.3 Bad destination mailbox address syntax", True, "bounced"),
        (550, "5.2.1 Mailbox disabled", True, "bounced"),
        (550, "No such user here", True, "bounced"),  # RFC 5321 alone, at RCPT TO
        (550, "5.7.1 Relaying denied", True, "refused"),
        (550, "Relaying denied", True, "refused"),
        (553, "5.1.8 Bad sender's system address", True, "refused"),
        (552, "5.2.2 Mailbox full", True, "refused"),
        (554, "Transaction failed", False, "refused"),
        (554, "5.1.1 No such user", False, "refused"),  # not an answer about a recipient
        (550, "5.7.1 Message rejected as spam", False, "refused"),
        (451, "4.2.1 Mailbox busy, try later", True, "retry"),
        (421, "Service not available", False, "retry"),
    ],
)
def test_answers_are_read_by_their_enhanced_status_codes(
    code: int, message: str, recipient: bool, expected: str
) -> None:
    outcome, reason = classify(code, message, recipient=recipient)
    assert outcome == expected
    assert reason == f"{code} {message}"


async def _sending(
    db: AsyncSession, newsletters: SqlNewsletterService, author: str
) -> tuple[int, int]:
    staff = await make_member(db, author, email=f"{author}@example.test", roles=("editor",))
    newsletter = await newsletter_with(db, newsletters, SUBSCRIBERS)
    issue = await draft(db, newsletters, newsletter.id, staff.id)
    await newsletters.start_sending(db, issue.id, actor_id=staff.id)
    await db.commit()
    return issue.id, staff.id


async def _nobody_touched(db: AsyncSession) -> None:
    assert await db.scalar(select(func.count()).select_from(EmailSuppression)) == 0
    statuses = (
        await db.scalars(
            select(NewsletterSubscription.status).where(
                NewsletterSubscription.email.in_(SUBSCRIBERS)
            )
        )
    ).all()
    assert sorted(statuses) == ["active"] * len(SUBSCRIBERS)


@pytest.mark.parametrize(
    "relay",
    [
        pytest.param({"refuse_data": "554 Transaction failed"}, id="554-to-data"),
        pytest.param({"refuse": "550 5.7.1 Relaying denied"}, id="relaying-denied"),
    ],
)
async def test_a_relay_refusing_every_message_pauses_the_issue_and_unsubscribes_no_one(
    relay: dict[str, str],
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    redis_url: str,
    smtp_list: ListServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = list_settings(
        database_url, redis_url, smtp_list.port, ROSE_NEWSLETTERS__PAUSE_AFTER_REFUSALS="3"
    )
    newsletters = SqlNewsletterService.from_settings(settings)
    issue_id, _ = await _sending(db, newsletters, "editor_relay")
    # Staff who can resume it besides its author; a member and a disabled editor who cannot.
    staff = ["editor_relay@example.test", "editor_other@example.test", "admin_relay@example.test"]
    await make_member(db, "editor_other", email=staff[1], roles=("editor",))
    await make_member(db, "admin_relay", email=staff[2], roles=("admin",))
    await make_member(db, "reader_relay", email="reader_relay@example.test")
    gone = await make_member(db, "editor_gone", email="gone@example.test", roles=("editor",))
    await db.execute(update(User).where(User.id == gone.id).values(is_active=False))
    await db.commit()
    # Every subscriber refused; the staff's addresses are not (so the pause reaches them).
    ((kind, answer),) = relay.items()
    getattr(smtp_list, kind).update(dict.fromkeys(SUBSCRIBERS, answer))

    sender = NewsletterSender(settings, session_factory, newsletters)
    assert await sender() == 3, "three refusals in a row, then the issue waits"
    assert await sender() == 0

    report = await newsletters.issue_progress(db, issue_id)
    assert report.issue.status == "paused"
    assert report.issue.paused_reason == answer
    assert (report.pending, report.failed, report.sent) == (len(SUBSCRIBERS), 0, 0)
    await _nobody_touched(db)
    # Every active account that can resume it is told, once each (sent before sender() ended).
    told = [m for m in smtp_list.messages if m["Subject"] == "Newsletter paused: Apples are in"]
    assert sorted(m["To"] for m in told) == sorted(staff)
    assert all(f"/editor/newsletters/issues/{issue_id}/progress" in plain_text(m) for m in told)
    paused = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert paused == [
        f"newsletter issue {issue_id} paused: the mail relay refused 3 messages in a row ({answer})"
    ]

    # The relay takes messages again; staff resume, and everyone gets the issue once.
    getattr(smtp_list, kind).clear()
    await newsletters.resume_sending(db, issue_id, actor_id=1)
    await db.commit()
    assert await sender() == len(SUBSCRIBERS)
    report = await newsletters.issue_progress(db, issue_id)
    assert (report.issue.status, report.sent) == ("sent", len(SUBSCRIBERS))
    assert sorted(smtp_list.to(a)[0]["To"] for a in SUBSCRIBERS) == sorted(SUBSCRIBERS)


async def test_a_message_sent_between_refusals_ends_the_run(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    redis_url: str,
    smtp_list: ListServer,
) -> None:
    settings = list_settings(
        database_url, redis_url, smtp_list.port, ROSE_NEWSLETTERS__PAUSE_AFTER_REFUSALS="2"
    )
    newsletters = SqlNewsletterService.from_settings(settings)
    issue_id, _ = await _sending(db, newsletters, "editor_run")
    # Refused, sent, refused, sent ...: never two in a row.
    smtp_list.refuse_data.update(dict.fromkeys(SUBSCRIBERS[::2], "554 5.6.0 Content rejected"))
    assert await NewsletterSender(settings, session_factory, newsletters)() == len(SUBSCRIBERS)
    report = await newsletters.issue_progress(db, issue_id)
    assert report.issue.status == "sending"
    assert (report.sent, report.pending) == (3, 3)
    refused = await db.scalars(
        select(NewsletterDelivery.last_error).where(NewsletterDelivery.status == "pending")
    )
    assert set(refused) == {"554 5.6.0 Content rejected"}
    await _nobody_touched(db)


async def test_the_desk_shows_a_paused_issue_and_resumes_it(
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    redis_url: str,
    smtp_list: ListServer,
    make_app: AppMaker,
) -> None:
    settings = list_settings(
        database_url, redis_url, smtp_list.port, ROSE_NEWSLETTERS__PAUSE_AFTER_REFUSALS="1"
    )
    newsletters = SqlNewsletterService.from_settings(settings)
    issue_id, _ = await _sending(db, newsletters, "editor_desk")
    smtp_list.refuse_data.update(dict.fromkeys(SUBSCRIBERS, "554 5.7.0 Relay access denied"))
    assert await NewsletterSender(settings, session_factory, newsletters)() == 1

    app = await make_app("account", app_settings=settings)
    client = await signed_in(app, db, "desk_editor", "editor")
    path = f"/editor/newsletters/issues/{issue_id}/progress"
    html = await (await client.get(path, headers={"Accept": BROWSER_ACCEPT})).get_data(True)
    assert 'data-status="paused"' in html
    assert "554 5.7.0 Relay access denied" in html
    assert re.search(r"No subscriber was unsubscribed", html)
    resp = await client.post(
        f"/editor/newsletters/issues/{issue_id}/resume", form={"csrf_token": csrf_in(html)}
    )
    assert resp.status_code == 302
    report = await newsletters.issue_progress(db, issue_id)
    assert report.issue.status == "sending"
    # Resuming what is not paused is refused, and changes nothing.
    resp = await client.post(
        f"/editor/newsletters/issues/{issue_id}/resume",
        form={"csrf_token": csrf_in(html)},
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 409
