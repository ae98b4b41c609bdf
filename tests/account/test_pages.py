"""The account app through its pages: subscribing with double opt-in (the confirmation email
read from a real SMTP server), unsubscribing from the page and the dashboard, the newsletter
desk (roles, writing, preview, a test to oneself, a digest from the blog, sending, progress),
the dashboard's sections, and bounded queries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.config import Settings
from shared.contracts import CartOwner, CheckoutDetails, FulfilmentLine, TicketTypeInput
from shared.infrastructure import internal_auth
from shared.infrastructure.context import SERVICES_EXTENSION, services
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.visitor import Visitor
from shared.models import (
    Event,
    EventBooking,
    EventTicket,
    NewsletterDelivery,
    NewsletterIssue,
    NewsletterSubscription,
    Product,
)
from shared.services.cart.service import SqlCartService
from tests.blog import factories
from tests.events import factories as event_factories
from tests.identity.factories import client_signed_in, make_member, signed_in
from tests.support import BROWSER_ACCEPT, SmtpSink, count_statements, csrf_in, link_in
from tests.support.settings import TEST_INTERNAL_SECRET, AppMaker

BROWSER = {"Accept": BROWSER_ACCEPT}


def error_code(html: str) -> str | None:
    found = re.search(r'data-error-code="([^"]+)"', html)
    return found.group(1) if found else None


@pytest.fixture
async def app(make_app: AppMaker, mail_settings: Settings) -> RoseQuart:
    return await make_app("account", app_settings=mail_settings)


async def page(client: Client, path: str, status: int = 200) -> str:
    # No browser Accept header: an anonymous page load would first be sent to try a silent
    # sign-on at federation (shared/infrastructure/oauth.py).
    resp = await client.get(path)
    assert resp.status_code == status, (path, resp.status_code)
    return await resp.get_data(as_text=True)


async def token_of(client: Client, path: str = "/") -> str:
    return csrf_in(await page(client, path))


async def newsletter(db: AsyncSession, name: str = "Weekly market") -> int:
    staff = await make_member(db, f"owner_{abs(hash(name)) % 10**6}", roles=("editor",))
    created = await services().newsletters.create_newsletter(db, name, actor_id=staff.id)
    await db.commit()
    return created.id


def local(link: str, settings: Settings) -> str:
    return link.removeprefix(settings.apps["account"].public_url)


async def subscription(db: AsyncSession, email: str) -> NewsletterSubscription | None:
    db.expire_all()
    return await db.scalar(
        select(NewsletterSubscription).where(NewsletterSubscription.email == email)
    )


# --- subscribing ----------------------------------------------------------------------------


async def test_anyone_subscribes_and_confirms_by_email(
    app: RoseQuart, db: AsyncSession, smtp_sink: SmtpSink, mail_settings: Settings
) -> None:
    nid = await newsletter(db)
    client = app.test_client()
    # The public form carries no token (it is served cached to everyone, in any app).
    resp = await client.post(
        "/newsletters/subscribe", form={"email": "reader@example.test", "newsletter": str(nid)}
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/newsletters/check-your-email"
    sub = await subscription(db, "reader@example.test")
    assert sub is not None
    assert sub.status == "pending"

    mail = await smtp_sink.wait_for("reader@example.test")
    assert mail["Subject"] == "Confirm your subscription to Weekly market"
    link = link_in(mail)
    # Following the link only shows a button: a mail scanner fetching it confirms nothing.
    html = await page(client, local(link, mail_settings))
    assert "Yes, subscribe me" in html
    assert (await subscription(db, "reader@example.test")).status == "pending"  # type: ignore[union-attr]
    resp = await client.post(local(link, mail_settings), form={"csrf_token": csrf_in(html)})
    assert resp.status_code == 200
    assert 'class="confirmed"' in await resp.get_data(as_text=True)
    assert (await subscription(db, "reader@example.test")).status == "active"  # type: ignore[union-attr]


async def test_subscribing_an_address_again_answers_the_same_and_mails_no_one_twice(
    app: RoseQuart, db: AsyncSession, smtp_sink: SmtpSink
) -> None:
    nid = await newsletter(db)
    await services().newsletters.subscribe(db, nid, "known@example.test", confirmed=True)
    await db.commit()
    resp = await app.test_client().post(
        "/newsletters/subscribe", form={"email": "Known@Example.test", "newsletter": str(nid)}
    )
    assert resp.headers["Location"] == "/newsletters/check-your-email"
    assert smtp_sink.messages == []
    rows = await db.scalar(select(func.count()).select_from(NewsletterSubscription))
    assert rows == 1


async def test_every_address_gets_the_same_answer_whoever_it_belongs_to(
    app: RoseQuart, db: AsyncSession
) -> None:
    """Whether an address is a member's, subscribed, pending or unknown is nobody's business:
    the answer to subscribing it is the same (issue: a member's address redirected elsewhere)."""
    nid = await newsletter(db)
    member = await make_member(db, "subscribed_member", email="member@example.test")
    await services().newsletters.subscribe(
        db, nid, "member@example.test", user_id=member.id, confirmed=True
    )
    await make_member(db, "unsubscribed_member", email="other-member@example.test")
    await services().newsletters.subscribe(db, nid, "active@example.test", confirmed=True)
    await services().newsletters.subscribe(db, nid, "pending@example.test")
    await db.commit()
    stranger = app.test_client()
    member_client = await signed_in(app, db, "someone_else")
    answers = set()
    for client in (stranger, member_client):
        for email in (
            "member@example.test",
            "other-member@example.test",
            "active@example.test",
            "pending@example.test",
            "nobody@example.test",
        ):
            resp = await client.post(
                "/newsletters/subscribe", form={"email": email, "newsletter": str(nid)}
            )
            answers.add(
                (resp.status_code, resp.headers.get("Location"), await resp.get_data(as_text=True))
            )
    assert len(answers) == 1, answers
    assert answers.pop()[:2] == (302, "/newsletters/check-your-email")


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"email": "not an address", "newsletter": "{nid}"}, 400, "invalid_email"),
        ({"email": "x@example.test", "newsletter": "abc"}, 400, "invalid_newsletter"),
        ({"email": "x@example.test", "newsletter": "999999999"}, 404, "newsletter_not_found"),
        ({"email": "x" * 400 + "@example.test", "newsletter": "{nid}"}, 400, "invalid_email"),
    ],
)
async def test_a_bad_subscription_is_refused_and_writes_nothing(
    app: RoseQuart,
    db: AsyncSession,
    smtp_sink: SmtpSink,
    form: dict[str, str],
    status: int,
    code: str,
) -> None:
    nid = await newsletter(db)
    resp = await app.test_client().post(
        "/newsletters/subscribe", form={k: v.format(nid=nid) for k, v in form.items()}
    )
    assert resp.status_code == status
    assert error_code(await resp.get_data(as_text=True)) == code
    assert await db.scalar(select(func.count()).select_from(NewsletterSubscription)) == 0


async def test_subscribing_is_rate_limited_per_address(app: RoseQuart, db: AsyncSession) -> None:
    nid = await newsletter(db)
    client = app.test_client()
    form = {"email": "spam@example.test", "newsletter": str(nid)}
    answers = [
        (await client.post("/newsletters/subscribe", form=form)).status_code for _ in range(4)
    ]
    assert answers == [302, 302, 302, 429]


async def test_bad_links_are_refused(app: RoseQuart, db: AsyncSession) -> None:
    client = app.test_client()
    assert (await client.get("/newsletters/unsubscribe/forged")).status_code == 400
    html = await page(client, "/newsletters/confirm/forged")
    resp = await client.post("/newsletters/confirm/forged", form={"csrf_token": csrf_in(html)})
    assert resp.status_code == 400
    assert error_code(await resp.get_data(as_text=True)) == "token_invalid"


async def test_the_unsubscribe_page_asks_then_unsubscribes(
    app: RoseQuart, db: AsyncSession
) -> None:
    nid = await newsletter(db)
    result = await services().newsletters.subscribe(db, nid, "leaver@example.test", confirmed=True)
    await db.commit()
    token = app.extensions[SERVICES_EXTENSION].newsletters.unsubscribe_token(result.subscription.id)
    client = app.test_client()
    html = await page(client, f"/newsletters/unsubscribe/{token}")
    assert "Stop sending Weekly market to leaver@example.test?" in html
    assert (await subscription(db, "leaver@example.test")).status == "active"  # type: ignore[union-attr]
    resp = await client.post(
        f"/newsletters/unsubscribe/{token}", form={"csrf_token": csrf_in(html)}
    )
    assert 'class="unsubscribed"' in await resp.get_data(as_text=True)
    assert (await subscription(db, "leaver@example.test")).status == "unsubscribed"  # type: ignore[union-attr]


async def test_the_subscribe_fragment_serves_the_public_form(
    app: RoseQuart, db: AsyncSession
) -> None:
    nid = await newsletter(db)
    path = "/internal/fragments/newsletter-subscribe"
    _q, headers = internal_auth.sign(TEST_INTERNAL_SECRET, "GET", path, [], Visitor())
    resp = await app.test_client().get(path, headers=headers)
    assert resp.status_code == 200
    html = await resp.get_data(as_text=True)
    assert 'action="http://127.0.0.1:8006/newsletters/subscribe"' in html
    assert f'name="newsletter" value="{nid}"' in html
    assert "csrf_token" not in html


# --- the dashboard --------------------------------------------------------------------------


async def test_the_dashboard_shows_profile_handle_and_subscriptions(
    app: RoseQuart, db: AsyncSession
) -> None:
    anonymous = await page(app.test_client(), "/")
    assert "to see your dashboard" in anonymous
    nid = await newsletter(db)
    other = await newsletter(db, "Events")
    client = await signed_in(app, db, "rowan")
    await services().newsletters.subscribe(
        db, nid, "rowan@members.rose-ash.test", user_id=None, confirmed=True
    )
    await db.commit()
    html = await page(client, "/")
    assert "rowan@members.rose-ash.test" in html
    assert '<dd class="fediverse-handle">@rowan@127.0.0.1:8005</dd>' in html
    # The cart offers the dashboard's orders: a member without any is told so.
    assert 'id="orders"' in html
    assert "No orders yet." in html
    # Events offer the member's tickets: a member without any is told so.
    assert "Nothing coming up." in html
    # Subscribing from the dashboard with the member's verified address needs no email.
    resp = await client.post(
        "/newsletters/subscribe",
        form={
            "csrf_token": csrf_in(html),
            "email": "rowan@members.rose-ash.test",
            "newsletter": str(other),
        },
    )
    assert resp.headers["Location"] == "/"
    html = await page(client, "/")
    assert re.search(r'data-status="active">\s*<strong>Events</strong>', html)


async def test_a_member_unsubscribes_from_the_dashboard_but_not_someone_else(
    app: RoseQuart, db: AsyncSession
) -> None:
    nid = await newsletter(db)
    alder = await signed_in(app, db, "alder")
    birch = await signed_in(app, db, "birch")
    birch_id = (await services().identity.find_account(db, "birch")).id  # type: ignore[union-attr]
    sub = await services().newsletters.subscribe(
        db, nid, "birch@members.rose-ash.test", user_id=birch_id, confirmed=True
    )
    await db.commit()
    path = f"/newsletters/subscriptions/{sub.subscription.id}/unsubscribe"
    resp = await alder.post(path, form={"csrf_token": await token_of(alder)})
    assert resp.status_code == 404
    assert (await subscription(db, "birch@members.rose-ash.test")).status == "active"  # type: ignore[union-attr]
    resp = await birch.post(path, form={"csrf_token": await token_of(birch)})
    assert resp.status_code == 302
    assert (await subscription(db, "birch@members.rose-ash.test")).status == "unsubscribed"  # type: ignore[union-attr]


async def place_real_order(
    db: AsyncSession, cart: SqlCartService, user_id: int, email: str, price_minor: int
) -> int:
    """An order the member placed through the cart's own checkout (one product)."""
    product = Product(slug=f"p-{user_id}-{price_minor}", title="Apple box", price_minor=price_minor)
    db.add(product)
    await db.flush()
    owner = CartOwner(user_id=user_id)
    await cart.add(db, owner, "product", product.id, 1)
    placed = await cart.place_order(
        db, owner, CheckoutDetails(email=email, name="Hazel", fulfilment="collection")
    )
    await db.commit()
    return placed.id


async def test_the_dashboard_lists_the_members_orders_from_the_cart(
    app: RoseQuart, db: AsyncSession
) -> None:
    """The cart's MemberOrders, real: an order the member placed through checkout."""
    wired = app.extensions[SERVICES_EXTENSION]
    assert isinstance(wired.cart, SqlCartService)
    client = await signed_in(app, db, "hazel")
    hazel = await services().identity.find_account(db, "hazel")
    assert hazel is not None
    placed = await place_real_order(db, wired.cart, hazel.id, hazel.email, 2450)
    html = await page(client, "/")
    order_url = f"{app.extensions['rose'].settings.apps['account'].public_url}/orders/{placed}"
    assert f'<a href="{order_url}">#{placed}</a>' in html
    assert "£24.50" in html


async def test_the_dashboard_lists_the_members_tickets_and_bookings_from_events(
    app: RoseQuart, db: AsyncSession
) -> None:
    """Events' MemberTickets, real: a free booking and a paid ticket, each with its QR code
    and .ics link; another member's are not shown."""
    events = services().events
    client = await signed_in(app, db, "hazel")
    hazel = await services().identity.find_account(db, "hazel")
    other = await make_member(db, "holly")
    assert hazel is not None
    start = (datetime.now(UTC) + timedelta(days=5)).replace(tzinfo=None, microsecond=0)
    talk = await event_factories.event(
        db, start=start, end=start + timedelta(hours=1), title="Apple day"
    )
    gig = await event_factories.event(
        db, start=start, end=start + timedelta(hours=2), title="Cider gig"
    )
    kind = await events.add_ticket_type(db, gig.id, TicketTypeInput("Standard", gig.start, 800))
    await db.commit()
    await events.book(db, hazel.id, talk.id, talk.start)
    await db.commit()
    await events.book(db, other.id, talk.id, talk.start)
    await db.commit()
    line = FulfilmentLine(1, 424242, kind.id, 1, hazel.id, hazel.email, "Hazel")
    await events.fulfil(db, [line])
    await db.commit()
    html = await page(client, "/")
    section = html.split('id="tickets"', 1)[1].split("</section>", 1)[0]
    assert section.count("<li data-ticket-id=") == 2
    assert f'href="http://127.0.0.1:8004/events/{talk.slug}?at=' in section
    assert ">Apple day</a> (booking)" in section
    assert ">Cider gig — Standard</a> (ticket)" in section
    assert section.count('src="data:image/svg+xml') == 2
    assert f'href="http://127.0.0.1:8004/events/{gig.slug}/event.ics"' in section
    assert '<a href="/tickets">Your tickets</a>' in section
    assert '<a href="/bookings">Your bookings</a>' in section

    # Each has its own page, the member's own only.
    tickets = await page(client, "/tickets")
    assert tickets.count("<li data-ticket-id=") == 1
    assert ">Cider gig — Standard</a> (ticket)" in tickets
    assert 'src="data:image/svg+xml' in tickets
    bookings = await page(client, "/bookings")
    assert bookings.count("<li data-ticket-id=") == 1
    assert ">Apple day</a> (booking)" in bookings
    sign_in = await services().identity.start_session(db, other.id)
    await db.commit()
    holly = await client_signed_in(app, other.id, sign_in.sid)
    assert (await page(holly, "/tickets")).count("<li data-ticket-id=") == 0
    assert "No tickets for events to come." in await page(holly, "/tickets")
    assert (await page(holly, "/bookings")).count("<li data-ticket-id=") == 1
    anonymous = app.test_client()
    anonymous.set_cookie("127.0.0.1", "account_sso", "-")  # silent sign-on done: nobody
    for path in ("/tickets", "/bookings"):
        resp = await anonymous.get(path, headers={"Accept": BROWSER_ACCEPT})
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/auth/login?")
        resp = await client.get(path)
        assert resp.headers["Cache-Control"] == "private, no-store"


async def test_the_dashboard_and_the_desk_run_a_bounded_number_of_queries(
    app: RoseQuart, db: AsyncSession, engine: AsyncEngine
) -> None:
    client = await signed_in(app, db, "oak", "editor")
    oak = await services().identity.find_account(db, "oak")
    assert oak is not None

    async def add(first: int, last: int) -> None:
        for i in range(first, last):
            created = await services().newsletters.create_newsletter(
                db, f"List {i}", actor_id=oak.id
            )
            await services().newsletters.subscribe(
                db, created.id, oak.email, user_id=oak.id, confirmed=True
            )
        await db.commit()

    await add(0, 3)
    await page(client, "/")  # the sign-in check is cached from here on
    with count_statements(engine) as few:
        await page(client, "/")
        await page(client, "/editor/newsletters/")
    await add(3, 30)
    await page(client, "/")
    with count_statements(engine) as many:
        html = await page(client, "/")
        desk = await page(client, "/editor/newsletters/")
    assert html.count("data-subscription-id=") == 30
    assert desk.count("data-newsletter-id=") == 30
    assert len(many) == len(few), "\n".join(many)


# --- the newsletter desk --------------------------------------------------------------------


async def test_the_desk_is_for_editors(app: RoseQuart, db: AsyncSession) -> None:
    member = await signed_in(app, db, "plain")
    assert (await member.get("/editor/newsletters/", headers=BROWSER)).status_code == 403
    resp = await app.test_client().get("/editor/newsletters/", headers=BROWSER)
    assert resp.status_code == 302


async def test_staff_write_preview_test_and_send_an_issue(
    app: RoseQuart, db: AsyncSession, smtp_sink: SmtpSink
) -> None:
    staff = await signed_in(app, db, "willow", "editor")
    token = await token_of(staff, "/editor/newsletters/")
    resp = await staff.post(
        "/editor/newsletters/",
        form={"csrf_token": token, "name": "Weekly market", "description": "Fresh this week"},
    )
    assert resp.status_code == 302
    nid = int(resp.headers["Location"].rsplit("/", 1)[1])
    # A name in use is refused.
    resp = await staff.post(
        "/editor/newsletters/", form={"csrf_token": token, "name": "Weekly market"}
    )
    assert resp.status_code == 409
    reader = await services().newsletters.subscribe(db, nid, "reader@example.test", confirmed=True)
    await db.commit()

    resp = await staff.post(
        f"/editor/newsletters/{nid}/issues",
        form={
            "csrf_token": token,
            "subject": "Plums",
            "html": '<p onclick="x()">Plums <script>alert(1)</script>are ripe.</p>',
        },
    )
    assert resp.status_code == 302
    issue_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    form_page = await page(staff, f"/editor/newsletters/issues/{issue_id}")
    assert "data-rich-text" in form_page
    assert "editor.min.js" in form_page  # the blog's editor, for staff
    preview = await page(staff, f"/editor/newsletters/issues/{issue_id}/preview")
    assert "<p>Plums are ripe.</p>" in preview
    assert "script" not in preview
    assert "onclick" not in preview

    # An empty subject re-renders the form and changes nothing.
    resp = await staff.post(
        f"/editor/newsletters/issues/{issue_id}",
        form={"csrf_token": token, "subject": " ", "html": "<p>x</p>"},
    )
    assert resp.status_code == 400
    assert error_code(await resp.get_data(as_text=True)) == "invalid_subject"
    assert (await db.get(NewsletterIssue, issue_id)).subject == "Plums"  # type: ignore[union-attr]

    resp = await staff.post(
        f"/editor/newsletters/issues/{issue_id}/test", form={"csrf_token": token}
    )
    assert resp.status_code == 302
    test = await smtp_sink.wait_for("willow@members.rose-ash.test")
    assert test["Subject"] == "[Test] Plums"
    assert test["List-Unsubscribe"] is None
    assert smtp_sink.to("reader@example.test") == []

    resp = await staff.post(
        f"/editor/newsletters/issues/{issue_id}/send", form={"csrf_token": token}
    )
    assert resp.headers["Location"] == f"/editor/newsletters/issues/{issue_id}/progress"
    progress = await page(staff, f"/editor/newsletters/issues/{issue_id}/progress")
    assert '<td data-count="pending">1</td>' in progress
    # Pressing send again is refused and queues no one twice.
    resp = await staff.post(
        f"/editor/newsletters/issues/{issue_id}/send", form={"csrf_token": token}
    )
    assert resp.status_code == 409
    deliveries = await db.scalar(
        select(func.count())
        .select_from(NewsletterDelivery)
        .where(NewsletterDelivery.subscription_id == reader.subscription.id)
    )
    assert deliveries == 1


async def test_an_issue_built_from_the_latest_posts(app: RoseQuart, db: AsyncSession) -> None:
    staff = await signed_in(app, db, "elm", "editor")
    token = await token_of(staff, "/editor/newsletters/")
    nid = await newsletter(db)
    resp = await staff.post(f"/editor/newsletters/{nid}/issues/digest", form={"csrf_token": token})
    assert resp.status_code == 400
    assert error_code(await resp.get_data(as_text=True)) == "digest_empty"
    await factories.post(db, "Cider pressing", excerpt="We pressed <b>apples</b>.")
    await factories.post(db, "Draft only", publish=False)
    await db.commit()
    resp = await staff.post(f"/editor/newsletters/{nid}/issues/digest", form={"csrf_token": token})
    assert resp.status_code == 302
    issue_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    issue = await services().newsletters.get_issue(db, issue_id)
    assert issue.status == "draft"
    assert issue.subject == "Weekly market: Cider pressing"
    assert "Cider pressing" in issue.html
    assert "/posts/cider-pressing" in issue.html
    assert "We pressed &lt;b&gt;apples&lt;/b&gt;." in issue.html
    assert "Draft only" not in issue.html


async def test_the_demo_has_newsletters_subscribers_and_a_draft_and_seeding_is_idempotent(
    app: RoseQuart, db: AsyncSession
) -> None:
    from shared.models import Newsletter
    from shared.services.blog.demo import seed_blog
    from shared.services.identity.demo import seed_identity
    from shared.services.newsletters.demo import seed_newsletters

    await seed_identity(db)
    await seed_blog(db)
    await seed_newsletters(db)
    await seed_newsletters(db)
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(Newsletter)) == 2
    weekly = await db.scalar(select(Newsletter).where(Newsletter.slug == "weekly-market"))
    assert weekly is not None
    listed = await services().newsletters.get_newsletter(db, weekly.id)
    assert listed.subscribers == 3
    issues = await services().newsletters.list_issues(db, weekly.id)
    assert [i.status for i in issues] == ["draft"]
    assert "/posts/" in issues[0].html


async def test_a_digest_lists_upcoming_events_from_events(app: RoseQuart, db: AsyncSession) -> None:
    """Events' UpcomingEvents, real: the next public event, at its local time."""
    start = datetime(2027, 6, 5, 10, 0)  # Europe/London, summer time
    seeds = await event_factories.event(
        db, start=start, end=start + timedelta(hours=2), title="Seed swap",
        description_html="<p>Bring <em>seeds</em></p>",
    )  # fmt: skip
    await db.commit()
    staff = await signed_in(app, db, "hawthorn", "editor")
    nid = await newsletter(db, "Events")
    desk = await page(staff, f"/editor/newsletters/{nid}")
    assert "latest posts and upcoming events" in desk
    resp = await staff.post(
        f"/editor/newsletters/{nid}/issues/digest", form={"csrf_token": csrf_in(desk)}
    )
    assert resp.status_code == 302
    issue_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    issue = await services().newsletters.get_issue(db, issue_id)
    assert issue.subject == "Events: Seed swap"
    url = f"http://127.0.0.1:8004/events/{seeds.slug}?at=20270605T090000Z"
    assert f'<a href="{url}" rel="noopener noreferrer">Seed swap</a>' in issue.html
    assert "Saturday 5 June 2027, 10:00 BST: Bring seeds" in issue.html  # the zone named


async def test_past_tickets_and_bookings_have_their_own_tab_linked_from_the_dashboard(
    app: RoseQuart, db: AsyncSession
) -> None:
    """Past ones under "Past" (``?when=past``), latest first, without QR code or calendar
    link; the upcoming tab lists only what is to come; another member's are never shown."""
    events = services().events
    client = await signed_in(app, db, "hazel")
    hazel = await services().identity.find_account(db, "hazel")
    other = await make_member(db, "holly")
    assert hazel is not None
    soon = (datetime.now(UTC) + timedelta(days=5)).replace(tzinfo=None, microsecond=0)
    made = {}
    for title, hours in (("Old talk", 1), ("Older talk", 1), ("Next talk", 1), ("Old gig", 2)):
        made[title] = await event_factories.event(
            db, start=soon, end=soon + timedelta(hours=hours), title=title
        )
    kind = await events.add_ticket_type(
        db, made["Old gig"].id, TicketTypeInput("Standard", made["Old gig"].start, 800)
    )
    await db.commit()
    for title in ("Old talk", "Older talk", "Next talk"):
        await events.book(db, hazel.id, made[title].id, made[title].start)
        await db.commit()
    await events.book(db, other.id, made["Old talk"].id, made["Old talk"].start)
    await db.commit()
    await events.fulfil(db, [FulfilmentLine(1, 525252, kind.id, 1, hazel.id, hazel.email, "H")])
    await db.commit()
    # Time passes for three of them: they took place 3, 10 and 2 days ago.
    for title, days in (("Old talk", 3), ("Older talk", 10), ("Old gig", 2)):
        event_id = made[title].id
        shift = timedelta(days=days + 5)
        await db.execute(
            update(Event)
            .where(Event.id == event_id)
            .values(start_at=Event.start_at - shift, end_at=Event.end_at - shift)
        )
        for model in (EventBooking, EventTicket):
            await db.execute(
                update(model)
                .where(model.event_id == event_id)
                .values(occurrence_start=model.occurrence_start - shift)
            )
    await db.commit()

    home = await page(client, "/")
    assert '<a href="/tickets?when=past">tickets</a>' in home
    assert '<a href="/bookings?when=past">bookings</a>' in home
    upcoming = await page(client, "/bookings")
    assert upcoming.count("<li data-ticket-id=") == 1
    assert ">Next talk</a> (booking)" in upcoming
    assert '<a href="/bookings?when=past">Past</a>' in upcoming
    past = await page(client, "/bookings?when=past")
    assert past.count("<li data-ticket-id=") == 2
    assert past.index(">Old talk</a>") < past.index(">Older talk</a>")  # latest first
    assert 'src="data:image/svg+xml' not in past
    assert "event.ics" not in past
    assert 'aria-current="page">Past</a>' in past
    past_tickets = await page(client, "/tickets?when=past")
    assert past_tickets.count("<li data-ticket-id=") == 1
    assert ">Old gig — Standard</a> (ticket)" in past_tickets
    assert (await page(client, "/tickets")).count("<li data-ticket-id=") == 0

    sign_in = await services().identity.start_session(db, other.id)
    await db.commit()
    holly = await client_signed_in(app, other.id, sign_in.sid)
    theirs = await page(holly, "/bookings?when=past")
    assert theirs.count("<li data-ticket-id=") == 1
    assert "Older talk" not in theirs
    assert "No tickets for events that have ended." in await page(holly, "/tickets?when=past")
