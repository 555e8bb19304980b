"""Choosing the screen source: the X11 display when there is one, else the synthetic
pattern (the no-display default, also used for latency measurements)."""

from __future__ import annotations

import logging
import os

from .capture_synthetic import SyntheticSource
from .capture_x11 import X11CaptureSource
from .frames import CaptureError, CaptureSource

logger = logging.getLogger(__name__)

DEFAULT_SYNTHETIC_SIZE = (1280, 720)


def open_capture_source(
    display_name: str | None = None,
    *,
    synthetic_size: tuple[int, int] = DEFAULT_SYNTHETIC_SIZE,
    use_shm: bool = True,
    use_damage: bool = True,
) -> CaptureSource:
    """The X11 display `display_name` (default `$DISPLAY`) if it opens, otherwise a
    `SyntheticSource` of `synthetic_size`; one log line says which and why."""
    name = display_name if display_name is not None else os.environ.get("DISPLAY")
    if name:
        try:
            source = X11CaptureSource(name, use_shm=use_shm, use_damage=use_damage)
        except CaptureError as error:
            logger.warning(
                "display %s unavailable (%s): streaming a synthetic pattern", name, error
            )
        else:
            logger.info(
                "capturing X11 display %s (%dx%d, %s, %s)",
                name,
                source.width,
                source.height,
                "MIT-SHM" if source.uses_shm else f"GetImage: {source.shm_failure}",
                "damage-aware" if source.uses_damage else "no DAMAGE",
            )
            return source
    else:
        logger.info("no X display: streaming a synthetic pattern")
    width, height = synthetic_size
    return SyntheticSource(width, height)


__all__ = ["DEFAULT_SYNTHETIC_SIZE", "open_capture_source"]
