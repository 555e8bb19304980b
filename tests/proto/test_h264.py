"""RFC 6184 packetization: exact layouts, a libx264 round trip decoded by PyAV, hostile payloads."""

from __future__ import annotations

import fractions
import random

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.proto.h264 import (
    H264DecodeError,
    H264Depacketizer,
    H264LocalProtocolError,
    NalUnitType,
    ProfileLevelId,
    accepts_constrained_baseline_mode_1,
    depacketize_untrusted,
    is_keyframe,
    join_annex_b,
    packetize_annex_b,
    packetize_nal_units,
    split_annex_b,
)

SPS = bytes([0x67, 0x42, 0xC0, 0x1F, 0xDA])
PPS = bytes([0x68, 0xCE, 0x01, 0x0F])
SMALL_IDR = bytes([0x65]) + bytes(range(1, 40))


def test_split_annex_b_handles_both_start_codes_and_trailing_zeros() -> None:
    stream = (
        b"\x00\x00\x00\x01" + SPS + b"\x00" + b"\x00\x00\x01" + PPS + b"\x00\x00\x00\x01" + SMALL_IDR
    )
    assert split_annex_b(stream) == [SPS, PPS, SMALL_IDR]
    assert split_annex_b(join_annex_b([SPS, PPS])) == [SPS, PPS]
    assert split_annex_b(b"no start code") == []
    assert split_annex_b(b"\x00\x00\x01" + SPS + b"\x00\x00") == [SPS]


def test_small_units_share_one_stap_a() -> None:
    (payload,) = packetize_nal_units([SPS, PPS, SMALL_IDR], 1200)
    # STAP-A header: F=0, NRI = max(NRI)=3, type 24; then 16-bit size + unit for each.
    expected = (
        bytes([0x78])
        + len(SPS).to_bytes(2, "big") + SPS
        + len(PPS).to_bytes(2, "big") + PPS
        + len(SMALL_IDR).to_bytes(2, "big") + SMALL_IDR
    )
    assert payload == expected
    assert depacketize_untrusted([payload]) == [SPS, PPS, SMALL_IDR]


def test_large_unit_becomes_fu_a_fragments_under_the_mtu() -> None:
    idr = bytes([0x65]) + bytes(random.Random(1).randbytes(3000))
    payloads = packetize_nal_units([SPS, PPS, idr], 1200)
    stap, *fragments = payloads
    assert stap[0] & 0x1F == NalUnitType.STAP_A
    assert len(fragments) == 3
    assert all(len(p) <= 1200 for p in payloads)
    assert [p[0] for p in fragments] == [0x7C] * 3  # NRI 3, type 28
    assert [p[1] for p in fragments] == [0x85, 0x05, 0x45]  # S, middle, E; type 5
    assert b"".join(p[2:] for p in fragments) == idr[1:]
    assert depacketize_untrusted(payloads) == [SPS, PPS, idr]


def test_single_nal_units_and_dropped_delimiters() -> None:
    slice_a = bytes([0x41]) + bytes(700)
    slice_b = bytes([0x41]) + bytes(700)
    delimiter = bytes([0x09, 0xF0])
    payloads = packetize_nal_units([delimiter, slice_a, slice_b], 1200)
    assert payloads == [slice_a, slice_b]


def test_bad_payload_size_is_a_local_error() -> None:
    with pytest.raises(H264LocalProtocolError):
        packetize_nal_units([SPS], 2)


FU_START = bytes([0x7C, 0x85, 1, 2])
FU_MIDDLE = bytes([0x7C, 0x05, 3])
FU_END = bytes([0x7C, 0x45, 4])

MALFORMED = {
    "empty payload": [b""],
    "forbidden bit": [bytes([0xE5, 0])],
    "type 0": [bytes([0x00, 1])],
    "STAP-B": [bytes([0x19, 0, 1, 0x65])],
    "MTAP16": [bytes([0x1A, 0, 1])],
    "FU-B": [bytes([0x1D, 0x85, 1])],
    "type 30": [bytes([0x1E])],
    "STAP-A empty": [bytes([0x18])],
    "STAP-A size cut": [bytes([0x18, 0x00])],
    "STAP-A size overruns": [bytes([0x18, 0x00, 0x05, 0x67, 0x42])],
    "STAP-A zero size": [bytes([0x18, 0x00, 0x00])],
    "FU-A too short": [bytes([0x7C, 0x85])],
    "FU-A start and end": [bytes([0x7C, 0xC5, 1])],
    "FU-A middle first": [FU_MIDDLE, FU_END],
    "FU-A no end": [FU_START, FU_MIDDLE],
    "FU-A restarted": [FU_START, FU_START, FU_END],
    "FU-A interrupted": [FU_START, SPS, FU_END],
}


@pytest.mark.parametrize("payloads", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_payloads_raise_decode_error(payloads: list[bytes]) -> None:
    with pytest.raises(H264DecodeError):
        depacketize_untrusted(payloads)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=12), max_size=5))
def test_fuzz_depacketize_raises_only_decode_error(payloads: list[bytes]) -> None:
    try:
        depacketize_untrusted(payloads)
    except H264DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.integers(0, 3), st.booleans(), st.binary(max_size=10)),
        max_size=12,
    )
)
def test_fuzz_depacketizer_object(packets: list[tuple[int, int, bool, bytes]]) -> None:
    depacketizer = H264Depacketizer()
    for sequence_number, timestamp, marker, payload in packets:
        try:
            depacketizer.receive_packet(sequence_number, timestamp, marker, payload)
        except H264DecodeError:
            pass
        while depacketizer.next_access_unit() is not None:
            pass


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 5, 6, 7, 8]), st.binary(min_size=0, max_size=3000)),
        min_size=1,
        max_size=6,
    ),
    st.integers(3, 1500),
)
def test_round_trip_any_units(units: list[tuple[int, bytes]], max_payload_size: int) -> None:
    nal_units = [bytes([0x60 | kind]) + body for kind, body in units]
    payloads = packetize_nal_units(nal_units, max_payload_size)
    assert all(len(p) <= max_payload_size for p in payloads)
    assert depacketize_untrusted(payloads) == nal_units


def test_profile_level_id_helpers() -> None:
    constrained = ProfileLevelId.parse_untrusted("42e01f")
    assert constrained == ProfileLevelId(0x42, 0xE0, 0x1F)
    assert str(constrained) == "42e01f"
    assert constrained.is_constrained_baseline
    assert not ProfileLevelId.parse_untrusted("42001f").is_constrained_baseline
    assert ProfileLevelId.parse_untrusted("4d801f").is_constrained_baseline
    assert not ProfileLevelId.parse_untrusted("640c1f").is_constrained_baseline
    for bad in ("42e01", "zzzzzz", "42e01f00"):
        with pytest.raises(H264DecodeError):
            ProfileLevelId.parse_untrusted(bad)
    assert accepts_constrained_baseline_mode_1(
        {"packetization-mode": "1", "profile-level-id": "42e01f"}
    )
    assert not accepts_constrained_baseline_mode_1(
        {"packetization-mode": "0", "profile-level-id": "42e01f"}
    )
    assert not accepts_constrained_baseline_mode_1(
        {"packetization-mode": "1", "profile-level-id": "4d001f"}
    )
    assert not accepts_constrained_baseline_mode_1({"packetization-mode": "1", "profile-level-id": "x"})


# A real encoder: libx264, constrained baseline, SPS/PPS repeated before every IDR.

WIDTH, HEIGHT, FRAMES = 320, 240, 8


def moving_pattern(index: int) -> av.VideoFrame:
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    for plane_number, plane in enumerate(frame.planes):
        width, height, stride = plane.width, plane.height, plane.line_size
        rows = bytearray()
        for y in range(height):
            shift = index * 11 * (plane_number + 1)
            rows += bytes(((x * 7 + y * 3 + shift) ^ (x * y >> 3)) & 0xFF for x in range(width))
            rows += bytes(stride - width)
        plane.update(bytes(rows))
    frame.pts = index
    return frame


def encode_pattern() -> list[bytes]:
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = WIDTH, HEIGHT
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile": "baseline",
        "crf": "28",
        "x264-params": "keyint=4:min-keyint=4:scenecut=0:repeat-headers=1",
    }
    access_units = [bytes(p) for i in range(FRAMES) for p in encoder.encode(moving_pattern(i))]
    access_units += [bytes(p) for p in encoder.encode(None)]
    return access_units


def decode(access_units: list[bytes]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create("h264", "r")
    frames = [f for unit in access_units for f in decoder.decode(av.Packet(unit))]
    frames += decoder.decode(None)
    return frames


def test_libx264_frames_survive_packetization_reordering_and_decode() -> None:
    access_units = encode_pattern()
    assert len(access_units) == FRAMES
    rng = random.Random(7)
    sequence_number = 65500  # wraps during the test
    packets: list[tuple[int, int, bool, bytes]] = []
    kinds: set[int] = set()
    for index, unit in enumerate(access_units):
        payloads = packetize_annex_b(unit, 1200)
        assert all(len(p) <= 1200 for p in payloads)
        kinds.update(p[0] & 0x1F for p in payloads)
        frame_packets = []
        for position, payload in enumerate(payloads):
            marker = position == len(payloads) - 1
            frame_packets.append((sequence_number, 3000 * index, marker, payload))
            sequence_number = (sequence_number + 1) % 65536
        # Reorder within the frame: FU-A fragments and the STAP-A arrive shuffled.
        rng.shuffle(frame_packets)
        packets += frame_packets
    assert {NalUnitType.STAP_A, NalUnitType.FU_A} <= kinds

    depacketizer = H264Depacketizer()
    received = []
    for packet in packets:
        depacketizer.receive_packet(*packet)
        while (unit := depacketizer.next_access_unit()) is not None:
            received.append(unit)
    assert [u.timestamp for u in received] == [3000 * i for i in range(FRAMES)]
    assert [u.keyframe for u in received] == [i % 4 == 0 for i in range(FRAMES)]
    # Apart from dropped delimiters, the NAL units are the encoder's own.
    for unit, original in zip(received, access_units, strict=True):
        assert list(unit.nal_units) == [
            n for n in split_annex_b(original) if n[0] & 0x1F != NalUnitType.ACCESS_UNIT_DELIMITER
        ]

    original_frames = decode(access_units)
    decoded = decode([unit.to_annex_b() for unit in received])
    assert len(decoded) == len(original_frames) == FRAMES
    assert all((f.width, f.height) == (WIDTH, HEIGHT) for f in decoded)
    for ours, reference in zip(decoded, original_frames, strict=True):
        assert bytes(ours.planes[0]) == bytes(reference.planes[0])


def test_depacketizer_drops_incomplete_frame_and_ignores_late_packets() -> None:
    idr = bytes([0x65]) + bytes(random.Random(2).randbytes(2500))
    first = packetize_nal_units([SPS, PPS, idr], 1200)
    second = packetize_nal_units([bytes([0x41]) + bytes(100)], 1200)
    depacketizer = H264Depacketizer()
    # Frame 1 loses its middle fragment; frame 2 is whole.
    depacketizer.receive_packet(1, 0, False, first[0])
    depacketizer.receive_packet(2, 0, False, first[1])
    depacketizer.receive_packet(4, 0, True, first[3])
    assert depacketizer.next_access_unit() is None
    depacketizer.receive_packet(5, 3000, True, second[0])
    unit = depacketizer.next_access_unit()
    assert unit is not None and unit.timestamp == 3000 and not unit.keyframe
    assert depacketizer.dropped_frames == 1
    depacketizer.receive_packet(3, 0, False, first[2])  # the retransmission comes too late
    assert depacketizer.next_access_unit() is None
    assert is_keyframe([SPS, PPS, idr])


def test_depacketizer_bounds_its_memory() -> None:
    depacketizer = H264Depacketizer(max_pending_frames=4, max_packets_per_frame=8)
    for sequence_number in range(9):
        depacketizer.receive_packet(sequence_number, 0, False, FU_MIDDLE)
    assert depacketizer.dropped_frames == 1
    for timestamp in range(1, 7):
        depacketizer.receive_packet(100 + timestamp, 3000 * timestamp, False, FU_MIDDLE)
    assert depacketizer.dropped_frames == 3
    depacketizer.receive_packet(200, 3000 * 7, True, SPS)
    unit = depacketizer.next_access_unit()
    assert unit is not None and unit.nal_units == (SPS,)


def test_aiortc_depacketizes_our_payloads() -> None:
    # aiortc's RFC 6184 reader, written independently, must rebuild the same stream.
    from aiortc.codecs.h264 import H264PayloadDescriptor

    access_unit = encode_pattern()[0]
    payloads = packetize_annex_b(access_unit, 1200)
    assert {p[0] & 0x1F for p in payloads} >= {NalUnitType.STAP_A, NalUnitType.FU_A}
    rebuilt = b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads)
    assert split_annex_b(rebuilt) == split_annex_b(access_unit)
