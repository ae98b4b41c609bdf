"""Uploaded media (feature images): checked by their content, stored by their content.

An upload is accepted only if its first bytes are those of a PNG, JPEG, GIF or WebP image
(the name and the declared type are the sender's word, not the file's) and it is at most
``media.max_bytes``. It is stored as ``<media.root>/images/<sha256>.<ext>``: the name is
derived from the content, so a file never changes once written and is served with a
year-long immutable cache; a name is never taken from the request, so no upload can write
outside the media root, and serving accepts only names of that exact form.

The social hub's uploads (post images, avatars, headers) go further (:func:`prepare_upload`):
they are decoded with Pillow, so a file that only starts like an image is refused, bounded in
pixels (``media.max_dimension`` on the longer side; Pillow's decompression-bomb guard behind
it), and re-encoded in their own format with their metadata dropped (EXIF with its GPS
position, comments, text chunks), JPEGs turned upright first. What is stored is the
re-encoded file, named by its own hash. Every stored file is served with
``X-Content-Type-Options: nosniff`` and the type its name says.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps
from quart import Quart, Response, abort, send_file
from sqlalchemy import Text, cast, delete, exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import MediaSettings
from shared.contracts.errors import InvalidPost, InvalidUpload
from shared.db import after_commit
from shared.models import BlogPost, Event, MediaOwner, ProductImage, SocialAccount, SocialStatus

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


def sniff_image(data: bytes) -> str | None:
    """The image type ``data`` starts like (its file extension), or None."""
    for signature, ext in _SIGNATURES:
        if data.startswith(signature):
            return ext
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_image(data: bytes, settings: MediaSettings, field: str = "feature_image") -> str:
    """The image's extension, or :class:`InvalidPost` naming ``field``."""
    if not data:
        raise InvalidPost("image_empty", "That file is empty.", field)
    if len(data) > settings.max_bytes:
        limit = settings.max_bytes // (1024 * 1024) or 1
        raise InvalidPost("image_too_large", f"Images may be at most {limit} MB.", field)
    ext = sniff_image(data)
    if ext is None:
        raise InvalidPost("image_type", "Upload a PNG, JPEG, GIF or WebP image.", field)
    return ext


def store_image(data: bytes, settings: MediaSettings) -> str:
    """Store a checked image and return its URL path (``<url_path>/images/<sha256>.<ext>``)."""
    ext = check_image(data, settings)
    return _write(data, ext, settings)


def _write(data: bytes, ext: str, settings: MediaSettings) -> str:
    name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
    directory = Path(settings.root) / IMAGE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if not target.exists():
        # Written whole, then renamed: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return f"{settings.url_path}/{IMAGE_DIR}/{name}"


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


def prepare_upload(data: bytes, settings: MediaSettings, field: str) -> PreparedImage:
    """Decode an upload, check it (type by content, bytes, pixels) and re-encode it without
    its metadata; :class:`InvalidUpload` naming ``field`` otherwise. Writes nothing."""
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
            image.load()
            return _reencode(image, ext)
    except InvalidUpload:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning):
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


def delete_stored(url: str, settings: MediaSettings) -> bool:
    """Remove a stored file given its URL (absolute, or its path); False if it is not one of
    ours. Content-addressed files may be shared: callers check that nothing else uses it."""
    path = url.split("://", 1)[-1]
    path = path[path.find("/") :] if "://" in url else path
    prefix = f"{settings.url_path}/"
    if not path.startswith(prefix):
        return False
    match = _NAME_RE.match(path[len(prefix) :])
    if match is None:
        return False
    target = Path(settings.root) / path[len(prefix) :]
    existed = target.is_file()
    target.unlink(missing_ok=True)
    return existed


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
    try:
        # Opening reads only the header: the pixels are never decoded here.
        with Image.open(Path(settings.root) / path[len(prefix) :], formats=list(_FORMATS)) as im:
            width, height = im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return (width, height) if width > 0 and height > 0 else None


def install(app: Quart, settings: MediaSettings) -> None:
    """Serve the stored media at ``<url_path>/images/<sha256>.<ext>`` (nothing else)."""

    root = Path(settings.root).resolve()

    async def serve(name: str) -> Response:
        match = _NAME_RE.match(name)
        if match is None:
            abort(404)  # includes every "..", "/" and encoded variant: only exact names pass
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


async def record_owner(session: AsyncSession, name: str, domain: str, user_id: int | None) -> None:
    """Say that ``domain`` (for ``user_id``, when a member did it) stored the file ``name``."""
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
    settings: MediaSettings,
) -> None:
    """``domain`` (for ``user_id``) no longer uses the file ``name``: its row goes, and the file
    with it after the commit, but only if that row was there (a file is never removed for
    somebody who never owned it), no other row remains and nothing in any domain refers to it."""
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
    url = f"{settings.url_path}/{IMAGE_DIR}/{name}"

    async def remove() -> None:
        delete_stored(url, settings)

    after_commit(session, remove)


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
