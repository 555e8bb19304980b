"""DTLS handshake message framing, fragmentation and reassembly, RFC 6347 section 4.2.2-4.2.3.

      struct {
        HandshakeType msg_type;
        uint24 length;
        uint16 message_seq;                               // New field
        uint24 fragment_offset;                           // New field
        uint24 fragment_length;                           // New field
        select (HandshakeType) { ... } body;
      } Handshake;

       0                   1                   2                   3
       0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |   msg_type    |                    length                     |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |          message_seq          |        fragment_offset        :
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      :fragment_offset|                fragment_length                |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

A message larger than a record is sent as several fragments; the receiver buffers
them by message_seq, accepting any order and duplicates, and hands out whole messages
in message_seq order. The handshake transcript (section 4.2.6) holds each message as
if it had been sent in one fragment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .errors import DtlsDecodeError

HANDSHAKE_HEADER_LENGTH = 12
# No message we accept comes near this; it bounds what a peer can make us buffer.
MAX_HANDSHAKE_MESSAGE_LENGTH = 1 << 16
# How many messages past the next expected one we are willing to buffer.
REASSEMBLY_LOOKAHEAD = 16


class HandshakeType(IntEnum):
    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    HELLO_VERIFY_REQUEST = 3
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    FINISHED = 20


@dataclass(frozen=True)
class HandshakeFragment:
    msg_type: int
    length: int
    message_seq: int
    fragment_offset: int
    body: bytes


@dataclass(frozen=True)
class HandshakeMessage:
    msg_type: int
    message_seq: int
    body: bytes

    def transcript_bytes(self) -> bytes:
        """The message as it enters the handshake hash: one fragment covering all of it."""
        return encode_fragment(self.msg_type, len(self.body), self.message_seq, 0, self.body)


def encode_fragment(
    msg_type: int, length: int, message_seq: int, fragment_offset: int, body: bytes
) -> bytes:
    return (
        bytes((msg_type,))
        + length.to_bytes(3, "big")
        + message_seq.to_bytes(2, "big")
        + fragment_offset.to_bytes(3, "big")
        + len(body).to_bytes(3, "big")
        + body
    )


def parse_fragments_untrusted(data: bytes) -> list[HandshakeFragment]:
    """All handshake fragments of one record's plaintext."""
    fragments: list[HandshakeFragment] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < HANDSHAKE_HEADER_LENGTH:
            raise DtlsDecodeError("handshake header truncated")
        msg_type = data[offset]
        length = int.from_bytes(data[offset + 1 : offset + 4], "big")
        message_seq = int.from_bytes(data[offset + 4 : offset + 6], "big")
        fragment_offset = int.from_bytes(data[offset + 6 : offset + 9], "big")
        fragment_length = int.from_bytes(data[offset + 9 : offset + 12], "big")
        start = offset + HANDSHAKE_HEADER_LENGTH
        end = start + fragment_length
        if end > len(data):
            raise DtlsDecodeError("handshake fragment truncated")
        if fragment_offset + fragment_length > length:
            raise DtlsDecodeError("handshake fragment extends past its message")
        if length > MAX_HANDSHAKE_MESSAGE_LENGTH:
            raise DtlsDecodeError("handshake message too long")
        fragments.append(
            HandshakeFragment(
                msg_type, length, message_seq, fragment_offset, bytes(data[start:end])
            )
        )
        offset = end
    return fragments


def split_message(message: HandshakeMessage, offset: int, budget: int) -> tuple[bytes, int]:
    """Encode the fragment starting at `offset` whose encoding fits in `budget` bytes.

    Returns the encoded fragment and the offset where the next fragment starts. An
    empty message still yields one (empty) fragment.
    """
    room = max(budget - HANDSHAKE_HEADER_LENGTH, 1)
    chunk = message.body[offset : offset + room]
    encoded = encode_fragment(
        message.msg_type, len(message.body), message.message_seq, offset, chunk
    )
    return encoded, offset + len(chunk)


class _PartialMessage:
    def __init__(self, msg_type: int, length: int) -> None:
        self.msg_type = msg_type
        self.length = length
        self.body = bytearray(length)
        self.received = bytearray(length)  # 1 where a byte has arrived

    def add(self, fragment: HandshakeFragment) -> None:
        start = fragment.fragment_offset
        end = start + len(fragment.body)
        self.body[start:end] = fragment.body
        self.received[start:end] = b"\x01" * (end - start)

    def complete(self) -> bool:
        return self.received.count(0) == 0


class Reassembler:
    """Buffers fragments by message_seq and releases whole messages in order."""

    def __init__(self) -> None:
        self.next_seq = 0
        self._partial: dict[int, _PartialMessage] = {}

    def add(self, fragment: HandshakeFragment) -> bool:
        """Buffer a fragment; False if it belongs to a message already released (a replay)."""
        seq = fragment.message_seq
        if seq < self.next_seq:
            return False
        if seq >= self.next_seq + REASSEMBLY_LOOKAHEAD:
            return True
        partial = self._partial.get(seq)
        if partial is None:
            partial = _PartialMessage(fragment.msg_type, fragment.length)
            self._partial[seq] = partial
        elif partial.msg_type != fragment.msg_type or partial.length != fragment.length:
            return True  # inconsistent with what we already hold: ignore it
        partial.add(fragment)
        return True

    def pop_message(self) -> HandshakeMessage | None:
        """The next whole message in order, if it has fully arrived."""
        partial = self._partial.get(self.next_seq)
        if partial is None or not partial.complete():
            return None
        del self._partial[self.next_seq]
        message = HandshakeMessage(partial.msg_type, self.next_seq, bytes(partial.body))
        self.next_seq += 1
        return message

    def peek_complete(self) -> list[HandshakeMessage]:
        """Whole messages buffered at any sequence, without releasing them."""
        return [
            HandshakeMessage(partial.msg_type, seq, bytes(partial.body))
            for seq, partial in sorted(self._partial.items())
            if partial.complete()
        ]

    def reset(self, next_seq: int) -> None:
        self.next_seq = next_seq
        self._partial = {k: v for k, v in self._partial.items() if k >= next_seq}
