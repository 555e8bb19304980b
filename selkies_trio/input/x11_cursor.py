"""Cursor shape to the client (XFixes 2.0: SelectCursorInput, GetCursorImage).

Whenever the displayed cursor changes, XFixes sends DisplayCursorNotify; we read
the image (premultiplied ARGB), turn it into a PNG with its hotspot and emit one
`cursor` frame. Images are cached by content hash, so an application that flips
between the same few cursors costs one PNG encode per distinct shape, and the
same shape twice in a row emits nothing.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from Xlib.display import Display
from Xlib.ext import xfixes
from Xlib.protocol.rq import Event

from . import png, server_messages

MAX_CACHED_CURSORS = 64


@dataclass(frozen=True)
class CursorImage:
    width: int
    height: int
    hotx: int
    hoty: int
    pixels: tuple[int, ...]

    def content_hash(self) -> bytes:
        header = struct.pack(">HHHH", self.width, self.height, self.hotx, self.hoty)
        body = struct.pack(f">{len(self.pixels)}I", *self.pixels)
        return hashlib.sha256(header + body).digest()


def cursor_message(image: CursorImage) -> str:
    """The `cursor` frame for an image; `handle` is stable for identical images."""
    rgba = png.argb_premultiplied_to_rgba(image.pixels)
    encoded = png.encode_rgba(image.width, image.height, rgba)
    handle = int.from_bytes(image.content_hash()[:4], "big") & 0x7FFFFFFF
    return server_messages.cursor(encoded, image.width, image.height, image.hotx, image.hoty, handle)


class X11Cursor:
    def __init__(self, display: Display) -> None:
        """`display` must have sent XFixes QueryVersion already."""
        self._display = display
        display.xfixes_select_cursor_input(
            display.screen().root, xfixes.XFixesDisplayCursorNotifyMask
        )
        # Matched by code, not class: python-xlib may load its xfixes module twice.
        self._cursor_notify_type = (
            display.query_extension("XFIXES").first_event + xfixes.XFixesCursorNotify
        )
        self._cache: dict[bytes, str] = {}
        self._current: bytes | None = None

    @property
    def current_message(self) -> str | None:
        """The frame for the cursor shown now (for a client that just connected)."""
        return self._cache.get(self._current) if self._current is not None else None

    def read_image(self) -> CursorImage:
        reply = self._display.xfixes_get_cursor_image(self._display.screen().root)
        count = reply.width * reply.height
        pixels = tuple(int(p) & 0xFFFFFFFF for p in reply.cursor_image[:count])
        return CursorImage(reply.width, reply.height, reply.xhot, reply.yhot, pixels)

    def refresh(self) -> list[str]:
        """Read the current cursor; a frame if it differs from the last one emitted."""
        image = self.read_image()
        if image.width == 0 or image.height == 0:
            return []
        key = image.content_hash()
        if key == self._current:
            return []
        message = self._cache.get(key)
        if message is None:
            if len(self._cache) >= MAX_CACHED_CURSORS:
                oldest = next(k for k in self._cache if k != self._current)
                del self._cache[oldest]
            message = cursor_message(image)
            self._cache[key] = message
        self._current = key
        return [message]

    def handle_x_event(self, event: Event) -> list[str]:
        if (
            event.type == self._cursor_notify_type
            and event.sub_code == xfixes.XFixesDisplayCursorNotify
        ):
            return self.refresh()
        return []
