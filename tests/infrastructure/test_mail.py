"""One home for email (docs/STYLE.md, item 15): every email is a template folder with a
subject, a plain-text and an HTML part, built by ``shared.infrastructure.mail.build_email``;
no route or service builds a message or holds an email's words."""

from __future__ import annotations

import ast
import dataclasses
import email
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError
from markupsafe import escape

from shared.config import Settings
from shared.contracts import IssueDTO, Money, OrderDTO, OrderLineDTO, PaymentDTO
from shared.infrastructure.mail import TEMPLATES, Email, InlineImage, build_email, plain_text
from shared.services.cart.service import SqlCartService
from shared.services.events import mail as event_mail
from shared.services.newsletters.sender import (
    issue_email,
    issue_paused_email,
    issue_preview_html,
    issue_test_email,
)
from tests.support.settings import make_settings

ROOT = Path(__file__).resolve().parents[2]
APPS = ("blog", "market", "cart", "events", "federation", "account")
PARTS = ("subject.txt", "body.txt", "body.html")

# A value a person typed (a name, a title; here also the site's name): verbatim in the
# subject and the text, escaped in the HTML.
NASTY = "<script>alert('x')</script> & Co"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co"
LINK = "https://rose-ash.test/a?token=abc&next=/x"
WHEN = datetime(2030, 3, 4, 19, 30, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture(scope="module")
def settings() -> Settings:
    # Nothing here connects: the URLs are unused.
    return make_settings(
        "postgresql://127.0.0.1:1/unused", "redis://127.0.0.1:1/0", ROSE_SITE_NAME=NASTY
    )


def _order(*, member: bool, delivery: bool) -> OrderDTO:
    def gbp(minor: int) -> Money:
        return Money(minor, "GBP")

    now = datetime(2030, 1, 1, tzinfo=UTC)
    lines = (
        OrderLineDTO(1, "product", 1, "Apples", gbp(450), 3, gbp(1350), "/p/1"),
        OrderLineDTO(2, "product", 2, NASTY, gbp(100), 1, gbp(100), "/p/2"),
    )
    payment = PaymentDTO("PAID", "chk", "/pay", gbp(1450), "tx1", "TXCODE", "")
    return OrderDTO(
        id=7,
        user_id=5 if member else None,
        status="paid",
        email="a@x.test",
        name="Rowan",
        phone="",
        fulfilment="delivery" if delivery else "collection",
        address="1 Hedge Row\nOldtown",
        notes="",
        total=gbp(1450),
        refunded=gbp(0),
        created_at=now,
        paid_at=now,
        reserved_until=None,
        needs_attention=False,
        attention_reason="",
        lines=lines,
        payment=payment if delivery else None,
        refunds=(),
    )


def _issue() -> IssueDTO:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    return IssueDTO(
        id=3,
        newsletter_id=1,
        newsletter_slug="weekly",
        newsletter_name=NASTY,
        subject="Apples are in",
        html='<p>The first <strong>apples</strong>.</p><p><a href="https://b.test/a">More</a></p>',
        status="draft",
        created_at=now,
        updated_at=now,
        send_started_at=None,
        sent_at=None,
    )


def _ticket(n: int) -> event_mail.TicketLine:
    return event_mail.TicketLine(
        code=f"T{n}CODE0123456789",
        title=NASTY,
        ticket_type="Adult",
        local_start=WHEN,
        location="The Hall" if n == 1 else "",
        event_url=LINK,
        ics_url="https://events.test/e/event.ics",
    )


# Every email, built the way the code that sends it builds it, with a value a person typed.
SAMPLES: dict[str, Callable[[Settings], Email]] = {
    "verify_email": lambda s: build_email(
        s, "verify_email", "a@x.test", {"name": NASTY, "link": LINK}
    ),
    "account_exists": lambda s: build_email(
        s, "account_exists", "a@x.test", {"signin_link": LINK, "reset_link": LINK + "&r=1"}
    ),
    "password_reset": lambda s: build_email(s, "password_reset", "a@x.test", {"link": LINK}),
    "email_change_confirm": lambda s: build_email(
        s, "email_change_confirm", "a@x.test", {"link": LINK}
    ),
    "email_change_notice": lambda s: build_email(
        s, "email_change_notice", "a@x.test", {"new_email": NASTY, "reset_link": LINK}
    ),
    "newsletter_confirm": lambda s: build_email(
        s, "newsletter_confirm", "a@x.test", {"newsletter_name": NASTY, "link": LINK}
    ),
    "order_receipt": lambda s: SqlCartService(s).receipt_email(_order(member=False, delivery=True)),
    "event_tickets": lambda s: event_mail.tickets_message(
        s, "a@x.test", NASTY, [_ticket(1), _ticket(2)]
    ),
    "guest_booking_confirm": lambda s: event_mail.guest_confirm_message(
        s,
        "a@x.test",
        name=NASTY,
        title="Seed swap",
        local_start=WHEN,
        quantity=2,
        confirm_url=LINK,
        valid_hours=48,
    ),
    "guest_booked": lambda s: event_mail.guest_booked_message(
        s,
        "a@x.test",
        name=NASTY,
        title="Seed swap",
        local_start=WHEN,
        status="confirmed",
        code="BOOKING1",
        event_url=LINK,
        ics_url="https://events.test/e/event.ics",
        cancel_url=LINK,
    ),
    "waiting_list_place": lambda s: event_mail.place_freed_message(
        s, "a@x.test", title=NASTY, local_start=WHEN, event_url=LINK
    ),
    "newsletter_paused": lambda s: issue_paused_email(
        s, "a@x.test", _issue(), refusals=5, reason=f"554 {NASTY}"
    ),
    "newsletter_issue": lambda s: issue_email(
        s,
        to="a@x.test",
        subject=NASTY,
        html=_issue().html,
        newsletter_slug="weekly",
        newsletter_name=NASTY,
        unsubscribe_url=LINK,
        message_key="issue3.delivery9",
    ),
}


def _email_folders() -> list[str]:
    return sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir())


def _parts(msg: EmailMessage) -> tuple[str, str]:
    html = msg.get_body(preferencelist=("html",))
    assert html is not None, "no HTML part"
    return plain_text(msg), str(html.get_content())


def test_every_email_has_a_subject_a_text_and_an_html_part_and_a_sample() -> None:
    folders = _email_folders()
    assert folders == sorted(SAMPLES), "every email folder has a sample below, and no more"
    for name in folders:
        missing = [part for part in PARTS if not (TEMPLATES / name / part).is_file()]
        assert not missing, f"{name} lacks {missing}"
        html = (TEMPLATES / name / "body.html").read_text()
        assert '{% extends "_layout.html" %}' in html, f"{name}/body.html extends the layout"
    # Anything else is a shared part (``_layout.html``), named with a leading underscore.
    loose = [p.name for p in TEMPLATES.iterdir() if p.is_file() and not p.name.startswith("_")]
    assert loose == []


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_email_renders_both_parts_and_escapes_only_the_html(
    settings: Settings, name: str
) -> None:
    msg = SAMPLES[name](settings)
    assert (msg["From"], msg.to) == (settings.smtp.from_address, "a@x.test")
    assert msg.subject
    assert "\n" not in msg.subject
    assert msg.get_content_type() == "multipart/alternative"
    text, html = _parts(msg)
    assert text.strip()
    assert html.startswith("<!doctype html>")
    assert f"<title>{escape(msg.subject)}</title>" in html
    # What a person typed is in the subject or the text as typed, and in the HTML escaped.
    assert NASTY in msg.subject + text
    assert ESCAPED in html
    assert "<script" not in html
    # Every link of the text is a link in the HTML ("&" escaped, as HTML requires).
    links = re.findall(r"https?://[^\s<>]+", text)
    assert links
    for link in links:
        assert f'href="{escape(link)}"' in html
    # No outside resource: mail clients block them, and they would tell who opened what.
    assert not re.search(r"""(src=["']?https?:|<link|url\()""", html)


def test_a_subject_is_text_not_html(settings: Settings) -> None:
    msg = event_mail.place_freed_message(
        settings, "a@x.test", title=NASTY, local_start=WHEN, event_url=LINK
    )
    assert msg.subject == f"A place for you: {NASTY}"


def test_inline_images_travel_with_the_html_part_and_are_shown_by_cid(
    settings: Settings,
) -> None:
    # As the recipient reads it: sent as bytes, parsed again.
    msg = email.message_from_bytes(SAMPLES["event_tickets"](settings).as_bytes(), policy=default)
    assert isinstance(msg, EmailMessage)
    text, html = _parts(msg)
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert [p.get_payload(decode=True) for p in images] == [
        event_mail.qr_png(_ticket(n).code) for n in (1, 2)
    ]
    for part in images:
        assert f'src="cid:{part["Content-ID"][1:-1]}"' in html
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1, "the pictures belong to the HTML part"
    assert "Code: T1CODE0123456789" in text
    assert "Where: The Hall" in text
    # The builder takes any picture the same way.
    image = InlineImage(b"\x89PNG fake", "x.png")
    built = build_email(
        settings, "guest_booked", "a@x.test", _booked_context(image), images=[image]
    )
    assert any(p["Content-ID"] == image.cid for p in built.walk())
    assert f'src="{image.src}"' in _parts(built)[1]


def _booked_context(image: InlineImage) -> dict[str, object]:
    return {
        "name": "Ivy",
        "title": "Swap",
        "when": "today",
        "confirmed": True,
        "code": "C",
        "qr": image,
        "event_url": LINK,
        "ics_url": LINK,
        "cancel_link": LINK,
    }


def test_a_value_left_out_is_an_error_not_a_gap(settings: Settings) -> None:
    with pytest.raises(UndefinedError, match="link"):
        build_email(settings, "password_reset", "a@x.test", {})


def test_the_newsletter_issue_test_copy_and_preview(settings: Settings) -> None:
    issue = _issue()
    test = issue_test_email(settings, issue, "editor@x.test")
    assert test.subject == "[Test] Apples are in"
    assert test["List-Unsubscribe"] is None
    text, html = _parts(test)
    assert text.startswith("[Test] Apples are in\n\n")
    assert "Unsubscribe" not in text
    assert "This is a test sent to you alone." in html
    preview = issue_preview_html(settings, issue)
    assert "<strong>apples</strong>" in preview  # sanitized HTML, shown as it is
    assert 'href="#unsubscribe"' in preview
    assert ESCAPED in preview


def test_the_receipt_of_a_member_collecting_their_order(settings: Settings) -> None:
    msg = SqlCartService(settings).receipt_email(_order(member=True, delivery=False))
    text, html = _parts(msg)
    assert msg.subject == f"Your {settings.site_name} order 7"
    assert "Collection at the cooperative: we will tell you when it is ready." in text
    assert "SumUp transaction" not in text
    assert f"{settings.apps['account'].public_url}/orders/7\n" in text
    assert "Collection at the cooperative" in html


def test_the_receipt_of_tickets_only_says_nothing_of_collection_or_delivery(
    settings: Settings,
) -> None:
    tickets = dataclasses.replace(_order(member=True, delivery=False), fulfilment="none")
    text, html = _parts(SqlCartService(settings).receipt_email(tickets))
    for part in (text, html):
        assert "Collection" not in part
        assert "Delivery" not in part
    assert "Total paid: £14.50" in text


# --- no email is built anywhere else ----------------------------------------------------------

BUILDERS = {"EmailMessage", "Email", "MIMEText", "MIMEMultipart"}
PART_METHODS = {"set_content", "add_alternative", "add_related", "add_attachment", "set_payload"}


def _modules() -> Iterator[Path]:
    folders = [ROOT / "shared" / "services", ROOT / "shared" / "infrastructure"]
    folders += [ROOT / "shared" / "tooling", *(ROOT / app for app in APPS)]
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            if path != ROOT / "shared" / "infrastructure" / "mail.py":
                yield path


def _email_building(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if isinstance(func, ast.Name) and called in BUILDERS:
                yield node.lineno, f"{called}(...)"
            elif isinstance(func, ast.Attribute) and called in PART_METHODS | BUILDERS:
                yield node.lineno, f".{called}(...)"
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        for target in targets:
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.slice, ast.Constant)
                and target.slice.value == "Subject"
            ):
                yield node.lineno, '[..."Subject"] = ...'
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if isinstance(key, ast.Constant) and key.value == "Subject":
                    yield node.lineno, '{"Subject": ...}'


def test_no_route_or_service_builds_an_email() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _modules()
        for line, what in _email_building(ast.parse(path.read_text(), str(path)))
    ]
    assert found == [], "build emails with shared.infrastructure.mail.build_email"


def test_the_checker_sees_what_it_forbids() -> None:
    source = (
        "m = EmailMessage()\nm['Subject'] = 'Hi'\nm.set_content('x')\n"
        "h = {'Subject': 'x'}\ne = mail.Email(to='a', subject='b', text='c')\n"
    )
    assert sorted(line for line, _ in _email_building(ast.parse(source))) == [1, 2, 3, 4, 5]
