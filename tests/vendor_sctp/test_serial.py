"""RFC 1982 serial arithmetic for TSNs and SSNs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vendor_sctp.serial import (
    ssn_add,
    ssn_le,
    ssn_lt,
    ssn_sort_key,
    tsn_add,
    tsn_diff,
    tsn_ge,
    tsn_gt,
    tsn_le,
    tsn_lt,
    tsn_max,
    tsn_sort_key,
)

U32 = st.integers(0, 2**32 - 1)


def test_tsn_wraps_around() -> None:
    assert tsn_add(0xFFFFFFFF, 1) == 0
    assert tsn_add(0, -1) == 0xFFFFFFFF
    assert tsn_lt(0xFFFFFFFF, 0)
    assert tsn_gt(0, 0xFFFFFFFF)
    assert tsn_lt(0xFFFFFFF0, 5)
    assert not tsn_lt(5, 0xFFFFFFF0)
    assert tsn_diff(3, 0xFFFFFFFE) == 5
    assert tsn_diff(0xFFFFFFFE, 3) == -5
    assert tsn_max(0xFFFFFFFF, 2) == 2
    assert tsn_le(7, 7) and tsn_ge(7, 7) and not tsn_lt(7, 7)


def test_ssn_wraps_around() -> None:
    assert ssn_add(65535, 1) == 0
    assert ssn_lt(65535, 0)
    assert ssn_lt(65530, 4)
    assert not ssn_lt(4, 65530)
    assert ssn_le(9, 9)


def test_sort_keys_order_across_the_wrap() -> None:
    values = [2, 0xFFFFFFFE, 0, 0xFFFFFFFF, 1]
    assert sorted(values, key=tsn_sort_key(0xFFFFFFF0)) == [0xFFFFFFFE, 0xFFFFFFFF, 0, 1, 2]
    assert sorted([1, 65535, 0], key=ssn_sort_key(65000)) == [65535, 0, 1]


@settings(max_examples=300, deadline=None)
@given(U32, st.integers(1, 2**31 - 1))
def test_adding_a_positive_distance_is_greater(base: int, delta: int) -> None:
    later = tsn_add(base, delta)
    assert tsn_lt(base, later) and tsn_gt(later, base)
    assert tsn_diff(later, base) == delta
    assert not tsn_lt(later, base)
