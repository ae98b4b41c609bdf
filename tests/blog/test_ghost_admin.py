"""Ghost's Admin API: the JWT exactly as Ghost checks it, webhook registration (idempotent,
clear errors for a bad key), and the whole loop: register -> edit in Ghost -> Ghost's webhook
reaches the running blog -> the post is re-read."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import ConfigError, Settings
from shared.infrastructure.context import services
from shared.models import ApActivity, BlogPost, GhostState, NavItem
from shared.services.blog.ghost import (
    GhostAdminClient,
    GhostAuthError,
    GhostContentClient,
    admin_token,
    parse_admin_key,
)
from shared.services.blog.ghost_sync import GhostSync
from shared.services.blog.ghost_webhooks import WEBHOOK_EVENTS, register_webhooks
from tests.blog.factories import WEBHOOK_SECRET
from tests.standins.ghost import GhostStandIn
from tests.support import run_cli
from tests.support.live import Platform
from tests.support.settings import make_settings

BLOG_PUBLIC = "https://blog.rose-ash.test"


@pytest.fixture
def admin_settings(database_url: str, redis_url: str, ghost: GhostStandIn) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        ROSE_GHOST__URL=ghost.url,
        ROSE_GHOST__TIMEOUT_S="2",
        ROSE_GHOST_CONTENT_KEY=ghost.content_key,
        ROSE_GHOST_ADMIN_KEY=ghost.admin_key,
        ROSE_GHOST_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ROSE_APPS__BLOG__PUBLIC_URL=BLOG_PUBLIC,
    )


def _segment(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_the_admin_token_is_what_ghost_documents(ghost: GhostStandIn) -> None:
    key_id, secret = parse_admin_key(ghost.admin_key)
    assert secret == bytes.fromhex(ghost.admin_secret)  # hex-decoded, not the text
    token = admin_token(key_id, secret, now=1_800_000_000)
    head, body, _ = token.split(".")
    assert _segment(head) == {"alg": "HS256", "typ": "JWT", "kid": ghost.admin_key_id}
    assert _segment(body) == {"iat": 1_800_000_000, "exp": 1_800_000_300, "aud": "/admin/"}
    # Verified independently with the JOSE library as well.
    claims = jwt.decode(token, OctKey.import_key(secret), algorithms=["HS256"]).claims
    assert claims["aud"] == "/admin/"


@pytest.mark.parametrize(
    "value",
    ["", "abc", "a" * 24, "a" * 24 + ":", "g" * 24 + ":" + "a" * 64, "a" * 24 + ":" + "abc"],
)
def test_a_malformed_admin_key_is_a_one_line_config_error(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_admin_key(value)
    assert "ROSE_GHOST_ADMIN_KEY" in str(err.value)
    assert "\n" not in str(err.value)


def _token(
    ghost: GhostStandIn,
    *,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    secret: bytes | None = None,
) -> str:
    now = int(time.time())
    head = {"alg": "HS256", "typ": "JWT", "kid": ghost.admin_key_id, **(header or {})}
    head = {k: v for k, v in head.items() if v is not None}
    body = {"iat": now, "exp": now + 300, "aud": "/admin/", **(claims or {})}
    key = OctKey.import_key(secret or bytes.fromhex(ghost.admin_secret))
    return jwt.encode(head, body, key, algorithms=[head["alg"]])


def _cases(ghost: GhostStandIn) -> list[tuple[str | None, int, str, str | None, str]]:
    """(Authorization, status, error type, code, message) as Ghost 5 answers them."""
    now = int(time.time())
    return [
        (None, 403, "NoPermissionError", None, "Authorization failed"),
        (
            "Bearer " + _token(ghost),
            401,
            "UnauthorizedError",
            "INVALID_AUTH_HEADER",
            'Authorization header format is "Authorization: Ghost [token]"',
        ),
        ("Ghost not-a-jwt", 400, "BadRequestError", "INVALID_JWT", "Invalid token"),
        (
            "Ghost " + _token(ghost, header={"kid": None}),
            400,
            "BadRequestError",
            "MISSING_ADMIN_API_KID",
            "Admin API kid missing.",
        ),
        (
            "Ghost " + _token(ghost, header={"kid": "0" * 24}),
            401,
            "UnauthorizedError",
            "UNKNOWN_ADMIN_API_KEY",
            "Unknown Admin API Key",
        ),
        (
            # Signed with the secret's text instead of its hex-decoded bytes.
            "Ghost " + _token(ghost, secret=ghost.admin_secret.encode()),
            401,
            "UnauthorizedError",
            "INVALID_JWT",
            "Invalid token: invalid signature",
        ),
        (
            "Ghost " + _token(ghost, claims={"iat": now - 400, "exp": now - 100}),
            401,
            "UnauthorizedError",
            "INVALID_JWT",
            "Invalid token: jwt expired",
        ),
        (
            "Ghost " + _token(ghost, claims={"aud": "/content/"}),
            401,
            "UnauthorizedError",
            "INVALID_JWT",
            "Invalid token: jwt audience invalid. expected: /admin/",
        ),
        (
            "Ghost " + _token(ghost, claims={"iat": now - 600, "exp": now + 3600}),
            401,
            "UnauthorizedError",
            "INVALID_JWT",
            "Invalid token: maxAge exceeded",
        ),
        (
            "Ghost " + _token(ghost, header={"alg": "HS512"}),
            401,
            "UnauthorizedError",
            "INVALID_JWT",
            "Invalid token: invalid algorithm",
        ),
    ]


@pytest.mark.parametrize("case", range(10))
async def test_the_stand_in_refuses_tokens_like_ghost(ghost: GhostStandIn, case: int) -> None:
    auth, status, kind, code, message = _cases(ghost)[case]
    body = {"webhooks": [{"event": "post.published", "target_url": BLOG_PUBLIC + "/x"}]}
    headers = {"Authorization": auth} if auth else {}
    async with httpx.AsyncClient() as client:
        resp = await client.post(
            f"{ghost.url}/ghost/api/admin/webhooks/", json=body, headers=headers
        )
    assert resp.status_code == status
    error = resp.json()["errors"][0]
    assert (error["type"], error["code"], error["message"]) == (kind, code, message)
    assert ghost.webhooks == {}


async def test_a_bad_admin_key_is_a_clear_error(ghost: GhostStandIn) -> None:
    wrong_secret = f"{ghost.admin_key_id}:{'ab' * 32}"
    unknown = f"{'0' * 24}:{ghost.admin_secret}"
    for key, detail in ((wrong_secret, "invalid signature"), (unknown, "UNKNOWN_ADMIN_API_KEY")):
        async with GhostAdminClient(ghost.url, key, timeout=2) as admin:
            with pytest.raises(GhostAuthError) as err:
                await admin.add_webhook(
                    event="post.published", target_url=BLOG_PUBLIC, secret="s", name="n"
                )
        assert err.value.status == 401
        assert "Admin API key" in str(err.value)
        assert detail in str(err.value)
    assert ghost.webhooks == {}


async def test_registration_creates_the_webhooks_once(
    ghost: GhostStandIn,
    admin_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    outcomes = await register_webhooks(admin_settings, session_factory)
    assert outcomes == [(event, "created") for event in WEBHOOK_EVENTS]
    hooks = list(ghost.webhooks.values())
    assert sorted(h["event"] for h in hooks) == sorted(WEBHOOK_EVENTS)
    assert {h["target_url"] for h in hooks} == {BLOG_PUBLIC + "/webhooks/ghost"}
    assert {h["secret"] for h in hooks} == {WEBHOOK_SECRET}
    assert {"post.published", "page.deleted", "tag.edited", "site.changed"} <= set(WEBHOOK_EVENTS)
    # Again: each is confirmed where it is (edited in place), none made twice.
    ghost.requests.clear()
    assert await register_webhooks(admin_settings, session_factory) == [
        (e, "exists") for e in WEBHOOK_EVENTS
    ]
    assert len(ghost.webhooks) == len(WEBHOOK_EVENTS)
    assert sorted(path for path, _ in ghost.requests) == sorted(
        f"/ghost/api/admin/webhooks/{hook_id}/" for hook_id in ghost.webhooks
    )

    # One deleted in Ghost's admin screen meanwhile is made again.
    gone = next(h for h in ghost.webhooks.values() if h["event"] == "site.changed")
    del ghost.webhooks[gone["id"]]
    outcomes = dict(await register_webhooks(admin_settings, session_factory))
    assert outcomes["site.changed"] == "created"
    assert {o for e, o in outcomes.items() if e != "site.changed"} == {"exists"}
    assert sorted(h["event"] for h in ghost.webhooks.values()) == sorted(WEBHOOK_EVENTS)


async def test_without_a_record_ghosts_already_used_answer_counts_as_registered(
    ghost: GhostStandIn,
    admin_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    db: AsyncSession,
) -> None:
    await register_webhooks(admin_settings, session_factory)
    await db.execute(delete(GhostState))  # another database: Ghost's answer is all we know
    # Ghost gives the reason only in the error's context, as a real Ghost 5 does.
    assert await register_webhooks(admin_settings, session_factory) == [
        (e, "exists") for e in WEBHOOK_EVENTS
    ]
    assert len(ghost.webhooks) == len(WEBHOOK_EVENTS)


@pytest.mark.parametrize("change", ["public_url", "secret"])
async def test_a_new_address_or_secret_replaces_our_old_webhooks(
    ghost: GhostStandIn,
    admin_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    redis_url: str,
    change: str,
) -> None:
    await register_webhooks(admin_settings, session_factory)
    old_ids = set(ghost.webhooks)
    changed = make_settings(
        database_url,
        redis_url,
        ROSE_GHOST__URL=ghost.url,
        ROSE_GHOST_CONTENT_KEY=ghost.content_key,
        ROSE_GHOST_ADMIN_KEY=ghost.admin_key,
        ROSE_GHOST_WEBHOOK_SECRET="new-secret" if change == "secret" else WEBHOOK_SECRET,
        ROSE_APPS__BLOG__PUBLIC_URL=(
            "https://new-blog.rose-ash.test" if change == "public_url" else BLOG_PUBLIC
        ),
    )
    outcomes = await register_webhooks(changed, session_factory)
    assert outcomes == [(e, "replaced") for e in WEBHOOK_EVENTS]
    hooks = list(ghost.webhooks.values())
    assert set(ghost.webhooks) == old_ids  # moved in place: no stale webhook left behind
    target = changed.apps["blog"].public_url + "/webhooks/ghost"
    assert {h["target_url"] for h in hooks} == {target}
    assert {h["secret"] for h in hooks} == {changed.secrets.ghost_webhook_secret}
    # And once more: all in place.
    assert await register_webhooks(changed, session_factory) == [
        (e, "exists") for e in WEBHOOK_EVENTS
    ]


async def test_the_cli_registers_idempotently_and_says_why_it_cannot(
    ghost: GhostStandIn, database_url: str, redis_url: str, committed: None
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ROSE_GHOST__URL": ghost.url,
        "ROSE_GHOST_CONTENT_KEY": ghost.content_key,
        "ROSE_GHOST_ADMIN_KEY": ghost.admin_key,
        "ROSE_GHOST_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ROSE_APPS__BLOG__PUBLIC_URL": BLOG_PUBLIC,
    }
    code, out, err = await run_cli("ghost-sync", "--register-webhooks", env=env)
    assert code == 0, err
    assert "post.published: created" in out
    assert f"Ghost's webhooks point at {BLOG_PUBLIC}/webhooks/ghost." in out
    assert len(ghost.webhooks) == len(WEBHOOK_EVENTS)
    assert not any(p.startswith("/ghost/api/content/") for p, _ in ghost.requests)  # no sync

    code, out, _ = await run_cli("ghost-sync", "--register-webhooks", env=env)
    assert code == 0
    assert out.count("already registered") == len(WEBHOOK_EVENTS)
    assert len(ghost.webhooks) == len(WEBHOOK_EVENTS)

    bad = {**env, "ROSE_GHOST_ADMIN_KEY": f"{ghost.admin_key_id}:{'cd' * 32}"}
    code, out, err = await run_cli("ghost-sync", "--register-webhooks", env=bad)
    assert code == 1
    assert err.strip().count("\n") == 0
    assert "(ghost_auth)" in err
    assert "Admin API key" in err
    assert "INVALID_JWT" in err
    assert "Traceback" not in err

    code, _, err = await run_cli(
        "ghost-sync", "--register-webhooks", env={**env, "ROSE_GHOST_ADMIN_KEY": "nonsense"}
    )
    assert code == 2
    assert err.strip().startswith("rose-ash: error: ROSE_GHOST_ADMIN_KEY")
    missing = {k: v for k, v in env.items() if k != "ROSE_GHOST_ADMIN_KEY"}
    code, _, err = await run_cli("ghost-sync", "--register-webhooks", env=missing)
    assert code == 2
    assert "ROSE_GHOST_ADMIN_KEY is not set" in err


# --- the whole loop -----------------------------------------------------------------------------


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[None]:
    """The served blog commits: remove what Ghost brought when the test ends (the activities
    federating its post included: other tests count the outbox)."""
    async with engine.begin() as conn:
        before = await conn.scalar(select(func.coalesce(func.max(ApActivity.id), 0)))
    yield
    async with engine.begin() as conn:
        await conn.execute(delete(ApActivity).where(ApActivity.id > before))
        await conn.execute(delete(NavItem).where(NavItem.from_ghost.is_(True)))
        await conn.execute(delete(GhostState))
        await conn.execute(delete(BlogPost).where(BlogPost.ghost_id.is_not(None)))


async def test_registered_webhooks_bring_ghosts_edits_to_the_running_blog(
    live: Platform, ghost: GhostStandIn, engine: AsyncEngine, committed: None
) -> None:
    settings = live.settings(
        ROSE_GHOST__URL=ghost.url,
        ROSE_GHOST__TIMEOUT_S="2",
        ROSE_GHOST__WEBHOOK_TIMEOUT_S="2",
        ROSE_GHOST_CONTENT_KEY=ghost.content_key,
        ROSE_GHOST_ADMIN_KEY=ghost.admin_key,
        ROSE_GHOST_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    post = ghost.add_post("Market day", html="<p>Saturday</p>")
    async with GhostContentClient.from_settings(settings) as client:
        await GhostSync(async_sessionmaker(engine), client, settings.ghost).run()
    await live.start("blog", settings)
    assert await register_webhooks(settings, async_sessionmaker(engine)) == [
        (e, "created") for e in WEBHOOK_EVENTS
    ]

    async def title() -> str | None:
        async with AsyncSession(engine) as db:
            return await db.scalar(select(BlogPost.title).where(BlogPost.ghost_id == post["id"]))

    ghost.requests.clear()
    ghost.edit(post["id"], title="Market day moved", html="<p>Sunday</p>")
    await ghost.delivered()
    target = live.url("blog") + "/webhooks/ghost"
    assert [(e, s) for e, t, s in ghost.deliveries if t == target] == [
        ("post.published.edited", 200),
        ("site.changed", 200),
    ]
    assert await title() == "Market day moved"
    assert any(path.endswith(f"/posts/{post['id']}/") for path, _ in ghost.requests)

    ghost.edit_settings(navigation=[{"label": "Shop", "url": "https://shop.example/"}])
    await ghost.delivered()
    async with AsyncSession(engine) as db:
        first = (await services().blog.navigation(db))[0]
    assert (first.label, first.path, first.from_ghost) == ("Shop", "https://shop.example/", True)

    ghost.remove(post["id"])
    await ghost.delivered()
    assert [e for e, _, s in ghost.deliveries[-3:] if s == 200] == [
        "post.unpublished",
        "post.deleted",
        "site.changed",
    ]
    assert await title() is None
