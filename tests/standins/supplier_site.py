"""A supplier's website on loopback for the importer's tests: pages by path, robots.txt, a
sitemap, redirects, ETags answered with 304 when the client already has the page, a body too
large to accept (streamed without a Content-Length), a page that stalls, and a log of every
request with its headers.

It speaks plain HTTP/1.1 on asyncio streams, so what the crawler sends is what it records.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field


@dataclass
class Request:
    path: str
    headers: dict[str, str]


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    etag: bool = True  # answer with an ETag (and 304 for If-None-Match)


@dataclass
class SupplierSite:
    host: str = "127.0.0.1"
    pages: dict[str, Page] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    # path -> bytes streamed in chunks without Content-Length (the size cap's test)
    streams: dict[str, int] = field(default_factory=dict)
    # path -> seconds to wait before answering
    stalls: dict[str, float] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> SupplierSite:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def html(self, path: str, body: str, **kwargs: object) -> None:
        self.pages[path] = Page(body.encode(), **kwargs)  # type: ignore[arg-type]

    def requested(self, path: str) -> list[Request]:
        return [r for r in self.log if r.path == path]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                self.log.append(Request(target, headers))
                if target in self.stalls:
                    await asyncio.sleep(self.stalls[target])
                await self._answer(target, headers, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(
        self, target: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> None:
        if target in self.redirects:
            writer.write(
                f"HTTP/1.1 302 Found\r\nLocation: {self.redirects[target]}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            await writer.drain()
            return
        if target in self.streams:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"<p>" + b"x" * 65_536 + b"</p>"
            sent = 0
            try:
                while sent < self.streams[target]:
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    await writer.drain()
                    sent += len(chunk)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            except ConnectionError:
                pass
            return
        page = self.pages.get(target)
        if page is None:
            page = Page(b"<h1>Not found</h1>", status=404, etag=False)
        etag = f'"{hashlib.sha256(page.body).hexdigest()[:16]}"'
        if page.etag and page.status == 200 and headers.get("if-none-match") == etag:
            writer.write(f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode())
            await writer.drain()
            return
        reason = {200: "OK", 404: "Not Found", 410: "Gone", 500: "Server Error"}.get(
            page.status, "Status"
        )
        extra = f"ETag: {etag}\r\n" if page.etag else ""
        writer.write(
            f"HTTP/1.1 {page.status} {reason}\r\nContent-Type: {page.content_type}\r\n"
            f"Content-Length: {len(page.body)}\r\n{extra}\r\n".encode()
            + page.body
        )
        await writer.drain()
