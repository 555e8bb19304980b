"""The settings table and its resolution rules (seeds/001 "Server Settings")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies

from selkies_trio.settings import (
    SPEC_BY_NAME,
    SPECS,
    Settings,
    SettingsError,
    resolve,
)

# The "Available Settings" table of seeds/001, row by row: env, CLI flag, default.
SEED_TABLE = [
    ("SELKIES_UI_TITLE", "--ui-title", "Selkies"),
    ("SELKIES_UI_SHOW_LOGO", "--ui-show-logo", "True"),
    ("SELKIES_UI_SHOW_SIDEBAR", "--ui-show-sidebar", "True"),
    ("SELKIES_UI_SHOW_CORE_BUTTONS", "--ui-show-core-buttons", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_VIDEO_SETTINGS", "--ui-sidebar-show-video-settings", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_SCREEN_SETTINGS", "--ui-sidebar-show-screen-settings", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_AUDIO_SETTINGS", "--ui-sidebar-show-audio-settings", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_STATS", "--ui-sidebar-show-stats", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_CLIPBOARD", "--ui-sidebar-show-clipboard", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_FILES", "--ui-sidebar-show-files", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_APPS", "--ui-sidebar-show-apps", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_SHARING", "--ui-sidebar-show-sharing", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_GAMEPADS", "--ui-sidebar-show-gamepads", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_FULLSCREEN", "--ui-sidebar-show-fullscreen", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_GAMING_MODE", "--ui-sidebar-show-gaming-mode", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_TRACKPAD", "--ui-sidebar-show-trackpad", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_KEYBOARD_BUTTON", "--ui-sidebar-show-keyboard-button", "True"),
    ("SELKIES_UI_SIDEBAR_SHOW_SOFT_BUTTONS", "--ui-sidebar-show-soft-buttons", "True"),
    ("SELKIES_AUDIO_ENABLED", "--audio-enabled", "True"),
    ("SELKIES_MICROPHONE_ENABLED", "--microphone-enabled", "True"),
    ("SELKIES_GAMEPAD_ENABLED", "--gamepad-enabled", "True"),
    ("SELKIES_CLIPBOARD_ENABLED", "--clipboard-enabled", "True"),
    ("SELKIES_CLIPBOARD_IN_ENABLED", "--clipboard-in-enabled", "True"),
    ("SELKIES_CLIPBOARD_OUT_ENABLED", "--clipboard-out-enabled", "True"),
    ("SELKIES_COMMAND_ENABLED", "--command-enabled", "True"),
    ("SELKIES_FILE_TRANSFERS", "--file-transfers", "upload,download"),
    ("SELKIES_ENCODER", "--encoder", "x264enc"),
    ("SELKIES_FRAMERATE", "--framerate", "8-120"),
    ("SELKIES_H264_CRF", "--h264-crf", "5-50"),
    ("SELKIES_JPEG_QUALITY", "--jpeg-quality", "1-100"),
    ("SELKIES_H264_FULLCOLOR", "--h264-fullcolor", "False"),
    ("SELKIES_H264_STREAMING_MODE", "--h264-streaming-mode", "False"),
    ("SELKIES_USE_CPU", "--use-cpu", "False"),
    ("SELKIES_USE_PAINT_OVER_QUALITY", "--use-paint-over-quality", "True"),
    ("SELKIES_PAINT_OVER_JPEG_QUALITY", "--paint-over-jpeg-quality", "1-100"),
    ("SELKIES_H264_PAINTOVER_CRF", "--h264-paintover-crf", "5-50"),
    ("SELKIES_H264_PAINTOVER_BURST_FRAMES", "--h264-paintover-burst-frames", "1-30"),
    ("SELKIES_SECOND_SCREEN", "--second-screen", "True"),
    ("SELKIES_AUDIO_BITRATE", "--audio-bitrate", "320000"),
    ("SELKIES_IS_MANUAL_RESOLUTION_MODE", "--is-manual-resolution-mode", "False"),
    ("SELKIES_MANUAL_WIDTH", "--manual-width", "0"),
    ("SELKIES_MANUAL_HEIGHT", "--manual-height", "0"),
    ("SELKIES_SCALING_DPI", "--scaling-dpi", "96"),
    ("SELKIES_ENABLE_BINARY_CLIPBOARD", "--enable-binary-clipboard", "False"),
    ("SELKIES_USE_BROWSER_CURSORS", "--use-browser-cursors", "False"),
    ("SELKIES_USE_CSS_SCALING", "--use-css-scaling", "False"),
    ("SELKIES_PORT", "--port", "8082"),
    ("SELKIES_CONTROL_PORT", "--control-port", "8083"),
    ("SELKIES_MASTER_TOKEN", "--master-token", ""),
    ("SELKIES_DRI_NODE", "--dri-node", ""),
    ("SELKIES_AUDIO_DEVICE_NAME", "--audio-device-name", "output.monitor"),
    ("SELKIES_WATERMARK_PATH", "--watermark-path", ""),
    ("SELKIES_WATERMARK_LOCATION", "--watermark-location", "-1"),
    ("SELKIES_DEBUG", "--debug", "False"),
    ("SELKIES_WAYLAND_SOCKET_INDEX", "--wayland-socket-index", "0"),
    ("SELKIES_ENABLE_SHARING", "--enable-sharing", "True"),
    ("SELKIES_ENABLE_COLLAB", "--enable-collab", "True"),
    ("SELKIES_ENABLE_SHARED", "--enable-shared", "True"),
    ("SELKIES_ENABLE_PLAYER2", "--enable-player2", "True"),
    ("SELKIES_ENABLE_PLAYER3", "--enable-player3", "True"),
    ("SELKIES_ENABLE_PLAYER4", "--enable-player4", "True"),
]
SEED_LEGACY = {
    "SELKIES_PORT": "CUSTOM_WS_PORT",
    "SELKIES_DRI_NODE": "DRI_NODE",
    "SELKIES_WATERMARK_PATH": "WATERMARK_PNG",
    "SELKIES_WATERMARK_LOCATION": "WATERMARK_LOCATION",
}
PROJECT_SETTINGS = {
    "mode": "webrtc",
    "video_source": "auto",
    "video_bitrate": "500-50000",
    "addr": "0.0.0.0",
    "webrtc_udp_port": "8082",
    "ice_addresses": "",
    "basic_auth_user": "",
    "basic_auth_password": "",
    "tls_cert": "",
    "tls_key": "",
    "allowed_origins": "",
}
SECRETS = {"master_token", "basic_auth_password", "tls_key"}


def _error(cli: dict[str, str] | None = None, /, **environ: str) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        resolve(cli or {}, environ)
    return caught.value


# --- the table itself -----------------------------------------------------------------------


def test_every_seed_row_is_in_the_table_with_its_names_and_default() -> None:
    by_env = {spec.env: spec for spec in SPECS}
    for env, flag, default in SEED_TABLE:
        spec = by_env[env]
        assert spec.cli == flag
        assert spec.default.lower() == default.lower()
        assert spec.legacy_env == SEED_LEGACY.get(env)
    seed_envs = {env for env, _, _ in SEED_TABLE}
    extra = {spec.name: spec.default for spec in SPECS if spec.env not in seed_envs}
    assert extra == PROJECT_SETTINGS


def test_names_follow_the_naming_convention() -> None:
    for spec in SPECS:
        assert spec.env == "SELKIES_" + spec.name.upper()
        assert spec.cli == "--" + spec.name.replace("_", "-")
    assert len({spec.name for spec in SPECS}) == len(SPECS)


def test_secrets_are_never_client_visible() -> None:
    assert {spec.name for spec in SPECS if spec.secret} == SECRETS
    assert all(not spec.client_visible for spec in SPECS if spec.secret)


def test_every_setting_has_a_declared_attribute_type_matching_its_kind() -> None:
    expected = {
        "bool": "bool",
        "int": "int",
        "str": "str",
        "range": "int",
        "list": "tuple[str, ...]",
        "choice": "str",
        "addresses": "tuple[str, ...]",
        "origins": "tuple[str, ...]",
    }
    annotations = Settings.__annotations__
    for spec in SPECS:
        wanted = ("int" if spec.numeric_items else "str") if spec.kind == "enum" else (
            expected[spec.kind]
        )
        assert annotations[spec.name] == wanted, spec.name
        assert not callable(getattr(Settings, spec.name, None)), "name collides with a method"


def test_defaults_resolve_to_typed_values() -> None:
    resolved = resolve({}, {})
    assert resolved.port == 8082
    assert resolved.control_port == 8083
    assert resolved.webrtc_udp_port == 8082
    assert resolved.audio_enabled is True
    assert resolved.use_cpu is False
    assert resolved.encoder == "x264enc"
    assert resolved.allowed("encoder") == (
        "x264enc", "x264enc-striped", "jpeg", "nvh264enc", "vah264enc", "openh264enc",
    )
    assert not resolved.is_locked("encoder")
    assert (resolved.framerate, resolved.range("framerate")) == (60, (8, 120))
    assert (resolved.h264_crf, resolved.range("h264_crf")) == (25, (5, 50))
    assert (resolved.jpeg_quality, resolved.range("jpeg_quality")) == (40, (1, 100))
    assert resolved.range("h264_paintover_burst_frames") == (1, 30)
    assert resolved.audio_bitrate == 320000
    assert resolved.scaling_dpi == 96
    assert resolved.file_transfers == ("upload", "download")
    assert resolved.watermark_location == -1
    assert resolved.mode == "webrtc"
    assert resolved.addr == "0.0.0.0"
    assert resolved.ice_addresses == ()
    assert resolved.allowed_origins == ()
    assert resolved.ui_title == "Selkies"
    assert resolved.audio_device_name == "output.monitor"
    assert not resolved.secure_mode
    assert not resolved.tls_enabled
    assert not resolved.basic_auth_enabled
    assert all(resolved.source(spec.name) == "default" for spec in SPECS)


# --- precedence -----------------------------------------------------------------------------

PRECEDENCE_CASES = [
    # (setting, cli, SELKIES_ env, legacy env, expected value, expected source)
    ("port", None, None, None, 8082, "default"),
    ("port", None, None, "8888", 8888, "legacy"),
    ("port", None, "9000", "8888", 9000, "env"),
    ("port", "9100", "9000", "8888", 9100, "cli"),
    ("port", "9100", None, "8888", 9100, "cli"),
    ("dri_node", None, None, None, "", "default"),
    ("dri_node", None, None, "/dev/dri/renderD129", "/dev/dri/renderD129", "legacy"),
    ("dri_node", None, "/dev/dri/renderD128", "/dev/dri/renderD129", "/dev/dri/renderD128",
     "env"),
    ("dri_node", "/dev/dri/card0", "/dev/dri/renderD128", "/dev/dri/renderD129",
     "/dev/dri/card0", "cli"),
    ("watermark_path", None, None, "/srv/legacy.png", "/srv/legacy.png", "legacy"),
    ("watermark_path", None, "/srv/new.png", "/srv/legacy.png", "/srv/new.png", "env"),
    ("watermark_path", "/srv/cli.png", "/srv/new.png", "/srv/legacy.png", "/srv/cli.png", "cli"),
    ("watermark_location", None, None, None, -1, "default"),
    ("watermark_location", None, None, "3", 3, "legacy"),
    ("watermark_location", None, "5", "3", 5, "env"),
    ("watermark_location", "0", "5", "3", 0, "cli"),
    # An empty SELKIES_ variable is still given: it wins over the legacy one.
    ("dri_node", None, "", "/dev/dri/renderD129", "", "env"),
    ("framerate", None, "30", None, 30, "env"),
    ("framerate", "24", "30", None, 24, "cli"),
]


@pytest.mark.parametrize(
    ("name", "cli", "env", "legacy", "expected", "source"), PRECEDENCE_CASES
)
def test_precedence_cli_then_selkies_env_then_legacy_env_then_default(
    name: str, cli: str | None, env: str | None, legacy: str | None, expected: Any, source: str
) -> None:
    spec = SPEC_BY_NAME[name]
    environ: dict[str, str] = {}
    if env is not None:
        environ[spec.env] = env
    if legacy is not None:
        assert spec.legacy_env is not None
        environ[spec.legacy_env] = legacy
    resolved = resolve({name: cli}, environ)
    assert resolved.value(name) == expected
    assert getattr(resolved, name) == expected
    assert resolved.source(name) == source


def test_cli_none_means_not_given_and_unrelated_keys_are_ignored() -> None:
    resolved = resolve(
        {"port": None, "command": "serve", "func": print}, {"SELKIES_PORT": "9000"}
    )
    assert resolved.port == 9000


# --- booleans -------------------------------------------------------------------------------

BOOL_CASES = [
    ("true", True, False),
    ("false", False, False),
    ("TRUE", True, False),
    ("False", False, False),
    ("1", True, False),
    ("0", False, False),
    ("yes", True, False),
    ("No", False, False),
    ("on", True, False),
    ("OFF", False, False),
    ("true|locked", True, True),
    ("false|locked", False, True),
    ("FALSE|LOCKED", False, True),
    (" true | locked ", True, True),
]


@pytest.mark.parametrize(("text", "value", "locked"), BOOL_CASES)
def test_booleans_and_locking(text: str, value: bool, locked: bool) -> None:
    resolved = resolve({}, {"SELKIES_USE_CPU": text})
    assert resolved.use_cpu is value
    assert resolved.is_locked("use_cpu") is locked
    assert resolved.client_payload()["use_cpu"] == {"value": value, "locked": locked}


# --- ranges ---------------------------------------------------------------------------------

RANGE_CASES = [
    # (setting, text, value, range, locked)
    ("framerate", "8-120", 60, (8, 120), False),
    ("framerate", "30-45", 45, (30, 45), False),
    ("framerate", "70-100", 70, (70, 100), False),
    ("framerate", "60", 60, (60, 60), True),
    ("framerate", "25", 25, (25, 25), True),
    ("framerate", "60-60", 60, (60, 60), True),
    ("framerate", " 10 - 20 ", 20, (10, 20), False),
    ("framerate", "1-240", 60, (1, 240), False),
    ("h264_crf", "5-50", 25, (5, 50), False),
    ("h264_crf", "30-40", 30, (30, 40), False),
    ("h264_crf", "0", 0, (0, 0), True),
    ("jpeg_quality", "50-90", 50, (50, 90), False),
    ("paint_over_jpeg_quality", "1-100", 90, (1, 100), False),
    ("h264_paintover_crf", "20-30", 20, (20, 30), False),
    ("h264_paintover_burst_frames", "1-30", 5, (1, 30), False),
]


@pytest.mark.parametrize(("name", "text", "value", "span", "locked"), RANGE_CASES)
def test_ranges_and_fixed_values(
    name: str, text: str, value: int, span: tuple[int, int], locked: bool
) -> None:
    resolved = resolve({name: text}, {})
    assert resolved.value(name) == value
    assert resolved.range(name) == span
    assert resolved.is_locked(name) is locked
    entry = resolved.client_payload()[name]
    assert entry == {"value": value, "locked": locked, "min": span[0], "max": span[1],
                     "default": value}


# --- enums and lists ------------------------------------------------------------------------

ENUM_CASES = [
    ("encoder", "jpeg", "jpeg", ("jpeg",), True),
    ("encoder", "jpeg,x264enc", "jpeg", ("jpeg", "x264enc"), False),
    ("encoder", "x264enc-striped, jpeg", "x264enc-striped", ("x264enc-striped", "jpeg"), False),
    ("encoder", "JPEG,jpeg", "jpeg", ("jpeg",), True),
    ("encoder", "openh264enc,vah264enc,nvh264enc", "openh264enc",
     ("openh264enc", "vah264enc", "nvh264enc"), False),
    ("audio_bitrate", "128000,64000", 128000, (128000, 64000), False),
    ("audio_bitrate", "96000", 96000, (96000,), True),
    ("scaling_dpi", "144,96,192", 144, (144, 96, 192), False),
    ("scaling_dpi", "100", 100, (100,), True),
]


@pytest.mark.parametrize(("name", "text", "value", "allowed", "locked"), ENUM_CASES)
def test_enums_first_item_is_default_one_item_locks(
    name: str, text: str, value: Any, allowed: tuple[Any, ...], locked: bool
) -> None:
    resolved = resolve({}, {SPEC_BY_NAME[name].env: text})
    assert resolved.value(name) == value
    assert resolved.allowed(name) == allowed
    assert resolved.is_locked(name) is locked
    assert resolved.client_payload()[name] == {
        "value": value, "locked": locked, "allowed": list(allowed), "default": value,
    }


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ("upload,download", ("upload", "download")),
        ("download", ("download",)),
        ("Upload", ("upload",)),
        ("download,upload,download", ("download", "upload")),
        ("", ()),
        ("none", ()),
        ("NONE", ()),
        ("  ", ()),
    ],
)
def test_file_transfers_list(text: str, enabled: tuple[str, ...]) -> None:
    resolved = resolve({}, {"SELKIES_FILE_TRANSFERS": text})
    assert resolved.file_transfers == enabled
    assert resolved.client_payload()["file_transfers"]["value"] == list(enabled)


@pytest.mark.parametrize(("text", "mode"), [("webrtc", "webrtc"), ("WebSockets", "websockets")])
def test_mode_choice(text: str, mode: str) -> None:
    assert resolve({"mode": text}, {}).mode == mode


def test_ice_addresses_are_normalised_ip_literals() -> None:
    resolved = resolve({}, {"SELKIES_ICE_ADDRESSES": "127.0.0.1, 2001:DB8:0::1,127.0.0.1"})
    assert resolved.ice_addresses == ("127.0.0.1", "2001:db8::1")


def test_allowed_origins_are_normalised() -> None:
    resolved = resolve(
        {}, {"SELKIES_ALLOWED_ORIGINS": "HTTPS://Example.COM:8443, http://[::1]:8080/,*"}
    )
    assert resolved.allowed_origins == ("https://example.com:8443", "http://[::1]:8080", "*")


@pytest.mark.parametrize("addr", ["0.0.0.0", "127.0.0.1", "::", "localhost", "my-host.example"])
def test_bind_address_accepts_ip_literals_and_host_names(addr: str) -> None:
    assert resolve({"addr": addr}, {}).addr == addr


# --- manual resolution ----------------------------------------------------------------------

MANUAL_CASES = [
    # (environ, manual mode, width, height, locked)
    ({}, False, 0, 0, False),
    ({"SELKIES_IS_MANUAL_RESOLUTION_MODE": "false"}, False, 0, 0, False),
    ({"SELKIES_IS_MANUAL_RESOLUTION_MODE": "true"}, True, 1024, 768, True),
    ({"SELKIES_MANUAL_WIDTH": "1920", "SELKIES_MANUAL_HEIGHT": "1080"}, True, 1920, 1080, True),
    ({"SELKIES_MANUAL_WIDTH": "1920"}, True, 1920, 768, True),
    ({"SELKIES_MANUAL_HEIGHT": "600"}, True, 1024, 600, True),
    (
        {"SELKIES_IS_MANUAL_RESOLUTION_MODE": "false", "SELKIES_MANUAL_WIDTH": "800"},
        True, 800, 768, True,
    ),
    ({"SELKIES_IS_MANUAL_RESOLUTION_MODE": "false|locked"}, False, 0, 0, True),
    ({"SELKIES_MANUAL_WIDTH": "0", "SELKIES_MANUAL_HEIGHT": "0"}, False, 0, 0, False),
]


@pytest.mark.parametrize(("environ", "manual", "width", "height", "locked"), MANUAL_CASES)
def test_manual_resolution_rules(
    environ: dict[str, str], manual: bool, width: int, height: int, locked: bool
) -> None:
    resolved = resolve({}, environ)
    assert resolved.is_manual_resolution_mode is manual
    assert (resolved.manual_width, resolved.manual_height) == (width, height)
    for name in ("is_manual_resolution_mode", "manual_width", "manual_height"):
        assert resolved.is_locked(name) is locked
    payload = resolved.client_payload()
    assert payload["is_manual_resolution_mode"] == {"value": manual, "locked": locked}
    assert payload["manual_width"] == {"value": width, "locked": locked}


# --- client payload -------------------------------------------------------------------------


def test_client_payload_leaves_out_secrets_and_server_side_settings(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    key = tmp_path / "secret-key-file.pem"
    cert.write_text("cert")
    key.write_text("key")
    resolved = resolve(
        {"tls_cert": str(cert), "tls_key": str(key)},
        {
            "SELKIES_MASTER_TOKEN": "master-token-value-xyz",
            "SELKIES_BASIC_AUTH_USER": "alice",
            "SELKIES_BASIC_AUTH_PASSWORD": "password-value-xyz",
        },
    )
    payload = resolved.client_payload()
    text = json.dumps(payload)
    for secret in ("master-token-value-xyz", "password-value-xyz", "secret-key-file"):
        assert secret not in text
    for name in SECRETS:
        assert name not in payload
    assert set(payload) == {spec.name for spec in SPECS if spec.client_visible}
    assert "port" not in payload and "basic_auth_user" not in payload
    assert resolved.secure_mode and resolved.tls_enabled and resolved.basic_auth_enabled
    assert "master-token-value-xyz" not in repr(resolved)
    assert "password-value-xyz" not in repr(resolved)


def test_client_payload_shapes() -> None:
    payload = resolve({}, {"SELKIES_ENCODER": "jpeg,x264enc"}).client_payload()
    assert payload["ui_title"] == {"value": "Selkies", "locked": True}
    assert payload["audio_enabled"] == {"value": True, "locked": False}
    assert payload["framerate"] == {"value": 60, "locked": False, "min": 8, "max": 120,
                                    "default": 60}
    assert payload["encoder"] == {"value": "jpeg", "locked": False,
                                  "allowed": ["jpeg", "x264enc"], "default": "jpeg"}
    assert payload["file_transfers"] == {"value": ["upload", "download"], "locked": True,
                                         "allowed": ["upload", "download"]}
    assert payload["mode"]["value"] == "webrtc"
    assert json.loads(json.dumps(payload)) == payload


# --- bad values -----------------------------------------------------------------------------

BAD_VALUES = [
    ("use_cpu", "maybe"),
    ("use_cpu", "true|unlocked"),
    ("use_cpu", "true|"),
    ("use_cpu", ""),
    ("audio_enabled", "2"),
    ("port", "abc"),
    ("port", "0"),
    ("port", "65536"),
    ("port", "80.5"),
    ("port", ""),
    ("port", "1_000"),
    ("port", "\u0663"),
    ("port", "9" * 5000),
    ("control_port", "-1"),
    ("webrtc_udp_port", "65536"),
    ("webrtc_udp_port", "-1"),
    ("manual_width", "-640"),
    ("manual_width", "99999"),
    ("watermark_location", "7"),
    ("watermark_location", "-2"),
    ("wayland_socket_index", "x"),
    ("framerate", "8-x"),
    ("framerate", "120-8"),
    ("framerate", "0-500"),
    ("framerate", "0"),
    ("framerate", "241"),
    ("framerate", ""),
    ("framerate", "-5"),
    ("framerate", "5-"),
    ("framerate", "8-120-240"),
    ("framerate", "1e3"),
    ("framerate", "9" * 40 + "-" + "9" * 40),
    ("h264_crf", "5-52"),
    ("jpeg_quality", "0-100"),
    ("h264_paintover_burst_frames", "0-30"),
    ("encoder", "x265enc"),
    ("encoder", "x264enc,x265enc"),
    ("encoder", ""),
    ("encoder", "x264enc,,jpeg"),
    ("encoder", "jpeg,"),
    ("audio_bitrate", "loud"),
    ("audio_bitrate", "1000"),
    ("audio_bitrate", "320000,999999"),
    ("scaling_dpi", "96,abc"),
    ("file_transfers", "sideways"),
    ("file_transfers", "upload,,download"),
    ("file_transfers", "upload,none"),
    ("mode", "webrtc,websockets"),
    ("mode", "quic"),
    ("mode", ""),
    ("addr", "not a host"),
    ("addr", ""),
    ("addr", "-bad-.example"),
    ("addr", "999.1.1.1"),
    ("addr", "10.0.0"),
    ("ice_addresses", "example.com"),
    ("ice_addresses", "127.0.0.1,,10.0.0.1"),
    ("ice_addresses", "0.0.0.0"),
    ("ice_addresses", "224.0.0.1"),
    ("ice_addresses", "300.1.1.1"),
    ("allowed_origins", "example.com"),
    ("allowed_origins", "ftp://example.com"),
    ("allowed_origins", "https://example.com/path"),
    ("allowed_origins", "https://example.com:99999"),
    ("allowed_origins", "https://user@example.com"),
    ("allowed_origins", "https://example.com?x=1"),
    ("allowed_origins", "https://"),
    ("basic_auth_user", "al:ice"),
    ("ui_title", "two\nlines"),
    ("master_token", "tab\there"),
    ("basic_auth_password", "new\nline"),
    ("dri_node", "renderD128"),
    ("watermark_path", "relative/mark.png"),
    ("tls_cert", "/nonexistent/cert.pem"),
]


@pytest.mark.parametrize(("name", "text"), BAD_VALUES)
@pytest.mark.parametrize("where", ["env", "cli"])
def test_bad_values_raise_one_line_naming_the_setting(name: str, text: str, where: str) -> None:
    spec = SPEC_BY_NAME[name]
    error = _error({name: text}) if where == "cli" else _error(**{spec.env: text})
    message = str(error)
    assert message.startswith(spec.env)
    assert "\n" not in message
    assert "expected" in message
    if name in ("master_token", "basic_auth_password"):
        assert text not in message
    else:
        assert repr(text[:80]) in message or repr(text[:80]) + "..." in message
    assert error.setting == name
    if where == "cli":
        assert spec.cli in message


def test_error_message_format_and_legacy_origin() -> None:
    assert str(_error(SELKIES_FRAMERATE="8-x")) == (
        "SELKIES_FRAMERATE: '8-x' is not valid; expected a number or a range 'min-max' "
        "such as '8-120', within 1-240"
    )
    message = str(_error(CUSTOM_WS_PORT="http"))
    assert message.startswith("SELKIES_PORT (from CUSTOM_WS_PORT): 'http' is not valid")
    assert str(_error(WATERMARK_LOCATION="9")).startswith(
        "SELKIES_WATERMARK_LOCATION (from WATERMARK_LOCATION): '9'"
    )


def test_secret_values_stay_out_of_messages() -> None:
    base = resolve({}, {"SELKIES_MASTER_TOKEN": "current-secret"})
    with pytest.raises(SettingsError) as caught:
        base.with_overrides(master_token="guess")
    assert "current-secret" not in str(caught.value)
    assert str(caught.value).startswith("SELKIES_MASTER_TOKEN")


def test_long_values_are_cut_in_messages() -> None:
    message = str(_error(SELKIES_ENCODER="x" * 500))
    assert len(message) < 400
    assert "..." in message


@pytest.mark.parametrize(
    ("environ", "blamed"),
    [
        ({"SELKIES_BASIC_AUTH_USER": "alice"}, "SELKIES_BASIC_AUTH_PASSWORD"),
        ({"SELKIES_BASIC_AUTH_PASSWORD": "pw"}, "SELKIES_BASIC_AUTH_USER"),
        ({"SELKIES_MASTER_TOKEN": "t", "SELKIES_CONTROL_PORT": "8082"}, "SELKIES_CONTROL_PORT"),
        ({"SELKIES_MASTER_TOKEN": "t", "SELKIES_PORT": "8083"}, "SELKIES_CONTROL_PORT"),
    ],
)
def test_incomplete_or_conflicting_pairs(environ: dict[str, str], blamed: str) -> None:
    message = str(_error(**environ))
    assert message.startswith(blamed + ":")
    assert "\n" not in message


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("cert")
    assert str(_error({"tls_cert": str(cert)})).startswith("SELKIES_TLS_KEY:")
    assert str(_error({"tls_key": str(cert)})).startswith("SELKIES_TLS_CERT:")
    assert resolve({"tls_cert": str(cert), "tls_key": str(cert)}, {}).tls_enabled


def test_same_ports_are_fine_outside_secure_mode() -> None:
    assert resolve({}, {"SELKIES_CONTROL_PORT": "8082"}).control_port == 8082


# --- live changes ---------------------------------------------------------------------------


def test_with_overrides_accepts_values_within_ranges_and_choices() -> None:
    base = resolve({}, {"SELKIES_ENCODER": "x264enc,jpeg", "SELKIES_FRAMERATE": "10-90"})
    changed = base.with_overrides(framerate=90, encoder="jpeg", audio_enabled=False,
                                  h264_crf="30", audio_bitrate=128000)
    assert (changed.framerate, changed.encoder, changed.audio_enabled) == (90, "jpeg", False)
    assert changed.h264_crf == 30
    assert changed.audio_bitrate == 128000
    assert changed.source("framerate") == "override"
    assert changed.client_payload()["framerate"]["default"] == 60
    assert (base.framerate, base.encoder, base.audio_enabled) == (60, "x264enc", True)
    assert changed != base
    assert base.with_overrides() == base


@pytest.mark.parametrize(
    ("environ", "changes"),
    [
        ({"SELKIES_FRAMERATE": "10-90"}, {"framerate": 91}),
        ({"SELKIES_FRAMERATE": "30"}, {"framerate": 31}),
        ({"SELKIES_ENCODER": "x264enc,jpeg"}, {"encoder": "nvh264enc"}),
        ({"SELKIES_ENCODER": "jpeg"}, {"encoder": "x264enc"}),
        ({"SELKIES_USE_CPU": "true|locked"}, {"use_cpu": False}),
        ({}, {"use_cpu": "maybe"}),
        ({}, {"framerate": "fast"}),
        ({}, {"framerate": True}),
        ({}, {"port": 9000}),
        ({}, {"master_token": "new"}),
        ({"SELKIES_MANUAL_WIDTH": "800"}, {"manual_width": 1024}),
        ({}, {"manual_width": 99999}),
    ],
)
def test_with_overrides_refuses_locked_and_out_of_range_values(
    environ: dict[str, str], changes: dict[str, object]
) -> None:
    base = resolve({}, environ)
    with pytest.raises(SettingsError) as caught:
        base.with_overrides(**changes)
    name = next(iter(changes))
    assert str(caught.value).startswith(SPEC_BY_NAME[name].env)
    assert "\n" not in str(caught.value)


def test_with_overrides_allows_manual_resolution_when_not_forced() -> None:
    changed = resolve({}, {}).with_overrides(
        is_manual_resolution_mode=True, manual_width=1280, manual_height=720
    )
    assert (changed.is_manual_resolution_mode, changed.manual_width) == (True, 1280)
    assert changed.manual_height == 720
    defaulted = resolve({}, {}).with_overrides(is_manual_resolution_mode=True)
    assert (defaulted.manual_width, defaulted.manual_height) == (1024, 768)
    with pytest.raises(KeyError):
        resolve({}, {}).with_overrides(no_such_setting=1)


def test_settings_are_immutable_and_unknown_names_fail() -> None:
    resolved = resolve({}, {})
    with pytest.raises(AttributeError):
        resolved.port = 1
    with pytest.raises(AttributeError):
        _ = resolved.no_such_setting  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        resolved.value("no_such_setting")


# --- fuzz -----------------------------------------------------------------------------------

# A lone member of these pairs is refused for its missing partner, not for its value.
PAIRED = {"basic_auth_user": "basic_auth_password", "basic_auth_password": "basic_auth_user"}


@settings(
    max_examples=300, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    name=strategies.sampled_from([spec.name for spec in SPECS]),
    text=strategies.one_of(
        strategies.text(max_size=40),
        strategies.from_regex(r"[0-9a-z,| .:\-\[\]/]{0,30}", fullmatch=True),
    ),
)
def test_any_value_gives_settings_or_one_line_settings_error(name: str, text: str) -> None:
    spec = SPEC_BY_NAME[name]
    environ = {spec.env: text}
    partner = PAIRED.get(name)
    if partner is not None:
        environ[SPEC_BY_NAME[partner].env] = "partner"
    try:
        resolved = resolve({}, environ)
    except SettingsError as error:
        assert str(error).startswith(spec.env)
        assert "\n" not in str(error)
    else:
        json.dumps(resolved.client_payload())


@settings(max_examples=200, deadline=None, database=None)
@given(
    name=strategies.sampled_from([spec.name for spec in SPECS]),
    proposed=strategies.recursive(
        strategies.none() | strategies.booleans() | strategies.integers()
        | strategies.floats() | strategies.text(max_size=20),
        lambda children: strategies.lists(children, max_size=3)
        | strategies.dictionaries(strategies.text(max_size=5), children, max_size=3),
        max_leaves=5,
    ),
)
def test_any_live_change_is_applied_or_refused_with_settings_error(
    name: str, proposed: object
) -> None:
    base = resolve({}, {})
    try:
        changed = base.with_overrides(**{name: proposed})
    except SettingsError as error:
        assert str(error).startswith(SPEC_BY_NAME[name].env)
        assert "\n" not in str(error)
    else:
        assert changed.value(name) == base.value(name) or not base.is_locked(name)
        json.dumps(changed.client_payload())
