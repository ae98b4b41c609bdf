"""Tools an admin registers as OpenID Connect clients (issue 29): registration at the admin page
and with `rose-ash oidc-client`, consent, the claims behind each scope, public clients,
rotated secrets and deleted tools, "Connected tools", discovery and back-channel logout."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.models import (
    AuthSession,
    OidcClient,
    OidcConsent,
    OidcLogoutNotice,
    SocialAccount,
    User,
)
from shared.services.identity.oidc import tools
from shared.services.identity.oidc.backchannel import backchannel_cycle, guarded_http
from shared.services.identity.oidc.clients import load_signing_key
from tests.identity.factories import make_member, signed_in
from tests.identity.test_cli_user import rose_ash
from tests.identity.test_oidc_provider import AuthRequest, Federation, sign_in
from tests.standins.oidc_tool import LogoutReceiver
from tests.support import csrf_in, query_of
from tests.support.settings import AppMaker, make_settings

FORUM = "https://forum.coop.test/oidc/callback"


@pytest.fixture
async def fed(make_app: AppMaker, settings: Settings, db: AsyncSession) -> Federation:
    """Federation with a signed-in member ("ash") in the test client's browser session."""
    app = await make_app("federation")
    await make_member(db, "ash", display_name="Ash Tree")
    client = app.test_client()
    await sign_in(client, "ash")
    return Federation(app, client, settings)


def tool_spec(**kw: Any) -> tools.ToolSpec:
    values: dict[str, Any] = {
        "client_id": "forum",
        "name": "The Forum",
        "redirect_uris": [FORUM],
        "post_logout_redirect_uris": ["https://forum.coop.test/"],
        "scopes": ["openid", "profile", "email", "roles"],
        **kw,
    }
    return tools.ToolSpec(**values)


def form_body(form: dict[str, Any]) -> dict[str, Any]:
    """A form with repeated fields (checkboxes), as a browser encodes it."""
    return {
        "data": urlencode(form, doseq=True),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def register(db: AsyncSession, **kw: Any) -> str | None:
    _row, secret = await tools.create_tool(db, tool_spec(**kw))
    await db.commit()
    return secret


def forum_request(scope: str = "openid profile email roles") -> tuple[AuthRequest, str]:
    req = AuthRequest(client_id="forum", redirect_uri=FORUM)
    return req, req.url(scope=scope)


async def consent(fed: Federation, url: str, answer: str = "allow") -> str:
    """Load the consent page at ``url`` and answer it; returns where it redirects."""
    page = await fed.client.get(url)
    html = await page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "The Forum" in html
    form = dict(query_of(url))
    form.update(consent=answer, csrf_token=csrf_in(html))
    resp = await fed.client.post("/oauth/authorize", form=form)
    assert resp.status_code == 302, await resp.get_data(as_text=True)
    return str(resp.headers["Location"])


async def redeem(
    fed: Federation, req: AuthRequest, code: str, headers: dict[str, str], **form: str
) -> tuple[int, dict[str, Any]]:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": req.redirect_uri,
        "code_verifier": req.verifier,
        **form,
    }
    resp = await fed.client.post("/oauth/token", form=data, headers=headers)
    return resp.status_code, json.loads(await resp.get_data(as_text=True))


async def signed_in_tokens(fed: Federation, db: AsyncSession) -> tuple[str, dict[str, Any]]:
    secret = await register(db)
    assert secret is not None
    req, url = forum_request()
    location = await consent(fed, url)
    status, body = await redeem(fed, req, query_of(location)["code"], basic_auth("forum", secret))
    assert status == 200, body
    return secret, body


# --- discovery ----------------------------------------------------------------------------


async def test_discovery_advertises_scopes_claims_and_back_channel_logout(
    make_app: AppMaker,
) -> None:
    app = await make_app("federation")
    doc = await (await app.test_client().get("/.well-known/openid-configuration")).get_json()
    assert doc["scopes_supported"] == ["openid", "profile", "email", "roles"]
    for claim in ("email", "email_verified", "name", "preferred_username", "picture", "roles"):
        assert claim in doc["claims_supported"], claim
    assert "groups" in doc["claims_supported"]
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    assert "none" in doc["token_endpoint_auth_methods_supported"]


# --- consent, claims and the tool's tokens ------------------------------------------------


async def test_an_untrusted_tool_asks_consent_once_and_learns_what_its_scopes_cover(
    fed: Federation, db: AsyncSession
) -> None:
    _secret, tokens = await signed_in_tokens(fed, db)
    claims = jwt.decode(tokens["id_token"], await fed.jwks(), algorithms=["RS256"]).claims
    assert claims["aud"] == "forum"
    assert claims["email"] == "ash@members.rose-ash.test"
    assert claims["email_verified"] is True
    assert claims["name"] == "Ash Tree"
    assert claims["roles"] == claims["groups"] == ["member"]
    info = await fed.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert (await info.get_json())["preferred_username"] == "ash"
    consent_row = await db.scalar(select(OidcConsent))
    assert consent_row is not None
    assert consent_row.scope == "openid profile email roles"

    # The second time: no consent page, straight back to the tool with a code.
    req, _url = forum_request()
    location = await fed.authorize(req)
    assert location.startswith(FORUM + "?code="), location


async def test_the_consent_page_names_the_tool_and_what_it_learns(
    fed: Federation, db: AsyncSession
) -> None:
    await register(db)
    _req, url = forum_request("openid email")
    page = await fed.client.get(url)
    html = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Sign in to The Forum" in html
    assert "your email address" in html
    assert "your roles" not in html, "only what the request's scope covers"
    # Its answer redirects to the tool: the page's form-action lets the browser follow it.
    csp = page.headers["Content-Security-Policy"]
    form_action = next(d for d in csp.split("; ") if d.startswith("form-action "))
    assert "https://forum.coop.test" in form_action.split()


async def test_roles_come_only_with_the_roles_scope(fed: Federation, db: AsyncSession) -> None:
    secret = await register(db)
    assert secret is not None
    req, url = forum_request("openid profile")
    location = await consent(fed, url)
    status, tokens = await redeem(fed, req, query_of(location)["code"], basic_auth("forum", secret))
    assert status == 200
    claims = jwt.decode(tokens["id_token"], await fed.jwks(), algorithms=["RS256"]).claims
    assert "roles" not in claims
    assert "groups" not in claims
    assert "email" not in claims
    assert claims["preferred_username"] == "ash"


async def test_declining_sends_access_denied_back_and_records_nothing(
    fed: Federation, db: AsyncSession
) -> None:
    await register(db)
    _req, url = forum_request()
    location = await consent(fed, url, answer="deny")
    assert location.startswith(FORUM + "?")
    assert query_of(location)["error"] == "access_denied"
    assert await db.scalar(select(OidcConsent)) is None


async def test_consent_without_a_csrf_token_is_refused(fed: Federation, db: AsyncSession) -> None:
    await register(db)
    _req, url = forum_request()
    form = {**query_of(url), "consent": "allow"}
    resp = await fed.client.post("/oauth/authorize", form=form)
    assert resp.status_code in (400, 403)
    assert await db.scalar(select(OidcConsent)) is None


async def test_prompt_none_without_consent_answers_consent_required(
    fed: Federation, db: AsyncSession
) -> None:
    await register(db)
    req, _url = forum_request()
    location = await fed.authorize(req, prompt="none")
    assert query_of(location)["error"] == "consent_required"


async def test_a_trusted_tool_asks_no_consent(fed: Federation, db: AsyncSession) -> None:
    await register(db, trusted=True)
    req, _url = forum_request()
    location = await fed.authorize(req)
    assert location.startswith(FORUM + "?code=")


async def test_a_public_tool_redeems_with_pkce_and_no_secret(
    fed: Federation, db: AsyncSession
) -> None:
    assert await register(db, public=True, trusted=True) is None
    req, _url = forum_request()
    code = query_of(await fed.authorize(req))["code"]
    status, body = await redeem(fed, req, code, {}, client_id="forum")
    assert status == 200, body
    refreshed = await fed.client.post(
        "/oauth/token",
        form={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": "forum",
        },
    )
    assert refreshed.status_code == 200


async def test_a_confidential_tool_must_send_its_secret(fed: Federation, db: AsyncSession) -> None:
    await register(db, trusted=True)
    req, _url = forum_request()
    code = query_of(await fed.authorize(req))["code"]
    status, body = await redeem(fed, req, code, {}, client_id="forum")
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = await redeem(fed, req, code, basic_auth("forum", "guessed"))
    assert (status, body["error"]) == (401, "invalid_client")


async def test_a_rotated_secret_ends_the_old_secret_and_the_tokens(
    fed: Federation, db: AsyncSession
) -> None:
    old, tokens = await signed_in_tokens(fed, db)
    new = await tools.rotate_secret(db, "forum")
    await db.commit()
    assert await fed.userinfo(tokens["access_token"]) == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    resp = await fed.client.post("/oauth/token", form=refresh, headers=basic_auth("forum", old))
    assert resp.status_code == 401
    resp = await fed.client.post("/oauth/token", form=refresh, headers=basic_auth("forum", new))
    assert resp.status_code == 400, "the refresh token was revoked with the old secret"
    stored = await db.scalar(select(OidcClient.secret_hash))
    assert stored is not None
    assert new not in stored
    assert old not in stored


async def test_a_deleted_tool_can_do_nothing_more(fed: Federation, db: AsyncSession) -> None:
    secret, tokens = await signed_in_tokens(fed, db)
    await tools.delete_tool(db, "forum")
    await db.commit()
    assert await fed.userinfo(tokens["access_token"]) == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    resp = await fed.client.post("/oauth/token", form=refresh, headers=basic_auth("forum", secret))
    assert resp.status_code == 401
    req, _url = forum_request()
    page = await fed.client.get(req.url())
    assert page.status_code == 400, "an unknown client gets an error page, never a redirect"


# --- the member's "Connected tools" ---------------------------------------------------------


async def test_connected_tools_lists_the_tool_and_disconnecting_revokes_its_tokens(
    fed: Federation, db: AsyncSession
) -> None:
    _secret, tokens = await signed_in_tokens(fed, db)
    page = await fed.client.get("/settings/tools")
    html = await page.get_data(as_text=True)
    assert "The Forum" in html
    assert "your roles" in html
    resp = await fed.client.post(
        "/settings/tools/forum/disconnect", form={"csrf_token": csrf_in(html)}
    )
    assert resp.status_code == 302
    assert await fed.userinfo(tokens["access_token"]) == 401
    html = await (await fed.client.get("/settings/tools")).get_data(as_text=True)
    assert "The Forum" not in html
    # Next time the tool asks again.
    _req, url = forum_request()
    page = await fed.client.get(url)
    assert "Sign in to The Forum" in await page.get_data(as_text=True)


async def test_another_members_or_an_unknown_connection_is_a_404(
    fed: Federation, make_app: AppMaker, db: AsyncSession
) -> None:
    await signed_in_tokens(fed, db)
    other = await signed_in(fed.app, db, "rowan")
    html = await (await other.get("/settings/tools")).get_data(as_text=True)
    assert "The Forum" not in html
    html = await (await other.get("/settings/password")).get_data(as_text=True)
    for client_id in ("forum", "nothing"):
        resp = await other.post(
            f"/settings/tools/{client_id}/disconnect", form={"csrf_token": csrf_in(html)}
        )
        assert resp.status_code == 404
    assert await db.scalar(select(OidcConsent.user_id)) is not None, "ash's consent stays"


# --- the admin page -----------------------------------------------------------------------


async def test_an_admin_registers_a_tool_and_sees_its_secret_once(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("federation")
    admin = await signed_in(app, db, "rowan", "admin")
    page = await admin.get("/admin/tools")
    html = await page.get_data(as_text=True)
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_in(html),
        "name": "The Wiki",
        "client_id": "wiki",
        "redirect_uris": "https://wiki.coop.test/callback\nhttps://wiki.coop.test/alt",
        "backchannel_logout_uri": "https://wiki.coop.test/bcl",
        "scopes": ["openid", "profile", "roles"],
        "kind": "confidential",
    }
    resp = await admin.post("/admin/tools", **form_body(form))
    html = await resp.get_data(as_text=True)
    assert resp.status_code == 201, html
    secret = html.split('class="client-secret">')[1].split("<")[0]
    row = await db.scalar(select(OidcClient).where(OidcClient.client_id == "wiki"))
    assert row is not None
    assert row.redirect_uris == ["https://wiki.coop.test/callback", "https://wiki.coop.test/alt"]
    assert row.scope == "openid profile roles"
    assert not row.trusted
    assert row.secret_hash is not None
    assert secret not in row.secret_hash
    listing = await (await admin.get("/admin/tools")).get_data(as_text=True)
    assert "The Wiki" in listing
    assert secret not in listing


async def test_a_bad_registration_shows_each_error_beside_its_field_and_saves_nothing(
    make_app: AppMaker, db: AsyncSession
) -> None:
    app = await make_app("federation")
    admin = await signed_in(app, db, "rowan", "admin")
    html = await (await admin.get("/admin/tools")).get_data(as_text=True)
    form = {
        "csrf_token": csrf_in(html),
        "name": "",
        "client_id": "Blog",
        "redirect_uris": "http://forum.coop.test/cb#frag",
        "scopes": ["profile"],
        "kind": "public",
    }
    resp = await admin.post("/admin/tools", **form_body(form))
    html = await resp.get_data(as_text=True)
    assert resp.status_code == 400
    for name in ("name", "client_id", "redirect_uris", "scopes"):
        assert f'id="e-{name}" data-field="{name}"' in html, name
    assert await db.scalar(select(OidcClient)) is None
    # An app's own name is taken; so is an existing tool's.
    assert "taken" in tools.validate(tool_spec(client_id="blog")).get("client_id", "")
    await register(db)
    with pytest.raises(tools.ToolError):
        await tools.create_tool(db, tool_spec())


async def test_only_admins_reach_the_tools_page(make_app: AppMaker, db: AsyncSession) -> None:
    app = await make_app("federation")
    member = await signed_in(app, db, "ash")
    assert (await member.get("/admin/tools")).status_code in (403, 404)
    html = await (await member.get("/settings/password")).get_data(as_text=True)
    resp = await member.post(
        "/admin/tools", form={"csrf_token": csrf_in(html), "client_id": "x", "name": "x"}
    )
    assert resp.status_code in (403, 404)
    assert await db.scalar(select(OidcClient)) is None


async def test_admin_rotate_and_delete(make_app: AppMaker, db: AsyncSession) -> None:
    app = await make_app("federation")
    await register(db)
    admin = await signed_in(app, db, "rowan", "admin")
    html = await (await admin.get("/admin/tools")).get_data(as_text=True)
    token = csrf_in(html)
    before = await db.scalar(select(OidcClient.secret_hash))
    resp = await admin.post("/admin/tools/forum/rotate-secret", form={"csrf_token": token})
    assert resp.status_code == 200
    assert 'class="client-secret"' in await resp.get_data(as_text=True)
    db.expire_all()
    assert await db.scalar(select(OidcClient.secret_hash)) != before
    resp = await admin.post("/admin/tools/nothing/delete", form={"csrf_token": token})
    assert resp.status_code == 404
    resp = await admin.post("/admin/tools/forum/delete", form={"csrf_token": token})
    assert resp.status_code == 302
    assert await db.scalar(select(OidcClient)) is None


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
async def cli_tools(engine: AsyncEngine) -> Any:
    yield
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM oidc_clients WHERE client_id LIKE 'cli-%'"))


@pytest.mark.usefixtures("cli_tools")
async def test_oidc_client_create_list_rotate_delete(
    database_url: str, engine: AsyncEngine
) -> None:
    code, out, err = await rose_ash(
        database_url,
        "oidc-client",
        "create",
        "cli-chat",
        "--name",
        "The Chat",
        "--redirect-uri",
        "https://chat.coop.test/cb",
        "--backchannel-logout-uri",
        "https://chat.coop.test/bcl",
        "--scope",
        "openid",
        "--scope",
        "roles",
    )
    assert code == 0, err
    secret = out.split("client_secret: ")[1].split()[0]
    async with engine.connect() as conn:
        digest = await conn.scalar(
            text("SELECT secret_hash FROM oidc_clients WHERE client_id = 'cli-chat'")
        )
    assert digest is not None
    assert secret not in digest
    code, out, err = await rose_ash(database_url, "oidc-client", "list")
    assert code == 0
    assert "cli-chat\tThe Chat\tconfidential\tconsent\topenid roles" in out
    code, out, err = await rose_ash(database_url, "oidc-client", "rotate-secret", "cli-chat")
    assert code == 0
    assert secret not in out
    assert "client_secret: " in out
    code, out, err = await rose_ash(
        database_url, "oidc-client", "create", "cli-bad", "--name", "x", "--redirect-uri", "ftp:x"
    )
    assert code != 0
    assert "redirect_uris" in err
    code, out, err = await rose_ash(database_url, "oidc-client", "delete", "cli-chat")
    assert code == 0
    code, out, err = await rose_ash(database_url, "oidc-client", "delete", "cli-chat")
    assert code != 0
    assert "No tool" in err


# --- back-channel logout ------------------------------------------------------------------


async def _end_sign_in(db: AsyncSession) -> str:
    sid = await db.scalar(select(AuthSession.sid).where(AuthSession.revoked_at.is_(None)))
    assert sid is not None
    ended = await db.execute(
        text("UPDATE auth_sessions SET revoked_at = now() WHERE sid = :sid"), {"sid": sid}
    )
    assert ended.rowcount == 1  # type: ignore[attr-defined]
    await db.commit()
    return sid


async def test_signing_out_sends_each_tool_a_signed_logout_token(
    fed: Federation,
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    receiver = await LogoutReceiver().start()
    try:
        await signed_in_tokens(fed, db)
        row = await db.get(OidcClient, "forum")
        assert row is not None
        row.backchannel_logout_uri = receiver.url
        await db.commit()
        sid = await _end_sign_in(db)
        http = guarded_http(settings)
        key = load_signing_key(settings)
        issuer = settings.apps["federation"].public_url
        try:
            assert await backchannel_cycle(session_factory, http, key, issuer) == 1
            # Sent once: the next cycle finds nothing owed.
            assert await backchannel_cycle(session_factory, http, key, issuer) == 0
        finally:
            await http.aclose()
        [sent] = receiver.bodies
        token = jwt.decode(sent["logout_token"], await fed.jwks(), algorithms=["RS256"])
        assert token.header["typ"] == "logout+jwt"
        claims = token.claims
        assert (claims["iss"], claims["aud"], claims["sid"]) == (issuer, "forum", sid)
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
        assert "nonce" not in claims
        notice = await db.scalar(select(OidcLogoutNotice))
        assert notice is not None
        assert notice.delivered_at is not None
    finally:
        await receiver.close()


async def test_a_logout_uri_on_a_private_address_is_refused_by_the_guard(
    fed: Federation,
    db: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
    redis_url: str,
) -> None:
    receiver = await LogoutReceiver().start()
    try:
        await signed_in_tokens(fed, db)
        row = await db.get(OidcClient, "forum")
        assert row is not None
        row.backchannel_logout_uri = receiver.url
        await db.commit()
        await _end_sign_in(db)
        strict = make_settings(
            database_url, redis_url, ROSE_ACTIVITYPUB__ALLOW_PRIVATE_ADDRESSES="false"
        )
        http = guarded_http(strict)
        try:
            await backchannel_cycle(
                session_factory, http, load_signing_key(strict), "https://rose-ash.test"
            )
        finally:
            await http.aclose()
        assert receiver.bodies == []
        notice = await db.scalar(select(OidcLogoutNotice))
        assert notice is not None
        assert notice.delivered_at is None
        assert notice.attempts == 1
        assert "Forbidden" in (notice.last_error or "")
    finally:
        await receiver.close()


async def test_the_picture_claim_is_the_members_avatar(fed: Federation, db: AsyncSession) -> None:
    user_id = await db.scalar(select(User.id).where(User.username == "ash"))
    assert user_id is not None
    avatar = "http://127.0.0.1:8005/media/ab/avatar.png"
    account = await db.scalar(select(SocialAccount).where(SocialAccount.user_id == user_id))
    if account is None:
        account = SocialAccount(
            user_id=user_id, uri="http://127.0.0.1:8005/users/ash", username="ash"
        )
        db.add(account)
    account.avatar_url = avatar
    await db.commit()
    _secret, tokens = await signed_in_tokens(fed, db)
    claims = jwt.decode(tokens["id_token"], await fed.jwks(), algorithms=["RS256"]).claims
    assert claims["picture"] == avatar
    info = await fed.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert (await info.get_json())["picture"] == avatar
