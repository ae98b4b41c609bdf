"""A real S3-compatible server on loopback for the media's object store: moto's standalone
server (the S3 API over HTTP, as MinIO or Garage speak it), one per test that asks."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config
from moto.server import ThreadedMotoServer

from shared.tooling.devservers import free_ports

ACCESS_KEY_ID = "rose-ash-test"
SECRET_ACCESS_KEY = "rose-ash-test-secret"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    def env(self) -> dict[str, str]:
        """What points media.backend at this server's bucket."""
        return {
            "ROSE_MEDIA__BACKEND": "s3",
            "ROSE_MEDIA__S3_ENDPOINT_URL": self.endpoint_url,
            "ROSE_MEDIA__S3_BUCKET": self.bucket,
            "ROSE_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "ROSE_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }

    def client(self) -> Any:
        """A client of the test's own, to look into the bucket as an operator would."""
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def keys(self) -> list[str]:
        answer = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(str(o["Key"]) for o in answer.get("Contents", []))


@contextlib.contextmanager
def s3_server_running() -> Iterator[S3Server]:
    """moto's server on a free loopback port, with a bucket name of its own (not created: the
    store creates it on first use, as in production)."""
    (port,) = free_ports(1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}", f"rose-ash-media-{secrets.token_hex(4)}")
    finally:
        server.stop()


class ThrottlingS3:
    """A way to ``server`` that answers every DELETE, while :attr:`throttling`, as S3 answers a
    client sending faster than a prefix takes: ``503 Slow Down`` with its XML error, code
    ``SlowDown`` (botocore retries it, then gives up). Everything else is passed through."""

    BODY = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        b"<Message>Please reduce your request rate.</Message>"
        b"<RequestId>ROSEASHTEST</RequestId></Error>"
    )

    def __init__(self, server: S3Server) -> None:
        self.server = server
        self.throttling = True
        self.refused = 0
        upstream = urllib.parse.urlsplit(server.endpoint_url)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _pass(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "DELETE" and outer.throttling:
                    outer.refused += 1
                    self._answer(503, {"Content-Type": "application/xml"}, outer.BODY)
                    return
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                    kept = {
                        k: v
                        for k, v in answer.getheaders()
                        if k.lower() not in ("connection", "transfer-encoding")
                        and (self.command == "HEAD" or k.lower() != "content-length")
                    }
                    self._answer(answer.status, kept, data)
                finally:
                    conn.close()

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if not any(k.lower() == "content-length" for k in headers):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def env(self) -> dict[str, str]:
        """What points media.backend at the bucket through this way."""
        port = self.httpd.server_address[1]
        return {**self.server.env(), "ROSE_MEDIA__S3_ENDPOINT_URL": f"http://127.0.0.1:{port}"}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
