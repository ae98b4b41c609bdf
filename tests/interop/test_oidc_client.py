"""A relying party from another ecosystem signs in to Rose Ash: the npm registry's
``openid-client`` (``oidc_rp/rp.mjs``) under Node, against federation served on loopback.

The Node side does discovery, PKCE, the code grant with its ID-token checks (and the
signature against the JWKS), UserInfo and refresh; this side plays the member's browser
(signing in, consenting) and then follows the RP-initiated logout URL the library built."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from shared.services.identity.oidc import tools
from tests.identity.factories import MEMBER_PASSWORD
from tests.support import GUARD_S, Browser, csrf_in, query_of
from tests.support.live import Platform

pytestmark = pytest.mark.slow

RP_DIR = Path(__file__).resolve().parent / "oidc_rp"
NPM_TIMEOUT_S = 600
CLIENT_ID = "npm-wiki"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never reached: the test reads the redirect
POST_LOGOUT = "http://127.0.0.1:9/signed-out"


@pytest.fixture(scope="session")
def rp_installed() -> Path:
    """``node_modules`` for the relying party, installed with ``npm ci`` when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("the interop tests need Node.js and npm (apt-get install nodejs npm)")
    if not (RP_DIR / "node_modules" / "openid-client").is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=RP_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci for the relying party failed:\n{result.stdout}\n{result.stderr}")
    return RP_DIR


@pytest.fixture
async def registered(live: Platform) -> AsyncIterator[str | None]:
    engine = create_async_engine(live.database_url)
    try:
        async with async_sessionmaker(engine)() as db, db.begin():
            _row, secret = await tools.create_tool(
                db,
                tools.ToolSpec(
                    client_id=CLIENT_ID,
                    name="The Wiki",
                    redirect_uris=[REDIRECT_URI],
                    post_logout_redirect_uris=[POST_LOGOUT],
                    scopes=["openid", "profile", "email", "roles"],
                ),
            )
        yield secret
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM oidc_clients WHERE client_id = :c"), {"c": CLIENT_ID}
            )
        await engine.dispose()


async def read_json(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), GUARD_S)
    assert line, "the relying party exited early"
    answer: dict[str, Any] = json.loads(line)
    assert "error" not in answer, answer
    return answer


async def test_openid_client_signs_in_refreshes_and_logs_out(
    rp_installed: Path, live: Platform, registered: str | None, browser: Browser
) -> None:
    await live.serve("federation")
    await live.member("ash", display_name="Ash Tree", roles=("editor",))
    fed = live.url("federation")
    node = shutil.which("node")
    assert node is not None
    proc = await asyncio.create_subprocess_exec(
        node,
        "rp.mjs",
        cwd=rp_installed,
        env={
            "PATH": "/usr/bin:/bin",
            "ISSUER": fed,
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": registered or "",
            "REDIRECT_URI": REDIRECT_URI,
            "POST_LOGOUT_REDIRECT_URI": POST_LOGOUT,
        },
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        start = await read_json(proc)
        # The member's browser: sign in at federation, consent, and be sent to the callback.
        page = await browser.get(start["authorization_url"])
        assert "/signin" in str(page.url), browser.hops
        page = await browser.post(
            str(page.url).split("?")[0],
            {
                "login": "ash",
                "password": MEMBER_PASSWORD,
                "next": query_of(str(page.url))["next"],
                "csrf_token": csrf_in(page.text),
            },
        )
        assert "Sign in to The Wiki" in page.text
        fields = dict(query_of(str(page.url)))
        fields.update(consent="allow", csrf_token=csrf_in(page.text))
        answer = await browser.post(f"{fed}/oauth/authorize", fields, follow=False)
        assert answer.status_code == 302
        callback = answer.headers["location"]
        assert callback.startswith(REDIRECT_URI + "?")
        assert proc.stdin is not None
        proc.stdin.write(callback.encode() + b"\n")
        await proc.stdin.drain()

        seen = await read_json(proc)
        claims = seen["claims"]
        assert seen["signature_valid"] is True
        assert claims["iss"] == fed
        assert claims["aud"] == CLIENT_ID
        assert claims["name"] == "Ash Tree"
        assert sorted(claims["roles"]) == ["editor", "member"]
        assert seen["userinfo"]["email"].startswith("ash@")
        assert seen["userinfo"]["email_verified"] is True
        assert seen["refreshed"] is True
        assert seen["userinfo_after_refresh"]["sub"] == claims["sub"]
        assert seen["metadata"]["backchannel_logout_supported"] is True

        # RP-initiated logout with the URL the library built: back at the tool, signed out.
        page = await browser.get(seen["end_session_url"], follow=False)
        assert page.status_code == 302
        assert page.headers["location"] == f"{POST_LOGOUT}?state=bye"
        # The sign-in at federation has ended: its own pages ask to sign in again.
        page = await browser.get(f"{fed}/settings", follow=False)
        assert page.status_code == 302
        assert page.headers["location"].startswith("/auth/login")
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
