"""The media store in an object store speaking the S3 API (``media.backend: s3``).

A stored file ``images/<sha256>.<ext>`` is the object of that key (under ``media.s3_prefix``)
in ``media.s3_bucket`` at ``media.s3_endpoint_url`` (MinIO, Garage, Ceph, AWS …). Every app
and the worker reach the same bucket, so an upload on one node is served by every replica on
every node, and a file erased by any process (the account app erasing a member) is gone
everywhere. The URLs do not change: the apps still serve ``<media.url_path>/images/<name>``,
reading the object (media.py's ``install``), with the same headers as from a directory.

The client is botocore's (the library under boto3), blocking like the filesystem's calls:
media.py runs both in worker threads. The access key comes from ``ROSE_S3_ACCESS_KEY_ID`` and
``ROSE_S3_SECRET_ACCESS_KEY`` (environment only). The bucket is created on first use when it is
missing.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.config import MediaSettings

_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_ready: set[tuple[str, str]] = set()
_ready_lock = threading.Lock()


class ObjectStoreError(Exception):
    """The object store did not answer as it should (down, refused, misconfigured)."""


def _not_found(err: ClientError) -> bool:
    return str(err.response.get("Error", {}).get("Code", "")) in _NOT_FOUND


@functools.cache
def _client(endpoint: str, region: str, key_id: str, secret: str) -> Any:
    # One client per process and store: botocore's clients are thread-safe.
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=region,
        aws_access_key_id=key_id or None,
        aws_secret_access_key=secret or None,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


def client(settings: MediaSettings) -> Any:
    """The store's client; its bucket exists (created on first use in this process)."""
    s3 = _client(
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
    )
    marker = (settings.s3_endpoint_url, settings.s3_bucket)
    if marker not in _ready:
        with _ready_lock:
            if marker not in _ready:
                try:
                    s3.head_bucket(Bucket=settings.s3_bucket)
                except ClientError as err:
                    if not _not_found(err):
                        raise ObjectStoreError(f"bucket {settings.s3_bucket}: {err}") from None
                    s3.create_bucket(Bucket=settings.s3_bucket)
                _ready.add(marker)
    return s3


def key(settings: MediaSettings, name: str) -> str:
    """The object key of ``name`` (``images/<sha256>.<ext>``)."""
    return f"{settings.s3_prefix}{name}"


def exists(settings: MediaSettings, name: str) -> bool:
    try:
        client(settings).head_object(Bucket=settings.s3_bucket, Key=key(settings, name))
    except ClientError as err:
        if _not_found(err):
            return False
        raise ObjectStoreError(f"{name}: {err}") from None
    except BotoCoreError as err:
        raise ObjectStoreError(f"{name}: {err}") from None
    return True


def put(settings: MediaSettings, name: str, data: bytes, content_type: str) -> None:
    try:
        client(settings).put_object(
            Bucket=settings.s3_bucket,
            Key=key(settings, name),
            Body=data,
            ContentType=content_type,
        )
    except (ClientError, BotoCoreError) as err:
        raise ObjectStoreError(f"{name}: {err}") from None


def read(settings: MediaSettings, name: str, first_bytes: int | None = None) -> bytes | None:
    """The object's bytes (only the first ``first_bytes``, when given), or None if none."""
    extra = {"Range": f"bytes=0-{first_bytes - 1}"} if first_bytes else {}
    try:
        answer = client(settings).get_object(
            Bucket=settings.s3_bucket, Key=key(settings, name), **extra
        )
        with answer["Body"] as body:
            return bytes(body.read())
    except ClientError as err:
        if _not_found(err):
            return None
        raise ObjectStoreError(f"{name}: {err}") from None
    except BotoCoreError as err:
        raise ObjectStoreError(f"{name}: {err}") from None


def remove(settings: MediaSettings, name: str) -> bool:
    """Delete the object; whether it was there."""
    was = exists(settings, name)
    try:
        client(settings).delete_object(Bucket=settings.s3_bucket, Key=key(settings, name))
    except (ClientError, BotoCoreError) as err:
        raise ObjectStoreError(f"{name}: {err}") from None
    return was


def names(settings: MediaSettings) -> list[str]:
    """Every stored name (``images/…``) in the bucket under the prefix."""
    found: list[str] = []
    paginator = client(settings).get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=settings.s3_bucket, Prefix=settings.s3_prefix):
            found.extend(str(o["Key"])[len(settings.s3_prefix) :] for o in page.get("Contents", []))
    except (ClientError, BotoCoreError) as err:
        raise ObjectStoreError(str(err)) from None
    return found
