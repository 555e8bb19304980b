"""X11 screen capture: MIT-SHM through libXext (ctypes), core GetImage as fallback,
and the DAMAGE extension to skip static screens.

MIT-SHM (X Consortium MIT-SHM extension 1.2, "XShmGetImage"): the server writes the
ZPixmap image of the root window straight into a System V shared memory segment we
attached (shmget/shmat from libc), so a 1080p frame costs the server one copy and
us one memcpy into an immutable `bytes`. python-xlib speaks the protocol itself and
has no MIT-SHM, so this path goes through libX11/libXext with a display connection
of its own.

Fallback: python-xlib's core `GetImage` request (X11 protocol, request 73), which
streams the pixels over the socket: slower, but works on remote displays where the
server cannot see our memory (XShmAttach fails with BadAccess there).

DAMAGE (X DAMAGE extension 1.1): a damage object on the root window at level
`DamageReportNonEmpty` sends one DamageNotify when the region goes from empty to
non-empty; `DamageSubtract` empties it again and re-arms the notification. A
`poll_damage` round trip (GetInputFocus) guarantees every DamageNotify caused by
requests the server processed before it has arrived, so the answer is exact with
respect to drawing that completed before the call, and it never blocks on drawing
that has not happened.

Both capture paths give BGRX pixels (depth 24 or 32, 32 bits per pixel, LSB-first
byte order), i.e. FFmpeg's "bgr0".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from typing import Any

from Xlib import X
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import damage as xdamage

from .frames import BGRX, BYTES_PER_PIXEL, CaptureError, RawFrame

logger = logging.getLogger(__name__)

_ZPIXMAP = 2
_ALL_PLANES = 0xFFFFFFFF
_IPC_PRIVATE = 0
_IPC_CREAT = 0o1000
_IPC_RMID = 0
_LSB_FIRST = 0


class _XImage(ctypes.Structure):
    # Leading fields of Xlib's XImage (X11/Xlib.h); we only read, never allocate it.
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int),
        ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("bits_per_pixel", ctypes.c_int),
    ]


class _XShmSegmentInfo(ctypes.Structure):
    # X11/extensions/XShm.h
    _fields_ = [
        ("shmseg", ctypes.c_ulong),
        ("shmid", ctypes.c_int),
        ("shmaddr", ctypes.c_void_p),
        ("readOnly", ctypes.c_int),
    ]


class _XErrorEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("resourceid", ctypes.c_ulong),
        ("serial", ctypes.c_ulong),
        ("error_code", ctypes.c_ubyte),
        ("request_code", ctypes.c_ubyte),
        ("minor_code", ctypes.c_ubyte),
    ]


_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_XErrorEvent))


class _Libraries:
    """libX11, libXext and libc with the prototypes we call. Loaded once."""

    _instance: _Libraries | None = None

    def __init__(self) -> None:
        self.x11 = ctypes.CDLL("libX11.so.6")
        self.xext = ctypes.CDLL("libXext.so.6")
        self.libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        x11, xext, libc = self.x11, self.xext, self.libc
        p = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XOpenDisplay.restype = p
        x11.XCloseDisplay.argtypes = [p]
        x11.XDefaultScreen.argtypes = [p]
        x11.XRootWindow.argtypes = [p, ctypes.c_int]
        x11.XRootWindow.restype = ctypes.c_ulong
        x11.XDefaultVisual.argtypes = [p, ctypes.c_int]
        x11.XDefaultVisual.restype = p
        x11.XDefaultDepth.argtypes = [p, ctypes.c_int]
        x11.XGetGeometry.argtypes = [p, ctypes.c_ulong, *[p] * 7]
        x11.XSync.argtypes = [p, ctypes.c_int]
        x11.XSetErrorHandler.argtypes = [p]
        x11.XSetErrorHandler.restype = p
        x11.XFree.argtypes = [p]
        xext.XShmQueryExtension.argtypes = [p]
        xext.XShmCreateImage.argtypes = [
            p,
            p,
            ctypes.c_uint,
            ctypes.c_int,
            p,
            ctypes.POINTER(_XShmSegmentInfo),
            ctypes.c_uint,
            ctypes.c_uint,
        ]
        xext.XShmCreateImage.restype = ctypes.POINTER(_XImage)
        xext.XShmAttach.argtypes = [p, ctypes.POINTER(_XShmSegmentInfo)]
        xext.XShmDetach.argtypes = [p, ctypes.POINTER(_XShmSegmentInfo)]
        xext.XShmGetImage.argtypes = [
            p,
            ctypes.c_ulong,
            ctypes.POINTER(_XImage),
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
        libc.shmat.argtypes = [ctypes.c_int, p, ctypes.c_int]
        libc.shmat.restype = p
        libc.shmdt.argtypes = [p]
        libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, p]

    @classmethod
    def get(cls) -> _Libraries:
        if cls._instance is None:
            try:
                cls._instance = cls()
            except OSError as error:
                raise CaptureError(f"cannot load libX11/libXext: {error}") from error
        return cls._instance


class _ErrorTrap:
    """Xlib's default error handler exits the process; ours records errors per display.

    Xlib error handlers are per process, so one handler is installed on first use and
    kept; each grabber registers its display and collects its own errors.
    """

    _installed: Any = None
    _errors: dict[int, list[tuple[int, int, int]]] = {}

    @classmethod
    def register(cls, libraries: _Libraries, display: int) -> None:
        if cls._installed is None:
            cls._installed = _ERROR_HANDLER(cls._on_error)
            libraries.x11.XSetErrorHandler(ctypes.cast(cls._installed, ctypes.c_void_p))
        cls._errors[display] = []

    @classmethod
    def unregister(cls, display: int) -> None:
        cls._errors.pop(display, None)

    @classmethod
    def _on_error(cls, display: int | None, event: Any) -> int:
        e = event.contents
        cls._errors.setdefault(display or 0, []).append(
            (e.error_code, e.request_code, e.minor_code)
        )
        return 0

    @classmethod
    def take(cls, display: int) -> list[tuple[int, int, int]]:
        errors = cls._errors.get(display, [])
        cls._errors[display] = []
        return errors


class ShmScreenGrabber:
    """XShmGetImage of the root window into one shared segment, reused every frame."""

    def __init__(self, display_name: str | None = None) -> None:
        libs = _Libraries.get()
        self._libs = libs
        name = display_name if display_name is not None else os.environ.get("DISPLAY", "")
        self._display = libs.x11.XOpenDisplay(name.encode())
        if not self._display:
            raise CaptureError(f"cannot open X display {name!r}")
        _ErrorTrap.register(libs, self._display)
        self._image: Any = None
        self._segment = _XShmSegmentInfo()
        self._attached = False
        try:
            if not libs.xext.XShmQueryExtension(self._display):
                raise CaptureError(f"display {name!r} has no MIT-SHM extension")
            self._screen = libs.x11.XDefaultScreen(self._display)
            self._root = libs.x11.XRootWindow(self._display, self._screen)
            self._width, self._height = self._root_size()
            self._allocate()
        except BaseException:
            self.close()
            raise

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    def _root_size(self) -> tuple[int, int]:
        root = ctypes.c_ulong()
        x, y = ctypes.c_int(), ctypes.c_int()
        width, height = ctypes.c_uint(), ctypes.c_uint()
        border, depth = ctypes.c_uint(), ctypes.c_uint()
        status = self._libs.x11.XGetGeometry(
            self._display,
            self._root,
            *(ctypes.byref(v) for v in (root, x, y, width, height, border, depth)),
        )
        if not status:
            raise CaptureError("XGetGeometry of the root window failed")
        return width.value, height.value

    def _allocate(self) -> None:
        libs, display = self._libs, self._display
        depth = libs.x11.XDefaultDepth(display, self._screen)
        visual = libs.x11.XDefaultVisual(display, self._screen)
        image = libs.xext.XShmCreateImage(
            display,
            visual,
            depth,
            _ZPIXMAP,
            None,
            ctypes.byref(self._segment),
            self._width,
            self._height,
        )
        if not image:
            raise CaptureError("XShmCreateImage failed")
        self._image = image
        contents = image.contents
        if contents.bits_per_pixel != 32 or contents.byte_order != _LSB_FIRST:
            raise CaptureError(
                f"unsupported X image layout: {contents.bits_per_pixel} bits per pixel, "
                f"byte order {contents.byte_order} (need 32, LSB first)"
            )
        size = contents.bytes_per_line * contents.height
        shmid = libs.libc.shmget(_IPC_PRIVATE, size, _IPC_CREAT | 0o600)
        if shmid < 0:
            raise CaptureError(f"shmget of {size} bytes failed: errno {ctypes.get_errno()}")
        self._segment.shmid = shmid
        address = libs.libc.shmat(shmid, None, 0)
        if address is None or address == ctypes.c_void_p(-1).value:
            libs.libc.shmctl(shmid, _IPC_RMID, None)
            raise CaptureError(f"shmat failed: errno {ctypes.get_errno()}")
        self._segment.shmaddr = address
        self._segment.readOnly = 0
        contents.data = address
        _ErrorTrap.take(self._display)
        libs.xext.XShmAttach(display, ctypes.byref(self._segment))
        libs.x11.XSync(display, 0)
        # Marked for removal now: the kernel frees it when both we and the server detach,
        # even if this process dies without cleaning up.
        libs.libc.shmctl(shmid, _IPC_RMID, None)
        errors = _ErrorTrap.take(self._display)
        if errors:
            raise CaptureError(f"XShmAttach refused (remote display?): X errors {errors}")
        self._attached = True

    def _release(self) -> None:
        libs = self._libs
        if self._attached:
            libs.xext.XShmDetach(self._display, ctypes.byref(self._segment))
            libs.x11.XSync(self._display, 0)
            self._attached = False
        if self._segment.shmaddr:
            libs.libc.shmdt(self._segment.shmaddr)
            self._segment.shmaddr = None
        if self._image:
            # XDestroyImage is a macro; the image struct is plain Xlib memory and its
            # data (our segment) is already detached, so XFree of the struct is enough.
            libs.x11.XFree(ctypes.cast(self._image, ctypes.c_void_p))
            self._image = None

    def grab(self, now: float) -> RawFrame:
        if not self._display:
            raise CaptureError("capture on a closed ShmScreenGrabber")
        size = self._root_size()
        if size != (self._width, self._height):
            # The screen was resized (RandR): the segment must match the new root size.
            self._release()
            self._width, self._height = size
            self._allocate()
        ok = self._libs.xext.XShmGetImage(self._display, self._root, self._image, 0, 0, _ALL_PLANES)
        errors = _ErrorTrap.take(self._display)
        if not ok or errors:
            raise CaptureError(f"XShmGetImage failed: X errors {errors}")
        contents = self._image.contents
        stride = contents.bytes_per_line
        data = ctypes.string_at(contents.data, stride * self._height)
        return RawFrame(data, self._width, self._height, stride, now, BGRX)

    def close(self) -> None:
        if self._display:
            self._release()
            self._libs.x11.XCloseDisplay(self._display)
            _ErrorTrap.unregister(self._display)
            self._display = None


class XlibScreenGrabber:
    """Core-protocol GetImage through python-xlib: the path that works everywhere."""

    def __init__(self, display_name: str | None = None) -> None:
        try:
            self._display = xdisplay.Display(display_name)
        except (xerror.DisplayError, xerror.XError, OSError) as error:
            raise CaptureError(f"cannot open X display {display_name!r}: {error}") from error
        self._root = self._display.screen().root

    @property
    def width(self) -> int:
        return int(self._root.get_geometry().width)

    @property
    def height(self) -> int:
        return int(self._root.get_geometry().height)

    def grab(self, now: float) -> RawFrame:
        geometry = self._root.get_geometry()
        width, height = int(geometry.width), int(geometry.height)
        try:
            image = self._root.get_image(0, 0, width, height, X.ZPixmap, _ALL_PLANES)
        except xerror.XError as error:
            raise CaptureError(f"GetImage failed: {error}") from error
        data = image.data if isinstance(image.data, bytes) else bytes(image.data)
        if image.depth not in (24, 32) or len(data) < width * height * BYTES_PER_PIXEL:
            raise CaptureError(f"unsupported X image: depth {image.depth}, {len(data)} bytes")
        return RawFrame(data, width, height, len(data) // height, now, BGRX)

    def close(self) -> None:
        self._display.close()


class DamageTracker:
    """Has the root window changed since the last `poll`? Via the DAMAGE extension."""

    def __init__(self, display_name: str | None = None) -> None:
        try:
            self._display = xdisplay.Display(display_name)
        except (xerror.DisplayError, xerror.XError, OSError) as error:
            raise CaptureError(f"cannot open X display {display_name!r}: {error}") from error
        if not self._display.has_extension("DAMAGE"):
            self._display.close()
            raise CaptureError("the X server has no DAMAGE extension")
        self._display.damage_query_version()
        self._damage_event = self._display.extension_event.DamageNotify
        root = self._display.screen().root
        self._damage = root.damage_create(xdamage.DamageReportNonEmpty)
        self._display.sync()

    def poll(self) -> bool:
        """True if anything was drawn since the previous True answer. Never blocks on
        drawing; costs one round trip to the server."""
        self._display.sync()
        damaged = False
        while self._display.pending_events():
            event = self._display.next_event()
            if event.type == self._damage_event:
                damaged = True
        if damaged:
            # Re-arms the notification; damage after this point is reported again, so
            # drawing that races the following capture costs one extra frame, not a loss.
            self._display.damage_subtract(self._damage, X.NONE, X.NONE)
            self._display.flush()
        return damaged

    def close(self) -> None:
        try:
            self._display.damage_destroy(self._damage)
            self._display.flush()
        finally:
            self._display.close()


class X11CaptureSource:
    """A `CaptureSource` for an X11 display: SHM when possible, damage-aware if the
    server has DAMAGE (otherwise every poll reports damage)."""

    def __init__(
        self,
        display_name: str | None = None,
        *,
        use_shm: bool = True,
        use_damage: bool = True,
    ) -> None:
        self._grabber: ShmScreenGrabber | XlibScreenGrabber
        self.shm_failure: str | None = None
        if use_shm:
            try:
                self._grabber = ShmScreenGrabber(display_name)
            except CaptureError as error:
                self.shm_failure = str(error)
                logger.info("X11 capture without MIT-SHM (%s): using core GetImage", error)
                self._grabber = XlibScreenGrabber(display_name)
        else:
            self.shm_failure = "disabled"
            self._grabber = XlibScreenGrabber(display_name)
        self._damage: DamageTracker | None = None
        if use_damage:
            try:
                self._damage = DamageTracker(display_name)
            except CaptureError as error:
                logger.info("X11 capture without DAMAGE (%s): capturing every frame", error)
                self._damage = None
        self._first = True

    @property
    def uses_shm(self) -> bool:
        return isinstance(self._grabber, ShmScreenGrabber)

    @property
    def uses_damage(self) -> bool:
        return self._damage is not None

    @property
    def width(self) -> int:
        return self._grabber.width

    @property
    def height(self) -> int:
        return self._grabber.height

    def poll_damage(self) -> bool:
        if self._damage is None:
            return True
        damaged = self._damage.poll()
        if self._first:
            self._first = False
            return True
        return damaged

    def capture(self, now: float) -> RawFrame:
        return self._grabber.grab(now)

    def close(self) -> None:
        try:
            if self._damage is not None:
                self._damage.close()
        finally:
            self._grabber.close()


__all__ = ["DamageTracker", "ShmScreenGrabber", "X11CaptureSource", "XlibScreenGrabber"]
