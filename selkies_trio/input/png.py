"""A minimal PNG encoder for cursor images (RFC 2083 / ISO 15948).

    PNG signature: 89 50 4E 47 0D 0A 1A 0A
    chunk:  +--------+------------+----------------+--------+
            | length | chunk type |   chunk data   |  CRC   |
            | 4 B BE |    4 B     |  length bytes  | 4 B BE |
            +--------+------------+----------------+--------+
    IHDR: width u32, height u32, bit depth 8, colour type 6 (RGBA),
          compression 0, filter 0, interlace 0
    IDAT: zlib stream of scanlines, each "filter type 0" byte + RGBA pixels
    IEND: empty

Cursors are at most a few kilobytes, so filter type 0 (None) on every row is
fine; zlib does the rest.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPE_RGBA = 6


def _chunk(chunk_type: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(chunk_type + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", crc)


def encode_rgba(width: int, height: int, rgba: bytes) -> bytes:
    """PNG of `width`x`height` pixels given as RGBA bytes, row by row."""
    if width <= 0 or height <= 0 or len(rgba) != width * height * 4:
        raise ValueError(f"{len(rgba)} bytes do not make a {width}x{height} RGBA image")
    stride = width * 4
    raw = b"".join(b"\x00" + rgba[row * stride : (row + 1) * stride] for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPE_RGBA, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def argb_premultiplied_to_rgba(pixels: Sequence[int]) -> bytes:
    """XFixes cursor pixels (32-bit ARGB, colour premultiplied by alpha) to straight RGBA."""
    out = bytearray(len(pixels) * 4)
    for i, pixel in enumerate(pixels):
        alpha = (pixel >> 24) & 0xFF
        red = (pixel >> 16) & 0xFF
        green = (pixel >> 8) & 0xFF
        blue = pixel & 0xFF
        if 0 < alpha < 255:
            red = min(255, (red * 255 + alpha // 2) // alpha)
            green = min(255, (green * 255 + alpha // 2) // alpha)
            blue = min(255, (blue * 255 + alpha // 2) // alpha)
        out[i * 4 : i * 4 + 4] = bytes((red, green, blue, alpha))
    return bytes(out)
