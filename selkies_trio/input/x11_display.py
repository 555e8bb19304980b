"""Screen size through RandR 1.2+ and DPI through the Xft.dpi resource.

Resize (RandR protocol 1.5, sections "Mode" and "CRTC"): find a mode of the asked
size on the first connected output; if there is none, CreateMode with CVT-like
timings and AddOutputMode it. Then point the CRTC at the mode, with the screen
grown to cover both the old and the new CRTC before and shrunk to the target
after, because a CRTC may never scan out beyond the screen (BadMatch): a resize
that grows one side and shrinks the other needs both steps.

DPI: X clients (Xft, GTK, Qt) read `Xft.dpi` from the RESOURCE_MANAGER property
of the root window (Xlib, "Resource Manager Functions"); we rewrite that one
line and keep every other resource.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from Xlib import X, Xatom
from Xlib.display import Display
from Xlib.error import CatchError
from Xlib.ext import randr
from Xlib.protocol import rq

log = logging.getLogger(__name__)

REFRESH_HZ = 60
MM_PER_INCH = 25.4
# Names the modes we create, so that they (and only they) are ever deleted.
MODE_SUFFIX = "_selkies"


class _AddOutputMode(rq.Request):  # type: ignore[misc]
    # python-xlib 0.33 declares this request with fields of SetCrtcConfig; RandR
    # 1.2 defines it as just (output, mode).
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(18),
        rq.RequestLength(),
        rq.Card32("output"),
        rq.Card32("mode"),
    )


@dataclass(frozen=True)
class ResizeResult:
    width: int
    height: int
    created_mode: bool


class X11DisplayControl:
    def __init__(self, display: Display) -> None:
        self._display = display
        self._root = display.screen().root
        self._randr = display.has_extension("RANDR")

    @property
    def size(self) -> tuple[int, int]:
        geometry = self._root.get_geometry()
        return geometry.width, geometry.height

    def size_range(self) -> tuple[int, int, int, int]:
        """(min_width, min_height, max_width, max_height) the screen accepts."""
        reply = self._root.xrandr_get_screen_size_range()
        return reply.min_width, reply.min_height, reply.max_width, reply.max_height

    def resize(self, width: int, height: int) -> ResizeResult | None:
        """Make the screen `width`x`height`; None (logged) when the server cannot."""
        if not self._randr:
            log.warning("resize to %dx%d impossible: no RANDR extension", width, height)
            return None
        min_w, min_h, max_w, max_h = self.size_range()
        if not (min_w <= width <= max_w and min_h <= height <= max_h):
            log.warning(
                "resize to %dx%d refused: screen accepts %dx%d..%dx%d",
                width, height, min_w, min_h, max_w, max_h,
            )
            return None
        resources = self._root.xrandr_get_screen_resources()
        output, crtc = self._connected_output(resources)
        if output is None or crtc is None:
            log.warning("resize impossible: no connected output with a CRTC")
            return None
        mode = next(
            (m.id for m in resources.modes if (m.width, m.height) == (width, height)), None
        )
        created = mode is None
        if mode is None:
            mode = self._create_mode(width, height)
            catcher = CatchError()
            _AddOutputMode(
                display=self._display.display,
                opcode=self._display.display.get_extension_major(randr.extname),
                output=output,
                mode=mode,
                onerror=catcher,
            )
            self._display.sync()
            if catcher.get_error():
                log.warning("AddOutputMode %dx%d failed: %s", width, height, catcher.get_error())
                return None
        current_w, current_h = self.size
        # Both the old and the new CRTC size must fit the screen at every step, so
        # the screen first covers both (each side at its larger value), then the
        # CRTC switches, then the screen shrinks to the target.
        cover = (max(current_w, width), max(current_h, height))
        if cover != (current_w, current_h) and not self._set_screen_size(*cover):
            return None
        reply = self._display.xrandr_set_crtc_config(
            crtc, resources.config_timestamp, 0, 0, mode, randr.Rotate_0, [output]
        )
        if reply.status != randr.SetConfigSuccess:
            log.warning("SetCrtcConfig %dx%d failed with status %d", width, height, reply.status)
            if cover != (current_w, current_h):
                self._set_screen_size(current_w, current_h)
            return None
        if cover != (width, height) and not self._set_screen_size(width, height):
            return None
        self._delete_unused_modes(keep=mode)
        return ResizeResult(width, height, created)

    def _delete_unused_modes(self, keep: int) -> None:
        """Destroy the modes we created that no CRTC shows any more.

        Ours are recognised by name, so those of an earlier run (or of an XInput
        that lost its connection) go too; the server's own modes are never touched.
        Without this every distinct browser window size would leave a mode behind.
        """
        resources = self._root.xrandr_get_screen_resources()
        timestamp = resources.config_timestamp
        in_use = {keep}
        for crtc in resources.crtcs:
            in_use.add(self._display.xrandr_get_crtc_info(crtc, timestamp).mode)
        names = _mode_names(resources)
        ours = {
            m.id for m in resources.modes
            if names.get(m.id, "").endswith(MODE_SUFFIX) and m.id not in in_use
        }
        if not ours:
            return
        catcher = CatchError()
        opcode = self._display.display.get_extension_major(randr.extname)
        for output in resources.outputs:
            listed = self._display.xrandr_get_output_info(output, timestamp).modes
            for mode in ours.intersection(listed):
                randr.DeleteOutputMode(display=self._display.display, opcode=opcode,
                                       output=output, mode=mode, onerror=catcher)
        for mode in ours:
            randr.DestroyMode(display=self._display.display, opcode=opcode, mode=mode,
                              onerror=catcher)
        self._display.sync()
        if catcher.get_error():
            # Another client may have started using one in between; it stays.
            log.info("deleting unused modes: %s", catcher.get_error())

    def _connected_output(self, resources: rq.DictWrapper) -> tuple[int | None, int | None]:
        for output in resources.outputs:
            info = self._display.xrandr_get_output_info(output, resources.config_timestamp)
            if info.connection != randr.Connected:
                continue
            crtc = info.crtc or (info.crtcs[0] if info.crtcs else None)
            return output, crtc
        return None, None

    def _create_mode(self, width: int, height: int) -> int:
        # Blanking in the spirit of CVT reduced blanking; only the visible size
        # matters to a virtual framebuffer, real outputs get plausible timings.
        h_total = width + 160
        v_total = height + 30
        name = f"{width}x{height}{MODE_SUFFIX}"
        info = {
            "id": 0,
            "width": width,
            "height": height,
            "dot_clock": h_total * v_total * REFRESH_HZ,
            "h_sync_start": width + 48,
            "h_sync_end": width + 80,
            "h_total": h_total,
            "h_skew": 0,
            "v_sync_start": height + 3,
            "v_sync_end": height + 8,
            "v_total": v_total,
            "name_length": len(name),
            "flags": randr.HSyncPositive | randr.VSyncNegative,
        }
        return int(self._root.xrandr_create_mode(info, name).mode)

    def _set_screen_size(self, width: int, height: int) -> bool:
        dpi = 96.0
        catcher = CatchError()
        randr.SetScreenSize(
            display=self._display.display,
            opcode=self._display.display.get_extension_major(randr.extname),
            window=self._root,
            width=width,
            height=height,
            width_in_millimeters=round(width * MM_PER_INCH / dpi),
            height_in_millimeters=round(height * MM_PER_INCH / dpi),
            onerror=catcher,
        )
        self._display.sync()
        if catcher.get_error():
            log.warning("SetScreenSize %dx%d failed: %s", width, height, catcher.get_error())
            return False
        return True

    def read_resources(self) -> str:
        prop = self._root.get_full_property(Xatom.RESOURCE_MANAGER, X.AnyPropertyType)
        if prop is None:
            return ""
        value = prop.value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    def set_dpi(self, dpi: int) -> None:
        """Set Xft.dpi in RESOURCE_MANAGER, keeping the other resources."""
        lines = [
            line
            for line in self.read_resources().splitlines()
            if line and not line.replace(" ", "").startswith("Xft.dpi:")
        ]
        lines.append(f"Xft.dpi:\t{dpi}")
        data = ("\n".join(lines) + "\n").encode("utf-8")
        self._root.change_property(Xatom.RESOURCE_MANAGER, Xatom.STRING, 8, data)
        # A round trip, so applications that read the property after we answer the
        # client see the new value (rare enough that the latency does not matter).
        self._display.sync()


def _mode_names(resources: rq.DictWrapper) -> dict[int, str]:
    """Mode id -> name; GetScreenResources packs all names into one string."""
    names: dict[int, str] = {}
    packed = resources.mode_names
    if isinstance(packed, bytes):
        packed = packed.decode("latin-1")
    offset = 0
    for mode in resources.modes:
        names[mode.id] = str(packed[offset : offset + mode.name_length])
        offset += mode.name_length
    return names


def dpi_for_scale(scale: float) -> int:
    """Xft.dpi for a client device-pixel ratio: 96 per unit of scale."""
    return round(96 * scale)
