"""Bounds-checked reading and writing of the TLS presentation language (RFC 5246 section 4).

Vectors are prefixed by their length in 1, 2 or 3 bytes; integers are big-endian.
Every read past the end raises `DtlsDecodeError`, never IndexError.
"""

from __future__ import annotations

from .errors import DtlsDecodeError


class Reader:
    """A cursor over untrusted bytes."""

    def __init__(self, data: bytes, what: str = "message") -> None:
        self._data = data
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def read_bytes(self, count: int) -> bytes:
        if count < 0 or self._pos + count > len(self._data):
            raise DtlsDecodeError(f"{self._what} truncated")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return bytes(chunk)

    def read_uint(self, size: int) -> int:
        return int.from_bytes(self.read_bytes(size), "big")

    def read_vector(self, length_size: int, minimum: int = 0, maximum: int | None = None) -> bytes:
        length = self.read_uint(length_size)
        if length < minimum or (maximum is not None and length > maximum):
            raise DtlsDecodeError(f"{self._what}: vector length {length} out of range")
        return self.read_bytes(length)

    def read_rest(self) -> bytes:
        return self.read_bytes(self.remaining)

    def expect_end(self) -> None:
        if not self.at_end():
            raise DtlsDecodeError(f"{self._what} has {self.remaining} trailing bytes")


def uint(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def vector(data: bytes, length_size: int) -> bytes:
    return len(data).to_bytes(length_size, "big") + data


def uint16_list_untrusted(data: bytes, what: str) -> list[int]:
    """A vector body made of uint16 values (cipher suites, groups, profiles, schemes)."""
    if len(data) % 2:
        raise DtlsDecodeError(f"{what}: odd length")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def encode_uint16_list(values: list[int] | tuple[int, ...]) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)
