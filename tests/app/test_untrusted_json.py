"""loads_untrusted: whatever the text, the only exception is JsonDecodeError."""

from __future__ import annotations

import pytest

from selkies_trio.app.untrusted_json import MAX_DEPTH, JsonDecodeError, loads_untrusted

REFUSED = [
    ("[" * 5000, "nested deeper"),
    ("[" * 50000, "nested deeper"),
    ('{"a": ' * 5000, "nested deeper"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested deeper"),
    ("NaN", "NaN is not a JSON value"),
    ("[-Infinity]", "-Infinity is not a JSON value"),
    ("1" * 5000, "limit"),
    ("{not json", "Expecting"),
    ("", "Expecting value"),
    (b"\xff\xfe\x00", "decode"),
]


@pytest.mark.parametrize("text,reason", REFUSED, ids=range(len(REFUSED)))
def test_refusals_raise_only_the_decode_error(text: str | bytes, reason: str) -> None:
    with pytest.raises(JsonDecodeError) as refused:
        loads_untrusted(text)
    assert reason in str(refused.value)


def test_accepts_what_signalling_and_tokens_need() -> None:
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads_untrusted(nested) is not None
    assert loads_untrusted(b'{"t": {"role": "viewer", "slot": null}}') == {
        "t": {"role": "viewer", "slot": None}
    }
    assert loads_untrusted('{"ice": {"candidate": "", "sdpMLineIndex": 0}}')["ice"][
        "sdpMLineIndex"
    ] == 0
