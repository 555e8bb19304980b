"""H.264 RTP payload format (RFC 6184), packetization-mode 1 (non-interleaved).

RFC 6184 section 5.3, the NAL unit header that starts every payload::

    +---------------+
    |0|1|2|3|4|5|6|7|
    +-+-+-+-+-+-+-+-+
    |F|NRI|  Type   |
    +---------------+

Type 1-23 is a single NAL unit packet (5.6). Type 24 is STAP-A (5.7.1)::

    | STAP-A NAL HDR |  NALU 1 Size (16)  | NALU 1 HDR | NALU 1 Data ... |
    |  NALU 2 Size (16)  | NALU 2 HDR | NALU 2 Data ... |

Type 28 is FU-A (5.8)::

    | FU indicator  |   FU header   |                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               |
    |F|NRI|  Type=28|S|E|R|  Type   |       FU payload ...          |

Encoders emit Annex B byte streams (ITU-T H.264 Annex B: NAL units separated by
0x000001 or 0x00000001 start codes); this module splits them, packetizes them
under an MTU, and reassembles RTP payloads back into Annex B access units.
The profile-level-id helpers follow RFC 6184 section 8.1.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
DEFAULT_MAX_PAYLOAD_SIZE = 1200
CONSTRAINED_BASELINE_LEVEL_3_1 = "42e01f"
H264_CLOCK_RATE = 90_000
# RFC 6184 section 8.1 fmtp that Chrome and Selkies negotiate for WebRTC video.
H264_FMTP: dict[str, str] = {
    "level-asymmetry-allowed": "1",
    "packetization-mode": "1",
    "profile-level-id": CONSTRAINED_BASELINE_LEVEL_3_1,
}


class H264DecodeError(Exception):
    """RTP payloads from the network are not valid RFC 6184 packets."""


class H264LocalProtocolError(ValueError):
    """The caller passed an impossible packetization request."""


class NalUnitType(enum.IntEnum):
    NON_IDR_SLICE = 1
    IDR_SLICE = 5
    SEI = 6
    SPS = 7
    PPS = 8
    ACCESS_UNIT_DELIMITER = 9
    FILLER_DATA = 12
    STAP_A = 24
    FU_A = 28


# Delimiters and filler mean nothing once each access unit is its own RTP frame.
_DROPPED_NAL_TYPES = frozenset({NalUnitType.ACCESS_UNIT_DELIMITER, NalUnitType.FILLER_DATA})


def nal_unit_type(nal_unit: bytes) -> int:
    return nal_unit[0] & 0x1F


def split_annex_b(stream: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream, without their start codes."""
    units: list[bytes] = []
    position = stream.find(b"\x00\x00\x01")
    while position != -1:
        start = position + 3
        following = stream.find(b"\x00\x00\x01", start)
        end = len(stream) if following == -1 else following
        # Zeros before a start code are trailing_zero_8bits or the 4-byte code's lead.
        unit = stream[start:end].rstrip(b"\x00")
        if unit:
            units.append(unit)
        position = following
    return units


def join_annex_b(nal_units: Iterable[bytes]) -> bytes:
    return b"".join(START_CODE + unit for unit in nal_units)


def is_keyframe(nal_units: Iterable[bytes]) -> bool:
    return any(unit and nal_unit_type(unit) == NalUnitType.IDR_SLICE for unit in nal_units)


def packetize_nal_units(
    nal_units: Iterable[bytes], max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE
) -> list[bytes]:
    """RTP payloads for one access unit; the caller sets the marker bit on the last one.

    Consecutive NAL units that fit together (typically SPS, PPS and a small IDR) go
    in one STAP-A; a unit larger than the payload size is split into FU-A fragments.
    """
    if max_payload_size < 3:
        raise H264LocalProtocolError("payload size must leave room for FU headers and data")
    payloads: list[bytes] = []
    pending: list[bytes] = []

    def flush_pending() -> None:
        if len(pending) == 1:
            payloads.append(pending[0])
        elif pending:
            forbidden = max(unit[0] & 0x80 for unit in pending)
            nri = max(unit[0] & 0x60 for unit in pending)
            payloads.append(
                bytes([forbidden | nri | NalUnitType.STAP_A])
                + b"".join(len(unit).to_bytes(2, "big") + unit for unit in pending)
            )
        pending.clear()

    def aggregate_size(units: list[bytes]) -> int:
        return 1 + sum(2 + len(unit) for unit in units)

    for unit in nal_units:
        if not unit or nal_unit_type(unit) in _DROPPED_NAL_TYPES:
            continue
        if len(unit) > max_payload_size:
            flush_pending()
            payloads.extend(_fragment(unit, max_payload_size))
            continue
        if pending and aggregate_size([*pending, unit]) > max_payload_size:
            flush_pending()
        pending.append(unit)
    flush_pending()
    return payloads


def packetize_annex_b(
    access_unit: bytes, max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE
) -> list[bytes]:
    return packetize_nal_units(split_annex_b(access_unit), max_payload_size)


def _fragment(unit: bytes, max_payload_size: int) -> list[bytes]:
    indicator = (unit[0] & 0xE0) | NalUnitType.FU_A
    original_type = unit[0] & 0x1F
    data = unit[1:]
    room = max_payload_size - 2
    count = -(-len(data) // room)
    # Equal-sized fragments instead of full ones plus a runt: same packet count, and
    # no tiny last packet to lose.
    size = -(-len(data) // count)
    fragments: list[bytes] = []
    for index in range(count):
        chunk = data[index * size : (index + 1) * size]
        header = original_type
        if index == 0:
            header |= 0x80
        if index == count - 1:
            header |= 0x40
        fragments.append(bytes([indicator, header]) + chunk)
    return fragments


def depacketize_untrusted(payloads: Iterable[bytes]) -> list[bytes]:
    """NAL units carried by the RTP payloads of one access unit, given in sequence order.

    Raises only H264DecodeError: a truncated STAP-A, an FU-A run that does not start
    with S or end with E, an interleaved-mode packet type, and so on.
    """
    units: list[bytes] = []
    fragments: bytearray | None = None
    for payload in payloads:
        if not payload:
            raise H264DecodeError("empty RTP payload")
        if payload[0] & 0x80:
            raise H264DecodeError("forbidden_zero_bit set")
        packet_type = payload[0] & 0x1F
        if fragments is not None and packet_type != NalUnitType.FU_A:
            raise H264DecodeError("FU-A fragments interrupted before the end bit")
        if 1 <= packet_type <= 23:
            units.append(bytes(payload))
        elif packet_type == NalUnitType.STAP_A:
            units.extend(_split_stap_a(payload))
        elif packet_type == NalUnitType.FU_A:
            if len(payload) < 3:
                raise H264DecodeError("FU-A shorter than its headers plus one byte")
            fu_header = payload[1]
            start, end = bool(fu_header & 0x80), bool(fu_header & 0x40)
            if start and end:
                raise H264DecodeError("FU-A with both start and end bits")
            if start:
                if fragments is not None:
                    raise H264DecodeError("FU-A start inside another fragmented unit")
                fragments = bytearray([(payload[0] & 0xE0) | (fu_header & 0x1F)])
            elif fragments is None:
                raise H264DecodeError("FU-A continuation without a start fragment")
            fragments += payload[2:]
            if end:
                units.append(bytes(fragments))
                fragments = None
        else:
            raise H264DecodeError(f"packet type {packet_type} is not allowed in mode 1")
    if fragments is not None:
        raise H264DecodeError("access unit ends inside an FU-A")
    return units


def _split_stap_a(payload: bytes) -> list[bytes]:
    units: list[bytes] = []
    position = 1
    while position < len(payload):
        if position + 2 > len(payload):
            raise H264DecodeError("STAP-A size field cut short")
        size = int.from_bytes(payload[position : position + 2], "big")
        position += 2
        if size == 0 or position + size > len(payload):
            raise H264DecodeError(f"STAP-A unit of {size} bytes does not fit")
        units.append(bytes(payload[position : position + size]))
        position += size
    if not units:
        raise H264DecodeError("STAP-A carries no NAL unit")
    return units


@dataclass(frozen=True, slots=True)
class AccessUnit:
    timestamp: int
    nal_units: tuple[bytes, ...]

    @property
    def keyframe(self) -> bool:
        return is_keyframe(self.nal_units)

    def to_annex_b(self) -> bytes:
        return join_annex_b(self.nal_units)


class H264Depacketizer:
    """Reassembles access units from RTP packets that may arrive out of order.

    Packets are grouped by RTP timestamp; a frame is complete once its marker packet
    has arrived and the contiguous run of sequence numbers ending at the marker
    begins with a packet that starts a NAL unit. A frame that cannot be completed is
    dropped when a later one completes.
    """

    def __init__(self, max_pending_frames: int = 32, max_packets_per_frame: int = 4096) -> None:
        self._pending: dict[int, dict[int, tuple[bool, bytes]]] = {}
        self._ready: list[AccessUnit] = []
        self._last_completed_timestamp: int | None = None
        self._max_pending_frames = max_pending_frames
        self._max_packets_per_frame = max_packets_per_frame
        self.dropped_frames = 0

    def receive_packet(
        self, sequence_number: int, timestamp: int, marker: bool, payload: bytes
    ) -> None:
        """Add one RTP packet's fields; raises H264DecodeError for a malformed frame."""
        if self._last_completed_timestamp is not None and _timestamp_not_after(
            timestamp, self._last_completed_timestamp
        ):
            return  # late duplicate or retransmission of a frame already delivered
        frame = self._pending.setdefault(timestamp, {})
        frame[sequence_number] = (marker, bytes(payload))
        if len(frame) > self._max_packets_per_frame:
            # No real frame is this large; a peer sending one only wants our memory.
            del self._pending[timestamp]
            self.dropped_frames += 1
            return
        if len(self._pending) > self._max_pending_frames:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            self.dropped_frames += 1
        self._try_complete(timestamp)

    def next_access_unit(self) -> AccessUnit | None:
        return self._ready.pop(0) if self._ready else None

    def _try_complete(self, timestamp: int) -> None:
        frame = self._pending[timestamp]
        markers = [seq for seq, (marker, _) in frame.items() if marker]
        if not markers:
            return
        last = markers[0]
        first = last
        while (first - 1) % 0x10000 in frame:
            first = (first - 1) % 0x10000
        if not _starts_nal_unit(frame[first][1]):
            return
        count = (last - first) % 0x10000 + 1
        sequence = [(first + i) % 0x10000 for i in range(count)]
        if any(seq not in frame for seq in sequence):
            return
        del self._pending[timestamp]
        for stale in [t for t in self._pending if _timestamp_not_after(t, timestamp)]:
            del self._pending[stale]
            self.dropped_frames += 1
        self._last_completed_timestamp = timestamp
        units = depacketize_untrusted(frame[seq][1] for seq in sequence)
        self._ready.append(AccessUnit(timestamp, tuple(units)))


def _starts_nal_unit(payload: bytes) -> bool:
    if not payload:
        return False
    if payload[0] & 0x1F != NalUnitType.FU_A:
        return True
    return len(payload) > 1 and bool(payload[1] & 0x80)


def _timestamp_not_after(timestamp: int, reference: int) -> bool:
    return (reference - timestamp) % (1 << 32) < (1 << 31)


# profile-level-id (RFC 6184 section 8.1): profile_idc, profile-iop, level_idc as hex.


@dataclass(frozen=True, slots=True)
class ProfileLevelId:
    profile_idc: int
    profile_iop: int
    level_idc: int

    @classmethod
    def parse_untrusted(cls, value: str) -> ProfileLevelId:
        if len(value) != 6:
            raise H264DecodeError(f"profile-level-id {value!r} is not 6 hex digits")
        try:
            raw = bytes.fromhex(value)
        except ValueError as error:
            raise H264DecodeError(f"profile-level-id {value!r} is not hex") from error
        return cls(raw[0], raw[1], raw[2])

    def __str__(self) -> str:
        return f"{self.profile_idc:02x}{self.profile_iop:02x}{self.level_idc:02x}"

    @property
    def is_constrained_baseline(self) -> bool:
        # RFC 6184 table 5: these profile_idc / constraint flag combinations all
        # decode as Constrained Baseline.
        set0, set1 = bool(self.profile_iop & 0x80), bool(self.profile_iop & 0x40)
        if self.profile_idc == 0x42:
            return set1
        if self.profile_idc == 0x4D:
            return set0
        if self.profile_idc == 0x58:
            return set0 and set1
        return False


def accepts_constrained_baseline_mode_1(fmtp: Mapping[str, str]) -> bool:
    """Whether an offered H.264 format can carry our constrained-baseline, mode-1 stream."""
    if fmtp.get("packetization-mode", "0") != "1":
        return False
    # RFC 6184 8.1: an absent profile-level-id means Baseline level 1 (42000a).
    value = fmtp.get("profile-level-id", "42000a")
    try:
        return ProfileLevelId.parse_untrusted(value).is_constrained_baseline
    except H264DecodeError:
        return False
