"""One signed POST of an activity to one inbox, and what its answer means for retrying.

Any 2xx is success. Like Mastodon, a 4xx answer other than 401 (the peer may not have our key
yet), 408 and 429 is final, and so is 501: retrying cannot help. Everything else — 5xx,
timeouts, refused connections — is worth another try later. The POST is signed with the
scheme the host is known to accept, RFC 9421 first when unknown, and sent again with the other
if refused (:mod:`~shared.infrastructure.activitypub.knock`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.errors import DomainError
from shared.infrastructure.activitypub import knock
from shared.infrastructure.activitypub.actors import AS_MEDIA_TYPE

RETRYABLE_4XX = frozenset({401, 408, 429})


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int | None
    error: str | None
    duration_ms: int
    # The address guard refused the inbox's host (private or loopback): never worth retrying.
    blocked: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def final(self) -> bool:
        """A refusal that retrying will not change."""
        code = self.status_code
        if code is None:
            return self.blocked
        return code == 501 or (400 <= code < 500 and code not in RETRYABLE_4XX)

    @property
    def host_answered(self) -> bool:
        """The host is up (it answered something other than a server error)."""
        return self.status_code is not None and self.status_code < 500


async def post(
    client: httpx.AsyncClient,
    inbox_url: str,
    body: bytes,
    *,
    key_id: str,
    private_key: rsa.RSAPrivateKey,
    timeout_s: float,
    memory: knock.SchemeMemory | None = None,
) -> DeliveryResult:
    """POST ``body`` to ``inbox_url`` signed with ``key_id``; never raises for network trouble."""
    started = time.monotonic()

    async def attempt(scheme: str) -> DeliveryResult:
        headers = knock.signed_headers(
            scheme,
            "POST",
            inbox_url,
            key_id=key_id,
            private_key=private_key,
            body=body,
            content_type=AS_MEDIA_TYPE,
            extra_headers={"Accept": AS_MEDIA_TYPE},
        )
        return await _post(client, inbox_url, body, headers, timeout_s, started)

    return await knock.double_knock(
        memory or knock.memory_for(None), inbox_url, attempt, lambda r: r.status_code
    )


async def _post(
    client: httpx.AsyncClient,
    inbox_url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    started: float,
) -> DeliveryResult:
    code: int | None = None
    error: str | None = None
    blocked = False
    try:
        resp = await client.post(inbox_url, content=body, headers=headers, timeout=timeout_s)
        code = resp.status_code
        if not 200 <= code < 300:
            error = f"HTTP {code}: {resp.text[:200]}"
    except httpx.TimeoutException:
        error = "timed out"
    except httpx.HTTPError as err:
        error = f"{type(err).__name__}: {err}"[:500]
    except DomainError as err:  # the address guard refused the inbox's host
        error = f"{err.code}: {err.message}"
        blocked = True
    return DeliveryResult(code, error, int((time.monotonic() - started) * 1000), blocked)
