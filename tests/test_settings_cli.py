"""Settings given as command-line flags, through `load_settings` and `add_arguments`."""

from __future__ import annotations

import argparse

import pytest

from selkies_trio.settings import SPECS, SettingsError, add_arguments, load_settings


def test_flags_not_given_stay_none() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    namespace = parser.parse_args([])
    assert all(getattr(namespace, spec.name) is None for spec in SPECS)


def test_no_flags_gives_the_defaults() -> None:
    resolved = load_settings([], {})
    assert (resolved.port, resolved.framerate, resolved.encoder) == (8082, 60, "x264enc")


def test_flags_beat_every_environment_variable() -> None:
    environ = {"SELKIES_PORT": "9000", "CUSTOM_WS_PORT": "8888", "SELKIES_ENCODER": "jpeg"}
    resolved = load_settings(["--port", "9100", "--encoder", "x264enc,jpeg"], environ)
    assert resolved.port == 9100
    assert resolved.source("port") == "cli"
    assert resolved.encoder == "x264enc"
    assert resolved.allowed("encoder") == ("x264enc", "jpeg")


def test_environment_used_for_flags_not_given() -> None:
    resolved = load_settings(["--framerate", "30"], {"WATERMARK_PNG": "/srv/mark.png"})
    assert resolved.framerate == 30
    assert resolved.is_locked("framerate")
    assert resolved.watermark_path == "/srv/mark.png"


@pytest.mark.parametrize(
    ("argv", "value", "locked"),
    [
        (["--debug"], True, False),
        (["--debug", "false"], False, False),
        (["--debug=true|locked"], True, True),
        (["--debug", "off|locked"], False, True),
    ],
)
def test_boolean_flags_bare_or_with_value(argv: list[str], value: bool, locked: bool) -> None:
    resolved = load_settings(argv, {"SELKIES_DEBUG": "false"})
    assert resolved.debug is value
    assert resolved.is_locked("debug") is locked


def test_kebab_flags_for_every_setting() -> None:
    argv = ["--webrtc-udp-port", "0", "--ice-addresses", "127.0.0.1", "--mode", "websockets",
            "--h264-paintover-burst-frames", "2-10", "--file-transfers", "none",
            "--allowed-origins", "*", "--manual-width", "1280", "--addr", "127.0.0.1"]
    resolved = load_settings(argv, {})
    assert resolved.webrtc_udp_port == 0
    assert resolved.ice_addresses == ("127.0.0.1",)
    assert resolved.mode == "websockets"
    assert resolved.range("h264_paintover_burst_frames") == (2, 10)
    assert resolved.h264_paintover_burst_frames == 5
    assert resolved.file_transfers == ()
    assert resolved.allowed_origins == ("*",)
    assert (resolved.manual_width, resolved.manual_height) == (1280, 768)
    assert resolved.addr == "127.0.0.1"


def test_bad_flag_value_raises_one_line_settings_error() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(["--framerate", "8-x"], {})
    message = str(caught.value)
    assert message == (
        "SELKIES_FRAMERATE (from --framerate): '8-x' is not valid; expected a number or a "
        "range 'min-max' such as '8-120', within 1-240"
    )


def test_unknown_flag_exits_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        load_settings(["--no-such-setting", "1"], {})
    assert caught.value.code == 2
    assert "--no-such-setting" in capsys.readouterr().err


def test_help_shows_each_flag_with_its_env_name_and_default() -> None:
    # A wide formatter keeps each option and its help on one line for the checks below.
    parser = argparse.ArgumentParser(
        formatter_class=lambda prog: argparse.HelpFormatter(
            prog, width=10_000, max_help_position=200
        )
    )
    add_arguments(parser)
    text = parser.format_help()
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  --")}
    for spec in SPECS:
        line = lines[spec.cli]
        assert f"env {spec.env}" in line
        assert f"default {spec.default!r}" in line
        if spec.legacy_env:
            assert f"or {spec.legacy_env}" in line
