"""The settings table: one `SettingSpec` per server setting (see settings.py for how
values are parsed and resolved).

The rows follow the "Server Settings" section of the Selkies server README
(seeds/001) in its order, with the same names and defaults, then the settings this
project adds under the same naming scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["bool", "int", "str", "range", "enum", "list", "choice", "addresses", "origins"]
TextRule = Literal["any", "host", "user_id", "existing_file", "absolute_path"]


@dataclass(frozen=True)
class SettingSpec:
    """One row of the settings table.

    `default` is written the way an operator would write the value. `choices` is the
    universe of an enum/list/choice, or for an open enum (`closed=False`) the menu
    offered when the operator gives none. `bounds` limit ints, ranges and numeric enum
    items. `initial` is a range's preferred starting value.
    """

    name: str
    kind: Kind
    default: str
    description: str
    legacy_env: str | None = None
    client_visible: bool = True
    secret: bool = False
    choices: tuple[str, ...] = ()
    closed: bool = True
    numeric_items: bool = False
    bounds: tuple[int, int] | None = None
    initial: int | None = None
    text_rule: TextRule = "any"
    env: str = field(init=False)
    cli: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", "SELKIES_" + self.name.upper())
        object.__setattr__(self, "cli", "--" + self.name.replace("_", "-"))


def _ui(name: str, description: str) -> SettingSpec:
    return SettingSpec(name, "bool", "true", description)


def _flag(name: str, default: bool, description: str, **extra: Any) -> SettingSpec:
    return SettingSpec(name, "bool", "true" if default else "false", description, **extra)


def _range(
    name: str, default: str, initial: int, bounds: tuple[int, int], description: str
) -> SettingSpec:
    return SettingSpec(name, "range", default, description, bounds=bounds, initial=initial)


_PORT_BOUNDS = (1, 65535)
ENCODERS = ("x264enc", "x264enc-striped", "jpeg", "nvh264enc", "vah264enc", "openh264enc")
FILE_TRANSFER_DIRECTIONS = ("upload", "download")
MODES = ("webrtc", "websockets")
VIDEO_SOURCES = ("auto", "display", "xvfb", "synthetic")

SPECS: tuple[SettingSpec, ...] = (
    # --- the seeds/001 table, in its order ---
    SettingSpec("ui_title", "str", "Selkies", "Title in top left corner of sidebar."),
    _ui("ui_show_logo", "Show the Selkies logo in the sidebar."),
    _ui("ui_show_sidebar", "Show the main sidebar UI."),
    _ui("ui_show_core_buttons",
        "Show the core components buttons display, audio, microphone, and gamepad."),
    _ui("ui_sidebar_show_video_settings", "Show the video settings section in the sidebar."),
    _ui("ui_sidebar_show_screen_settings", "Show the screen settings section in the sidebar."),
    _ui("ui_sidebar_show_audio_settings", "Show the audio settings section in the sidebar."),
    _ui("ui_sidebar_show_stats", "Show the stats section in the sidebar."),
    _ui("ui_sidebar_show_clipboard", "Show the clipboard section in the sidebar."),
    _ui("ui_sidebar_show_files", "Show the file transfer section in the sidebar."),
    _ui("ui_sidebar_show_apps", "Show the applications section in the sidebar."),
    _ui("ui_sidebar_show_sharing", "Show the sharing section in the sidebar."),
    _ui("ui_sidebar_show_gamepads", "Show the gamepads section in the sidebar."),
    _ui("ui_sidebar_show_fullscreen", "Show the fullscreen button in the sidebar."),
    _ui("ui_sidebar_show_gaming_mode", "Show the gaming mode button in the sidebar."),
    _ui("ui_sidebar_show_trackpad", "Show the virtual trackpad button in the sidebar."),
    _ui("ui_sidebar_show_keyboard_button",
        "Show the on-screen keyboard button in the display area."),
    _ui("ui_sidebar_show_soft_buttons", "Show the soft buttons section in the sidebar."),
    _flag("audio_enabled", True, "Enable server-to-client audio streaming."),
    _flag("microphone_enabled", True, "Enable client-to-server microphone forwarding."),
    _flag("gamepad_enabled", True, "Enable gamepad support."),
    _flag("clipboard_enabled", True, "Enable clipboard synchronization."),
    _flag("clipboard_in_enabled", True,
          "Enable client-to-server clipboard synchronization "
          "(ignored if SELKIES_CLIPBOARD_ENABLED is false)."),
    _flag("clipboard_out_enabled", True,
          "Enable server-to-client clipboard synchronization "
          "(ignored if SELKIES_CLIPBOARD_ENABLED is false)."),
    _flag("command_enabled", True, "Enable parsing of command websocket messages."),
    SettingSpec("file_transfers", "list", "upload,download",
                'Allowed file transfer directions (comma-separated: "upload,download"). '
                'Set to "" or "none" to disable.',
                choices=FILE_TRANSFER_DIRECTIONS),
    SettingSpec("encoder", "enum", "x264enc",
                "The default video encoder; a comma list offers the others to clients.",
                choices=ENCODERS),
    _range("framerate", "8-120", 60, (1, 240), "Allowed framerate range or a fixed value."),
    _range("h264_crf", "5-50", 25, (0, 51), "Allowed H.264 CRF range or a fixed value."),
    _range("jpeg_quality", "1-100", 40, (1, 100),
           "Allowed JPEG quality range or a fixed value."),
    _flag("h264_fullcolor", False, "Enable H.264 full color range for pixelflux encoders."),
    _flag("h264_streaming_mode", False, "Enable H.264 streaming mode for pixelflux encoders."),
    _flag("use_cpu", False, "Force CPU-based encoding for pixelflux."),
    _flag("use_paint_over_quality", True, "Enable high-quality paint-over for static scenes."),
    _range("paint_over_jpeg_quality", "1-100", 90, (1, 100),
           "Allowed JPEG paint-over quality range or a fixed value."),
    _range("h264_paintover_crf", "5-50", 18, (0, 51),
           "Allowed H.264 paint-over CRF range or a fixed value."),
    _range("h264_paintover_burst_frames", "1-30", 5, (1, 120),
           "Allowed H.264 paint-over burst frames range or a fixed value."),
    _flag("second_screen", True, "Enable support for a second monitor/display."),
    SettingSpec("audio_bitrate", "enum", "320000",
                "The default audio bitrate in bit/s; a comma list offers the others.",
                choices=("32000", "64000", "96000", "128000", "192000", "256000", "320000"),
                closed=False, numeric_items=True, bounds=(6000, 510000)),
    _flag("is_manual_resolution_mode", False,
          "Lock the resolution to the manual width/height values."),
    SettingSpec("manual_width", "int", "0",
                "Lock width to a fixed value. Setting this forces manual resolution mode.",
                bounds=(0, 16384)),
    SettingSpec("manual_height", "int", "0",
                "Lock height to a fixed value. Setting this forces manual resolution mode.",
                bounds=(0, 16384)),
    SettingSpec("scaling_dpi", "enum", "96",
                "The default DPI for UI scaling; a comma list offers the others.",
                choices=("96", "120", "144", "168", "192", "216", "240", "264", "288"),
                closed=False, numeric_items=True, bounds=(48, 480)),
    _flag("enable_binary_clipboard", False, "Allow binary data on the clipboard."),
    _flag("use_browser_cursors", False,
          "Use browser CSS cursors instead of rendering to canvas."),
    _flag("use_css_scaling", False,
          "HiDPI when false, if true a lower resolution is sent from the client "
          "and the canvas is stretched."),
    SettingSpec("port", "int", "8082", "Port for the data websocket server (HTTP, signalling).",
                legacy_env="CUSTOM_WS_PORT", client_visible=False, bounds=_PORT_BOUNDS),
    SettingSpec("control_port", "int", "8083",
                "Port for the internal control plane API, used for managing access tokens "
                "when in secure mode.",
                client_visible=False, bounds=_PORT_BOUNDS),
    SettingSpec("master_token", "str", "",
                "Master token to enable secure mode. If set, clients must authenticate using "
                "tokens provided via the control plane API.",
                client_visible=False, secret=True),
    SettingSpec("dri_node", "str", "", "Path to the DRI render node for VA-API.",
                legacy_env="DRI_NODE", client_visible=False, text_rule="absolute_path"),
    SettingSpec("audio_device_name", "str", "output.monitor",
                "Audio device name for pcmflux capture.", client_visible=False),
    SettingSpec("watermark_path", "str", "", "Absolute path to the watermark PNG file.",
                legacy_env="WATERMARK_PNG", client_visible=False, text_rule="absolute_path"),
    SettingSpec("watermark_location", "int", "-1",
                "Watermark location enum (0-6); -1 places no watermark.",
                legacy_env="WATERMARK_LOCATION", client_visible=False, bounds=(-1, 6)),
    _flag("debug", False, "Enable debug logging.", client_visible=False),
    SettingSpec("wayland_socket_index", "int", "0",
                "Index for the Wayland command socket (e.g. 0 for wayland-0).",
                client_visible=False, bounds=(0, 255)),
    _flag("enable_sharing", True, "Master toggle for all sharing features."),
    _flag("enable_collab", True, "Enable collaborative (read-write) sharing link."),
    _flag("enable_shared", True, "Enable view-only sharing links."),
    _flag("enable_player2", True, "Enable sharing link for gamepad player 2."),
    _flag("enable_player3", True, "Enable sharing link for gamepad player 3."),
    _flag("enable_player4", True, "Enable sharing link for gamepad player 4."),
    # --- settings this project adds, same naming scheme ---
    SettingSpec("mode", "choice", "webrtc",
                "Streaming mode: webrtc (peer connections) or websockets (media over "
                "/api/websockets).",
                choices=MODES),
    SettingSpec("video_source", "choice", "auto",
                "What is streamed: auto ($DISPLAY, else a private Xvfb when Xvfb is "
                "installed, else the synthetic pattern), display ($DISPLAY, required), "
                "xvfb (always a private Xvfb) or synthetic (a moving test pattern).",
                choices=VIDEO_SOURCES, client_visible=False),
    _range("video_bitrate", "500-50000", 8000, (50, 500000),
           "Allowed H.264 bitrate range in kbit/s (constant bitrate), or a fixed value. "
           "The stream starts at constant bitrate unless SELKIES_H264_CRF is given."),
    SettingSpec("addr", "str", "0.0.0.0", "Address the HTTP server binds (IP or host name).",
                client_visible=False, text_rule="host"),
    SettingSpec("webrtc_udp_port", "int", "8082",
                "UDP port of the one socket shared by all WebRTC peers; 0 picks a free port.",
                client_visible=False, bounds=(0, 65535)),
    SettingSpec("ice_addresses", "addresses", "",
                "Comma list of IP addresses offered as ICE host candidates; empty means every "
                "non-loopback address of the machine.",
                client_visible=False),
    SettingSpec("basic_auth_user", "str", "",
                "HTTP basic auth user; with basic_auth_password it guards every route.",
                client_visible=False, text_rule="user_id"),
    SettingSpec("basic_auth_password", "str", "",
                "HTTP basic auth password; with basic_auth_user it guards every route.",
                client_visible=False, secret=True),
    SettingSpec("tls_cert", "str", "",
                "PEM certificate file; with tls_key the server speaks HTTPS.",
                client_visible=False, text_rule="existing_file"),
    SettingSpec("tls_key", "str", "",
                "PEM private key file; with tls_cert the server speaks HTTPS.",
                client_visible=False, secret=True, text_rule="existing_file"),
    SettingSpec("allowed_origins", "origins", "",
                "Comma list of origins (scheme://host[:port]) allowed on WebSockets besides "
                "the serving host; '*' allows any.",
                client_visible=False),
)

SPEC_BY_NAME: Mapping[str, SettingSpec] = {spec.name: spec for spec in SPECS}
