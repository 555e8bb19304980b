r"""WebRTC data channels (RFC 8831) and their establishment protocol, DCEP (RFC 8832).

DATA_CHANNEL_OPEN (RFC 8832 section 5.1), sent with PPID 50 on the new stream:

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Message Type |  Channel Type |            Priority           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                    Reliability Parameter                      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |         Label Length          |       Protocol Length         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    \                             Label                             /
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    \                            Protocol                           /
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

DATA_CHANNEL_ACK (section 5.2) is the single Message Type byte 0x02.

Channel Type: 0x00 reliable, 0x01 max-retransmits, 0x02 timed (lifetime in ms);
the 0x80 bit makes any of them unordered. Stream ids: the DTLS client uses even
ids, the server odd ones (section 6), so both sides can open channels at once.
A channel closes by resetting its outgoing stream (RFC 8831 section 6.7); the
side that sees the incoming reset resets its own, and the id is free again when
both directions are reset. If the peer refuses our reset for good (RFC 6525
Result other than success; "request already in progress" is retried by the
association), the channel closes here, but its id stays unusable until the
peer resets its own direction, since the peer may still consider it open.

Nothing the peer sends raises: an OPEN we cannot answer (its stream is beyond
our outbound streams, being reset, or the association is shutting down) is
refused, counted in `stats.refused_opens`, and its stream reset when possible.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from dataclasses import dataclass

from vendor_sctp import events as sctp_events
from vendor_sctp.association import Association, State
from vendor_sctp.errors import LocalProtocolError as SctpLocalProtocolError


class DataChannelDecodeError(Exception):
    """A DCEP message from the network is malformed."""


class DataChannelLocalProtocolError(Exception):
    """The caller misused the API (unknown channel, message too large, ...)."""


class Ppid(enum.IntEnum):
    """Payload protocol identifiers of RFC 8831 section 8."""

    DCEP = 50
    STRING = 51
    BINARY_PARTIAL = 52  # deprecated
    BINARY = 53
    STRING_PARTIAL = 54  # deprecated
    STRING_EMPTY = 56
    BINARY_EMPTY = 57


class MessageType(enum.IntEnum):
    ACK = 0x02
    OPEN = 0x03


class ChannelType(enum.IntEnum):
    RELIABLE = 0x00
    PARTIAL_RELIABLE_REXMIT = 0x01
    PARTIAL_RELIABLE_TIMED = 0x02
    RELIABLE_UNORDERED = 0x80
    PARTIAL_RELIABLE_REXMIT_UNORDERED = 0x81
    PARTIAL_RELIABLE_TIMED_UNORDERED = 0x82


_OPEN_HEADER = struct.Struct("!BBHIHH")

# RFC 8841 section 6: without a=max-message-size the peer accepts 64 KiB.
DEFAULT_REMOTE_MAX_MESSAGE_SIZE = 65536


@dataclass(frozen=True)
class OpenMessage:
    channel_type: ChannelType
    priority: int
    reliability_parameter: int
    label: str
    protocol: str

    def encode(self) -> bytes:
        label = self.label.encode("utf-8")
        protocol = self.protocol.encode("utf-8")
        header = _OPEN_HEADER.pack(
            MessageType.OPEN, self.channel_type, self.priority,
            self.reliability_parameter, len(label), len(protocol),
        )
        return header + label + protocol


def parse_dcep_untrusted(data: bytes) -> OpenMessage | MessageType:
    """Decode one DCEP message; returns the OPEN, or MessageType.ACK."""
    if not data:
        raise DataChannelDecodeError("empty DCEP message")
    if data[0] == MessageType.ACK:
        return MessageType.ACK
    if data[0] != MessageType.OPEN:
        raise DataChannelDecodeError(f"unknown DCEP message type {data[0]:#04x}")
    if len(data) < _OPEN_HEADER.size:
        raise DataChannelDecodeError("DATA_CHANNEL_OPEN shorter than its header")
    _, channel_type, priority, reliability, label_length, protocol_length = (
        _OPEN_HEADER.unpack_from(data)
    )
    if len(data) != _OPEN_HEADER.size + label_length + protocol_length:
        raise DataChannelDecodeError("DATA_CHANNEL_OPEN lengths do not match its size")
    try:
        kind = ChannelType(channel_type)
    except ValueError:
        raise DataChannelDecodeError(f"unknown channel type {channel_type:#04x}") from None
    start = _OPEN_HEADER.size
    try:
        label = data[start : start + label_length].decode("utf-8")
        protocol = data[start + label_length :].decode("utf-8")
    except UnicodeDecodeError:
        raise DataChannelDecodeError("label or protocol is not UTF-8") from None
    return OpenMessage(kind, priority, reliability, label, protocol)


class ChannelState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass
class DataChannel:
    id: int
    label: str
    protocol: str = ""
    ordered: bool = True
    max_retransmits: int | None = None
    max_packet_lifetime: int | None = None  # milliseconds
    negotiated: bool = False
    priority: int = 0
    state: ChannelState = ChannelState.CONNECTING
    _outgoing_reset: bool = False
    _incoming_reset: bool = False

    @property
    def channel_type(self) -> ChannelType:
        unordered = 0 if self.ordered else 0x80
        if self.max_retransmits is not None:
            return ChannelType(ChannelType.PARTIAL_RELIABLE_REXMIT | unordered)
        if self.max_packet_lifetime is not None:
            return ChannelType(ChannelType.PARTIAL_RELIABLE_TIMED | unordered)
        return ChannelType(ChannelType.RELIABLE | unordered)

    def open_message(self) -> OpenMessage:
        reliability = self.max_retransmits
        if reliability is None:
            reliability = self.max_packet_lifetime or 0
        return OpenMessage(self.channel_type, self.priority, reliability, self.label,
                           self.protocol)


# ---- events ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelOpened:
    channel: DataChannel
    by_peer: bool


@dataclass(frozen=True)
class ChannelMessage:
    channel_id: int
    data: str | bytes


@dataclass(frozen=True)
class ChannelClosed:
    channel_id: int


@dataclass(frozen=True)
class ChannelBufferedAmountLow:
    channel_id: int
    buffered_amount: int


@dataclass(frozen=True)
class TransportClosed:
    reason: str


DataChannelEvent = (
    ChannelOpened | ChannelMessage | ChannelClosed | ChannelBufferedAmountLow | TransportClosed
)


@dataclass
class DataChannelStatistics:
    messages_received: int = 0
    messages_sent: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    dropped_malformed: int = 0
    dropped_unknown_stream: int = 0
    refused_opens: int = 0


class DataChannelEndpoint:
    """Data channels over one SCTP association; the sans-IO face is the association's."""

    def __init__(
        self,
        association: Association,
        *,
        is_dtls_client: bool,
        remote_max_message_size: int = DEFAULT_REMOTE_MAX_MESSAGE_SIZE,
    ) -> None:
        self.association = association
        self.is_dtls_client = is_dtls_client
        # 0 means "any size" in a=max-message-size (RFC 8841 section 6).
        self.remote_max_message_size = remote_max_message_size
        self.channels: dict[int, DataChannel] = {}
        self.stats = DataChannelStatistics()
        self._events: deque[DataChannelEvent] = deque()
        self._pending_opens: list[DataChannel] = []
        # Stream ids whose outgoing reset the peer refused: not reused (see above).
        self._unusable_ids: set[int] = set()
        # Bytes of ChannelMessage events queued here. Association events are taken
        # only while this is under the association's receive window, so that an
        # application that stops reading leaves them there, where they count against
        # the window the peer sees (flow control), rather than piling up here.
        self._queued_message_bytes = 0
        self._now = 0.0

    # ---- limits --------------------------------------------------------------------

    @property
    def max_message_size(self) -> int:
        """The largest message either side accepts."""
        local = self.association.config.max_message_size
        remote = self.remote_max_message_size or local
        return min(local, remote)

    @property
    def established(self) -> bool:
        return self.association.state is State.ESTABLISHED

    # ---- channels ------------------------------------------------------------------

    def create_channel(
        self,
        label: str,
        *,
        ordered: bool = True,
        max_retransmits: int | None = None,
        max_packet_lifetime: int | None = None,
        protocol: str = "",
        negotiated_id: int | None = None,
        priority: int = 0,
    ) -> DataChannel:
        """Open a channel; it opens once the association is up and the peer ACKs.

        A pre-negotiated channel (`negotiated_id`) sends no OPEN: both sides
        create it with the same id and parameters, and it is open at once.
        """
        if max_retransmits is not None and max_packet_lifetime is not None:
            raise DataChannelLocalProtocolError(
                "max_retransmits and max_packet_lifetime are mutually exclusive"
            )
        for value in (max_retransmits, max_packet_lifetime):
            if value is not None and not 0 <= value <= 0xFFFFFFFF:
                raise DataChannelLocalProtocolError("reliability parameter outside 0..2^32-1")
        if len(label.encode("utf-8")) > 0xFFFF or len(protocol.encode("utf-8")) > 0xFFFF:
            raise DataChannelLocalProtocolError("label and protocol are limited to 65535 bytes")
        channel_id = self._allocate_id() if negotiated_id is None else negotiated_id
        if (
            channel_id in self.channels
            or channel_id in self._unusable_ids
            or not 0 <= channel_id <= 65534
        ):
            raise DataChannelLocalProtocolError(f"stream id {channel_id} is not available")
        if self.established and channel_id >= self.association.outbound_streams:
            raise DataChannelLocalProtocolError(
                f"stream id {channel_id} is beyond the {self.association.outbound_streams} "
                "streams negotiated with the peer"
            )
        channel = DataChannel(
            id=channel_id, label=label, protocol=protocol, ordered=ordered,
            max_retransmits=max_retransmits, max_packet_lifetime=max_packet_lifetime,
            negotiated=negotiated_id is not None, priority=priority,
        )
        self.channels[channel_id] = channel
        if channel.negotiated:
            channel.state = ChannelState.OPEN
            self._events.append(ChannelOpened(channel, by_peer=False))
        elif self.established:
            self._send_open(channel)
        else:
            self._pending_opens.append(channel)
        return channel

    def _allocate_id(self) -> int:
        candidate = 0 if self.is_dtls_client else 1
        limit = 65534
        if self.established:
            limit = min(limit, self.association.outbound_streams - 1)
        while candidate <= limit:
            if candidate not in self.channels and candidate not in self._unusable_ids:
                return candidate
            candidate += 2
        raise DataChannelLocalProtocolError("no free stream id for a new data channel")

    def _send_open(self, channel: DataChannel) -> None:
        self.association.send(channel.id, Ppid.DCEP, channel.open_message().encode(),
                              now=self._now, ordered=True)

    def send(self, channel_id: int, data: str | bytes, now: float) -> None:
        """Send one message; str goes as UTF-8 text, bytes as binary."""
        channel = self.channels.get(channel_id)
        if channel is None or channel.state is not ChannelState.OPEN:
            raise DataChannelLocalProtocolError(f"channel {channel_id} is not open")
        if isinstance(data, str):
            payload = data.encode("utf-8")
            ppid = Ppid.STRING if payload else Ppid.STRING_EMPTY
        else:
            payload = bytes(data)
            ppid = Ppid.BINARY if payload else Ppid.BINARY_EMPTY
        if len(payload) > self.max_message_size:
            raise DataChannelLocalProtocolError(
                f"message of {len(payload)} bytes exceeds the negotiated maximum of "
                f"{self.max_message_size} bytes"
            )
        # Empty messages travel as one zero byte with an "empty" PPID (RFC 8831 6.6).
        lifetime = None
        if channel.max_packet_lifetime is not None:
            lifetime = channel.max_packet_lifetime / 1000
        self.association.send(
            channel_id, ppid, payload or b"\x00", now=now, ordered=channel.ordered,
            max_retransmits=channel.max_retransmits, lifetime=lifetime,
        )
        self.stats.messages_sent += 1
        self.stats.bytes_sent += len(payload)

    def buffered_amount(self, channel_id: int) -> int:
        return self.association.buffered_amount(channel_id)

    def set_buffered_amount_low_threshold(self, channel_id: int, threshold: int) -> None:
        self.association.set_buffered_amount_low_threshold(channel_id, threshold)

    def close_channel(self, channel_id: int) -> None:
        channel = self.channels.get(channel_id)
        if channel is None or channel.state in (ChannelState.CLOSING, ChannelState.CLOSED):
            return
        channel.state = ChannelState.CLOSING
        self._reset_outgoing(channel)

    def _reset_outgoing(self, channel: DataChannel) -> None:
        if channel.id in [c.id for c in self._pending_opens]:
            self._pending_opens = [c for c in self._pending_opens if c.id != channel.id]
            self._finish_close(channel)
            return
        try:
            self.association.reset_streams([channel.id])
        except SctpLocalProtocolError:
            # No RE-CONFIG (or no association): the channel can only end locally.
            self._finish_close(channel)

    def _finish_close(self, channel: DataChannel) -> None:
        if channel.state is ChannelState.CLOSED:
            return
        channel.state = ChannelState.CLOSED
        self.channels.pop(channel.id, None)
        self._events.append(ChannelClosed(channel.id))

    # ---- sans-IO face ---------------------------------------------------------------

    def receive_packet(self, data: bytes, now: float) -> None:
        self._now = now
        self.association.receive_packet(data, now)
        self._pump()

    def packets_to_send(self, now: float) -> list[bytes]:
        self._now = now
        return self.association.packets_to_send(now)

    def get_timer(self) -> float | None:
        return self.association.get_timer()

    def handle_timer(self, now: float) -> None:
        self._now = now
        self.association.handle_timer(now)
        self._pump()

    def next_event(self) -> DataChannelEvent | None:
        self._pump()
        if not self._events:
            return None
        event = self._events.popleft()
        if isinstance(event, ChannelMessage):
            self._queued_message_bytes -= len(event.data)
        return event

    def _pump(self) -> None:
        limit = self.association.config.receive_window
        while self._queued_message_bytes < limit:
            event = self.association.next_event()
            if event is None:
                return
            self._on_association_event(event)

    def _on_association_event(self, event: sctp_events.Event) -> None:
        if isinstance(event, sctp_events.AssociationEstablished):
            pending, self._pending_opens = self._pending_opens, []
            for channel in pending:
                if self.association.can_send(channel.id):
                    self._send_open(channel)
                else:
                    self._finish_close(channel)  # id beyond the negotiated streams
            for channel in list(self.channels.values()):
                if channel.negotiated and channel.id >= event.outbound_streams:
                    self._finish_close(channel)
        elif isinstance(event, sctp_events.MessageReceived):
            self._on_message(event.stream_id, event.ppid, event.data)
        elif isinstance(event, sctp_events.IncomingStreamsReset):
            # An empty list is every stream (RFC 6525 section 4.1).
            for stream_id in event.stream_ids or tuple(self.channels):
                self._unusable_ids.discard(stream_id)
                found = self.channels.get(stream_id)
                if found is None:
                    continue
                found._incoming_reset = True
                if found._outgoing_reset:
                    self._finish_close(found)
                elif found.state is not ChannelState.CLOSING:
                    found.state = ChannelState.CLOSING
                    self._reset_outgoing(found)
        elif isinstance(event, sctp_events.OutgoingStreamsReset):
            for stream_id in event.stream_ids or tuple(self.channels):
                found = self.channels.get(stream_id)
                if found is None:
                    continue
                found._outgoing_reset = True
                if found._incoming_reset:
                    self._finish_close(found)
        elif isinstance(event, sctp_events.StreamResetFailed):
            for stream_id in event.stream_ids:
                found = self.channels.get(stream_id)
                if found is not None:
                    if not found._incoming_reset:
                        self._unusable_ids.add(stream_id)
                    self._finish_close(found)
        elif isinstance(event, sctp_events.BufferedAmountLow):
            self._events.append(ChannelBufferedAmountLow(event.stream_id, event.buffered_amount))
        elif isinstance(event, sctp_events.AssociationClosed):
            for channel in list(self.channels.values()):
                self._finish_close(channel)
            self._events.append(TransportClosed(event.reason))

    def _on_message(self, stream_id: int, ppid: int, data: bytes) -> None:
        if ppid == Ppid.DCEP:
            self._on_dcep(stream_id, data)
            return
        channel = self.channels.get(stream_id)
        if channel is None:
            self.stats.dropped_unknown_stream += 1
            return
        if channel.state is ChannelState.CONNECTING:
            # RFC 8832 section 6: user data after our OPEN implies the peer's ACK.
            channel.state = ChannelState.OPEN
            self._events.append(ChannelOpened(channel, by_peer=False))
        message: str | bytes
        if ppid in (Ppid.STRING, Ppid.STRING_PARTIAL):
            message = data.decode("utf-8", errors="replace")
        elif ppid in (Ppid.BINARY, Ppid.BINARY_PARTIAL):
            message = data
        elif ppid == Ppid.STRING_EMPTY:
            message = ""
        elif ppid == Ppid.BINARY_EMPTY:
            message = b""
        else:
            self.stats.dropped_malformed += 1
            return
        self.stats.messages_received += 1
        self.stats.bytes_received += len(message)
        self._queued_message_bytes += len(message)
        self._events.append(ChannelMessage(stream_id, message))

    def _on_dcep(self, stream_id: int, data: bytes) -> None:
        try:
            message = parse_dcep_untrusted(data)
        except DataChannelDecodeError:
            self.stats.dropped_malformed += 1
            return
        if message is MessageType.ACK:
            channel = self.channels.get(stream_id)
            if channel is not None and channel.state is ChannelState.CONNECTING:
                channel.state = ChannelState.OPEN
                self._events.append(ChannelOpened(channel, by_peer=False))
            return
        assert isinstance(message, OpenMessage)
        own_parity = 0 if self.is_dtls_client else 1
        if stream_id in self.channels or stream_id % 2 == own_parity:
            # An OPEN on a stream we own or already use is a peer bug; ignore it.
            self.stats.dropped_malformed += 1
            return
        if stream_id in self._unusable_ids or not self.association.can_send(stream_id):
            self._refuse_open(stream_id)
            return
        kind = message.channel_type
        partial = kind & 0x7F
        channel = DataChannel(
            id=stream_id,
            label=message.label,
            protocol=message.protocol,
            ordered=not kind & 0x80,
            max_retransmits=(
                message.reliability_parameter
                if partial == ChannelType.PARTIAL_RELIABLE_REXMIT else None
            ),
            max_packet_lifetime=(
                message.reliability_parameter
                if partial == ChannelType.PARTIAL_RELIABLE_TIMED else None
            ),
            priority=message.priority,
            state=ChannelState.OPEN,
        )
        self.channels[stream_id] = channel
        self.association.send(stream_id, Ppid.DCEP, bytes([MessageType.ACK]), now=self._now,
                              ordered=True)
        self._events.append(ChannelOpened(channel, by_peer=True))

    def _refuse_open(self, stream_id: int) -> None:
        """We cannot send the ACK: no channel. Resetting our side of the stream tells the
        peer (its channel closes as if we had closed it), where that is possible at all."""
        self.stats.refused_opens += 1
        if not 0 <= stream_id < self.association.outbound_streams:
            return  # a stream we do not have cannot be reset either
        try:
            self.association.reset_streams([stream_id])
        except SctpLocalProtocolError:
            pass  # shutting down, or no RE-CONFIG: the peer learns when the association ends
