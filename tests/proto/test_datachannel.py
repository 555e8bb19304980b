"""Data channels over two vendor_sctp associations on a virtual clock."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.datachannel import (
    ChannelClosed,
    ChannelMessage,
    ChannelOpened,
    ChannelState,
    ChannelType,
    DataChannelDecodeError,
    DataChannelEndpoint,
    DataChannelEvent,
    DataChannelLocalProtocolError,
    MessageType,
    OpenMessage,
    Ppid,
    TransportClosed,
    parse_dcep_untrusted,
)
from tests.vendor_sctp.link import ImpairedLink
from vendor_sctp.association import Association, AssociationConfig
from vendor_sctp.parameters import OutgoingSsnResetRequest, ReconfigResult, ReconfigurationResponse
from vendor_sctp.reconfig import StreamReconfiguration


class EndpointPair:
    """Client (DTLS client role, even ids) and server endpoints joined by two links."""

    def __init__(
        self, *, loss: float = 0.0, seed: int = 7, server_max: int = 65536,
        client_config: AssociationConfig | None = None,
        server_config: AssociationConfig | None = None,
    ) -> None:
        rng = random.Random(seed)
        self.client = DataChannelEndpoint(
            Association(client_config, secret=b"c" * 32, random=rng.randbytes),
            is_dtls_client=True, remote_max_message_size=server_max,
        )
        self.server = DataChannelEndpoint(
            Association(server_config or AssociationConfig(max_message_size=server_max),
                        secret=b"s" * 32, random=rng.randbytes),
            is_dtls_client=False,
        )
        self.drain = {"client": True, "server": True}
        self.to_server = ImpairedLink(seed=seed, loss=loss, delay=0.005)
        self.to_client = ImpairedLink(seed=seed + 1, loss=loss, delay=0.005)
        self.now = 0.0
        self.events: dict[str, list[DataChannelEvent]] = {"client": [], "server": []}

    def pump(self) -> None:
        for name, endpoint, link in (
            ("client", self.client, self.to_server),
            ("server", self.server, self.to_client),
        ):
            while self.drain[name] and (event := endpoint.next_event()) is not None:
                self.events[name].append(event)
            for packet in endpoint.packets_to_send(self.now):
                link.send(packet, self.now)

    def run_until(self, condition: Callable[[], bool], limit: float = 60.0) -> None:
        deadline = self.now + limit
        while True:
            self.pump()
            if condition():
                return
            wakeups = [
                t for t in (
                    self.client.get_timer(), self.server.get_timer(),
                    self.to_server.next_arrival(), self.to_client.next_arrival(),
                ) if t is not None
            ]
            assert wakeups and min(wakeups) <= deadline, "stalled before the condition held"
            self.now = max(self.now, min(wakeups))
            for packet in self.to_server.deliverable(self.now):
                self.server.receive_packet(packet, self.now)
            for packet in self.to_client.deliverable(self.now):
                self.client.receive_packet(packet, self.now)
            for endpoint in (self.client, self.server):
                timer = endpoint.get_timer()
                if timer is not None and timer <= self.now:
                    endpoint.handle_timer(self.now)

    def connect(self) -> None:
        self.client.association.connect(self.now)
        self.run_until(lambda: self.client.established and self.server.established)

    def messages(self, side: str, channel_id: int) -> list[str | bytes]:
        return [
            e.data for e in self.events[side]
            if isinstance(e, ChannelMessage) and e.channel_id == channel_id
        ]

    def opened(self, side: str) -> list[ChannelOpened]:
        return [e for e in self.events[side] if isinstance(e, ChannelOpened)]


def test_open_ack_and_every_payload_kind_both_ways() -> None:
    pair = EndpointPair()
    pair.connect()
    channel = pair.server.create_channel("input")
    assert channel.id % 2 == 1 and channel.state is ChannelState.CONNECTING
    pair.run_until(lambda: channel.state is ChannelState.OPEN and pair.opened("client"))
    remote = pair.opened("client")[0].channel
    assert (remote.id, remote.label, remote.ordered, pair.opened("client")[0].by_peer) == (
        channel.id, "input", True, True
    )
    sent: list[str | bytes] = ["text", "", b"\x00\x01", b"", "ünïcødé"]
    for message in sent:
        pair.server.send(channel.id, message, pair.now)
        pair.client.send(channel.id, message, pair.now)
    pair.run_until(lambda: len(pair.messages("client", channel.id)) == len(sent)
                   and len(pair.messages("server", channel.id)) == len(sent))
    assert pair.messages("client", channel.id) == sent
    assert pair.messages("server", channel.id) == sent


def test_channel_types_round_trip_through_dcep() -> None:
    pair = EndpointPair()
    pair.connect()
    made = [
        pair.client.create_channel("rel"),
        pair.client.create_channel("unordered", ordered=False),
        pair.client.create_channel("rexmit0", ordered=False, max_retransmits=0),
        pair.client.create_channel("timed", max_packet_lifetime=150, protocol="p"),
    ]
    assert [c.id for c in made] == [0, 2, 4, 6]
    pair.run_until(lambda: len(pair.opened("server")) == 4)
    seen = {e.channel.label: e.channel for e in pair.opened("server")}
    assert seen["rel"].channel_type is ChannelType.RELIABLE
    assert seen["unordered"].channel_type is ChannelType.RELIABLE_UNORDERED
    assert seen["rexmit0"].channel_type is ChannelType.PARTIAL_RELIABLE_REXMIT_UNORDERED
    assert seen["rexmit0"].max_retransmits == 0
    assert seen["timed"].max_packet_lifetime == 150 and seen["timed"].protocol == "p"


def test_ordered_stream_of_messages_survives_loss_in_order() -> None:
    pair = EndpointPair(loss=0.05, seed=3)
    pair.connect()
    channel = pair.server.create_channel("bulk")
    pair.run_until(lambda: channel.state is ChannelState.OPEN)
    payloads = [hashlib.sha256(str(i).encode()).digest() * (1 + i % 50) for i in range(300)]
    for payload in payloads:
        pair.server.send(channel.id, payload, pair.now)
    pair.run_until(lambda: len(pair.messages("client", channel.id)) == len(payloads), 300)
    assert pair.messages("client", channel.id) == payloads


def test_close_by_stream_reset_frees_the_id_and_reopen_works() -> None:
    pair = EndpointPair()
    pair.connect()
    channel = pair.client.create_channel("temp")
    pair.run_until(lambda: channel.state is ChannelState.OPEN and pair.opened("server"))
    pair.client.close_channel(channel.id)
    closed = lambda side: [e for e in pair.events[side] if isinstance(e, ChannelClosed)]  # noqa: E731
    pair.run_until(lambda: closed("client") and closed("server"))
    assert channel.state is ChannelState.CLOSED
    assert channel.id not in pair.client.channels and channel.id not in pair.server.channels
    again = pair.client.create_channel("temp-again")
    assert again.id == channel.id
    pair.run_until(lambda: again.state is ChannelState.OPEN)
    pair.client.send(again.id, "after reopen", pair.now)
    pair.run_until(lambda: pair.messages("server", again.id) == ["after reopen"])


def test_a_reset_of_every_stream_closes_every_channel_on_both_sides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # RFC 6525 4.1: an Outgoing SSN Reset Request that lists no stream resets them all
    # (usrsctp can send one; we never do, so the client is made to here).
    pair = EndpointPair()
    pair.connect()
    channels = [pair.client.create_channel(label) for label in ("one", "two")]
    pair.run_until(lambda: all(c.state is ChannelState.OPEN for c in channels)
                   and len(pair.opened("server")) == 2)
    start_request = StreamReconfiguration.start_request

    def every_stream(self: StreamReconfiguration, *args: Any) -> OutgoingSsnResetRequest:
        request = start_request(self, *args)
        self.outstanding_request = replace(request, stream_numbers=())
        return self.outstanding_request

    monkeypatch.setattr(StreamReconfiguration, "start_request", every_stream)
    pair.client.association.reset_streams((channels[0].id,))
    closed = lambda side: {e.channel_id for e in pair.events[side] if isinstance(e, ChannelClosed)}  # noqa: E731
    ids = {c.id for c in channels}
    pair.run_until(lambda: closed("client") == ids and closed("server") == ids)
    assert not pair.client.channels and not pair.server.channels


def test_negotiated_channels_open_without_dcep_and_size_limit_is_enforced() -> None:
    pair = EndpointPair(server_max=1000)
    pair.connect()
    a = pair.client.create_channel("pre", negotiated_id=10)
    b = pair.server.create_channel("pre", negotiated_id=10)
    assert a.state is b.state is ChannelState.OPEN
    pair.client.send(10, "x" * 1000, pair.now)
    with pytest.raises(DataChannelLocalProtocolError, match="negotiated maximum of 1000"):
        pair.client.send(10, "x" * 1001, pair.now)
    pair.run_until(lambda: pair.messages("server", 10) == ["x" * 1000])
    with pytest.raises(DataChannelLocalProtocolError):
        pair.client.send(99, "nope", pair.now)


def test_channels_created_before_the_association_open_once_it_is_up() -> None:
    pair = EndpointPair()
    early = pair.server.create_channel("early")
    pair.connect()
    pair.run_until(lambda: early.state is ChannelState.OPEN)


def test_dcep_codec_round_trip_and_malformed_table() -> None:
    message = OpenMessage(ChannelType.PARTIAL_RELIABLE_TIMED, 256, 1500, "lab", "proto")
    assert parse_dcep_untrusted(message.encode()) == message
    assert parse_dcep_untrusted(b"\x02") is MessageType.ACK
    encoded = message.encode()
    for bad in (b"", b"\x07", encoded[:5], encoded[:-1], encoded + b"x",
                b"\x03\x55" + encoded[2:], encoded[:12] + b"\xff\xfe\xfd" + encoded[15:]):
        with pytest.raises(DataChannelDecodeError):
            parse_dcep_untrusted(bad)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_dcep_parser_fuzz_raises_only_its_decode_error(data: bytes) -> None:
    try:
        parse_dcep_untrusted(data)
    except DataChannelDecodeError:
        pass


def raw_open(label: str) -> bytes:
    return OpenMessage(ChannelType.RELIABLE, 0, 0, label, "").encode()


def test_open_on_a_stream_beyond_our_outbound_streams_is_refused() -> None:
    pair = EndpointPair(client_config=AssociationConfig(outbound_streams=16))
    pair.connect()
    assert pair.client.association.outbound_streams == 16
    # The server may use stream 21 (its outbound count is larger); we cannot answer on it.
    pair.server.association.send(21, Ppid.DCEP, raw_open("far"), now=pair.now)
    start = pair.now
    pair.run_until(lambda: pair.now > start + 0.5, 60)  # receiving it must not raise
    assert pair.client.stats.refused_opens == 1
    assert pair.opened("client") == [] and 21 not in pair.client.channels
    pair.server.association.send(3, Ppid.DCEP, raw_open("near"), now=pair.now)
    pair.run_until(lambda: bool(pair.opened("client")), 5)
    assert pair.opened("client")[0].channel.id == 3


def test_open_while_we_shut_down_is_refused_without_raising() -> None:
    pair = EndpointPair()
    pair.connect()
    pair.client.association.shutdown(pair.now)
    pair.server.association.send(5, Ppid.DCEP, raw_open("late"), now=pair.now)
    pair.run_until(lambda: any(isinstance(e, TransportClosed) for e in pair.events["client"]), 10)
    assert pair.client.stats.refused_opens == 1
    assert pair.opened("client") == []


def test_pending_open_beyond_the_negotiated_streams_closes_instead_of_raising() -> None:
    pair = EndpointPair(client_config=AssociationConfig(outbound_streams=16))
    early = [pair.client.create_channel(f"early-{i}") for i in range(9)]
    assert early[-1].id == 16
    pair.connect()
    pair.run_until(lambda: all(c.state is not ChannelState.CONNECTING for c in early))
    assert [c.state for c in early] == [ChannelState.OPEN] * 8 + [ChannelState.CLOSED]
    assert ChannelClosed(16) in pair.events["client"]
    with pytest.raises(DataChannelLocalProtocolError, match="beyond the 16 streams"):
        pair.client.create_channel("pre", negotiated_id=16)


def test_refused_reset_keeps_the_stream_id_out_of_use(monkeypatch: pytest.MonkeyPatch) -> None:
    pair = EndpointPair()
    pair.connect()
    channel = pair.client.create_channel("stuck")
    pair.run_until(lambda: channel.state is ChannelState.OPEN and bool(pair.opened("server")))
    server_reconfig = pair.server.association._reconfig

    def deny(
        self: StreamReconfiguration, request: OutgoingSsnResetRequest, cumulative_tsn: int
    ) -> tuple[ReconfigurationResponse, bool]:
        assert self is server_reconfig
        self._finish_peer_request(ReconfigResult.DENIED)
        return ReconfigurationResponse(request.request_sequence_number, ReconfigResult.DENIED), False

    monkeypatch.setattr(StreamReconfiguration, "handle_outgoing_request", deny)
    pair.client.close_channel(channel.id)
    pair.run_until(lambda: ChannelClosed(channel.id) in pair.events["client"], 10)
    # The server still has the channel open: the id must not be handed out again.
    assert channel.id in pair.server.channels
    assert pair.client.create_channel("next").id != channel.id


def test_an_application_that_stops_reading_stops_the_peer() -> None:
    window = 64 * 1024
    pair = EndpointPair(server_config=AssociationConfig(receive_window=window))
    pair.connect()
    channel = pair.client.create_channel("bulk")
    pair.run_until(lambda: channel.state is ChannelState.OPEN and bool(pair.opened("server")))
    pair.drain["server"] = False
    for _ in range(100):
        pair.client.send(channel.id, b"b" * 4000, pair.now)
    pair.run_until(lambda: pair.server.association._reassembly.window == 0, 30)
    assert pair.client.buffered_amount(channel.id) > 0, "the sender is held back"
    queued = pair.server._queued_message_bytes + pair.server.association._reassembly.outside_bytes
    assert queued <= 2 * window + 256 * 1024
    pair.drain["server"] = True
    pair.run_until(lambda: len(pair.messages("server", channel.id)) == 100, 30)
