"""A synthetic screen: a moving pattern with a machine-readable stamp in its pixels.

It is the default source when there is no display, and the measuring stick for
latency: each frame carries its frame counter and its capture time (milliseconds,
modulo 2**32) as a row of black and white blocks in the top-left corner, large
enough to survive lossy H.264 coding. `read_embedded_stamp` reads them back from a
decoded picture, so a receiver can tell which frame it shows and how old it is.

Stamp layout: 64 blocks of `STAMP_BLOCK` x `STAMP_BLOCK` pixels, most significant
bit first: bits 0-31 the counter, bits 32-63 the milliseconds. White is 1, black 0.
A frame narrower than 64 blocks wraps the blocks onto further block rows.

Frames are assembled from whole rows with bytes operations (a frame is a few
distinct rows repeated), so a 1080p picture costs a couple of milliseconds and no
per-pixel Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from av.video.frame import VideoFrame

from .frames import BYTES_PER_PIXEL, RawFrame, raw_to_video_frame

STAMP_BLOCK = 8
STAMP_BITS = 64
_WHITE = b"\xff\xff\xff\x00"
_BLACK = b"\x00\x00\x00\x00"
_SQUARE_COLOUR = b"\x20\xc0\xf0\x00"  # BGRX: orange
_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class EmbeddedStamp:
    counter: int
    milliseconds: int


class StampUnreadable(Exception):
    """The picture is too small to hold a stamp."""


def stamp_layout(width: int) -> tuple[int, int]:
    """(blocks per block row, block rows) of the stamp in a frame `width` pixels wide."""
    per_row = min(STAMP_BITS, width // STAMP_BLOCK)
    if per_row < 8:
        raise StampUnreadable(f"a frame {width} pixels wide cannot hold the stamp")
    return per_row, -(-STAMP_BITS // per_row)


def stamp_bits(counter: int, milliseconds: int) -> list[int]:
    word = ((counter & _MASK32) << 32) | (milliseconds & _MASK32)
    return [(word >> (STAMP_BITS - 1 - i)) & 1 for i in range(STAMP_BITS)]


def capture_time_to_milliseconds(capture_time: float) -> int:
    return round(capture_time * 1000.0) & _MASK32


class SyntheticSource:
    """A `CaptureSource` that draws instead of capturing. Every call is "damaged"."""

    def __init__(self, width: int = 1280, height: int = 720, *, speed: int = 4) -> None:
        per_row, block_rows = stamp_layout(width)
        if height < block_rows * STAMP_BLOCK + 2:
            raise ValueError(f"a frame {height} pixels high cannot hold the stamp")
        self._width = width
        self._height = height
        self._speed = speed
        self._counter = 0
        self._stamp_blocks_per_row = per_row
        self._stamp_block_rows = block_rows
        # Two periods of a colour ramp, so any `width`-long window of it is a slice.
        period = 256
        ramp = b"".join(
            bytes(((i * 3) & 0xFF, (i * 5 + 64) & 0xFF, (255 - i) & 0xFF, 0)) for i in range(period)
        )
        repeats = -(-(width + period) // period) + 1
        self._ramp = ramp * repeats
        self._ramp_period_bytes = period * BYTES_PER_PIXEL
        self._closed = False

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def frames_drawn(self) -> int:
        return self._counter

    def poll_damage(self) -> bool:
        return not self._closed

    def capture(self, now: float) -> RawFrame:
        if self._closed:
            raise ValueError("capture on a closed SyntheticSource")
        counter = self._counter
        self._counter += 1
        data = self._draw(counter, capture_time_to_milliseconds(now))
        row_bytes = self._width * BYTES_PER_PIXEL
        return RawFrame(data, self._width, self._height, row_bytes, now)

    def close(self) -> None:
        self._closed = True

    def _draw(self, counter: int, milliseconds: int) -> bytes:
        width, height = self._width, self._height
        row_bytes = width * BYTES_PER_PIXEL
        shift = (counter * self._speed * BYTES_PER_PIXEL) % self._ramp_period_bytes
        band_a = self._ramp[shift : shift + row_bytes]
        back = self._ramp_period_bytes - shift
        band_b = self._ramp[back : back + row_bytes]

        stamp_height = self._stamp_block_rows * STAMP_BLOCK
        parts: list[bytes] = []
        bits = stamp_bits(counter, milliseconds)
        for block_row in range(self._stamp_block_rows):
            first = block_row * self._stamp_blocks_per_row
            row_bits = bits[first : first + self._stamp_blocks_per_row]
            blocks = b"".join((_WHITE if bit else _BLACK) * STAMP_BLOCK for bit in row_bits)
            row = blocks + band_a[len(blocks) :]
            parts.append(row * STAMP_BLOCK)

        body_height = height - stamp_height
        square = max(2, min(width, body_height) // 6)
        square_x = (counter * self._speed * 2) % max(1, width - square)
        square_y = stamp_height + (body_height - square) // 2
        upper = (height - stamp_height) // 2
        square_row_a = (
            band_a[: square_x * BYTES_PER_PIXEL]
            + _SQUARE_COLOUR * square
            + band_a[(square_x + square) * BYTES_PER_PIXEL :]
        )
        square_row_b = (
            band_b[: square_x * BYTES_PER_PIXEL]
            + _SQUARE_COLOUR * square
            + band_b[(square_x + square) * BYTES_PER_PIXEL :]
        )
        band_a_end = stamp_height + upper
        for y_start, y_end, plain, with_square in (
            (stamp_height, band_a_end, band_a, square_row_a),
            (band_a_end, height, band_b, square_row_b),
        ):
            top = min(max(square_y, y_start), y_end)
            bottom = min(max(square_y + square, y_start), y_end)
            parts.append(plain * (top - y_start))
            parts.append(with_square * (bottom - top))
            parts.append(plain * (y_end - bottom))
        return b"".join(parts)


def _block_luma_grid(luma: memoryview | bytes, line_size: int, width: int, height: int) -> int:
    per_row, block_rows = stamp_layout(width)
    if height < block_rows * STAMP_BLOCK:
        raise StampUnreadable(f"a frame {height} pixels high cannot hold the stamp")
    word = 0
    inner = range(STAMP_BLOCK // 4, STAMP_BLOCK - STAMP_BLOCK // 4)
    for bit_index in range(STAMP_BITS):
        block_row, block_column = divmod(bit_index, per_row)
        x0 = block_column * STAMP_BLOCK
        y0 = block_row * STAMP_BLOCK
        # Average the block's centre: the edges are where H.264 smears black into white.
        total = 0
        for dy in inner:
            offset = (y0 + dy) * line_size + x0
            total += sum(luma[offset + inner.start : offset + inner.stop])
        mean = total / (len(inner) * len(inner))
        word = (word << 1) | (1 if mean >= 128 else 0)
    return word


def read_embedded_stamp(picture: VideoFrame | RawFrame) -> EmbeddedStamp:
    """The (counter, milliseconds) drawn by `SyntheticSource`, read from a decoded
    picture (any pixel format PyAV can convert) or from a raw capture."""
    if isinstance(picture, RawFrame):
        picture = raw_to_video_frame(picture)
    gray = picture.reformat(format="gray")
    luma_plane = gray.planes[0]
    word = _block_luma_grid(memoryview(luma_plane), luma_plane.line_size, gray.width, gray.height)
    return EmbeddedStamp(counter=word >> 32, milliseconds=word & _MASK32)


__all__ = [
    "STAMP_BLOCK",
    "EmbeddedStamp",
    "StampUnreadable",
    "SyntheticSource",
    "capture_time_to_milliseconds",
    "read_embedded_stamp",
    "stamp_bits",
    "stamp_layout",
]
