"""Stand-ins for other fediverse servers, on loopback: a tiny HTTP/1.1 server that serves
actor documents and records what is POSTed to its inboxes, and helpers to sign as them.

It speaks just enough HTTP for httpx (keep-alive, Content-Length bodies) and can listen on
many ports at once, each port a distinct "host" for the delivery tests.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.infrastructure.activitypub import rfc9421
from shared.infrastructure.activitypub.inbox import InboundRequest
from shared.infrastructure.activitypub.keys import generate_private_key_pem
from shared.infrastructure.activitypub.signatures import sign_request


@dataclass
class Received:
    port: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def scheme(self) -> str:
        """How the request is signed: "rfc9421", "draft-cavage" or "none"."""
        if rfc9421.is_rfc9421(self.headers):
            return "rfc9421"
        return "draft-cavage" if "Signature" in self.headers else "none"

    def verify(self, public_key_pem: str, *, window_s: int = 300) -> str:
        """Check the signature (either scheme) as our own inboxes do; return its key id."""
        origin = f"http://{self.headers['Host']}"
        InboundRequest(self.method, self.path, self.headers, self.body, origin).check(
            public_key_pem, window_s
        )
        return rfc9421.signer_key_id(self.headers)


Responder = Callable[[Received], tuple[int, bytes, str]]


@dataclass
class LoopbackServer:
    """One asyncio server per port; GETs answer from ``documents``, POSTs are recorded."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    # Requests refused because of their signature scheme (see ``reads``).
    refused: list[Received] = field(default_factory=list)
    # Per-port status to answer POSTs with (default 202); tests flip it to 500, 410...
    post_status: dict[int, int] = field(default_factory=lambda: defaultdict(lambda: 202))
    responder: Responder | None = None
    # Signature schemes the server reads, as a server running older software reads only
    # draft-cavage: a request signed otherwise is answered 401 (a "signature missing" refusal).
    reads: tuple[str, ...] = ("rfc9421", "draft-cavage")
    # path -> Location: answered with a 302 (for the redirect tests).
    redirects: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    # After this many POSTs, later ones are recorded, then held unanswered until ``release``
    # is set (``holding`` says one is): a sender stuck mid-batch, to be killed there.
    hold_posts_after: int | None = None
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    servers: list[asyncio.Server] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    _connections: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self, count: int = 1) -> list[int]:
        new = []
        for _ in range(count):
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
            port = int(server.sockets[0].getsockname()[1])
            self.servers.append(server)
            self.ports.append(port)
            new.append(port)
        return new

    async def stop_port(self, port: int) -> None:
        index = self.ports.index(port)
        server = self.servers[index]
        server.close()
        await server.wait_closed()

    async def close(self) -> None:
        self.release.set()
        for server in self.servers:
            server.close()
        for writer in list(self._connections):
            writer.close()
        for server in self.servers:
            await server.wait_closed()

    def base(self, port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.ports[0]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = int(writer.get_extra_info("sockname")[1])
        self._connections.add(writer)
        try:
            while True:
                first = await reader.read(1)
                if first in (b"", b"\x16"):
                    # Closed, or a TLS ClientHello: this server speaks plain HTTP only, so it
                    # hangs up at once (as a real one would fail the handshake) rather than wait.
                    return
                line = first + await reader.readline()
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip()] = value.strip()
                length = int(headers.get("Content-Length") or headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                req = Received(port, method, target, headers, body)
                location = self.redirects.get(target)
                if location is not None:
                    status, payload, ctype = 302, b"", "text/plain"
                else:
                    status, payload, ctype = await self._respond(req)
                extra = f"Location: {location}\r\n" if location is not None else ""
                writer.write(
                    (
                        f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n{extra}"
                        f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
                    ).encode()
                    + payload
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _respond(self, req: Received) -> tuple[int, bytes, str]:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if req.scheme not in (*self.reads, "none"):
            self.refused.append(req)
            return 401, b'{"error":"signature missing"}', "application/json"
        if self.responder is not None:
            return self.responder(req)
        if req.method == "GET":
            doc = self.documents.get(f"{self.base(req.port)}{req.path.split('?')[0]}")
            if doc is None:
                return 404, b"{}", "application/json"
            return 200, json.dumps(doc).encode(), "application/activity+json"
        self.received.append(req)
        if self.hold_posts_after is not None and len(self.received) > self.hold_posts_after:
            self.holding.set()
            await self.release.wait()
            return 503, b"", "text/plain"
        return self.post_status[req.port], b"", "text/plain"

    def posts_to(self, path_prefix: str = "") -> list[Received]:
        return [r for r in self.received if r.path.startswith(path_prefix)]


@functools.cache
def peer_key(name: str) -> rsa.RSAPrivateKey:
    """A key per fake remote actor, generated once per run."""
    key = serialization.load_pem_private_key(generate_private_key_pem().encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class RemoteActor:
    """A remote person on a loopback server: its document, its key, signing as it."""

    server: LoopbackServer
    name: str
    port: int
    key: rsa.RSAPrivateKey
    shared_inbox: bool = True

    @property
    def id(self) -> str:
        return f"{self.server.base(self.port)}/users/{self.name}"

    @property
    def key_id(self) -> str:
        return f"{self.id}#main-key"

    @property
    def inbox(self) -> str:
        return f"{self.id}/inbox"

    def publish(self) -> None:
        doc: dict[str, Any] = {
            "@context": [
                "https://www.w3.org/ns/activitystreams",
                "https://w3id.org/security/v1",
            ],
            "id": self.id,
            "type": "Person",
            "preferredUsername": self.name,
            "inbox": self.inbox,
            "outbox": f"{self.id}/outbox",
            "publicKey": {
                "id": self.key_id,
                "owner": self.id,
                "publicKeyPem": public_pem(self.key),
            },
        }
        if self.shared_inbox:
            doc["endpoints"] = {"sharedInbox": f"{self.server.base(self.port)}/inbox"}
        self.server.documents[self.id] = doc

    def sign(
        self, url: str, body: bytes, *, key: rsa.RSAPrivateKey | None = None, **kw: Any
    ) -> dict[str, str]:
        return sign_request(
            "POST", url, key_id=self.key_id, private_key=key or self.key, body=body, **kw
        )


def make_actor(
    server: LoopbackServer, name: str, port: int | None = None, **kw: Any
) -> RemoteActor:
    actor = RemoteActor(server, name, port or server.ports[0], peer_key(name), **kw)
    actor.publish()
    return actor
