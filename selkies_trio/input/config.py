"""The few server settings the input layer obeys (a slice of settings.py, kept local
so that this package does not depend on how the full settings table is built)."""

from __future__ import annotations

from dataclasses import dataclass

# Payload caps: a clipboard bigger than this is refused in either direction rather
# than held in memory or pushed down a data channel.
DEFAULT_CLIPBOARD_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class InputConfig:
    clipboard_enabled: bool = True
    clipboard_in_enabled: bool = True
    clipboard_out_enabled: bool = True
    enable_binary_clipboard: bool = False
    command_enabled: bool = True
    # SELKIES_GAMEPAD_ENABLED: with it false, `js` messages are dropped here, not
    # just hidden in the client UI.
    gamepad_enabled: bool = True
    is_manual_resolution_mode: bool = False
    # The screen size manual resolution mode holds (seeds/001: 1024x768 unless given).
    manual_size: tuple[int, int] = (1024, 768)
    scaling_dpi: int = 96
    # SELKIES_SCALING_DPI given as one value: clients' `s,` and SETTINGS leave Xft.dpi
    # at `scaling_dpi`.
    scaling_dpi_locked: bool = False
    # The DPIs a client may pick with SETTINGS (the setting's list); empty allows any.
    scaling_dpi_allowed: tuple[int, ...] = ()
    clipboard_max_bytes: int = DEFAULT_CLIPBOARD_MAX_BYTES
    # With held-key heartbeats (`kh`) seen, a key not refreshed for this long is
    # considered stuck (the client vanished mid-press) and released.
    held_key_timeout: float = 3.0

    @property
    def clipboard_in(self) -> bool:
        """Client-to-server clipboard: the master switch gates the direction switch."""
        return self.clipboard_enabled and self.clipboard_in_enabled

    @property
    def clipboard_out(self) -> bool:
        return self.clipboard_enabled and self.clipboard_out_enabled
