"""Every server setting, described once in `SPECS` and resolved from CLI and environment.

The table follows the "Server Settings" section of the Selkies server README
(seeds/001): the same environment names, CLI flags and defaults, plus the few
settings this project adds (mode, bind address, WebRTC UDP port, ICE addresses,
basic auth, TLS, allowed WebSocket origins).

Naming: a setting `audio_enabled` is `--audio-enabled` on the command line and
`SELKIES_AUDIO_ENABLED` in the environment.

Precedence, first found wins: CLI flag > `SELKIES_*` variable > legacy variable
(`CUSTOM_WS_PORT`, `DRI_NODE`, `WATERMARK_PNG`, `WATERMARK_LOCATION`) > default.
A variable that is present counts as given even when empty: `SELKIES_FILE_TRANSFERS=""`
is how transfers are switched off.

Value syntax by kind:

- bool: `true`/`false`, also `1`/`0`, `yes`/`no`, `on`/`off`, any case; a `|locked`
  suffix (`true|locked`) forbids clients from changing it.
- enum: a comma list; the first item is the default, all items are the choices
  offered to clients, and a single item locks the choice. Unset, the default is the
  table's and the choices are the table's menu.
- list (`file_transfers`): the enabled items; `""` or `none` enables nothing.
- range: `min-max` lets clients move within it; a single number (or `n-n`) locks it.
  The starting value is the table's preferred value clamped into the range
  (framerate 60, CRF 25, JPEG quality 40, paint-over JPEG quality 90,
  paint-over CRF 18, paint-over burst 5 frames).
- int, str, choice, addresses and origins: one server-side value clients never change.

Manual resolution mode (seeds/001): a non-zero `manual_width` or `manual_height`, or
`is_manual_resolution_mode=true`, puts the server in manual mode; an unset side
defaults to 1024x768, and clients can no longer change the resolution.

This module reads only the mapping it is given, plus whether TLS files exist, so
every layer may import it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .settings_table import SPEC_BY_NAME, SPECS, Kind, SettingSpec, TextRule

__all__ = [
    "SPECS",
    "SPEC_BY_NAME",
    "ResolvedSetting",
    "SettingSpec",
    "Settings",
    "SettingsError",
    "add_arguments",
    "load_settings",
    "resolve",
]

Source = Literal["cli", "env", "legacy", "default", "override"]

MANUAL_MODE_DEFAULT_WIDTH = 1024
MANUAL_MODE_DEFAULT_HEIGHT = 768

# Longer values are cut in error messages so the message stays one readable line.
_SHOWN_VALUE_LIMIT = 80
# Python refuses int() on very long digit strings; no setting needs more than this.
_MAX_DIGITS = 12
_BOOL_WORDS = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}
_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")
_NUMBER = re.compile(r"[+-]?[0-9]+")
_RANGE = re.compile(r"([0-9]+)\s*-\s*([0-9]+)")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class SettingsError(Exception):
    """A setting has a value the server cannot start with.

    `str(error)` is one line naming the environment variable, the rejected value and
    the accepted form, suitable as the whole message of a failed start-up.
    """

    def __init__(
        self, spec: SettingSpec, value: str, expected: str, *, origin: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.setting = spec.name
        self.env = spec.env
        self.value = value
        self.expected = expected
        self.origin = origin
        where = spec.env if origin is None or origin == spec.env else f"{spec.env} (from {origin})"
        because = f" ({detail})" if detail else ""
        shown = "(hidden)" if _hides_value(spec) and value else _quoted(value)
        super().__init__(f"{where}: {shown} is not valid{because}; expected {expected}")


def _hides_value(spec: SettingSpec) -> bool:
    """Tokens and passwords stay out of messages; a key file's path is not itself secret."""
    return spec.secret and spec.text_rule != "existing_file"


def _quoted(value: str) -> str:
    """repr() keeps control characters escaped, so the message stays on one line."""
    if len(value) > _SHOWN_VALUE_LIMIT:
        return repr(value[:_SHOWN_VALUE_LIMIT]) + "..."
    return repr(value)




@dataclass(frozen=True)
class ResolvedSetting:
    """A setting's current value with what clients may do with it.

    `initial` is the value the server starts from (a range's clamped preferred value,
    an enum's first item); `allowed` lists an enum's choices; `range` a range's span.
    """

    value: Any
    locked: bool
    initial: Any
    source: Source
    allowed: tuple[Any, ...] | None = None
    range: tuple[int, int] | None = None


# --- parsing one raw value per kind -------------------------------------------------------


def _expected_form(spec: SettingSpec) -> str:
    if spec.kind == "bool":
        return "true or false (also 1/0, yes/no, on/off), optionally followed by '|locked'"
    if spec.kind == "int":
        low, high = _bounds(spec)
        return f"a whole number from {low} to {high}"
    if spec.kind == "range":
        low, high = _bounds(spec)
        return (f"a number or a range 'min-max' such as '{spec.default}', "
                f"within {low}-{high}")
    if spec.kind == "enum":
        if spec.closed:
            return "a comma-separated list of " + ", ".join(spec.choices)
        low, high = _bounds(spec)
        return f"a comma-separated list of numbers from {low} to {high}, such as '{spec.default}'"
    if spec.kind == "list":
        return "a comma-separated list of " + ", ".join(spec.choices) + ", or '' or 'none'"
    if spec.kind == "choice":
        return "one of " + ", ".join(spec.choices)
    if spec.kind == "addresses":
        return "a comma-separated list of IP addresses such as '192.0.2.10,2001:db8::10', or ''"
    if spec.kind == "origins":
        return "'*' or a comma-separated list of origins such as 'https://example.com:8443'"
    rule_forms: dict[TextRule, str] = {
        "any": "text without control characters",
        "host": "an IP address or host name such as '0.0.0.0'",
        "user_id": "a user name without ':' or control characters",
        "existing_file": "the path of an existing file, or ''",
        "absolute_path": "an absolute path, or ''",
    }
    return rule_forms[spec.text_rule]


def _bounds(spec: SettingSpec) -> tuple[int, int]:
    if spec.bounds is None:
        raise AssertionError(f"{spec.name} has no bounds in the table")
    return spec.bounds


def _parse_number(text: str) -> int | None:
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped) or len(stripped) > _MAX_DIGITS:
        return None
    return int(stripped)


def _split_items(text: str) -> list[str] | None:
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        return None
    return list(dict.fromkeys(items))


class _Invalid(Exception):
    """Raised inside the parsers; `resolve` turns it into a SettingsError with context."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail


def _parse_bool(text: str) -> tuple[bool, bool]:
    word, bar, suffix = text.strip().partition("|")
    if bar and suffix.strip().lower() != "locked":
        raise _Invalid("the only suffix is '|locked'")
    value = _BOOL_WORDS.get(word.strip().lower())
    if value is None:
        raise _Invalid()
    return value, bool(bar)


def _parse_int(spec: SettingSpec, text: str) -> int:
    number = _parse_number(text)
    if number is None:
        raise _Invalid()
    low, high = _bounds(spec)
    if not low <= number <= high:
        raise _Invalid("out of bounds")
    return number


def _parse_range(spec: SettingSpec, text: str) -> tuple[int, int]:
    stripped = text.strip()
    single = _parse_number(stripped) if not stripped.startswith(("+", "-")) else None
    if single is not None:
        low_given, high_given = single, single
    else:
        match = _RANGE.fullmatch(stripped)
        if match is None or max(len(match[1]), len(match[2])) > _MAX_DIGITS:
            raise _Invalid()
        low_given, high_given = int(match[1]), int(match[2])
        if low_given > high_given:
            raise _Invalid("min is above max")
    low, high = _bounds(spec)
    if low_given < low or high_given > high:
        raise _Invalid("out of bounds")
    return low_given, high_given


def _parse_enum_item(spec: SettingSpec, item: str) -> str | int:
    if spec.numeric_items:
        number = _parse_number(item)
        low, high = _bounds(spec)
        if number is None or not low <= number <= high:
            raise _Invalid(f"bad item {_quoted(item)}")
        return number
    canonical = item.lower()
    if spec.closed and canonical not in spec.choices:
        raise _Invalid(f"unknown item {_quoted(item)}")
    return canonical


def _parse_enum(spec: SettingSpec, text: str) -> tuple[Any, ...]:
    items = _split_items(text)
    if items is None:
        raise _Invalid("empty item")
    return tuple(dict.fromkeys(_parse_enum_item(spec, item) for item in items))


def _parse_list(spec: SettingSpec, text: str) -> tuple[str, ...]:
    if text.strip().lower() in ("", "none"):
        return ()
    items = _split_items(text)
    if items is None:
        raise _Invalid("empty item")
    chosen = tuple(dict.fromkeys(item.lower() for item in items))
    unknown = [item for item in chosen if item not in spec.choices]
    if unknown:
        raise _Invalid(f"unknown item {_quoted(unknown[0])}")
    return chosen


def _parse_choice(spec: SettingSpec, text: str) -> str:
    canonical = text.strip().lower()
    if canonical not in spec.choices:
        raise _Invalid()
    return canonical


def _parse_addresses(text: str) -> tuple[str, ...]:
    if not text.strip():
        return ()
    items = _split_items(text)
    if items is None:
        raise _Invalid("empty item")
    addresses: list[str] = []
    for item in items:
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise _Invalid(f"{_quoted(item)} is not an IP address") from None
        if address.is_unspecified or address.is_multicast:
            raise _Invalid(f"{_quoted(item)} cannot be a host candidate")
        addresses.append(address.compressed)
    return tuple(dict.fromkeys(addresses))


def _parse_origin(item: str) -> str:
    if item == "*":
        return item
    try:
        parts = urlsplit(item)
        port = parts.port
    except ValueError:
        raise _Invalid(f"bad origin {_quoted(item)}") from None
    scheme = parts.scheme.lower()
    if (
        scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise _Invalid(f"bad origin {_quoted(item)}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _parse_origins(text: str) -> tuple[str, ...]:
    if not text.strip():
        return ()
    items = _split_items(text)
    if items is None:
        raise _Invalid("empty item")
    return tuple(dict.fromkeys(_parse_origin(item) for item in items))


def _parse_text(spec: SettingSpec, text: str) -> str:
    if _CONTROL_CHARACTERS.search(text):
        raise _Invalid("control character")
    if spec.text_rule == "host":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            if not _HOSTNAME.fullmatch(text):
                raise _Invalid() from None
            # An all-digit last label is a mistyped IPv4 address, never a host name.
            if text.rstrip(".").rpartition(".")[2].isdigit():
                raise _Invalid("not an IP address") from None
    elif spec.text_rule == "user_id" and ":" in text:
        raise _Invalid("basic auth user names cannot contain ':'")
    elif spec.text_rule == "absolute_path" and text and not os.path.isabs(text):
        raise _Invalid("relative path")
    elif spec.text_rule == "existing_file" and text and not os.path.isfile(text):
        raise _Invalid("no such file")
    return text


def _parse(spec: SettingSpec, text: str, source: Source) -> ResolvedSetting:
    """Turn one raw value into a resolved setting; raises `_Invalid`."""
    if spec.kind == "bool":
        flag, locked = _parse_bool(text)
        return ResolvedSetting(flag, locked, flag, source)
    if spec.kind == "int":
        number = _parse_int(spec, text)
        return ResolvedSetting(number, True, number, source)
    if spec.kind == "range":
        low, high = _parse_range(spec, text)
        preferred = spec.initial if spec.initial is not None else low
        start = min(max(preferred, low), high)
        return ResolvedSetting(start, low == high, start, source, range=(low, high))
    if spec.kind == "enum":
        items = _parse_enum(spec, text)
        return ResolvedSetting(items[0], len(items) == 1, items[0], source, allowed=items)
    if spec.kind == "list":
        enabled = _parse_list(spec, text)
        return ResolvedSetting(enabled, True, enabled, source, allowed=spec.choices)
    if spec.kind == "choice":
        chosen = _parse_choice(spec, text)
        return ResolvedSetting(chosen, True, chosen, source, allowed=spec.choices)
    if spec.kind == "addresses":
        addresses = _parse_addresses(text)
        return ResolvedSetting(addresses, True, addresses, source)
    if spec.kind == "origins":
        origins = _parse_origins(text)
        return ResolvedSetting(origins, True, origins, source)
    checked = _parse_text(spec, text)
    return ResolvedSetting(checked, True, checked, source)


def _default_of(spec: SettingSpec) -> ResolvedSetting:
    if spec.kind == "enum":
        # Unset, an enum offers the table's whole menu; parsing the default text
        # alone would lock it to that one item.
        menu = tuple(_parse_enum_item(spec, item) for item in spec.choices)
        initial = _parse_enum_item(spec, spec.default)
        return ResolvedSetting(initial, False, initial, "default", allowed=menu)
    try:
        return _parse(spec, spec.default, "default")
    except _Invalid as error:
        raise AssertionError(f"table default of {spec.name} is invalid: {error}") from None


# --- resolution ---------------------------------------------------------------------------


def _raw_value(
    spec: SettingSpec, cli: Mapping[str, object], environ: Mapping[str, str]
) -> tuple[str, Source, str] | None:
    given = cli.get(spec.name)
    if given is not None:
        return str(given), "cli", spec.cli
    if spec.env in environ:
        return environ[spec.env], "env", spec.env
    if spec.legacy_env is not None and spec.legacy_env in environ:
        return environ[spec.legacy_env], "legacy", spec.legacy_env
    return None


def _resolve_one(
    spec: SettingSpec, cli: Mapping[str, object], environ: Mapping[str, str]
) -> ResolvedSetting:
    raw = _raw_value(spec, cli, environ)
    if raw is None:
        return _default_of(spec)
    text, source, origin = raw
    try:
        return _parse(spec, text, source)
    except _Invalid as error:
        raise SettingsError(
            spec, text, _expected_form(spec), origin=origin, detail=error.detail
        ) from None


def _apply_manual_resolution(records: dict[str, ResolvedSetting]) -> None:
    """Apply seeds/001's manual-resolution rules to the three related records."""
    mode = records["is_manual_resolution_mode"]
    width = records["manual_width"].value
    height = records["manual_height"].value
    active = bool(width or height or mode.value)
    # Locked: the server decided (manual mode on, or the toggle locked off), so
    # clients may change none of the three.
    locked = active or mode.locked
    effective_width = (width or MANUAL_MODE_DEFAULT_WIDTH) if active else 0
    effective_height = (height or MANUAL_MODE_DEFAULT_HEIGHT) if active else 0
    for name, value in (
        ("is_manual_resolution_mode", active),
        ("manual_width", effective_width),
        ("manual_height", effective_height),
    ):
        records[name] = replace(records[name], value=value, initial=value, locked=locked)


def _check_pair(
    records: Mapping[str, ResolvedSetting], first: str, second: str, purpose: str
) -> None:
    for present, missing in ((first, second), (second, first)):
        if records[present].value and not records[missing].value:
            spec = SPEC_BY_NAME[missing]
            raise SettingsError(
                spec, "", f"a value because {SPEC_BY_NAME[present].env} is set ({purpose})"
            )


def _check_combinations(records: Mapping[str, ResolvedSetting]) -> None:
    _check_pair(records, "tls_cert", "tls_key", "HTTPS needs both")
    _check_pair(records, "basic_auth_user", "basic_auth_password", "basic auth needs both")
    if records["master_token"].value and records["control_port"].value == records["port"].value:
        spec = SPEC_BY_NAME["control_port"]
        port = records["control_port"].value
        raise SettingsError(
            spec, str(port), f"a port other than SELKIES_PORT ({port}) in secure mode"
        )


def resolve(cli: Mapping[str, object], environ: Mapping[str, str]) -> Settings:
    """Resolve every setting: CLI > `SELKIES_*` > legacy env > default.

    `cli` is keyed by setting name; None means "not given" and keys that are not
    settings are ignored, so `vars(namespace)` can be passed as is. Raises
    SettingsError for the first bad value in table order.
    """
    records = {spec.name: _resolve_one(spec, cli, environ) for spec in SPECS}
    _apply_manual_resolution(records)
    _check_combinations(records)
    return Settings(records)


# --- the resolved settings ----------------------------------------------------------------


def _coerce_override(spec: SettingSpec, record: ResolvedSetting, proposed: object) -> Any:
    """Validate a live change against the setting's type, range, choices and lock."""
    if spec.kind == "bool":
        if isinstance(proposed, bool):
            value: Any = proposed
        elif isinstance(proposed, str) and "|" not in proposed:
            value = _parse_bool(proposed)[0]
        else:
            raise _Invalid()
    elif spec.kind in ("int", "range") or (spec.kind == "enum" and spec.numeric_items):
        if isinstance(proposed, bool):
            raise _Invalid()
        if isinstance(proposed, int):
            value = proposed
        elif isinstance(proposed, str) and (number := _parse_number(proposed)) is not None:
            value = number
        else:
            raise _Invalid()
    elif spec.kind in ("enum", "choice", "str"):
        if not isinstance(proposed, str):
            raise _Invalid()
        value = proposed.lower() if spec.kind != "str" else proposed
    else:
        if isinstance(proposed, str):
            raise _Invalid()
        value = tuple(proposed) if isinstance(proposed, (list, tuple)) else proposed
    if value == record.value:
        return value
    if record.locked:
        raise _Invalid("locked")
    if record.range is not None and not record.range[0] <= value <= record.range[1]:
        raise _Invalid(f"outside {record.range[0]}-{record.range[1]}")
    if record.allowed is not None and value not in record.allowed:
        raise _Invalid("not among the allowed values")
    if spec.kind == "int":
        low, high = _bounds(spec)
        if not low <= value <= high:
            raise _Invalid("out of bounds")
    return value


def _override_form(record: ResolvedSetting, spec: SettingSpec) -> str:
    if record.locked:
        if _hides_value(spec):
            return "the configured value"
        return f"the locked value {_quoted(str(record.value))}"
    if record.range is not None:
        return f"a number within {record.range[0]}-{record.range[1]}"
    if record.allowed is not None:
        return "one of " + ", ".join(str(item) for item in record.allowed)
    return _expected_form(spec)


class Settings:
    """Resolved settings: `settings.port`, `settings.framerate`, `settings.value("port")`.

    Immutable; `with_overrides` returns a validated copy for live changes.
    """

    _records: dict[str, ResolvedSetting]

    # Attribute types for type checkers; the values live in `_records`.
    ui_title: str
    ui_show_logo: bool
    ui_show_sidebar: bool
    ui_show_core_buttons: bool
    ui_sidebar_show_video_settings: bool
    ui_sidebar_show_screen_settings: bool
    ui_sidebar_show_audio_settings: bool
    ui_sidebar_show_stats: bool
    ui_sidebar_show_clipboard: bool
    ui_sidebar_show_files: bool
    ui_sidebar_show_apps: bool
    ui_sidebar_show_sharing: bool
    ui_sidebar_show_gamepads: bool
    ui_sidebar_show_fullscreen: bool
    ui_sidebar_show_gaming_mode: bool
    ui_sidebar_show_trackpad: bool
    ui_sidebar_show_keyboard_button: bool
    ui_sidebar_show_soft_buttons: bool
    audio_enabled: bool
    microphone_enabled: bool
    gamepad_enabled: bool
    clipboard_enabled: bool
    clipboard_in_enabled: bool
    clipboard_out_enabled: bool
    command_enabled: bool
    file_transfers: tuple[str, ...]
    encoder: str
    framerate: int
    h264_crf: int
    jpeg_quality: int
    h264_fullcolor: bool
    h264_streaming_mode: bool
    use_cpu: bool
    use_paint_over_quality: bool
    paint_over_jpeg_quality: int
    h264_paintover_crf: int
    h264_paintover_burst_frames: int
    second_screen: bool
    audio_bitrate: int
    is_manual_resolution_mode: bool
    manual_width: int
    manual_height: int
    scaling_dpi: int
    enable_binary_clipboard: bool
    use_browser_cursors: bool
    use_css_scaling: bool
    port: int
    control_port: int
    master_token: str
    dri_node: str
    audio_device_name: str
    watermark_path: str
    watermark_location: int
    debug: bool
    wayland_socket_index: int
    enable_sharing: bool
    enable_collab: bool
    enable_shared: bool
    enable_player2: bool
    enable_player3: bool
    enable_player4: bool
    mode: str
    video_source: str
    video_bitrate: int
    addr: str
    webrtc_udp_port: int
    ice_addresses: tuple[str, ...]
    basic_auth_user: str
    basic_auth_password: str
    tls_cert: str
    tls_key: str
    allowed_origins: tuple[str, ...]

    def __init__(self, records: Mapping[str, ResolvedSetting]) -> None:
        missing = set(SPEC_BY_NAME) - set(records)
        if missing:
            raise ValueError(f"settings missing: {sorted(missing)}")
        object.__setattr__(self, "_records", dict(records))

    if not TYPE_CHECKING:
        # Hidden from type checkers so that the annotations above are the attributes
        # they know, and a misspelt setting name is a type error.
        def __getattr__(self, name: str) -> Any:
            if name.startswith("_") or name not in SPEC_BY_NAME:
                raise AttributeError(name)
            return self._records[name].value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Settings are immutable; use with_overrides()")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return self._records == other._records

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = []
        for spec in SPECS:
            value = self._records[spec.name].value
            shown.append(f"{spec.name}={'***' if spec.secret and value else repr(value)}")
        return f"Settings({', '.join(shown)})"

    def _record(self, name: str) -> ResolvedSetting:
        if name not in SPEC_BY_NAME:
            raise KeyError(f"unknown setting {name!r}")
        record: ResolvedSetting = self._records[name]
        return record

    def value(self, name: str) -> Any:
        return self._record(name).value

    def record(self, name: str) -> ResolvedSetting:
        return self._record(name)

    def is_locked(self, name: str) -> bool:
        """True when clients may not change the setting."""
        return self._record(name).locked

    def allowed(self, name: str) -> tuple[Any, ...] | None:
        return self._record(name).allowed

    def range(self, name: str) -> tuple[int, int] | None:
        return self._record(name).range

    def source(self, name: str) -> Source:
        return self._record(name).source

    @property
    def secure_mode(self) -> bool:
        return bool(self._records["master_token"].value)

    @property
    def basic_auth_enabled(self) -> bool:
        return bool(self._records["basic_auth_user"].value)

    @property
    def tls_enabled(self) -> bool:
        return bool(self._records["tls_cert"].value)

    def client_payload(self) -> dict[str, dict[str, Any]]:
        """The `/api/settings` body and `server_settings` data: client-visible settings only."""
        payload: dict[str, dict[str, Any]] = {}
        for spec in SPECS:
            if not spec.client_visible or spec.secret:
                continue
            record: ResolvedSetting = self._records[spec.name]
            entry: dict[str, Any] = {"value": _jsonable(record.value), "locked": record.locked}
            if record.range is not None:
                entry["min"], entry["max"] = record.range
                entry["default"] = record.initial
            if record.allowed is not None:
                entry["allowed"] = list(record.allowed)
                if spec.kind == "enum":
                    entry["default"] = record.initial
            payload[spec.name] = entry
        return payload

    def with_overrides(self, **values: object) -> Settings:
        """A copy with live changes, each checked against its range, choices and lock.

        Raises SettingsError (naming the setting) for a refused value and KeyError for
        an unknown name. Locked settings, which include every server-side one, accept
        only their current value. Turning manual resolution mode on with a side left at
        0 gives that side seeds/001's 1024x768 default.
        """
        records = dict(self._records)
        for name, proposed in values.items():
            spec = SPEC_BY_NAME.get(name)
            if spec is None:
                raise KeyError(f"unknown setting {name!r}")
            record = records[name]
            try:
                value = _coerce_override(spec, record, proposed)
            except _Invalid as error:
                raise SettingsError(
                    spec, str(proposed), _override_form(record, spec), origin="override",
                    detail=error.detail,
                ) from None
            records[name] = ResolvedSetting(
                value, record.locked, record.initial, "override",
                allowed=record.allowed, range=record.range,
            )
        if records["is_manual_resolution_mode"].value:
            for side, fallback in (
                ("manual_width", MANUAL_MODE_DEFAULT_WIDTH),
                ("manual_height", MANUAL_MODE_DEFAULT_HEIGHT),
            ):
                if records[side].value == 0:
                    records[side] = replace(records[side], value=fallback, source="override")
        return Settings(records)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# --- command line -------------------------------------------------------------------------

_METAVARS: dict[Kind, str] = {
    "bool": "BOOL",
    "int": "N",
    "str": "TEXT",
    "range": "N|MIN-MAX",
    "enum": "A[,B...]",
    "list": "A[,B...]",
    "choice": "MODE",
    "addresses": "IP[,IP...]",
    "origins": "ORIGIN[,...]",
}


def _help_text(spec: SettingSpec) -> str:
    names = spec.env + (f" or {spec.legacy_env}" if spec.legacy_env else "")
    default = "''" if spec.default == "" else repr(spec.default)
    extra = ""
    if spec.kind == "range":
        extra = f"; starts at {spec.initial} clamped into the range; one number locks"
    elif spec.kind in ("enum", "list", "choice"):
        extra = "; choices " + ",".join(spec.choices)
        if spec.kind == "enum" and not spec.closed:
            extra += " or others"
    # argparse %-formats help strings.
    return f"{spec.description} [env {names}; default {default}{extra}]".replace("%", "%%")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one `--kebab-name` option per setting; an option not given stays None.

    Booleans may be given bare (`--debug` means true) or with a value
    (`--audio-enabled false|locked`). Every value is parsed later by `resolve`.
    """
    group = parser.add_argument_group(
        "settings",
        "Each flag also reads the environment variable shown; precedence is "
        "CLI > SELKIES_* > legacy variable > default. Booleans take true/false "
        "(1/0, yes/no, on/off) with an optional '|locked' suffix; enums take a comma list "
        "whose first item is the default (one item locks); ranges take 'min-max' or one "
        "number (locks).",
    )
    for spec in SPECS:
        extra: dict[str, Any] = {"nargs": "?", "const": "true"} if spec.kind == "bool" else {}
        group.add_argument(
            spec.cli,
            dest=spec.name,
            default=None,
            metavar=_METAVARS[spec.kind],
            help=_help_text(spec),
            **extra,
        )


def load_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Parse `argv` (settings flags only) and resolve against `environ`.

    An unknown flag makes argparse exit with status 2; a bad value raises SettingsError.
    """
    parser = argparse.ArgumentParser(prog="selkies_trio", add_help=False)
    add_arguments(parser)
    namespace = parser.parse_args(list(argv))
    return resolve(vars(namespace), environ)
