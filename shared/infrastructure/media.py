"""Uploaded images (the blog's feature images, the social hub's post images, avatars and
headers): checked by their content, stored by their content.

Every upload goes through :func:`prepare` (:func:`prepare_upload` in a worker thread, so the
app's event loop never decodes an image, within ``media.work_budget_s``): its first bytes must
be those of a PNG, JPEG, GIF or WebP image (the name and the declared type are the sender's
word, not the file's), at most ``media.max_bytes``; it is decoded with Pillow, so a file that
only starts like an image is refused; bounded in pixels (``media.max_dimension`` on the longer
side, and ``media.max_total_pixels`` over all its frames: a 17 KB GIF of 150 frames of
4096x4096 is 2.5 billion pixels to decode; Pillow's decompression-bomb guard behind both); and
re-encoded in its own format with its metadata dropped (EXIF with its GPS position, comments,
text chunks), JPEGs turned upright first.

What is stored (:func:`store`, also off the event loop) is the re-encoded file, as
``<media.root>/images/<sha256>.<ext>``: the name is derived from the content, so a file never
changes once written and is served with a year-long immutable cache; a name is never taken from
the request, so no upload can write outside the media root, and serving accepts only names of
that exact form. A file is written whole, then renamed; a full disk is :class:`MediaStoreFull`
(503, logged without a traceback) and leaves nothing behind. With ``media.backend: s3`` the same
names are keys of an object store every node reaches (objectstore.py), served at the same URLs.
Every stored file is served with ``X-Content-Type-Options: nosniff`` and the type its name says.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps
from quart import Quart, Response, abort, send_file
from sqlalchemy import Text, cast, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import MediaSettings
from shared.contracts.errors import InvalidUpload
from shared.errors import DomainError
from shared.infrastructure import objectstore
from shared.models import (
    BlogPost,
    Event,
    MediaErasure,
    MediaOwner,
    ProductImage,
    SocialAccount,
    SocialStatus,
)

log = logging.getLogger(__name__)

IMAGE_DIR = "images"
# The most images one form carries (a social post's attachments). The app that takes such
# forms (federation) accepts a request body that large: four images at ``media.max_bytes``
# each, plus the form around them.
IMAGES_PER_FORM = 4
FORM_OVERHEAD_BYTES = 1024 * 1024


def request_cap(settings: MediaSettings, default: int) -> int:
    """The largest request body an app taking image forms accepts (never below ``default``)."""
    return max(default, IMAGES_PER_FORM * settings.max_bytes + FORM_OVERHEAD_BYTES)


# The signatures of the image formats a browser shows (RFC 2083, JFIF/Exif, GIF89a, RIFF).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
MIMETYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
_NAME_RE = re.compile(r"^images/([0-9a-f]{64})\.(png|jpg|gif|webp)$")
CACHE_CONTROL = "public, max-age=31536000, immutable"
# What is read of a stored image to learn its size (its header; the metadata was stripped).
HEADER_BYTES = 64 * 1024


def sniff_image(data: bytes) -> str | None:
    """The image type ``data`` starts like (its file extension), or None."""
    for signature, ext in _SIGNATURES:
        if data.startswith(signature):
            return ext
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


class MediaStoreUnavailable(DomainError):
    """The object store (media.backend: s3) did not answer: nothing was stored."""

    status = 503
    retry_after_s = 60

    def __init__(self) -> None:
        super().__init__(
            "media_store_unavailable",
            "The image could not be saved: the storage is not answering. "
            "Nothing was changed; please try again later.",
        )


class MediaStoreFull(DomainError):
    """The media store has no room (its disk or quota is full): nothing was stored."""

    status = 503
    retry_after_s = 300

    def __init__(self) -> None:
        super().__init__(
            "media_store_full",
            "The image could not be saved: the server has run out of storage space. "
            "Nothing was changed; please try again later.",
        )


# The ways a disk says it has no room left.
_FULL = (errno.ENOSPC, errno.EDQUOT)


def _write(data: bytes, ext: str, settings: MediaSettings) -> str:
    name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
    if settings.backend == "s3":
        try:
            if not objectstore.exists(settings, f"{IMAGE_DIR}/{name}"):
                objectstore.put(settings, f"{IMAGE_DIR}/{name}", data, MIMETYPES[ext])
        except objectstore.ObjectStoreError as err:
            log.error("media object store: an upload was refused: %s", err)
            raise MediaStoreUnavailable from None
        return f"{settings.url_path}/{IMAGE_DIR}/{name}"
    directory = Path(settings.root) / IMAGE_DIR
    target = directory / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            _write_whole(directory, target, data)
    except OSError as err:
        if err.errno not in _FULL:
            raise
        log.error("media store %s is full (%s): an upload was refused", directory, err)
        raise MediaStoreFull from None
    return f"{settings.url_path}/{IMAGE_DIR}/{name}"


# What a file is called while it is written (renamed when whole): never one of the store's.
UPLOAD_TEMP_PREFIX = ".upload-"


def _write_whole(directory: Path, target: Path, data: bytes) -> None:
    """Written whole, then renamed: a reader never sees half a file, and a write that fails
    (a full disk) leaves none."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=UPLOAD_TEMP_PREFIX)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# Pillow's format names for the types we accept, and what each is stored as.
_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}
# What survives re-encoding: how to play an animation, and transparency. Nothing else.
_KEPT_INFO = ("duration", "loop", "transparency", "background", "disposal")


@dataclass(frozen=True)
class PreparedImage:
    """An upload proved to be an image and re-encoded without its metadata; not stored yet."""

    data: bytes
    ext: str
    width: int
    height: int

    @property
    def media_type(self) -> str:
        return MIMETYPES[self.ext]


async def prepare(data: bytes, settings: MediaSettings, field: str) -> PreparedImage:
    """:func:`prepare_upload` in a worker thread, given at most ``media.work_budget_s``; an
    image that takes longer is refused (its work is bounded by the pixel limits, so the thread
    finishes soon after)."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(prepare_upload, data, settings, field), settings.work_budget_s
        )
    except TimeoutError:
        raise InvalidUpload(
            "upload_too_complex",
            "That image takes too long to process. Upload a smaller or simpler one.",
            field,
        ) from None


async def store(image: PreparedImage, settings: MediaSettings) -> str:
    """:func:`store_prepared` in a worker thread (file work stays off the event loop)."""
    return await asyncio.to_thread(store_prepared, image, settings)


def prepare_upload(data: bytes, settings: MediaSettings, field: str) -> PreparedImage:
    """Decode an upload, check it (type by content, bytes, pixels in each frame and in all)
    and re-encode it without its metadata; :class:`InvalidUpload` naming ``field`` otherwise.
    Writes nothing. Blocking: callers in an event loop use :func:`prepare`."""
    if not data:
        raise InvalidUpload("upload_empty", "That file is empty.", field)
    if len(data) > settings.max_bytes:
        limit = settings.max_bytes // (1024 * 1024) or 1
        raise InvalidUpload(
            "upload_too_large", f"Images may be at most {limit} MB.", field, status=413
        )
    not_an_image = InvalidUpload("upload_type", "Upload a PNG, JPEG, GIF or WebP image.", field)
    if sniff_image(data) is None:
        raise not_an_image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(_FORMATS))
            ext = _FORMATS[str(image.format)]
            width, height = image.size
            if max(width, height) > settings.max_dimension or min(width, height) < 1:
                raise InvalidUpload(
                    "upload_dimensions",
                    f"Images may be at most {settings.max_dimension} pixels on a side.",
                    field,
                )
            # Counting frames reads their headers only; every frame decodes at full size.
            frames = getattr(image, "n_frames", 1)
            if width * height * frames > settings.max_total_pixels:
                raise InvalidUpload(
                    "upload_too_many_pixels",
                    "That animation has too many frames for its size. "
                    "Upload a shorter or smaller one.",
                    field,
                )
            image.load()
            return _reencode(image, ext)
    except InvalidUpload:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard, for sizes far past ours (30000x30000 stops at opening).
        raise InvalidUpload(
            "upload_dimensions",
            f"Images may be at most {settings.max_dimension} pixels on a side.",
            field,
        ) from None
    except (OSError, ValueError, SyntaxError, Warning):
        # Truncated, corrupt, or only dressed as an image: Pillow could not decode it.
        raise not_an_image from None


def _reencode(image: Image.Image, ext: str) -> PreparedImage:
    out = io.BytesIO()
    frames = getattr(image, "n_frames", 1)
    kept = {k: image.info[k] for k in _KEPT_INFO if k in image.info}
    if ext == "jpg":
        # Orientation is the one piece of EXIF that matters: apply it, then drop EXIF.
        upright = ImageOps.exif_transpose(image)
        if upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
        upright.save(out, "JPEG", quality=90)
        width, height = upright.size
    else:
        image.info = {}
        options: dict[str, object] = {}
        if frames > 1:
            options = {"save_all": True, **{k: v for k, v in kept.items() if k != "background"}}
        elif "transparency" in kept and ext != "webp":
            options["transparency"] = kept["transparency"]
        image.save(out, {"png": "PNG", "gif": "GIF", "webp": "WEBP"}[ext], **options)
        width, height = image.size
    return PreparedImage(out.getvalue(), ext, width, height)


def store_prepared(image: PreparedImage, settings: MediaSettings) -> str:
    """Store a prepared image; returns its URL path (``<url_path>/images/<sha256>.<ext>``)."""
    return _write(image.data, image.ext, settings)


def stored_image_size(url: str | None, settings: MediaSettings) -> tuple[int, int] | None:
    """The width and height of a stored image given its URL (absolute, or its path), read
    from the file's header; None when it is not one of ours or cannot be read."""
    if not url:
        return None
    path = url.split("://", 1)[1] if "://" in url else url
    path = path[path.find("/") :] if "://" in url else path
    prefix = f"{settings.url_path}/"
    if not path.startswith(prefix) or _NAME_RE.match(path[len(prefix) :]) is None:
        return None
    source: Path | io.BytesIO = Path(settings.root) / path[len(prefix) :]
    try:
        if settings.backend == "s3":
            head = objectstore.read(settings, path[len(prefix) :], first_bytes=HEADER_BYTES)
            if head is None:
                return None
            source = io.BytesIO(head)
        # Opening reads only the header: the pixels are never decoded here.
        with Image.open(source, formats=list(_FORMATS)) as im:
            width, height = im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    except objectstore.ObjectStoreError as err:
        log.warning("media object store: %s", err)
        return None
    return (width, height) if width > 0 and height > 0 else None


def install(app: Quart, settings: MediaSettings) -> None:
    """Serve the stored media at ``<url_path>/images/<sha256>.<ext>`` (nothing else)."""

    root = Path(settings.root).resolve()

    async def serve(name: str) -> Response:
        match = _NAME_RE.match(name)
        if match is None:
            abort(404)  # includes every "..", "/" and encoded variant: only exact names pass
        if settings.backend == "s3":
            try:
                data = await asyncio.to_thread(objectstore.read, settings, name)
            except objectstore.ObjectStoreError as err:
                log.error("media object store: %s", err)
                abort(503)
            if data is None:
                abort(404)
            response = Response(data, mimetype=MIMETYPES[match.group(2)])
        else:
            path = root / name
            if not await asyncio.to_thread(path.is_file):
                abort(404)
            response = await send_file(path, mimetype=MIMETYPES[match.group(2)])
        response.headers["Cache-Control"] = CACHE_CONTROL
        # Served as the type its name says, never sniffed into something else (HTML, say).
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    app.add_url_rule(f"{settings.url_path}/<path:name>", "media", serve, methods=["GET"])


# --- who a file belongs to, and what refers to it ------------------------------------------


def stored_name(url: str, settings: MediaSettings, origins: Iterable[str] = ()) -> str | None:
    """The name of the stored file ``url`` points at (``<sha256>.<ext>``), when it is ours:
    our media path, alone or on one of ``origins`` (our apps' public URLs)."""
    path = url
    for origin in origins:
        if url.startswith(origin + "/"):
            path = url[len(origin) :]
            break
    prefix = f"{settings.url_path}/"
    if not path.startswith(prefix):
        return None
    match = _NAME_RE.match(path[len(prefix) :])
    return path[len(prefix) + len(IMAGE_DIR) + 1 :] if match is not None else None


def name_of(image: PreparedImage) -> str:
    """The name ``image`` is stored under (``<sha256>.<ext>``): known before it is written."""
    return f"{hashlib.sha256(image.data).hexdigest()}.{image.ext}"


async def lock_name(session: AsyncSession, name: str) -> None:
    """Hold the file ``name`` until this transaction ends: an upload recording its owner and
    the erasure of the same file (media_erasure.py) take turns, never interleave."""
    digest = hashlib.blake2b(f"rose-ash:media:{name}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def store_owned(
    session: AsyncSession,
    image: PreparedImage,
    settings: MediaSettings,
    domain: str,
    user_id: int | None,
) -> str:
    """Store ``image`` as ``domain``'s (for ``user_id``); returns its URL path. The owner is
    recorded first, under the file's lock, and the file written after: an erasure of the same
    content either finished before (the file is written again) or waits for this transaction
    and sees the owner, so the upload's file never goes from under it."""
    await record_owner(session, name_of(image), domain, user_id)
    return await store(image, settings)


async def record_owner(session: AsyncSession, name: str, domain: str, user_id: int | None) -> None:
    """Say that ``domain`` (for ``user_id``, when a member did it) stored the file ``name``
    (holding the file's lock until the transaction ends)."""
    await lock_name(session, name)
    await session.execute(
        pg_insert(MediaOwner)
        .values(name=name, domain=domain, user_id=user_id)
        .on_conflict_do_nothing(constraint="uq_media_owners")
    )


async def owned_by(session: AsyncSession, name: str, user_id: int) -> bool:
    """Whether member ``user_id`` uploaded the file ``name`` (in any domain)."""
    found = await session.scalar(
        select(exists().where(MediaOwner.name == name, MediaOwner.user_id == user_id))
    )
    return bool(found)


async def release(
    session: AsyncSession,
    name: str,
    domain: str,
    user_id: int | None,
) -> None:
    """``domain`` (for ``user_id``) no longer uses the file ``name``: its row goes, and the file
    is queued for erasure from ``domain``'s store, but only if that row was there (a file is
    never removed for somebody who never owned it), no other row remains and nothing in any
    domain refers to it. The erasure is a row written in this transaction, carried out by the
    worker where the files live (media_erasure.py, decision 0112): whichever process releases
    the file, even one without the store (the account app erasing a member), it goes."""
    owner = MediaOwner.user_id.is_(None) if user_id is None else MediaOwner.user_id == user_id
    removed = await session.execute(
        delete(MediaOwner).where(MediaOwner.name == name, MediaOwner.domain == domain, owner)
    )
    if not getattr(removed, "rowcount", 0):
        return
    if await session.scalar(select(exists().where(MediaOwner.name == name))):
        return
    if await referenced(session, name):
        return
    await session.execute(
        pg_insert(MediaErasure)
        .values(name=name, store=domain)
        .on_conflict_do_nothing(
            index_elements=["store", "name"], index_where=MediaErasure.done_at.is_(None)
        )
    )


async def referenced(session: AsyncSession, name: str) -> bool:
    """Whether any domain's row names the file ``name``: posts' images and bodies, products'
    and events' images, members' avatars, headers and post images."""
    tail = f"%/{IMAGE_DIR}/{name}"
    anywhere = f"%/{IMAGE_DIR}/{name}%"
    checks = [
        exists().where(or_(BlogPost.feature_image.like(tail), BlogPost.og_image.like(tail))),
        exists().where(BlogPost.html.like(anywhere)),
        exists().where(ProductImage.url.like(tail)),
        exists().where(Event.image_url.like(tail)),
        exists().where(
            or_(SocialAccount.avatar_url.like(tail), SocialAccount.header_url.like(tail))
        ),
        exists().where(
            SocialStatus.deleted_at.is_(None),
            cast(SocialStatus.attachments, Text).like(anywhere),
        ),
    ]
    for check in checks:
        if await session.scalar(select(check)):
            return True
    return False
