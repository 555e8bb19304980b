"""RTCP packets and compound packets (RFC 3550 section 6, RFC 4585, RFC 5104, REMB, transport-cc).

Every RTCP packet starts with this header (RFC 3550 section 6.4.1)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|    RC   |   PT=SR=200   |             length            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

``length`` counts 32-bit words minus one. Packet bodies:

- SR (RFC 3550 6.4.1): SSRC of sender, NTP timestamp (64), RTP timestamp,
  sender's packet count, sender's octet count, then RC report blocks.
- RR (6.4.2): SSRC of packet sender, then RC report blocks. A report block is
  SSRC_n, fraction lost (8) + cumulative number of packets lost (24, signed),
  extended highest sequence number received, interarrival jitter,
  last SR (LSR), delay since last SR (DLSR).
- SDES (6.5): SC chunks of SSRC/CSRC followed by items (type, length, text),
  ended by a null octet and padded to a 32-bit boundary.
- BYE (6.6): SC SSRC/CSRC identifiers, then an optional length + reason.
- Feedback (RFC 4585 section 6.1): FMT in the RC position, PT=205 (RTPFB) or
  206 (PSFB), SSRC of packet sender, SSRC of media source, FCI.
  - Generic NACK (RFC 4585 6.2.1, RTPFB FMT=1): FCI entries PID (16) + BLP (16).
  - PLI (RFC 4585 6.3.1, PSFB FMT=1): no FCI.
  - FIR (RFC 5104 4.3.1, PSFB FMT=4): FCI entries SSRC (32) + Seq nr. (8) + reserved (24).
  - REMB (draft-alvestrand-rmcat-remb-03 section 2.2, PSFB FMT=15): 'REMB',
    Num SSRC (8), BR Exp (6), BR Mantissa (18), then the SSRC feedback list.
  - Transport-wide feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01
    section 3.1, RTPFB FMT=15): base sequence number (16), packet status count (16),
    reference time (24, signed, 64 ms units), fb pkt. count (8), packet chunks
    (16 each: run length T=0 | S(2) | run(13), or status vector T=1 | S(1) |
    14 one-bit or 7 two-bit symbols), then one receive delta per received packet
    (1 byte unsigned for "small delta", 2 bytes signed for "large or negative
    delta", in 250 microsecond units), zero padded to 32 bits.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass

RTCP_VERSION = 2
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


class RtcpDecodeError(Exception):
    """Bytes from the network are not a well-formed RTCP packet."""


class RtcpLocalProtocolError(ValueError):
    """The caller asked to build an RTCP packet that cannot be expressed on the wire."""


class RtcpPacketType(enum.IntEnum):
    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204
    RTPFB = 205
    PSFB = 206
    XR = 207


class RtpFeedbackFormat(enum.IntEnum):
    GENERIC_NACK = 1
    TRANSPORT_WIDE_CC = 15


class PayloadFeedbackFormat(enum.IntEnum):
    PLI = 1
    FIR = 4
    APPLICATION_LAYER = 15  # REMB lives here


class SdesItemType(enum.IntEnum):
    CNAME = 1
    NAME = 2
    EMAIL = 3
    PHONE = 4
    LOC = 5
    TOOL = 6
    NOTE = 7
    PRIV = 8


_HEADER = struct.Struct("!BBH")
_REPORT_BLOCK = struct.Struct("!IIIIII")
_SENDER_INFO = struct.Struct("!IQIII")
_TWO_SSRC = struct.Struct("!II")
REMB_IDENTIFIER = b"REMB"


def _header(count_or_format: int, packet_type: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise RtcpLocalProtocolError("RTCP body must be whole 32-bit words")
    if not 0 <= count_or_format <= 31:
        raise RtcpLocalProtocolError(f"count/format {count_or_format} is not 5 bits")
    return _HEADER.pack((RTCP_VERSION << 6) | count_or_format, packet_type, len(body) // 4) + body


def _check_u32(value: int, name: str) -> None:
    if not 0 <= value <= 0xFFFFFFFF:
        raise RtcpLocalProtocolError(f"{name} {value} is not 32 bits")


@dataclass(frozen=True, slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int
    packets_lost: int  # cumulative, signed 24-bit
    highest_sequence: int  # extended highest sequence number received
    jitter: int
    last_sr: int
    delay_since_last_sr: int

    def to_bytes(self) -> bytes:
        if not 0 <= self.fraction_lost <= 255:
            raise RtcpLocalProtocolError("fraction lost is 8 bits")
        if not -(1 << 23) <= self.packets_lost < (1 << 23):
            raise RtcpLocalProtocolError("cumulative packets lost is signed 24 bits")
        for value, name in (
            (self.ssrc, "SSRC"),
            (self.highest_sequence, "highest sequence"),
            (self.jitter, "jitter"),
            (self.last_sr, "LSR"),
            (self.delay_since_last_sr, "DLSR"),
        ):
            _check_u32(value, name)
        return _REPORT_BLOCK.pack(
            self.ssrc,
            (self.fraction_lost << 24) | (self.packets_lost & 0xFFFFFF),
            self.highest_sequence,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        )

    @classmethod
    def parse_untrusted(cls, data: bytes, offset: int) -> ReportBlock:
        if len(data) < offset + _REPORT_BLOCK.size:
            raise RtcpDecodeError("report block cut short")
        ssrc, loss, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        lost = loss & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24
        return cls(ssrc, loss >> 24, lost, highest, jitter, lsr, dlsr)


def _parse_report_blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    return tuple(
        ReportBlock.parse_untrusted(body, offset + i * _REPORT_BLOCK.size) for i in range(count)
    )


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format: seconds since 1900 << 32 | fraction
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    def to_bytes(self) -> bytes:
        if len(self.reports) > 31:
            raise RtcpLocalProtocolError("at most 31 report blocks per SR")
        if not 0 <= self.ntp_timestamp < (1 << 64):
            raise RtcpLocalProtocolError("NTP timestamp is 64 bits")
        for value, name in (
            (self.ssrc, "SSRC"),
            (self.rtp_timestamp, "RTP timestamp"),
            (self.packet_count, "packet count"),
            (self.octet_count, "octet count"),
        ):
            _check_u32(value, name)
        body = _SENDER_INFO.pack(
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count, self.octet_count
        ) + b"".join(block.to_bytes() for block in self.reports)
        return _header(len(self.reports), RtcpPacketType.SR, body)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def to_bytes(self) -> bytes:
        if len(self.reports) > 31:
            raise RtcpLocalProtocolError("at most 31 report blocks per RR")
        _check_u32(self.ssrc, "SSRC")
        body = self.ssrc.to_bytes(4, "big") + b"".join(b.to_bytes() for b in self.reports)
        return _header(len(self.reports), RtcpPacketType.RR, body)


@dataclass(frozen=True, slots=True)
class SdesItem:
    type: int
    value: bytes


@dataclass(frozen=True, slots=True)
class SdesChunk:
    ssrc: int
    items: tuple[SdesItem, ...]

    def cname(self) -> str | None:
        for item in self.items:
            if item.type == SdesItemType.CNAME:
                return item.value.decode("utf-8", "replace")
        return None


@dataclass(frozen=True, slots=True)
class SourceDescription:
    chunks: tuple[SdesChunk, ...]

    def to_bytes(self) -> bytes:
        if len(self.chunks) > 31:
            raise RtcpLocalProtocolError("at most 31 SDES chunks per packet")
        parts: list[bytes] = []
        for chunk in self.chunks:
            _check_u32(chunk.ssrc, "SSRC")
            encoded = bytearray(chunk.ssrc.to_bytes(4, "big"))
            for item in chunk.items:
                if not 1 <= item.type <= 255 or len(item.value) > 255:
                    raise RtcpLocalProtocolError("SDES item type 1-255, text up to 255 octets")
                encoded += bytes([item.type, len(item.value)]) + item.value
            # The item list ends with a null octet, then pads to a 32-bit boundary.
            encoded += bytes(4 - len(encoded) % 4)
            parts.append(bytes(encoded))
        return _header(len(self.chunks), RtcpPacketType.SDES, b"".join(parts))


@dataclass(frozen=True, slots=True)
class Goodbye:
    sources: tuple[int, ...]
    reason: bytes | None = None

    def to_bytes(self) -> bytes:
        if len(self.sources) > 31:
            raise RtcpLocalProtocolError("at most 31 sources per BYE")
        for source in self.sources:
            _check_u32(source, "SSRC")
        body = b"".join(source.to_bytes(4, "big") for source in self.sources)
        if self.reason is not None:
            if len(self.reason) > 255:
                raise RtcpLocalProtocolError("BYE reason is at most 255 octets")
            reason = bytes([len(self.reason)]) + self.reason
            body += reason + bytes(-len(reason) % 4)
        return _header(len(self.sources), RtcpPacketType.BYE, body)


@dataclass(frozen=True, slots=True)
class GenericNack:
    sender_ssrc: int
    media_ssrc: int
    lost: tuple[int, ...]  # the sequence numbers reported missing, in wire order

    def to_bytes(self) -> bytes:
        _check_u32(self.sender_ssrc, "sender SSRC")
        _check_u32(self.media_ssrc, "media SSRC")
        entries: list[bytes] = []
        remaining = list(dict.fromkeys(self.lost))
        while remaining:
            packet_id = remaining.pop(0)
            if not 0 <= packet_id <= 0xFFFF:
                raise RtcpLocalProtocolError(f"sequence number {packet_id} is not 16 bits")
            bitmask = 0
            still_remaining: list[int] = []
            for sequence in remaining:
                offset = (sequence - packet_id) % 0x10000
                if 1 <= offset <= 16:
                    bitmask |= 1 << (offset - 1)
                else:
                    still_remaining.append(sequence)
            remaining = still_remaining
            entries.append(struct.pack("!HH", packet_id, bitmask))
        if not entries:
            raise RtcpLocalProtocolError("a NACK must name at least one sequence number")
        body = _TWO_SSRC.pack(self.sender_ssrc, self.media_ssrc) + b"".join(entries)
        return _header(RtpFeedbackFormat.GENERIC_NACK, RtcpPacketType.RTPFB, body)


@dataclass(frozen=True, slots=True)
class PictureLossIndication:
    sender_ssrc: int
    media_ssrc: int

    def to_bytes(self) -> bytes:
        _check_u32(self.sender_ssrc, "sender SSRC")
        _check_u32(self.media_ssrc, "media SSRC")
        body = _TWO_SSRC.pack(self.sender_ssrc, self.media_ssrc)
        return _header(PayloadFeedbackFormat.PLI, RtcpPacketType.PSFB, body)


@dataclass(frozen=True, slots=True)
class FirEntry:
    ssrc: int
    sequence_number: int  # "Seq nr.", 8 bits, incremented per new request


@dataclass(frozen=True, slots=True)
class FullIntraRequest:
    sender_ssrc: int
    entries: tuple[FirEntry, ...]
    media_ssrc: int = 0  # RFC 5104 4.3.1.2: "SHALL be set to 0"

    def to_bytes(self) -> bytes:
        _check_u32(self.sender_ssrc, "sender SSRC")
        _check_u32(self.media_ssrc, "media SSRC")
        body = bytearray(_TWO_SSRC.pack(self.sender_ssrc, self.media_ssrc))
        for entry in self.entries:
            _check_u32(entry.ssrc, "FIR SSRC")
            if not 0 <= entry.sequence_number <= 255:
                raise RtcpLocalProtocolError("FIR Seq nr. is 8 bits")
            body += struct.pack("!IB3x", entry.ssrc, entry.sequence_number)
        return _header(PayloadFeedbackFormat.FIR, RtcpPacketType.PSFB, bytes(body))


@dataclass(frozen=True, slots=True)
class ReceiverEstimatedMaxBitrate:
    sender_ssrc: int
    bitrate: int  # bits per second, as represented by exponent and mantissa
    ssrcs: tuple[int, ...]

    def to_bytes(self) -> bytes:
        _check_u32(self.sender_ssrc, "sender SSRC")
        if len(self.ssrcs) > 255:
            raise RtcpLocalProtocolError("REMB lists at most 255 SSRCs")
        if self.bitrate < 0:
            raise RtcpLocalProtocolError("bitrate cannot be negative")
        exponent, mantissa = 0, self.bitrate
        while mantissa >= (1 << 18):
            mantissa >>= 1
            exponent += 1
        if exponent > 63:
            raise RtcpLocalProtocolError("bitrate too large for REMB")
        body = (
            _TWO_SSRC.pack(self.sender_ssrc, 0)
            + REMB_IDENTIFIER
            + struct.pack(
                "!BBH", len(self.ssrcs), (exponent << 2) | (mantissa >> 16), mantissa & 0xFFFF
            )
        )
        for source in self.ssrcs:
            _check_u32(source, "SSRC")
            body += source.to_bytes(4, "big")
        return _header(PayloadFeedbackFormat.APPLICATION_LAYER, RtcpPacketType.PSFB, body)


class PacketStatus(enum.IntEnum):
    """Transport-cc packet status symbols (section 3.1.1)."""

    NOT_RECEIVED = 0
    SMALL_DELTA = 1
    LARGE_OR_NEGATIVE_DELTA = 2


DELTA_TICK_MICROSECONDS = 250
REFERENCE_TIME_TICK_MICROSECONDS = 64_000


@dataclass(frozen=True, slots=True)
class PacketResult:
    sequence_number: int
    status: PacketStatus
    # Receive delta in microseconds (a multiple of 250) relative to the previous
    # received packet, or to the reference time for the first; None if not received.
    delta_microseconds: int | None


@dataclass(frozen=True, slots=True)
class TransportFeedback:
    sender_ssrc: int
    media_ssrc: int
    base_sequence_number: int
    reference_time: int  # signed, in 64 ms units
    feedback_packet_count: int
    packets: tuple[PacketResult, ...]

    def arrival_times_microseconds(self) -> dict[int, int]:
        """Receive time of each received packet, in microseconds on the receiver's clock."""
        clock = self.reference_time * REFERENCE_TIME_TICK_MICROSECONDS
        arrivals: dict[int, int] = {}
        for packet in self.packets:
            if packet.delta_microseconds is not None:
                clock += packet.delta_microseconds
                arrivals[packet.sequence_number] = clock
        return arrivals

    def to_bytes(self) -> bytes:
        _check_u32(self.sender_ssrc, "sender SSRC")
        _check_u32(self.media_ssrc, "media SSRC")
        if not self.packets or len(self.packets) > 0xFFFF:
            raise RtcpLocalProtocolError("transport feedback covers 1 to 65535 packets")
        if not -(1 << 23) <= self.reference_time < (1 << 23):
            raise RtcpLocalProtocolError("reference time is signed 24 bits")
        if not 0 <= self.feedback_packet_count <= 255:
            raise RtcpLocalProtocolError("fb pkt. count is 8 bits")
        statuses: list[int] = []
        deltas = bytearray()
        for index, packet in enumerate(self.packets):
            expected = (self.base_sequence_number + index) % 0x10000
            if packet.sequence_number != expected:
                raise RtcpLocalProtocolError("packets must be consecutive from the base")
            statuses.append(packet.status)
            if packet.status == PacketStatus.NOT_RECEIVED:
                if packet.delta_microseconds is not None:
                    raise RtcpLocalProtocolError("a lost packet carries no delta")
                continue
            if packet.delta_microseconds is None:
                raise RtcpLocalProtocolError("a received packet needs a delta")
            ticks, remainder = divmod(packet.delta_microseconds, DELTA_TICK_MICROSECONDS)
            if remainder:
                raise RtcpLocalProtocolError("deltas are multiples of 250 microseconds")
            if packet.status == PacketStatus.SMALL_DELTA:
                if not 0 <= ticks <= 255:
                    raise RtcpLocalProtocolError("a small delta is 0..255 ticks")
                deltas.append(ticks)
            else:
                if not -(1 << 15) <= ticks < (1 << 15):
                    raise RtcpLocalProtocolError("a large delta is signed 16-bit ticks")
                deltas += ticks.to_bytes(2, "big", signed=True)
        chunks = _encode_status_chunks(statuses)
        body = (
            _TWO_SSRC.pack(self.sender_ssrc, self.media_ssrc)
            + struct.pack(
                "!HHI",
                self.base_sequence_number,
                len(self.packets),
                ((self.reference_time & 0xFFFFFF) << 8) | self.feedback_packet_count,
            )
            + chunks
            + bytes(deltas)
        )
        body += bytes(-len(body) % 4)
        return _header(RtpFeedbackFormat.TRANSPORT_WIDE_CC, RtcpPacketType.RTPFB, body)


def _encode_status_chunks(statuses: Sequence[int]) -> bytes:
    chunks = bytearray()
    position = 0
    while position < len(statuses):
        run = 1
        while (
            position + run < len(statuses)
            and statuses[position + run] == statuses[position]
            and run < 0x1FFF
        ):
            run += 1
        window = statuses[position : position + 14]
        if run >= 14 or (run >= 7 and max(window[:7]) == 2) or run == len(statuses) - position:
            chunks += ((statuses[position] << 13) | run).to_bytes(2, "big")
            position += run
        elif max(window) <= 1:
            symbols = 0
            for bit, status in enumerate(window):
                symbols |= status << (13 - bit)
            chunks += (0x8000 | symbols).to_bytes(2, "big")
            position += len(window)
        else:
            window = statuses[position : position + 7]
            symbols = 0
            for pair, status in enumerate(window):
                symbols |= status << (12 - 2 * pair)
            chunks += (0xC000 | symbols).to_bytes(2, "big")
            position += len(window)
    return bytes(chunks)


@dataclass(frozen=True, slots=True)
class UnknownRtcpPacket:
    """A packet type (APP, XR, ...) or feedback format we do not interpret, kept verbatim."""

    packet_type: int
    count_or_format: int
    body: bytes

    def to_bytes(self) -> bytes:
        return _header(self.count_or_format, self.packet_type, self.body)


RtcpPacket = (
    SenderReport
    | ReceiverReport
    | SourceDescription
    | Goodbye
    | GenericNack
    | PictureLossIndication
    | FullIntraRequest
    | ReceiverEstimatedMaxBitrate
    | TransportFeedback
    | UnknownRtcpPacket
)


def serialize_rtcp_compound(packets: Sequence[RtcpPacket]) -> bytes:
    return b"".join(packet.to_bytes() for packet in packets)


def parse_rtcp_compound_untrusted(data: bytes) -> list[RtcpPacket]:
    """Parse a compound (or, with rtcp-rsize, reduced-size) RTCP datagram.

    Raises only RtcpDecodeError.
    """
    if not data:
        raise RtcpDecodeError("empty RTCP datagram")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise RtcpDecodeError("RTCP header cut short")
        first_byte, packet_type, length_words = _HEADER.unpack_from(data, offset)
        if first_byte >> 6 != RTCP_VERSION:
            raise RtcpDecodeError(f"RTCP version {first_byte >> 6} is not 2")
        end = offset + 4 + 4 * length_words
        if end > len(data):
            raise RtcpDecodeError("RTCP packet runs past the end of the datagram")
        body = bytes(data[offset + 4 : end])
        if first_byte & 0x20:
            # RFC 3550 6.4.1: only the last packet of a compound may be padded.
            if end != len(data):
                raise RtcpDecodeError("padding on an RTCP packet that is not the last")
            if not body or body[-1] == 0 or body[-1] > len(body):
                raise RtcpDecodeError("impossible RTCP padding count")
            body = body[: -body[-1]]
        packets.append(_parse_body(packet_type, first_byte & 0x1F, body))
        offset = end
    return packets


def _parse_body(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == RtcpPacketType.SR:
        if len(body) < _SENDER_INFO.size + count * _REPORT_BLOCK.size:
            raise RtcpDecodeError("SR shorter than its report count")
        ssrc, ntp, rtp_timestamp, packets, octets = _SENDER_INFO.unpack_from(body)
        reports = _parse_report_blocks(body, _SENDER_INFO.size, count)
        return SenderReport(ssrc, ntp, rtp_timestamp, packets, octets, reports)
    if packet_type == RtcpPacketType.RR:
        if len(body) < 4 + count * _REPORT_BLOCK.size:
            raise RtcpDecodeError("RR shorter than its report count")
        return ReceiverReport(int.from_bytes(body[:4], "big"), _parse_report_blocks(body, 4, count))
    if packet_type == RtcpPacketType.SDES:
        return _parse_sdes(count, body)
    if packet_type == RtcpPacketType.BYE:
        return _parse_bye(count, body)
    if packet_type == RtcpPacketType.RTPFB:
        if count == RtpFeedbackFormat.GENERIC_NACK:
            return _parse_nack(body)
        if count == RtpFeedbackFormat.TRANSPORT_WIDE_CC:
            return _parse_transport_feedback(body)
    if packet_type == RtcpPacketType.PSFB:
        if count == PayloadFeedbackFormat.PLI:
            if len(body) < 8:
                raise RtcpDecodeError("PLI shorter than its two SSRCs")
            return PictureLossIndication(*_TWO_SSRC.unpack_from(body))
        if count == PayloadFeedbackFormat.FIR:
            return _parse_fir(body)
        if count == PayloadFeedbackFormat.APPLICATION_LAYER and body[8:12] == REMB_IDENTIFIER:
            return _parse_remb(body)
    return UnknownRtcpPacket(packet_type, count, body)


def _parse_sdes(count: int, body: bytes) -> SourceDescription:
    chunks: list[SdesChunk] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(body):
            raise RtcpDecodeError("SDES chunk cut short")
        ssrc = int.from_bytes(body[offset : offset + 4], "big")
        offset += 4
        items: list[SdesItem] = []
        while True:
            if offset >= len(body):
                raise RtcpDecodeError("SDES chunk has no terminating null item")
            item_type = body[offset]
            if item_type == 0:
                offset += 1
                offset += -offset % 4
                break
            if offset + 2 > len(body):
                raise RtcpDecodeError("SDES item header cut short")
            length = body[offset + 1]
            if offset + 2 + length > len(body):
                raise RtcpDecodeError("SDES item text runs past the packet")
            items.append(SdesItem(item_type, body[offset + 2 : offset + 2 + length]))
            offset += 2 + length
        chunks.append(SdesChunk(ssrc, tuple(items)))
    return SourceDescription(tuple(chunks))


def _parse_bye(count: int, body: bytes) -> Goodbye:
    if len(body) < 4 * count:
        raise RtcpDecodeError("BYE shorter than its source count")
    sources = tuple(int.from_bytes(body[4 * i : 4 * i + 4], "big") for i in range(count))
    reason: bytes | None = None
    rest = body[4 * count :]
    if rest:
        if 1 + rest[0] > len(rest):
            raise RtcpDecodeError("BYE reason runs past the packet")
        reason = rest[1 : 1 + rest[0]]
    return Goodbye(sources, reason)


def _parse_nack(body: bytes) -> GenericNack:
    if len(body) < 12 or len(body) % 4:
        raise RtcpDecodeError("generic NACK needs two SSRCs and whole FCI entries")
    sender_ssrc, media_ssrc = _TWO_SSRC.unpack_from(body)
    lost: list[int] = []
    for offset in range(8, len(body), 4):
        packet_id, bitmask = struct.unpack_from("!HH", body, offset)
        lost.append(packet_id)
        lost.extend((packet_id + bit + 1) % 0x10000 for bit in range(16) if bitmask >> bit & 1)
    return GenericNack(sender_ssrc, media_ssrc, tuple(lost))


def _parse_fir(body: bytes) -> FullIntraRequest:
    if len(body) < 8 or (len(body) - 8) % 8:
        raise RtcpDecodeError("FIR needs two SSRCs and whole 8-octet FCI entries")
    sender_ssrc, media_ssrc = _TWO_SSRC.unpack_from(body)
    entries = tuple(
        FirEntry(*struct.unpack_from("!IB", body, offset)) for offset in range(8, len(body), 8)
    )
    return FullIntraRequest(sender_ssrc, entries, media_ssrc)


def _parse_remb(body: bytes) -> ReceiverEstimatedMaxBitrate:
    if len(body) < 16:
        raise RtcpDecodeError("REMB cut short")
    sender_ssrc = int.from_bytes(body[:4], "big")
    ssrc_count, exponent_and_mantissa = body[12], int.from_bytes(body[13:16], "big")
    if len(body) < 16 + 4 * ssrc_count:
        raise RtcpDecodeError("REMB shorter than its SSRC count")
    bitrate = (exponent_and_mantissa & 0x3FFFF) << (exponent_and_mantissa >> 18)
    ssrcs = tuple(
        int.from_bytes(body[16 + 4 * i : 20 + 4 * i], "big") for i in range(ssrc_count)
    )
    return ReceiverEstimatedMaxBitrate(sender_ssrc, bitrate, ssrcs)


def _parse_transport_feedback(body: bytes) -> TransportFeedback:
    if len(body) < 16:
        raise RtcpDecodeError("transport feedback header cut short")
    sender_ssrc, media_ssrc = _TWO_SSRC.unpack_from(body)
    base, status_count, reference_and_count = struct.unpack_from("!HHI", body, 8)
    reference_time = reference_and_count >> 8
    if reference_time & 0x800000:
        reference_time -= 1 << 24
    offset = 16
    statuses: list[int] = []
    while len(statuses) < status_count:
        if offset + 2 > len(body):
            raise RtcpDecodeError("transport feedback ends inside its packet chunks")
        chunk = int.from_bytes(body[offset : offset + 2], "big")
        offset += 2
        if not chunk & 0x8000:
            symbol, run = (chunk >> 13) & 0x3, chunk & 0x1FFF
            statuses.extend([symbol] * run)
        elif not chunk & 0x4000:
            statuses.extend((chunk >> (13 - bit)) & 1 for bit in range(14))
        else:
            statuses.extend((chunk >> (12 - 2 * pair)) & 3 for pair in range(7))
    del statuses[status_count:]
    packets: list[PacketResult] = []
    for index, symbol in enumerate(statuses):
        sequence_number = (base + index) % 0x10000
        if symbol == PacketStatus.NOT_RECEIVED:
            packets.append(PacketResult(sequence_number, PacketStatus.NOT_RECEIVED, None))
            continue
        if symbol == PacketStatus.SMALL_DELTA:
            if offset + 1 > len(body):
                raise RtcpDecodeError("transport feedback ends inside its receive deltas")
            ticks = body[offset]
            offset += 1
        elif symbol == PacketStatus.LARGE_OR_NEGATIVE_DELTA:
            if offset + 2 > len(body):
                raise RtcpDecodeError("transport feedback ends inside its receive deltas")
            ticks = int.from_bytes(body[offset : offset + 2], "big", signed=True)
            offset += 2
        else:
            raise RtcpDecodeError("reserved packet status symbol 3")
        packets.append(
            PacketResult(sequence_number, PacketStatus(symbol), ticks * DELTA_TICK_MICROSECONDS)
        )
    return TransportFeedback(
        sender_ssrc, media_ssrc, base, reference_time, reference_and_count & 0xFF, tuple(packets)
    )


# NTP timestamps (RFC 3550 section 4).


def ntp_timestamp_from_unix(unix_seconds: float) -> int:
    """64-bit NTP timestamp for a wall-clock time given in Unix seconds."""
    seconds = int(unix_seconds) + NTP_EPOCH_OFFSET
    fraction = int((unix_seconds - int(unix_seconds)) * (1 << 32))
    return ((seconds & 0xFFFFFFFF) << 32) | (fraction & 0xFFFFFFFF)


def ntp_middle_32(ntp_timestamp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as carried in LSR (RFC 3550 6.4.1)."""
    return (ntp_timestamp >> 16) & 0xFFFFFFFF


def round_trip_time_seconds(report: ReportBlock, arrival_ntp_middle_32: int) -> float | None:
    """RTT from a report block (RFC 3550 6.4.1: A - LSR - DLSR), or None without an SR echo."""
    if report.last_sr == 0:
        return None
    units = (arrival_ntp_middle_32 - report.last_sr - report.delay_since_last_sr) & 0xFFFFFFFF
    if units & 0x80000000:
        return 0.0
    return units / 65536.0
