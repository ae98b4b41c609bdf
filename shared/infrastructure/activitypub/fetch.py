"""Outbound HTTP to other servers, guarded against server-side request forgery.

Every connection (remote fetches and deliveries alike) goes through the address guard of
:mod:`shared.infrastructure.netguard`: private, loopback, link-local, multicast and reserved
addresses are refused after DNS resolution unless ``activitypub.allow_private_addresses`` is on.
Fetches are bounded in time (one deadline for the whole exchange), size (the body is read
in chunks and abandoned past the limit) and redirects (each hop checked again).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urljoin

import httpx

from shared.config import Settings
from shared.infrastructure.activitypub import keys, knock

# The guard itself is shared with the market's scraper; these names stay importable from here.
from shared.infrastructure.netguard import (
    FetchError,
    ForbiddenAddress,
    GuardedBackend,
    GuardedTransport,
    address_allowed,
    check_url,
)

__all__ = [
    "AS_ACCEPT",
    "FetchError",
    "Fetched",
    "Fetcher",
    "ForbiddenAddress",
    "GuardedBackend",
    "GuardedTransport",
    "address_allowed",
    "guarded_client",
    "user_agent",
]

AS_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
SOFTWARE_VERSION = "0.1.0"
# httpx logs every request at INFO: thousands of lines per delivered post. Failures are
# recorded in ap_delivery_attempts and logged by the worker instead.
logging.getLogger("httpx").setLevel(logging.WARNING)


class NoCookies(CookieJar):
    """Server-to-server requests carry no cookies, as Mastodon's do not: what one remote server
    sets is never kept nor sent back (nor parsed: a fan-out to 10,000 inboxes spent 2.6 % of a
    worker's time on it)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


def user_agent(settings: Settings) -> str:
    """Names the software and this instance's URL (the front door), as Mastodon's does
    (``Mastodon/4.3.0 (http.rb/5.2.0; +https://example.org/)``): remote admins see who calls."""
    return (
        f"RoseAsh/{SOFTWARE_VERSION} (httpx/{httpx.__version__}; "
        f"+{settings.apps['blog'].public_url}/)"
    )


def guarded_client(settings: Settings, *, max_connections: int = 100) -> httpx.AsyncClient:
    """An httpx client whose every connection passes the address guard; never follows
    redirects; keeps no cookies."""
    ap = settings.activitypub
    return httpx.AsyncClient(
        transport=GuardedTransport(
            allow_private=ap.allow_private_addresses,
            max_connections=max_connections,
            per_host=ap.delivery_per_host,
        ),
        follow_redirects=False,
        timeout=httpx.Timeout(ap.fetch_timeout_s),
        headers={"User-Agent": user_agent(settings)},
        cookies=NoCookies(),
        trust_env=False,
    )


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise FetchError("fetch_not_json", f"{self.url} did not answer JSON.") from None
        if not isinstance(data, dict):
            raise FetchError("fetch_not_json", f"{self.url} did not answer a JSON object.")
        return data


class Fetcher:
    """Signed, bounded GETs of remote ActivityPub documents (authorized-fetch compatible)."""

    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient,
        *,
        key_id: str | None = None,
        memory: knock.SchemeMemory | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.key_id = key_id
        self.memory = memory or knock.memory_for(None)

    async def get(self, url: str, *, accept: str = AS_ACCEPT) -> Fetched:
        ap = self.settings.activitypub
        try:
            async with asyncio.timeout(ap.fetch_timeout_s):
                return await self._get(url, accept)
        except TimeoutError:
            raise FetchError("fetch_timeout", f"{url} did not answer in time.") from None

    async def get_json(self, url: str) -> dict[str, Any]:
        fetched = await self.get(url)
        if fetched.status != 200:
            raise FetchError(
                "fetch_status", f"{url} answered {fetched.status}.", status=fetched.status
            )
        return fetched.json()

    async def _get(self, url: str, accept: str) -> Fetched:
        ap = self.settings.activitypub
        for _hop in range(ap.max_redirects + 1):
            check_url(url)
            if self.key_id is None:
                answer = await self._once(url, accept, None)
            else:
                answer = await knock.double_knock(
                    self.memory, url, functools.partial(self._once, url, accept), _status
                )
            if isinstance(answer, str):
                url = answer
                continue
            return answer
        raise FetchError("fetch_redirects", f"{url}: more than {ap.max_redirects} redirects.")

    async def _once(self, url: str, accept: str, scheme: str | None) -> Fetched | str:
        """One GET (signed with ``scheme``): what it answered, or where it redirects."""
        ap = self.settings.activitypub
        headers = {"Accept": accept}
        if scheme is not None and self.key_id is not None:
            headers = knock.signed_headers(
                scheme,
                "GET",
                url,
                key_id=self.key_id,
                private_key=keys.private_key(self.settings),
                extra_headers=headers,
            )
        try:
            async with self.client.stream("GET", url, headers=headers) as resp:
                if resp.status_code in (301, 302, 303, 307, 308):
                    location = resp.headers.get("Location")
                    if not location:
                        raise FetchError("fetch_redirect", f"{url} redirects nowhere.")
                    return str(urljoin(url, location))
                declared = resp.headers.get("Content-Length")
                if (
                    declared is not None
                    and declared.isdigit()
                    and int(declared) > ap.max_body_bytes
                ):
                    raise FetchError("fetch_too_large", f"{url} is too large.")
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > ap.max_body_bytes:
                        raise FetchError("fetch_too_large", f"{url} is too large.")
                return Fetched(
                    str(resp.url),
                    resp.status_code,
                    resp.headers.get("Content-Type", ""),
                    bytes(body),
                )
        except httpx.HTTPError as err:
            raise FetchError("fetch_failed", f"{url} could not be fetched: {err}") from None


def _status(answer: Fetched | str) -> int | None:
    return answer.status if isinstance(answer, Fetched) else 302
