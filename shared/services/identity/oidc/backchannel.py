"""OpenID Connect Back-Channel Logout 1.0: when a sign-in ends (signing out of any app, a
password reset, an admin's action), each registered tool that holds tokens from it and
declared a ``backchannel_logout_uri`` is sent a signed logout token.

An outbox in PostgreSQL, worked by ``rose-ash worker`` (the identity domain's stage): each
cycle :func:`queue_notices` records one ``oidc_logout_notices`` row per ended sign-in and tool
(whatever ended the sign-in, nothing else has to remember to call us), then
:func:`deliver_due` POSTs each due token through the address guard and records the outcome;
a failure is retried with a growing pause, ``MAX_ATTEMPTS`` times in all.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import timedelta

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import and_, exists, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.infrastructure.netguard import FetchError, GuardedTransport, check_url
from shared.models import AuthSession, OAuthToken, OidcClient, OidcLogoutNotice
from shared.services.identity.oidc.storage import utcnow

log = logging.getLogger("rose_ash.worker")

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TTL_S = 120
MAX_ATTEMPTS = 5
RETRY_AFTER_S = 30
# Sign-ins that ended longer ago than this are not looked at again.
LOOKBACK = timedelta(days=1)
BATCH = 100


def logout_token(key: RSAKey, issuer: str, client_id: str, user_id: int, sid: str) -> str:
    """The signed logout token (RS256, ``typ: logout+jwt``) for one tool and sign-in."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": str(user_id),
        "aud": client_id,
        "iat": now,
        "exp": now + TOKEN_TTL_S,
        "jti": secrets.token_urlsafe(16),
        "sid": sid,
        "events": {EVENT: {}},
    }
    header = {"alg": "RS256", "kid": key.thumbprint(), "typ": "logout+jwt"}
    return jwt.encode(header, claims, key)


async def queue_notices(db: AsyncSession) -> int:
    """Record a notice for each recently ended sign-in and each tool (with a back-channel
    logout URI) that holds tokens from it; returns how many were new."""
    now = utcnow()
    owed = (
        select(OAuthToken.sid, OAuthToken.client_id, OAuthToken.user_id, literal(now))
        .join(OidcClient, OidcClient.client_id == OAuthToken.client_id)
        .join(AuthSession, AuthSession.sid == OAuthToken.sid)
        .where(
            OidcClient.backchannel_logout_uri.is_not(None),
            AuthSession.revoked_at.is_not(None),
            AuthSession.revoked_at > now - LOOKBACK,
            ~exists().where(
                and_(
                    OidcLogoutNotice.sid == OAuthToken.sid,
                    OidcLogoutNotice.client_id == OAuthToken.client_id,
                )
            ),
        )
        .distinct()
    )
    result = await db.execute(
        insert(OidcLogoutNotice)
        .from_select(["sid", "client_id", "user_id", "next_attempt_at"], owed)
        .on_conflict_do_nothing()
        .returning(OidcLogoutNotice.sid)
    )
    return len(result.all())


async def deliver_due(db: AsyncSession, http: httpx.AsyncClient, key: RSAKey, issuer: str) -> int:
    """Send the due logout tokens; returns how many notices were closed (delivered or given
    up on). Each outcome is recorded on its row; the caller commits."""
    now = utcnow()
    due = (
        await db.execute(
            select(OidcLogoutNotice, OidcClient.backchannel_logout_uri)
            .join(OidcClient, OidcClient.client_id == OidcLogoutNotice.client_id)
            .where(
                OidcLogoutNotice.delivered_at.is_(None),
                OidcLogoutNotice.failed_at.is_(None),
                OidcLogoutNotice.next_attempt_at <= now,
            )
            .order_by(OidcLogoutNotice.next_attempt_at)
            .limit(BATCH)
            .with_for_update(of=OidcLogoutNotice, skip_locked=True)
        )
    ).all()
    closed = 0
    for notice, uri in due:
        token = logout_token(key, issuer, notice.client_id, notice.user_id, notice.sid)
        error = await _post(http, uri or "", token)
        notice.attempts += 1
        if error is None:
            notice.delivered_at = utcnow()
            closed += 1
            continue
        notice.last_error = error[:500]
        log.warning("back-channel logout to %s failed: %s", notice.client_id, error)
        if notice.attempts >= MAX_ATTEMPTS:
            notice.failed_at = utcnow()
            closed += 1
        else:
            notice.next_attempt_at = utcnow() + timedelta(seconds=RETRY_AFTER_S * notice.attempts)
    await db.flush()
    return closed


async def _post(http: httpx.AsyncClient, uri: str, token: str) -> str | None:
    """POST the token (OpenID Connect Back-Channel Logout 1.0 §2.5); None on a 2xx."""
    try:
        check_url(uri)
        response = await http.post(
            uri,
            data={"logout_token": token},
            headers={"Cache-Control": "no-store"},
        )
    except (FetchError, httpx.HTTPError) as err:
        return f"{type(err).__name__}: {err}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def guarded_http(settings: Settings) -> httpx.AsyncClient:
    """An httpx client whose connections pass the address guard (the URI is an admin's, but a
    tool's host name can still point anywhere); no redirects followed, no cookies kept."""
    return httpx.AsyncClient(
        transport=GuardedTransport(
            allow_private=settings.activitypub.allow_private_addresses,
            max_connections=10,
            per_host=2,
        ),
        follow_redirects=False,
        timeout=httpx.Timeout(10.0),
        trust_env=False,
    )


async def backchannel_cycle(
    session_factory: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    key: RSAKey,
    issuer: str,
) -> int:
    """One worker cycle: queue what is owed, send what is due."""
    async with session_factory() as db, db.begin():
        await queue_notices(db)
    async with session_factory() as db, db.begin():
        return await deliver_due(db, http, key, issuer)
