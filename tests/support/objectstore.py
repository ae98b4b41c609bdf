"""A real S3-compatible server on loopback for the media's object store: moto's standalone
server (the S3 API over HTTP, as MinIO or Garage speak it), one per test that asks."""

from __future__ import annotations

import contextlib
import secrets
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
