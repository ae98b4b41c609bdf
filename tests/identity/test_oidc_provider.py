"""Federation as an OpenID Connect provider, driven the way a relying party drives it:
authorization requests in a browser session, token requests authenticated by the client.

Most tests use the federation test client inside the test's transaction; the concurrency
test serves federation over real HTTP so that two redemptions really race in PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.oauth import client_secret, pkce_pair
from shared.models import AuthSession, OAuthAuthorizationCode, OAuthToken
from tests.identity.factories import MEMBER_PASSWORD, make_member
from tests.support import csrf_in, query_of
from tests.support.live import Platform
from tests.support.settings import AppMaker

BLOG_CALLBACK = "http://127.0.0.1:8001/auth/callback"


@dataclass
class AuthRequest:
    """One authorization request as a relying party builds it."""

    client_id: str = "blog"
    redirect_uri: str = BLOG_CALLBACK
    verifier: str = ""
    challenge: str = ""
    state: str = ""
    nonce: str = ""

    def __post_init__(self) -> None:
        self.verifier, self.challenge = pkce_pair()
        self.state = secrets.token_urlsafe(12)
        self.nonce = secrets.token_urlsafe(12)

    def params(self, **override: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            **override,
        }
        return {k: v for k, v in params.items() if v is not None}

    def url(self, **override: str | None) -> str:
        return "/oauth/authorize?" + urlencode(self.params(**override))


def basic(settings: Settings, client_id: str = "blog") -> dict[str, str]:
    raw = f"{client_id}:{client_secret(settings, client_id)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def sign_in(client: QuartClient, login: str, password: str = MEMBER_PASSWORD) -> None:
    page = await client.get("/signin")
    resp = await client.post(
        "/signin",
        form={
            "login": login,
            "password": password,
            "next": "/",
            "csrf_token": csrf_in(await page.get_data(as_text=True)),
        },
    )
    assert resp.status_code == 302, await resp.get_data(as_text=True)


@dataclass
class Federation:
    app: RoseQuart
    client: QuartClient
    settings: Settings

    async def authorize(self, req: AuthRequest, **override: str | None) -> str:
        """Run an authorization request; return the Location it redirects to."""
        resp = await self.client.get(req.url(**override))
        assert resp.status_code == 302, await resp.get_data(as_text=True)
        return str(resp.headers["Location"])

    async def code(self, req: AuthRequest) -> str:
        location = await self.authorize(req)
        assert location.startswith(req.redirect_uri + "?"), location
        query = query_of(location)
        assert query["state"] == req.state
        return query["code"]

    async def token(
        self, data: dict[str, str], client_id: str = "blog"
    ) -> tuple[int, dict[str, Any]]:
        resp = await self.client.post(
            "/oauth/token", form=data, headers=basic(self.settings, client_id)
        )
        return resp.status_code, json.loads(await resp.get_data(as_text=True))

    async def redeem(self, req: AuthRequest, code: str, **extra: str) -> tuple[int, dict[str, Any]]:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": req.redirect_uri,
            "code_verifier": req.verifier,
            **extra,
        }
        return await self.token(data, req.client_id)

    async def userinfo(self, access_token: str) -> int:
        resp = await self.client.get(
            "/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )
        return resp.status_code

    async def jwks(self) -> KeySet:
        return KeySet.import_key_set(await (await self.client.get("/oauth/jwks")).get_json())


@pytest.fixture
async def fed(make_app: AppMaker, settings: Settings, db: AsyncSession) -> Federation:
    """Federation with a signed-in member ("ash") in the test client's browser session."""
    app = await make_app("federation")
    await make_member(db, "ash", display_name="Ash Tree")
    client = app.test_client()
    await sign_in(client, "ash")
    return Federation(app, client, settings)


# --- discovery and keys -------------------------------------------------------------------


async def test_discovery_document_and_jwks(make_app: AppMaker) -> None:
    from authlib.oidc.discovery import OpenIDProviderMetadata
    from authlib.oidc.rpinitiated import OpenIDProviderMetadata as LogoutMetadata

    app = await make_app("federation")
    client = app.test_client()
    doc = await (await client.get("/.well-known/openid-configuration")).get_json()
    issuer = "http://127.0.0.1:8005"
    assert doc["issuer"] == issuer
    assert doc["authorization_endpoint"] == f"{issuer}/oauth/authorize"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["end_session_endpoint"] == f"{issuer}/oauth/end-session"
    assert doc["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    OpenIDProviderMetadata(doc).validate(metadata_classes=[LogoutMetadata])
    keys = await (await client.get("/oauth/jwks")).get_json()
    assert [k["kty"] for k in keys["keys"]] == ["RSA"]
    assert "d" not in keys["keys"][0], "the private part never leaves"
    # Every path the document names is served.
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        path = doc[key].removeprefix(issuer)
        assert any(r.rule == path for r in app.url_map.iter_rules()), path


# --- the code flow ------------------------------------------------------------------------


async def test_code_flow_issues_an_id_token_with_sid_and_nonce(
    fed: Federation, db: AsyncSession
) -> None:
    req = AuthRequest()
    status, tokens = await fed.redeem(req, await fed.code(req))
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer"
    assert {"access_token", "refresh_token", "id_token", "expires_in"} <= set(tokens)
    claims = jwt.decode(tokens["id_token"], await fed.jwks(), algorithms=["RS256"]).claims
    sid = await db.scalar(select(AuthSession.sid))
    assert claims["iss"] == "http://127.0.0.1:8005"
    assert claims["aud"] == "blog"
    assert claims["nonce"] == req.nonce
    assert claims["sid"] == sid
    assert claims["preferred_username"] == "ash"
    assert claims["name"] == "Ash Tree"
    assert claims["exp"] > claims["iat"]
    resp = await fed.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert resp.status_code == 200
    info = await resp.get_json()
    assert info["sub"] == claims["sub"]
    assert info["email"] == "ash@members.rose-ash.test"
    # Codes and tokens are stored only as hashes.
    code_rows = (await db.scalars(select(OAuthAuthorizationCode))).all()
    token_rows = (await db.scalars(select(OAuthToken))).all()
    stored = {r.code_hash for r in code_rows} | {r.access_token_hash for r in token_rows}
    assert tokens["access_token"] not in stored
    assert hashlib.sha256(tokens["access_token"].encode()).hexdigest() in stored


async def test_an_authorization_code_lives_at_most_60_seconds(
    fed: Federation, db: AsyncSession
) -> None:
    req = AuthRequest()
    await fed.code(req)
    row = await db.scalar(select(OAuthAuthorizationCode))
    assert row is not None
    assert 0 < (row.expires_at - row.created_at).total_seconds() <= 60


async def test_an_expired_code_is_refused(fed: Federation, db: AsyncSession) -> None:
    req = AuthRequest()
    code = await fed.code(req)
    # As if issued a second longer ago than a code lives: no waiting on the clock.
    row = await db.scalar(select(OAuthAuthorizationCode))
    assert row is not None
    age = row.expires_at - row.created_at + timedelta(seconds=1)
    row.created_at -= age
    row.expires_at -= age
    await db.flush()
    status, body = await fed.redeem(req, code)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_replayed_code_is_refused_and_revokes_what_it_issued(fed: Federation) -> None:
    req = AuthRequest()
    code = await fed.code(req)
    status, tokens = await fed.redeem(req, code)
    assert status == 200
    assert await fed.userinfo(tokens["access_token"]) == 200
    status, body = await fed.redeem(req, code)
    assert (status, body["error"]) == (400, "invalid_grant")
    # RFC 6749 §4.1.2: tokens issued from a replayed code are revoked.
    assert await fed.userinfo(tokens["access_token"]) == 401
    status, body = await fed.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_wrong_or_missing_code_verifier_is_refused(fed: Federation) -> None:
    req = AuthRequest()
    code = await fed.code(req)
    other_verifier, _ = pkce_pair()
    status, body = await fed.redeem(req, code, code_verifier=other_verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await fed.redeem(req, code, code_verifier="")
    assert (status, body["error"]) == (400, "invalid_request")
    # The code was not given away: the right verifier still works, once.
    status, _ = await fed.redeem(req, code)
    assert status == 200


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"code_challenge_method": "plain"}, "plain PKCE"),
        ({"code_challenge_method": None}, "no method (would default to plain)"),
        ({"code_challenge": None, "code_challenge_method": None}, "no PKCE at all"),
        ({"nonce": None}, "no nonce"),
    ],
)
async def test_authorization_requests_without_s256_pkce_or_nonce_are_refused(
    fed: Federation, db: AsyncSession, override: dict[str, str | None], why: str
) -> None:
    req = AuthRequest()
    if override.get("code_challenge_method", "") == "plain":
        req.challenge = req.verifier  # what a plain client would send
    location = await fed.authorize(req, **override)
    # The client and redirect URI are valid, so the error goes back to the client...
    assert location.startswith(BLOG_CALLBACK + "?"), why
    query = query_of(location)
    assert query["error"] == "invalid_request", why
    assert query["state"] == req.state
    # ...and no code was issued.
    assert "code" not in query
    assert await db.scalar(select(OAuthAuthorizationCode)) is None


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8001/auth/callback/",  # trailing slash
        "http://127.0.0.1:8002/auth/callback",  # another port (another app)
        "https://127.0.0.1:8001/auth/callback",  # another scheme
        "http://localhost:8001/auth/callback",  # another host name for the same place
        "http://127.0.0.1:8001/auth/callback?x=1",  # extra query
        "http://127.0.0.1:8001/auth/CALLBACK",  # case
        "https://evil.example/auth/callback",  # foreign
        "",  # missing
    ],
)
async def test_unregistered_redirect_uris_get_an_error_page_never_a_redirect(
    fed: Federation, db: AsyncSession, redirect_uri: str
) -> None:
    req = AuthRequest(redirect_uri=redirect_uri)
    resp = await fed.client.get(req.url(redirect_uri=redirect_uri or None))
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert "cannot be completed" in await resp.get_data(as_text=True)
    assert await db.scalar(select(OAuthAuthorizationCode)) is None


async def test_an_unknown_client_gets_an_error_page(fed: Federation) -> None:
    resp = await fed.client.get(AuthRequest(client_id="mallory").url())
    assert resp.status_code == 400
    assert "Location" not in resp.headers


async def test_a_code_is_bound_to_its_client_and_redirect_uri(fed: Federation) -> None:
    req = AuthRequest()
    code = await fed.code(req)
    status, body = await fed.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:8002/auth/callback",
            "code_verifier": req.verifier,
        },
        client_id="market",
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await fed.redeem(req, code, redirect_uri="http://127.0.0.1:8001/")
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_the_token_endpoint_requires_the_client_secret(fed: Federation) -> None:
    req = AuthRequest()
    code = await fed.code(req)
    resp = await fed.client.post(
        "/oauth/token",
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": req.redirect_uri,
            "code_verifier": req.verifier,
            "client_id": "blog",
        },
        headers={"Authorization": "Basic " + base64.b64encode(b"blog:not-the-secret").decode()},
    )
    assert resp.status_code == 401
    assert (await resp.get_json())["error"] == "invalid_client"


async def test_prompt_none_without_a_sign_in_returns_login_required(
    make_app: AppMaker,
) -> None:
    app = await make_app("federation")
    req = AuthRequest()
    resp = await app.test_client().get(req.url(prompt="none"))
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith(BLOG_CALLBACK + "?")
    query = query_of(resp.headers["Location"])
    assert (query["error"], query["state"]) == ("login_required", req.state)
    assert "code" not in query


async def test_without_a_sign_in_the_person_is_asked_to_sign_in_then_gets_a_code(
    make_app: AppMaker, settings: Settings, db: AsyncSession
) -> None:
    app = await make_app("federation")
    await make_member(db, "ash")
    client = app.test_client()
    req = AuthRequest()
    resp = await client.get(req.url(prompt="login"))
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/signin?")
    next_url = query_of(resp.headers["Location"])["next"]
    assert next_url.startswith("/oauth/authorize?")
    assert "prompt" not in query_of(next_url)
    page = await client.get(resp.headers["Location"])
    resp = await client.post(
        "/signin",
        form={
            "login": "ash",
            "password": MEMBER_PASSWORD,
            "next": next_url,
            "csrf_token": csrf_in(await page.get_data(as_text=True)),
        },
    )
    assert resp.headers["Location"] == next_url
    resp = await client.get(next_url)
    assert resp.headers["Location"].startswith(BLOG_CALLBACK + "?code=")


# --- refresh tokens -----------------------------------------------------------------------


async def test_refresh_tokens_rotate_and_reuse_revokes_the_whole_chain(fed: Federation) -> None:
    req = AuthRequest()
    _, first = await fed.redeem(req, await fed.code(req))
    status, second = await fed.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert status == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    assert await fed.userinfo(second["access_token"]) == 200
    status, third = await fed.token(
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    )
    assert status == 200

    # The first refresh token was rotated away; presenting it again is reuse.
    status, body = await fed.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    # The whole chain is revoked: the newest tokens too.
    assert await fed.userinfo(third["access_token"]) == 401
    status, body = await fed.token(
        {"grant_type": "refresh_token", "refresh_token": third["refresh_token"]}
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_refresh_token_works_only_for_its_own_client(fed: Federation) -> None:
    req = AuthRequest()
    _, tokens = await fed.redeem(req, await fed.code(req))
    status, body = await fed.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client_id="market",
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    # A token shown by the wrong client is treated as stolen: its chain is revoked.
    assert await fed.userinfo(tokens["access_token"]) == 401


# --- revocation and sign-out ----------------------------------------------------------------


async def test_revoking_an_access_token(fed: Federation) -> None:
    req = AuthRequest()
    _, tokens = await fed.redeem(req, await fed.code(req))
    resp = await fed.client.post(
        "/oauth/revoke",
        form={"token": tokens["access_token"], "token_type_hint": "access_token"},
        headers=basic(fed.settings),
    )
    assert resp.status_code == 200
    assert await fed.userinfo(tokens["access_token"]) == 401
    # An unknown token is answered with 200 too (RFC 7009 §2.2).
    resp = await fed.client.post(
        "/oauth/revoke", form={"token": "no-such-token"}, headers=basic(fed.settings)
    )
    assert resp.status_code == 200


async def test_revoking_a_refresh_token_ends_its_chain(fed: Federation) -> None:
    req = AuthRequest()
    _, tokens = await fed.redeem(req, await fed.code(req))
    resp = await fed.client.post(
        "/oauth/revoke",
        form={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        headers=basic(fed.settings),
    )
    assert resp.status_code == 200
    assert await fed.userinfo(tokens["access_token"]) == 401


async def test_end_session_with_an_id_token_hint_signs_out_and_returns_to_the_client(
    fed: Federation, db: AsyncSession
) -> None:
    req = AuthRequest()
    _, tokens = await fed.redeem(req, await fed.code(req))
    resp = await fed.client.get(
        "/oauth/end-session?"
        + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": "http://127.0.0.1:8001/",
                "state": "after",
            }
        )
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "http://127.0.0.1:8001/?state=after"
    row = await db.scalar(select(AuthSession))
    assert row is not None
    assert row.revoked_at is not None
    # Every token of that sign-in stops working, and federation forgot the browser too.
    assert await fed.userinfo(tokens["access_token"]) == 401
    status, _ = await fed.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert status == 400
    resp = await fed.client.get(AuthRequest().url(prompt="none"))
    assert query_of(resp.headers["Location"])["error"] == "login_required"


async def test_end_session_never_redirects_to_an_unregistered_uri(fed: Federation) -> None:
    req = AuthRequest()
    _, tokens = await fed.redeem(req, await fed.code(req))
    resp = await fed.client.get(
        "/oauth/end-session?"
        + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": "https://evil.example/",
            }
        )
    )
    assert resp.status_code == 200
    assert "You are signed out" in await resp.get_data(as_text=True)


async def test_end_session_without_a_hint_asks_first_then_signs_out(
    fed: Federation, db: AsyncSession
) -> None:
    resp = await fed.client.get("/oauth/end-session?client_id=blog")
    page = await resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Sign out of" in page
    row = await db.scalar(select(AuthSession))
    assert row is not None
    assert row.revoked_at is None, "nothing happens before confirming"
    resp = await fed.client.post(
        "/oauth/end-session", form={"client_id": "blog", "csrf_token": csrf_in(page)}
    )
    assert resp.status_code == 200
    await db.refresh(row)
    assert row.revoked_at is not None


async def test_userinfo_needs_a_bearer_token(make_app: AppMaker) -> None:
    app = await make_app("federation")
    resp = await app.test_client().get("/oauth/userinfo")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await app.test_client().get("/oauth/userinfo", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401


# --- concurrency, over real HTTP --------------------------------------------------------------


async def test_two_concurrent_redemptions_of_one_code_give_exactly_one_token(
    sso: Platform,
) -> None:
    """Both requests pass validation; the guarded UPDATE lets exactly one consume the code."""
    platform = sso
    await platform.serve("federation")
    fed_url = platform.url("federation")
    await platform.member("ash")
    redirect_uri = f"{platform.url('blog')}/auth/callback"
    async with httpx.AsyncClient(base_url=fed_url) as browser:
        page = await browser.get("/signin")
        await browser.post(
            "/signin",
            data={
                "login": "ash",
                "password": MEMBER_PASSWORD,
                "next": "/",
                "csrf_token": csrf_in(page.text),
            },
        )
        for _ in range(5):
            req = AuthRequest(redirect_uri=redirect_uri)
            resp = await browser.get(req.url())
            code = query_of(resp.headers["location"])["code"]
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": req.verifier,
            }
            async with (
                httpx.AsyncClient(base_url=fed_url) as a,
                httpx.AsyncClient(base_url=fed_url) as b,
            ):
                results = await asyncio.gather(
                    *(
                        c.post("/oauth/token", data=form, headers=basic(platform.settings()))
                        for c in (a, b)
                    )
                )
            statuses = sorted(r.status_code for r in results)
            assert statuses == [200, 400], [r.text for r in results]
            issued = [r.json() for r in results if r.status_code == 200]
            assert len(issued) == 1
