"""Serial number arithmetic (RFC 1982) for TSNs (32 bits) and SSNs (16 bits).

RFC 9260 section 1.6: TSNs and Stream Sequence Numbers wrap around, so every
comparison and every sort must go through these helpers rather than `<` on ints.
"""

from __future__ import annotations

TSN_MODULUS = 1 << 32
SSN_MODULUS = 1 << 16
_TSN_HALF = TSN_MODULUS >> 1
_SSN_HALF = SSN_MODULUS >> 1


def tsn_add(tsn: int, delta: int) -> int:
    return (tsn + delta) % TSN_MODULUS


def tsn_diff(later: int, earlier: int) -> int:
    """Signed distance from `earlier` to `later`, in (-2^31, 2^31]."""
    distance = (later - earlier) % TSN_MODULUS
    return distance - TSN_MODULUS if distance > _TSN_HALF else distance


def tsn_lt(a: int, b: int) -> bool:
    return a != b and (b - a) % TSN_MODULUS < _TSN_HALF


def tsn_le(a: int, b: int) -> bool:
    return a == b or tsn_lt(a, b)


def tsn_gt(a: int, b: int) -> bool:
    return tsn_lt(b, a)


def tsn_ge(a: int, b: int) -> bool:
    return a == b or tsn_lt(b, a)


def tsn_max(a: int, b: int) -> int:
    return b if tsn_lt(a, b) else a


def tsn_sort_key(base: int) -> _OffsetKey:
    """A sort key ordering TSNs by their distance after `base` (for values near base)."""
    return _OffsetKey(base, TSN_MODULUS)


def ssn_add(ssn: int, delta: int) -> int:
    return (ssn + delta) % SSN_MODULUS


def ssn_lt(a: int, b: int) -> bool:
    return a != b and (b - a) % SSN_MODULUS < _SSN_HALF


def ssn_le(a: int, b: int) -> bool:
    return a == b or ssn_lt(a, b)


def ssn_sort_key(base: int) -> _OffsetKey:
    return _OffsetKey(base, SSN_MODULUS)


class _OffsetKey:
    """Callable sort key: distance of a value after a base, modulo the serial space."""

    __slots__ = ("_base", "_modulus")

    def __init__(self, base: int, modulus: int) -> None:
        self._base = base
        self._modulus = modulus

    def __call__(self, value: int) -> int:
        return (value - self._base) % self._modulus
