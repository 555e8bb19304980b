"""Decoding JSON that arrived from the network (signalling frames, POST /tokens bodies).

`json.loads` can fail in more ways than `ValueError`: deep nesting exhausts the
interpreter stack and raises `RecursionError`, and a structure only just shallow
enough to decode can still break whoever walks it later. Every decode of
untrusted text goes through `loads_untrusted`, which raises only `JsonDecodeError`.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

# Far deeper than any signalling message or token table; shallow enough that code
# recursing over a decoded value never gets near the interpreter's stack limit.
MAX_DEPTH = 32


class JsonDecodeError(ValueError):
    """Untrusted text is not acceptable JSON; str() says why, briefly."""


def _refuse_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON; echoing them would send browsers invalid JSON.
    raise JsonDecodeError(f"{name} is not a JSON value")


def _nested_deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def loads_untrusted(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode `text`; raise only `JsonDecodeError`, whatever the input."""
    too_deep = f"JSON is nested deeper than {max_depth} levels"
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise JsonDecodeError(too_deep) from None
    except JsonDecodeError:
        raise
    except ValueError as error:  # json.JSONDecodeError, UnicodeDecodeError, huge integers
        raise JsonDecodeError(str(error)) from None
    if _nested_deeper_than(value, max_depth):
        raise JsonDecodeError(too_deep)
    return value
