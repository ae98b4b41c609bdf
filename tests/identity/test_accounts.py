"""Accounts at federation, through its pages: sign-up and verification by email, sign-in,
password reset, change of email and password, roles; CSRF and rate limits on every form.
Emails go over SMTP to a real server on loopback and are read from there."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import redis.asyncio as aioredis
from argon2 import Parameters, PasswordHasher, extract_parameters
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import Headers

from shared.config import Settings
from shared.infrastructure.context import SERVICES_EXTENSION
from shared.models import AuditLog, AuthSession, User
from tests.identity.factories import MEMBER_PASSWORD, make_member
from tests.support import SmtpSink, csrf_in, errors_beside_fields, link_in, refusing_port
from tests.support.live import private_valkey
from tests.support.settings import AppMaker, make_settings

NEW_PASSWORD = "a brand new passphrase"


async def submit(
    client: QuartClient, path: str, data: dict[str, str], *, page: str | None = None
) -> tuple[int, str, Headers]:
    """GET the form's page (for its CSRF token), POST the form; (status, body, headers)."""
    html = await (await client.get(page or path)).get_data(as_text=True)
    resp = await client.post(path, form={**data, "csrf_token": csrf_in(html)})
    return resp.status_code, await resp.get_data(as_text=True), resp.headers


def error_code(html: str) -> str | None:
    found = re.search(r'data-error-code="([^"]+)"', html)
    return found.group(1) if found else None


def local(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def sign_in(client: QuartClient, login: str, password: str = MEMBER_PASSWORD) -> int:
    status, _, _ = await submit(client, "/signin", {"login": login, "password": password})
    return status


async def users_named(db: AsyncSession, username: str) -> int:
    return int(
        await db.scalar(select(func.count()).select_from(User).where(User.username == username))
        or 0
    )


@pytest.fixture
async def federation(make_app: AppMaker, mail_settings: Settings) -> QuartClient:
    app = await make_app("federation", app_settings=mail_settings)
    return app.test_client()


# --- sign-up and verification ---------------------------------------------------------------


async def test_sign_up_verify_by_email_then_sign_in(
    federation: QuartClient, smtp_sink: SmtpSink, db: AsyncSession
) -> None:
    status, body, _ = await submit(
        federation,
        "/signup",
        {
            "email": "hazel@example.test",
            "username": "hazel",
            "display_name": "Hazel Nut",
            "password": MEMBER_PASSWORD,
        },
    )
    assert status == 200
    assert "Check your email" in body
    link = link_in(await smtp_sink.wait_for("hazel@example.test"))
    assert link.startswith("http://127.0.0.1:8005/verify?token=")

    # Not verified yet: the right password is not enough, and a fresh link goes out.
    status, body, _ = await submit(
        federation, "/signin", {"login": "hazel", "password": MEMBER_PASSWORD}
    )
    assert (status, error_code(body)) == (400, "email_unverified")
    await smtp_sink.wait_for("hazel@example.test", count=2)

    # The link's page changes nothing (mail scanners fetch links); its button confirms.
    resp = await federation.get(local(link))
    assert resp.status_code == 200
    assert "Confirm and sign in" in await resp.get_data(as_text=True)
    status, _, headers = await submit(federation, "/verify", verify_form(link), page=local(link))
    assert (status, headers["Location"]) == (302, "/")
    user = await db.scalar(select(User).where(User.username == "hazel"))
    assert user is not None
    assert user.email_verified_at is not None
    assert user.roles == ["member"]
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")

    # The link signed her in.
    resp = await federation.get("/settings")  # only for a signed-in member
    assert resp.status_code == 200
    assert "Hazel Nut" in await resp.get_data(as_text=True)

    # And her password works, in another browser.
    other = federation.app.test_client()  # type: ignore[attr-defined]
    assert await sign_in(other, "hazel@EXAMPLE.test") == 302
    assert (await other.get("/settings")).status_code == 200


def verify_form(link: str) -> dict[str, str]:
    """The verification page's form fields, from the emailed link."""
    params = dict(parse_qsl(urlsplit(link).query))
    return {"token": params["token"], "next": params.get("next", "/")}


async def test_the_verification_link_signs_in_once_and_returns_where_sign_up_began(
    federation: QuartClient, smtp_sink: SmtpSink, db: AsyncSession
) -> None:
    began = "http://127.0.0.1:8002/products/oat-milk?from=menu"
    page = await federation.get("/signin?" + urlencode({"next": began}))
    # "Create an account" carries where the visitor was.
    signup = re.search(r'href="(/signup[^"]*)"', await page.get_data(as_text=True))
    assert signup is not None
    assert dict(parse_qsl(urlsplit(html.unescape(signup.group(1))).query)) == {"next": began}
    status, body, _ = await submit(
        federation,
        "/signup",
        {
            "email": "iris@example.test",
            "username": "iris",
            "password": MEMBER_PASSWORD,
            "next": began,
        },
        page="/signup?" + urlencode({"next": began}),
    )
    assert (status, "Check your email" in body) == (200, True)
    link = link_in(await smtp_sink.wait_for("iris@example.test"))
    assert verify_form(link)["next"] == began

    browser = federation
    status, _, headers = await submit(browser, "/verify", verify_form(link), page=local(link))
    assert (status, headers["Location"]) == (302, began)
    assert (await browser.get("/settings")).status_code == 200
    sessions = await db.scalar(select(func.count()).select_from(AuthSession))
    assert sessions == 1

    # Used once: in another browser the same link confirms, but signs nobody in.
    other = federation.app.test_client()  # type: ignore[attr-defined]
    status, body, _ = await submit(other, "/verify", verify_form(link), page=local(link))
    assert status == 200
    assert "has been used" in body
    assert (await other.get("/settings")).status_code == 401  # not signed in
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == sessions


async def test_a_verification_link_never_returns_to_another_site(
    federation: QuartClient, smtp_sink: SmtpSink
) -> None:
    await submit(
        federation,
        "/signup",
        {"email": "jay@example.test", "username": "jay", "password": MEMBER_PASSWORD},
    )
    link = link_in(await smtp_sink.wait_for("jay@example.test"))
    form = {**verify_form(link), "next": "https://evil.example/"}
    status, _, headers = await submit(federation, "/verify", form, page=local(link))
    assert (status, headers["Location"]) == (302, "/")


async def test_signing_up_with_a_registered_email_answers_the_same_and_tells_the_owner(
    federation: QuartClient, smtp_sink: SmtpSink, db: AsyncSession
) -> None:
    await make_member(db, "holly", email="holly@example.test")
    status, body, _ = await submit(
        federation,
        "/signup",
        {"email": "Holly@example.test", "username": "other", "password": MEMBER_PASSWORD},
    )
    assert status == 200
    assert "Check your email" in body
    msg = await smtp_sink.wait_for("holly@example.test")
    assert "already has an account" in msg.get_body().get_content()  # type: ignore[union-attr]
    assert await users_named(db, "other") == 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"username": "taken"}, "username_taken"),
        ({"username": "no spaces"}, "invalid_sign_up"),
        ({"username": "federation"}, "invalid_sign_up"),
        ({"username": "Market"}, "invalid_sign_up"),
        ({"username": "admin"}, "invalid_sign_up"),
        ({"email": "not-an-address"}, "invalid_sign_up"),
        ({"password": "short"}, "invalid_sign_up"),
    ],
)
async def test_a_bad_sign_up_is_refused_and_creates_nothing(
    federation: QuartClient, db: AsyncSession, fields: dict[str, str], code: str
) -> None:
    await make_member(db, "taken")
    data = {"email": "fern@example.test", "username": "fern", "password": MEMBER_PASSWORD}
    status, body, _ = await submit(federation, "/signup", {**data, **fields})
    assert (status, error_code(body)) == (400, code)
    # Beside the field it is about.
    assert re.findall(r'class="field-error" id="e-([a-z_]+)"', body) == list(fields)
    assert await db.scalar(select(func.count()).select_from(User)) == 1


async def test_a_forged_verification_link_is_refused(federation: QuartClient) -> None:
    status, body, _ = await submit(
        federation, "/verify", {"token": "not.a.token"}, page="/verify?token=not.a.token"
    )
    assert status == 400
    assert 'data-error-code="token_invalid"' in body


async def test_a_bad_sign_up_shows_every_problem_beside_its_field(
    federation: QuartClient, db: AsyncSession
) -> None:
    status, body, _ = await submit(
        federation,
        "/signup",
        {"email": "nope", "username": "no spaces", "display_name": "x" * 101, "password": "short"},
    )
    assert status == 400
    fields = re.findall(r'class="field-error" id="e-([a-z_]+)"', body)
    assert fields == ["email", "username", "display_name", "password"]
    for name in fields:  # each input points at its message
        assert f'aria-describedby="e-{name}"' in body
    assert 'value="nope"' in body  # what was typed stays
    assert await db.scalar(select(func.count()).select_from(User)) == 0


# --- CSRF on the forms ----------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_forms_without_the_right_csrf_token_are_refused_and_change_nothing(
    federation: QuartClient, db: AsyncSession, token: str | None
) -> None:
    await make_member(db, "ivy")
    await federation.get("/signup")  # the session has a token; the form does not send it
    extra = {"csrf_token": token} if token else {}
    resp = await federation.post(
        "/signup",
        form={"email": "x@example.test", "username": "newbie", "password": MEMBER_PASSWORD} | extra,
    )
    assert resp.status_code == 400
    resp = await federation.post(
        "/signin", form={"login": "ivy", "password": MEMBER_PASSWORD} | extra
    )
    assert resp.status_code == 400
    assert await users_named(db, "newbie") == 0
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0


# --- sign-in --------------------------------------------------------------------------------


class CountingHasher(PasswordHasher):
    """The app's own argon2id hasher (the same parameters), noting the parameters of every
    hash it checks a password against: the work a sign-in did, without a clock."""

    def __init__(self, like: PasswordHasher) -> None:
        super().__init__(
            time_cost=like.time_cost,
            memory_cost=like.memory_cost,
            parallelism=like.parallelism,
            hash_len=like.hash_len,
            salt_len=like.salt_len,
            type=like.type,
        )
        self.checked: list[Parameters] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.checked.append(extract_parameters(hash if isinstance(hash, str) else hash.decode()))
        return super().verify(hash, password)


async def test_a_wrong_password_and_an_unknown_account_get_the_same_answer_after_the_same_work(
    make_app: AppMaker, settings: Settings, db: AsyncSession
) -> None:
    app = await make_app("federation", app_settings=settings)
    passwords = app.extensions[SERVICES_EXTENSION].identity.passwords
    hasher = passwords.hasher = CountingHasher(passwords.hasher)
    client = app.test_client()
    await make_member(db, "juniper", settings=settings)
    stored = await db.scalar(select(User.password_hash).where(User.username == "juniper"))
    assert stored is not None
    token = csrf_in(await (await client.get("/signin")).get_data(as_text=True))

    async def attempt(login: str) -> tuple[int, str, list[Parameters]]:
        hasher.checked.clear()
        resp = await client.post(
            "/signin", form={"login": login, "password": "wrong password!", "csrf_token": token}
        )
        body = (await resp.get_data(as_text=True)).replace(login, "LOGIN")
        return resp.status_code, body, list(hasher.checked)

    wrong = await attempt("juniper")
    unknown = await attempt("nobody-at-all")
    assert wrong[:2] == unknown[:2]
    assert wrong[0] == 400
    # One argon2id check each, against a hash of the same cost: the unknown account's answer
    # waits on the same work as a real account's (a dummy hash, not a shortcut).
    assert wrong[2] == [extract_parameters(stored)]
    assert unknown[2] == wrong[2]


async def test_sign_in_failures_count_against_the_account_however_it_is_named(
    make_app: AppMaker, database_url: str, redis_url: str, db: AsyncSession
) -> None:
    limited = make_settings(database_url, redis_url, ROSE_RATE_LIMITS__SIGNIN__PER_ACCOUNT="3")
    client = (await make_app("federation", app_settings=limited)).test_client()
    kale = await make_member(db, "kale")
    # Username and email, in any case, are one account: four failures, one bucket.
    for login in ("kale", kale.email, "KALE", kale.email.upper()):
        assert await sign_in(client, login, "wrong password!") == 400
    # Past the free failures the account waits, even with the right password, which is not
    # checked: an answer to it would be an oracle.
    status, body, headers = await submit(
        client, "/signin", {"login": "Kale", "password": MEMBER_PASSWORD}
    )
    assert (status, error_code(body)) == (429, "rate_limited")
    assert 0 < int(headers["Retry-After"]) <= 30
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0
    # Another account from the same address is not affected.
    await make_member(db, "leek")
    assert await sign_in(client, "leek") == 302


async def test_a_stranger_cannot_lock_the_owner_out_for_long(
    make_app: AppMaker, database_url: str, redis_url: str, db: AsyncSession
) -> None:
    """OWASP's device cookies and NIST SP 800-63B's throttling (decision 0059): the owner's
    browser, which signed in before, is never made to wait for a stranger's failures, and a
    new device waits at most fifteen minutes however many there were."""
    limited = make_settings(
        database_url,
        redis_url,
        ROSE_RATE_LIMITS__SIGNIN__PER_ACCOUNT="3",
        ROSE_RATE_LIMITS__SIGNIN__PER_ADDRESS="1000",
    )
    app = await make_app("federation", app_settings=limited)
    await make_member(db, "mint")
    owner = app.test_client()
    status, _, headers = await submit(
        owner, "/signin", {"login": "mint", "password": MEMBER_PASSWORD}
    )
    assert status == 302
    device = next(c for c in headers.getlist("Set-Cookie") if "signin_device" in c)
    assert "HttpOnly" in device
    cookie = device.split(";")[0].split("=", 1)[1]

    stranger = app.test_client()
    waits = []
    for _ in range(40):
        status, _, headers = await submit(
            stranger, "/signin", {"login": "mint", "password": "guess"}
        )
        waits.append(int(headers.get("Retry-After", 0)))
        if status == 429:
            # The stranger waits out each delay (its end moved into the past).
            redis = app.extensions["rose"].redis
            for key in await redis.keys("rose:rl:signin:fail:*"):
                if not key.endswith(b":n"):
                    await redis.delete(key)
    assert max(waits) == 15 * 60  # the delay doubled up to its cap, never beyond
    # The owner, back on a fresh session in the browser that signed in before: straight in.
    back = app.test_client()
    back.set_cookie("localhost", "rose_signin_device", cookie, path="/signin")
    assert await sign_in(back, "mint") == 302
    # The owner's sign-in forgets the failures: a device never seen before gets in too.
    assert await sign_in(app.test_client(), "mint") == 302
    # A device cookie of another account is no key to this one.
    await make_member(db, "sage")
    thief = app.test_client()
    thief.set_cookie("localhost", "rose_signin_device", cookie, path="/signin")
    for _ in range(4):
        await sign_in(thief, "sage", "guess")
    assert await sign_in(thief, "sage") == 429


async def test_sign_in_is_rate_limited_per_address(
    make_app: AppMaker, database_url: str, redis_url: str
) -> None:
    limited = make_settings(database_url, redis_url, ROSE_RATE_LIMITS__SIGNIN__PER_ADDRESS="3")
    client = (await make_app("federation", app_settings=limited)).test_client()
    for name in ("a", "b", "c"):
        assert await sign_in(client, name, "whatever it is") == 400
    assert await sign_in(client, "d", "whatever it is") == 429


async def test_sign_in_and_reset_stay_limited_while_redis_is_down(
    make_app: AppMaker, database_url: str, db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    # Redis at a port where nothing listens: the windows (here the per-address one) are counted
    # in this process.
    limited = make_settings(
        database_url,
        f"redis://127.0.0.1:{refusing_port()}/0",
        ROSE_RATE_LIMITS__SIGNIN__PER_ADDRESS="3",
        ROSE_RATE_LIMITS__RESET__PER_ACCOUNT="2",
    )
    client = (await make_app("federation", app_settings=limited)).test_client()
    await make_member(db, "rocket")
    for _ in range(3):
        assert await sign_in(client, "rocket", "wrong password!") == 400
    status, body, _ = await submit(
        client, "/signin", {"login": "rocket", "password": MEMBER_PASSWORD}
    )
    assert (status, error_code(body)) == (429, "rate_limited")
    assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0
    for _ in range(2):
        status, _, _ = await submit(client, "/reset", {"email": "rocket-down@example.test"})
        assert status == 200
    status, _, _ = await submit(client, "/reset", {"email": "rocket-down@example.test"})
    assert status == 429
    assert "rate limits counted per process" in caplog.text


async def test_an_accounts_failures_still_count_while_its_redis_is_stopped(
    make_app: AppMaker,
    database_url: str,
    db: AsyncSession,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A Valkey of the test's own, really stopped: the per-account throttle (decision 0059)
    # counts in this process, so an outage does not open unlimited guessing at one account.
    with private_valkey(tmp_path) as (valkey, url):
        limited = make_settings(
            database_url,
            url,
            ROSE_RATE_LIMITS__SIGNIN__PER_ACCOUNT="3",
            ROSE_RATE_LIMITS__SIGNIN__PER_ADDRESS="1000",
        )
        client = (await make_app("federation", app_settings=limited)).test_client()
        await make_member(db, "radish")
        assert await sign_in(client, "radish", "wrong password!") == 400  # counted in Redis
        await asyncio.to_thread(valkey.stop)
        # The process's count starts afresh: three free failures, then the account waits,
        # even with the right password.
        for _ in range(4):
            assert await sign_in(client, "RADISH", "wrong password!") == 400
        status, body, headers = await submit(
            client, "/signin", {"login": "radish", "password": MEMBER_PASSWORD}
        )
        assert (status, error_code(body)) == (429, "rate_limited")
        assert 0 < int(headers["Retry-After"]) <= 30
        assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0
        # Another account from the same address is not affected, and the site stays usable.
        await make_member(db, "turnip")
        assert await sign_in(client, "turnip") == 302
    assert "rate limits counted per process: Redis unavailable" in caplog.text


# --- forgotten password ---------------------------------------------------------------------


async def test_password_reset_by_email(
    make_app: AppMaker, mail_settings: Settings, smtp_sink: SmtpSink, db: AsyncSession
) -> None:
    app = await make_app("federation", app_settings=mail_settings)
    signed_in_elsewhere = app.test_client()
    await make_member(db, "mint", email="mint@example.test")
    assert await sign_in(signed_in_elsewhere, "mint") == 302

    client = app.test_client()
    status, body, _ = await submit(client, "/reset", {"email": "MINT@example.test"})
    assert status == 200
    assert "If an account uses that address" in body
    link = link_in(await smtp_sink.wait_for("mint@example.test"))
    resp = await client.get(local(link))
    assert resp.status_code == 200
    status, body, _ = await submit(
        client, local(link), {"password": NEW_PASSWORD}, page=local(link)
    )
    assert status == 200
    assert "signed out everywhere" in body

    assert await sign_in(client, "mint") == 400
    assert await sign_in(client, "mint", NEW_PASSWORD) == 302
    # The other browser was signed out.
    home = await (await signed_in_elsewhere.get("/settings")).get_data(as_text=True)
    assert "Your sign-in details" not in home
    # The link works once.
    resp = await client.get(local(link))
    assert resp.status_code == 400
    assert await db.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "user.password_reset")
    )


async def test_a_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(
    federation: QuartClient, smtp_sink: SmtpSink, db: AsyncSession
) -> None:
    await make_member(db, "nettle", email="nettle@example.test")
    _, unknown, _ = await submit(federation, "/reset", {"email": "nobody@example.test"})
    _, known, _ = await submit(federation, "/reset", {"email": "nettle@example.test"})
    assert unknown == known
    await smtp_sink.wait_for("nettle@example.test")
    assert smtp_sink.to("nobody@example.test") == []


async def test_reset_requests_are_rate_limited(
    make_app: AppMaker, database_url: str, redis_url: str
) -> None:
    limited = make_settings(database_url, redis_url, ROSE_RATE_LIMITS__RESET__PER_ACCOUNT="2")
    client = (await make_app("federation", app_settings=limited)).test_client()
    for _ in range(2):
        status, _, _ = await submit(client, "/reset", {"email": "oak@example.test"})
        assert status == 200
    status, _, _ = await submit(client, "/reset", {"email": "oak@example.test"})
    assert status == 429


# --- changing the password and the address (signed in) --------------------------------------


async def test_changing_the_password_keeps_this_sign_in_and_ends_the_others(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("federation")
    here, elsewhere = app.test_client(), app.test_client()
    await make_member(db, "pine")
    assert await sign_in(here, "pine") == 302
    assert await sign_in(elsewhere, "pine") == 302

    status, body, _ = await submit(
        here,
        "/settings/password",
        {"current_password": "not it at all", "new_password": NEW_PASSWORD},
    )
    assert (status, error_code(body)) == (400, "wrong_password")
    # Beside the field it is about.
    assert re.findall(r'class="field-error" id="e-([a-z_]+)"', body) == ["current_password"]
    status, body, _ = await submit(
        here,
        "/settings/password",
        {"current_password": MEMBER_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert status == 200
    assert (await here.get("/settings")).status_code == 200
    resp = await elsewhere.get("/settings", headers={"Accept": "text/html"})
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/auth/login?next=")


async def test_changing_the_email_address_is_confirmed_from_the_new_inbox(
    make_app: AppMaker, mail_settings: Settings, smtp_sink: SmtpSink, db: AsyncSession
) -> None:
    app = await make_app("federation", app_settings=mail_settings)
    federation = app.test_client()
    await make_member(db, "quince", email="quince@example.test")
    assert await sign_in(federation, "quince") == 302
    status, _, _ = await submit(
        federation,
        "/settings/email",
        {"new_email": "quince@new.example.test", "password": MEMBER_PASSWORD},
    )
    assert status == 200
    link = link_in(await smtp_sink.wait_for("quince@new.example.test"))
    await smtp_sink.wait_for("quince@example.test")  # the old address hears about it
    user = await db.scalar(select(User).where(User.username == "quince"))
    assert user is not None
    assert user.email == "quince@example.test", "nothing changes before confirming"

    resp = await federation.get(local(link))
    assert resp.status_code == 200
    await db.refresh(user)
    assert user.email == "quince@new.example.test"
    assert await sign_in(app.test_client(), "quince@new.example.test") == 302


async def test_changing_to_an_address_in_use_is_refused(
    federation: QuartClient, db: AsyncSession
) -> None:
    await make_member(db, "rue", email="rue@example.test")
    await make_member(db, "sage", email="sage@example.test")
    assert await sign_in(federation, "rue") == 302
    status, body, _ = await submit(
        federation,
        "/settings/email",
        {"new_email": "SAGE@example.test", "password": MEMBER_PASSWORD},
    )
    assert (status, error_code(body)) == (400, "email_taken")


async def test_changing_the_name_outdates_the_members_header_menu(
    federation: QuartClient, db: AsyncSession, redis: aioredis.Redis
) -> None:
    """The name shows in every app's header (account/menu, cached per member): renaming bumps
    that member's version of it, and no one else's; a bad name changes nothing."""
    member = await make_member(db, "sorrel", display_name="Sorrel Leaf")
    other = await make_member(db, "tansy")
    assert await sign_in(federation, "sorrel") == 302
    mine = f"rose:fragver:account/menu:u{member.id}"
    theirs = f"rose:fragver:account/menu:u{other.id}"
    before = int(await redis.get(mine) or 0)

    status, body, _ = await submit(federation, "/settings/profile", {"display_name": "x" * 101})
    assert (status, error_code(body)) == (400, "invalid_display_name")
    assert 'aria-describedby="e-display_name"' in body
    assert int(await redis.get(mine) or 0) == before
    user = await db.get(User, member.id)
    assert user is not None
    await db.refresh(user)
    assert user.display_name == "Sorrel Leaf"

    status, _, headers = await submit(
        federation, "/settings/profile", {"display_name": "  Sorrel   Green "}
    )
    assert (status, headers["Location"]) == (302, "/settings")
    await db.refresh(user)
    assert user.display_name == "Sorrel Green"
    assert int(await redis.get(mine) or 0) == before + 1
    assert await redis.get(theirs) is None
    assert "Sorrel Green" in await (await federation.get("/settings")).get_data(as_text=True)


# --- roles ----------------------------------------------------------------------------------


async def test_only_admins_manage_roles(make_app: AppMaker, db: AsyncSession) -> None:
    app = await make_app("federation")
    await make_member(db, "tansy", roles=("admin",))
    member = await make_member(db, "umbel")

    anonymous = app.test_client()
    resp = await anonymous.get("/admin/users", headers={"Accept": "text/html"})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/auth/login?next=%2Fadmin%2Fusers"

    as_member = app.test_client()
    assert await sign_in(as_member, "umbel") == 302
    assert (await as_member.get("/admin/users")).status_code == 403
    status, _, _ = await submit(
        as_member, f"/admin/users/{member.id}/roles", {"roles": "admin"}, page="/settings/password"
    )
    assert status == 403

    admin = app.test_client()
    assert await sign_in(admin, "tansy") == 302
    page = await (await admin.get("/admin/users")).get_data(as_text=True)
    assert "umbel" in page
    status, _, _ = await submit(
        admin, f"/admin/users/{member.id}/roles", {"roles": "editor"}, page="/admin/users"
    )
    assert status == 302
    user = await db.get(User, member.id)
    assert user is not None
    await db.refresh(user)
    assert user.roles == ["member", "editor"]
    audit = await db.scalar(select(AuditLog).where(AuditLog.action == "user.roles_changed"))
    assert audit is not None
    assert audit.after == {"roles": ["member", "editor"]}


async def test_an_admin_cannot_take_the_admin_role_from_themselves(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("federation")
    admin = await make_member(db, "vetch", roles=("admin",))
    client = app.test_client()
    assert await sign_in(client, "vetch") == 302
    status, body, _ = await submit(
        client, f"/admin/users/{admin.id}/roles", {"roles": "editor"}, page="/admin/users"
    )
    assert (status, error_code(body)) == (400, "cannot_demote_self")
    # Said beside that account's roles.
    assert set(errors_beside_fields(body)) == {f"roles-{admin.id}"}
