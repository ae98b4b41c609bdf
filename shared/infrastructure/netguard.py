"""The address guard for outbound HTTP to URLs that someone else chose.

Remote ActivityPub servers and supplier sites both hand us URLs. Every connection made for
them resolves the host name itself and refuses private, loopback, link-local, multicast and
reserved addresses; the check happens where the socket is opened, so a redirect or a DNS answer
that changes between check and use cannot slip past it. Two switches open it for tests and dev:
``allow_private`` (anything but multicast and unspecified) and ``allowed_networks``, an
allow-list of networks that are reachable even though they are not public (the scraper's
``scrape.allow_addresses``; empty in production).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from shared.errors import DomainError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(DomainError):
    """A remote document could not be fetched; ``code`` says why."""

    status = 502


class ForbiddenAddress(FetchError):
    status = 400


def parse_networks(value: str) -> tuple[Network, ...]:
    """``"127.0.0.1/32, ::1"`` as networks (a bare address is a network of one); raises
    ValueError for anything else."""
    parts = [part.strip() for part in value.split(",")]
    return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)


def address_allowed(
    address: str, allow_private: bool, allowed_networks: Sequence[Network] = ()
) -> bool:
    """Whether we may connect to this IP address."""
    return _address_allowed(address, allow_private, tuple(allowed_networks))


# Parsing the address and ``is_global`` (a walk over the reserved ranges) cost about 6 % of
# a worker's CPU when every delivery opened a connection (the benchmark's fan-out profile);
# the answer for an address never changes within a process.
@functools.lru_cache(maxsize=4096)
def _address_allowed(
    address: str, allow_private: bool, allowed_networks: tuple[Network, ...]
) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return False
    if allow_private or any(ip in network for network in allowed_networks):
        return True
    return ip.is_global


async def resolve(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]  # a literal needs no lookup
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise httpcore.ConnectError(f"cannot resolve {host}: {err}") from None
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves names itself and connects only to allowed addresses (SNI keeps the name)."""

    def __init__(self, allow_private: bool, allowed_networks: Sequence[Network] = ()) -> None:
        self.allow_private = allow_private
        self.allowed_networks = tuple(allowed_networks)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port)
        allowed = [
            a for a in addresses if address_allowed(a, self.allow_private, self.allowed_networks)
        ]
        if not allowed:
            raise ForbiddenAddress(
                "address_forbidden", f"{host} resolves to an address we do not connect to."
            )
        last: Exception | None = None
        for address in allowed:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as err:
                last = err
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise ForbiddenAddress("address_forbidden", "Unix sockets are not reachable remotely.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(
        self,
        *,
        allow_private: bool,
        max_connections: int,
        per_host: int,
        allowed_networks: Sequence[Network] = (),
    ) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=max_connections,
            # Few idle connections: httpcore scans every pooled connection for each queued
            # request, and a fan-out rarely returns to a host soon (measured: 64 idle
            # connections made 2,000 deliveries to 200 hosts two to three times slower than 8).
            max_keepalive_connections=per_host,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(allow_private, allowed_networks),
        )


def check_url(url: str) -> None:
    """Refuse anything but plain http(s) URLs with a host and without credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ForbiddenAddress("url_forbidden", f"{url!r} is not an http(s) URL.")
    if parts.username or parts.password:
        raise ForbiddenAddress("url_forbidden", "URLs with credentials are refused.")
