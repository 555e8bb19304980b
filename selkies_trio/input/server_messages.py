"""Builders of server-to-client messages (PROTOCOL.md, "Server -> client").

Each returns the exact text frame to send on the `input` data channel:
JSON `{"type": T, "data": ...}`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .protocol import LocalProtocolError

# A clipboard larger than this goes out as start/data/end frames so that one
# SCTP message never has to carry megabytes (and block the channel behind it).
CLIPBOARD_SINGLE_MESSAGE_LIMIT = 64 * 1024


def _frame(kind: str, data: Any) -> str:
    return json.dumps({"type": kind, "data": data}, separators=(",", ":"))


def server_settings(settings: dict[str, Any]) -> str:
    """`server_settings`: per setting `{value, locked, min, max, default, allowed}`."""
    return _frame("server_settings", settings)


def cursor(png: bytes, width: int, height: int, hotx: int, hoty: int, handle: int) -> str:
    if width <= 0 or height <= 0:
        raise LocalProtocolError(f"cursor of size {width}x{height}")
    return _frame(
        "cursor",
        {
            "curdata": base64.b64encode(png).decode("ascii"),
            "width": width,
            "height": height,
            "hotx": hotx,
            "hoty": hoty,
            "handle": handle,
        },
    )


def clipboard(
    content: bytes,
    mime_type: str = "text/plain",
    chunk_size: int = CLIPBOARD_SINGLE_MESSAGE_LIMIT,
) -> list[str]:
    """`clipboard-msg`, or `-start`/`-data`.../`-end` when content exceeds chunk_size.

    Content is base64 in every frame, text included, so that the client decodes
    one way; `is_binary_data` says whether to turn it back into text.
    """
    if chunk_size <= 0:
        raise LocalProtocolError("chunk_size must be positive")
    is_binary = mime_type != "text/plain"
    total = len(content)
    if total <= chunk_size:
        return [
            _frame(
                "clipboard-msg",
                {
                    "content": base64.b64encode(content).decode("ascii"),
                    "mime_type": mime_type,
                    "is_binary_data": is_binary,
                    "total_size": total,
                },
            )
        ]
    frames = [
        _frame(
            "clipboard-msg-start",
            {"mime_type": mime_type, "is_binary_data": is_binary, "total_size": total},
        )
    ]
    for offset in range(0, total, chunk_size):
        piece = content[offset : offset + chunk_size]
        frames.append(
            _frame("clipboard-msg-data", {"content": base64.b64encode(piece).decode("ascii")})
        )
    frames.append(_frame("clipboard-msg-end", {}))
    return frames


def system(action: str) -> str:
    """`system` with an action string such as `resolution,1920x1080` or `mk_access,1`."""
    return _frame("system", {"action": action})


def ping(start_time: float) -> str:
    return _frame("ping", {"start_time": start_time})


def latency_measurement(latency_ms: float) -> str:
    return _frame("latency_measurement", {"latency_ms": latency_ms})


def stats(values: dict[str, Any]) -> str:
    return _frame("stats", values)


# Websockets streaming mode (PROTOCOL.md): server text frames are `<kind>,<payload>`.


def websocket_cursor(png: bytes, width: int, height: int, hotx: int, hoty: int, handle: int) -> str:
    data = json.loads(cursor(png, width, height, hotx, hoty, handle))["data"]
    return "cursor," + json.dumps(data, separators=(",", ":"))


def websocket_clipboard(text: str) -> str:
    return "clipboard," + base64.b64encode(text.encode("utf-8")).decode("ascii")


def websocket_system(action: str) -> str:
    return "system," + json.dumps({"action": action}, separators=(",", ":"))
