"""Images made in the tests: small real ones, and hostile ones (a PNG that only claims to be
huge, an animated GIF of many huge frames in a few kilobytes)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def png_bytes(width: int, height: int, colour: tuple[int, int, int] = (200, 60, 90)) -> bytes:
    """A real PNG of one colour."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (1-bit grey), with one row of data:
    a few dozen bytes that would decode to that many pixels."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * (1 + (width + 7) // 8)))
        + _chunk(b"IEND", b"")
    )


def animated_gif_bytes(width: int, height: int, frames: int) -> bytes:
    """A GIF89a whose screen is ``width`` x ``height`` with ``frames`` frames of one pixel
    each: about 20 bytes a frame, yet every frame decodes to the whole screen."""
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # a global table of two colours
    out += b"\x00\x00\x00\xff\xff\xff"
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for i in range(frames):
        out += b"\x21\xf9\x04\x00\x02\x00\x00\x00"  # 20 ms, no disposal
        out += b"\x2c" + struct.pack("<HHHHB", i % width, 0, 1, 1, 0)  # a 1x1 frame
        out += b"\x02\x02\x4c\x01\x00"  # LZW, minimum code size 2: clear, colour 1, end
    out += b"\x3b"
    return bytes(out)
