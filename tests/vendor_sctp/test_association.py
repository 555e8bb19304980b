"""Association behaviour driven packet by packet: cookies, verification tags,
unknown chunks and parameters, API errors, buffered amount, congestion window."""

from __future__ import annotations

import random

import pytest

from vendor_sctp.association import Association, AssociationConfig, State
from vendor_sctp.chunks import (
    AbortChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorChunk,
    ForwardTsnChunk,
    InitAckChunk,
    InitChunk,
    SackChunk,
    ShutdownAckChunk,
    ShutdownCompleteChunk,
    UnknownChunk,
)
from vendor_sctp.errors import LocalProtocolError
from vendor_sctp.events import AssociationEstablished, BufferedAmountLow, MessageReceived
from vendor_sctp.packet import decode_packet_untrusted, encode_packet
from vendor_sctp.parameters import ErrorCauseCode, Parameter, ParameterType

from .harness import Pair
from .link import ImpairedLink


def _new(seed: int, config: AssociationConfig | None = None) -> Association:
    return Association(config, secret=b"k" * 32, random=random.Random(seed).randbytes)


def _handshake_until_cookie_echo() -> tuple[Association, Association, bytes]:
    client, server = _new(1), _new(2)
    client.connect(0.0)
    (init,) = client.packets_to_send(0.0)
    server.receive_packet(init, 0.0)
    (init_ack,) = server.packets_to_send(0.0)
    assert server.state is State.CLOSED, "the server keeps no state before COOKIE ECHO"
    client.receive_packet(init_ack, 0.01)
    (cookie_echo,) = client.packets_to_send(0.01)
    assert client.state is State.COOKIE_ECHOED
    return client, server, cookie_echo


def test_valid_cookie_establishes_the_server() -> None:
    client, server, cookie_echo = _handshake_until_cookie_echo()
    server.receive_packet(cookie_echo, 1.0)
    assert server.state is State.ESTABLISHED
    assert isinstance(server.next_event(), AssociationEstablished)
    (cookie_ack,) = server.packets_to_send(1.0)
    client.receive_packet(cookie_ack, 1.0)
    assert client.state is State.ESTABLISHED


def test_tampered_cookie_is_rejected() -> None:
    _, server, cookie_echo = _handshake_until_cookie_echo()
    packet = decode_packet_untrusted(cookie_echo)
    echo = packet.chunks[0]
    assert isinstance(echo, CookieEchoChunk)
    forged = bytearray(echo.cookie)
    forged[26] ^= 0xFF  # inside the peer's a_rwnd: only the signature can tell
    resigned = encode_packet(5000, 5000, packet.verification_tag, [CookieEchoChunk(bytes(forged)).encode()])
    server.receive_packet(resigned, 1.0)
    assert server.state is State.CLOSED and server.packets_to_send(1.0) == []
    assert server.packets_dropped == 1


def test_stale_cookie_is_rejected_and_reported() -> None:
    client, server, cookie_echo = _handshake_until_cookie_echo()
    server.receive_packet(cookie_echo, 61.0)  # default cookie lifetime: 60 s
    assert server.state is State.CLOSED and server.next_event() is None
    (reply,) = server.packets_to_send(61.0)
    packet = decode_packet_untrusted(reply)
    (error,) = packet.chunks
    assert isinstance(error, ErrorChunk)
    assert error.error_causes[0].type == ErrorCauseCode.STALE_COOKIE
    # Staleness in microseconds: 61 s - 0 s created - 60 s lifetime = 1 s.
    assert int.from_bytes(error.error_causes[0].value, "big") == 1_000_000
    assert packet.verification_tag == client._local_tag


def test_cookie_echo_with_a_wrong_verification_tag_is_rejected() -> None:
    _, server, cookie_echo = _handshake_until_cookie_echo()
    packet = decode_packet_untrusted(cookie_echo)
    retagged = encode_packet(5000, 5000, packet.verification_tag ^ 1, [c.encode() for c in packet.chunks])
    server.receive_packet(retagged, 1.0)
    assert server.state is State.CLOSED


def test_init_must_be_alone_with_a_zero_tag() -> None:
    client, server = _new(1), _new(2)
    client.connect(0.0)
    (init,) = client.packets_to_send(0.0)
    packet = decode_packet_untrusted(init)
    server.receive_packet(encode_packet(5000, 5000, 99, [c.encode() for c in packet.chunks]), 0.0)
    assert server.packets_to_send(0.0) == []


def test_data_with_a_wrong_verification_tag_is_dropped() -> None:
    pair = Pair()
    pair.connect()
    pair.a.send(1, 51, b"hello", now=pair.now)
    (packet,) = pair.a.packets_to_send(pair.now)
    decoded = decode_packet_untrusted(packet)
    wrong = encode_packet(5000, 5000, decoded.verification_tag + 1, [c.encode() for c in decoded.chunks])
    pair.b.receive_packet(wrong, pair.now)
    assert pair.b.next_event() is None and pair.b.packets_dropped == 1
    pair.b.receive_packet(packet, pair.now)
    assert pair.b.next_event() == MessageReceived(1, 51, b"hello", True)


def test_init_parameters_are_handled_by_their_upper_bits() -> None:
    server = _new(3)
    init = InitChunk(
        initiate_tag=1234,
        advertised_receiver_window_credit=100_000,
        number_of_outbound_streams=10,
        number_of_inbound_streams=10,
        initial_tsn=1,
        parameters=(
            Parameter(ParameterType.ZERO_CHECKSUM_ACCEPTABLE, b"\x00\x00\x00\x01"),  # 10: skip
            Parameter(0xC123, b"report-me"),  # 11: skip and report
            Parameter(ParameterType.FORWARD_TSN_SUPPORTED),
            Parameter(0x4005, b"stop-here"),  # 01: stop and report
            Parameter(0xC124, b"never-seen"),
        ),
    )
    server.receive_packet(encode_packet(5000, 5000, 0, [init.encode()]), 0.0)
    (reply,) = server.packets_to_send(0.0)
    packet = decode_packet_untrusted(reply)
    assert packet.verification_tag == 1234
    (init_ack,) = packet.chunks
    assert isinstance(init_ack, InitAckChunk) and init_ack.state_cookie
    reported = [
        p.value for p in init_ack.parameters if p.type == ParameterType.UNRECOGNIZED_PARAMETER
    ]
    assert reported == [Parameter(0xC123, b"report-me").encode(), Parameter(0x4005, b"stop-here").encode()]


@pytest.mark.parametrize(
    ("chunk_type", "data_processed", "reported"),
    [(0x3F, False, False), (0x7F, False, True), (0xBF, True, False), (0xFF, True, True)],
    ids=["00-stop", "01-stop-report", "10-skip", "11-skip-report"],
)
def test_unknown_chunks_are_handled_by_their_upper_bits(
    chunk_type: int, data_processed: bool, reported: bool
) -> None:
    pair = Pair()
    pair.connect()
    b = pair.b
    assert b._received is not None
    data = DataChunk(b._received.cumulative_tsn + 1, 1, 0, 51, b"after the unknown chunk")
    unknown = UnknownChunk(chunk_type, 0, b"\x01\x02\x03")
    b.receive_packet(encode_packet(5000, 5000, b._local_tag, [unknown.encode(), data.encode()]), pair.now)
    delivered = [e for e in iter(b.next_event, None) if isinstance(e, MessageReceived)]
    assert bool(delivered) == data_processed
    errors = [
        c
        for raw in b.packets_to_send(pair.now + 1)
        for c in decode_packet_untrusted(raw).chunks
        if isinstance(c, ErrorChunk)
    ]
    assert bool(errors) == reported
    if reported:
        (cause,) = errors[0].error_causes
        assert cause.type == ErrorCauseCode.UNRECOGNIZED_CHUNK_TYPE
        assert cause.value == unknown.raw


def test_api_misuse_raises_local_protocol_error() -> None:
    lone = _new(5)
    with pytest.raises(LocalProtocolError):
        lone.send(1, 51, b"x", now=0.0)
    with pytest.raises(LocalProtocolError):
        lone.reset_streams([1])
    lone.connect(0.0)
    with pytest.raises(LocalProtocolError):
        lone.connect(0.0)
    config = AssociationConfig(outbound_streams=4, max_message_size=1000)
    pair = Pair(config_a=config)
    pair.connect()
    assert pair.a.outbound_streams == 4
    for bad in (
        {"stream_id": 4, "data": b"x"},
        {"stream_id": 0, "data": b""},
        {"stream_id": 0, "data": b"x" * 1001},
    ):
        with pytest.raises(LocalProtocolError):
            pair.a.send(bad["stream_id"], 51, bad["data"], now=pair.now)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        pair.a.send(0, 51, b"x", now=pair.now, max_retransmits=-1)


def test_buffered_amount_falls_as_data_leaves_and_signals_low() -> None:
    pair = Pair(link_ab=ImpairedLink(delay=0.05), link_ba=ImpairedLink(delay=0.05))
    pair.connect()
    pair.a.set_buffered_amount_low_threshold(1, 10_000)
    for _ in range(30):
        pair.a.send(1, 53, b"z" * 1000, now=pair.now)
    assert pair.a.buffered_amount(1) == 30_000
    assert pair.a.buffered_amount(2) == 0
    pair.a.packets_to_send(pair.now)
    after_first_flight = pair.a.buffered_amount(1)
    assert 20_000 <= after_first_flight < 30_000, "cwnd limits the first flight"
    assert pair.run_until(lambda: pair.a.buffered_amount(1) == 0, 10)
    lows = [e for e in pair.events_a if isinstance(e, BufferedAmountLow)]
    assert len(lows) == 1 and lows[0].stream_id == 1 and lows[0].buffered_amount <= 10_000


def test_congestion_window_grows_on_a_clean_link() -> None:
    pair = Pair(
        link_ab=ImpairedLink(delay=0.02, bandwidth=20e6),
        link_ba=ImpairedLink(delay=0.02, bandwidth=20e6),
    )
    pair.connect()
    assert pair.a._sender is not None
    initial = pair.a._sender.congestion.cwnd
    for index in range(400):
        pair.a.send(1, 53, bytes([index % 256]) * 1100, now=pair.now)
    start = pair.now
    assert pair.run_until(lambda: len(pair.messages_b()) == 400, 30)
    elapsed = pair.now - start
    assert pair.a._sender.congestion.cwnd > 10 * initial
    # 440 kB in well under what a fixed initial window would need (~100 RTTs = 4 s).
    assert elapsed < 1.0


def test_zero_window_probe_when_the_peer_advertises_no_room() -> None:
    pair = Pair(config_b=AssociationConfig(receive_window=1500))
    pair.connect()
    for index in range(10):
        pair.a.send(1, 53, bytes([index]) * 1400, now=pair.now)
    assert pair.run_until(lambda: len(pair.messages_b()) == 10, 60)
    assert [m.data[0] for m in pair.messages_b()] == list(range(10))


def test_get_timer_and_events_before_anything_happens() -> None:
    lone = _new(6)
    assert lone.get_timer() is None and lone.next_event() is None
    assert lone.packets_to_send(0.0) == []
    lone.receive_packet(b"garbage", 0.0)
    assert lone.packets_dropped == 1


def test_out_of_the_blue_packets_to_a_listening_endpoint() -> None:
    server = _new(7)
    stray = encode_packet(5000, 5000, 0xABCD, [DataChunk(1, 1, 0, 51, b"hi").encode()])
    server.receive_packet(stray, 0.0)
    (reply,) = server.packets_to_send(0.0)
    packet = decode_packet_untrusted(reply)
    assert packet.verification_tag == 0xABCD and packet.chunks == (AbortChunk(tag_reflected=True),)
    server.receive_packet(encode_packet(5000, 5000, 0xABCD, [ShutdownAckChunk().encode()]), 0.0)
    (reply,) = server.packets_to_send(0.0)
    assert decode_packet_untrusted(reply).chunks == (ShutdownCompleteChunk(tag_reflected=True),)
    # Never answer an ABORT (no ping-pong of ABORTs).
    server.receive_packet(encode_packet(5000, 5000, 0xABCD, [AbortChunk().encode()]), 0.0)
    assert server.packets_to_send(0.0) == [] and server.state is State.CLOSED


def test_data_beyond_the_receive_window_is_dropped_unacknowledged() -> None:
    pair = Pair(config_b=AssociationConfig(receive_window=3000))
    pair.connect()
    b = pair.b
    assert b._received is not None
    base = b._received.cumulative_tsn

    def inject(*chunks: DataChunk | ForwardTsnChunk) -> SackChunk:
        b.receive_packet(encode_packet(5000, 5000, b._local_tag, [c.encode() for c in chunks]), pair.now)
        b._acks.request_immediate(pair.now)
        sacks = [
            c for raw in b.packets_to_send(pair.now)
            for c in decode_packet_untrusted(raw).chunks if isinstance(c, SackChunk)
        ]
        return sacks[-1]

    # Two fragments of an unordered message whose last fragment (base + 4) is lost: full.
    sack = inject(
        DataChunk(base + 2, 1, 0, 53, b"x" * 1500, unordered=True, ending=False),
        DataChunk(base + 3, 1, 0, 53, b"y" * 1500, unordered=True, beginning=False, ending=False),
    )
    assert sack.advertised_receiver_window_credit == 0
    assert sack.gap_ack_blocks == ((2, 3),)
    # At the bound: refused, neither delivered nor acknowledged, so it will be resent.
    sack = inject(DataChunk(base + 5, 2, 0, 53, b"z" * 100, unordered=True))
    assert sack.gap_ack_blocks == ((2, 3),) and b.next_event() is None
    # Cumulative TSN + 1 is always taken: it is the only chunk that can make progress.
    sack = inject(DataChunk(base + 1, 3, 0, 53, b"w" * 100, unordered=True))
    assert sack.cumulative_tsn_ack == base + 3 and sack.gap_ack_blocks == ()
    assert b.next_event() == MessageReceived(3, 53, b"w" * 100, False)
    # The sender abandons the broken message: FORWARD-TSN frees its fragments.
    sack = inject(ForwardTsnChunk(base + 4))
    assert sack.cumulative_tsn_ack == base + 4
    assert sack.advertised_receiver_window_credit == 3000
    # With room again, data beyond a gap is accepted and gap-acked.
    sack = inject(DataChunk(base + 6, 2, 1, 53, b"v" * 100, unordered=True))
    assert sack.gap_ack_blocks == ((2, 2),)
    assert b.next_event() == MessageReceived(2, 53, b"v" * 100, False)


def test_data_on_a_stream_we_do_not_have_is_acked_and_reported() -> None:
    pair = Pair(config_b=AssociationConfig(inbound_streams=2))
    pair.connect()
    b = pair.b
    assert b._received is not None
    tsn = b._received.cumulative_tsn + 1
    b.receive_packet(encode_packet(5000, 5000, b._local_tag, [DataChunk(tsn, 7, 0, 51, b"?").encode()]), 0.0)
    assert b.next_event() is None
    chunks = [c for raw in b.packets_to_send(pair.now) for c in decode_packet_untrusted(raw).chunks]
    errors = [c for c in chunks if isinstance(c, ErrorChunk)]
    assert errors[0].error_causes[0].type == ErrorCauseCode.INVALID_STREAM_IDENTIFIER
    assert any(isinstance(c, SackChunk) and c.cumulative_tsn_ack == tsn for c in chunks)


def test_data_without_user_data_aborts_the_association() -> None:
    pair = Pair()
    pair.connect()
    b = pair.b
    assert b._received is not None
    empty = DataChunk(b._received.cumulative_tsn + 1, 1, 0, 51, b"")
    b.receive_packet(encode_packet(5000, 5000, b._local_tag, [empty.encode()]), 0.0)
    assert b.closed
    (reply,) = b.packets_to_send(pair.now)
    (abort,) = decode_packet_untrusted(reply).chunks
    assert isinstance(abort, AbortChunk)
    assert abort.error_causes[0].type == ErrorCauseCode.NO_USER_DATA
