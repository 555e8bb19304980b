"""The synthetic source: moving pixels and a stamp that survives H.264 coding."""

from __future__ import annotations

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selkies_trio.media.capture_synthetic import (
    STAMP_BLOCK,
    EmbeddedStamp,
    StampUnreadable,
    SyntheticSource,
    capture_time_to_milliseconds,
    read_embedded_stamp,
    stamp_layout,
)
from selkies_trio.media.encoder import H264Encoder
from selkies_trio.media.frames import RawFrame


def test_frames_have_the_requested_geometry_and_move() -> None:
    source = SyntheticSource(320, 180)
    first = source.capture(10.0)
    second = source.capture(10.033)
    assert (first.width, first.height, first.stride) == (320, 180, 320 * 4)
    assert len(first.data) == 320 * 180 * 4
    assert first.capture_time == 10.0
    assert first.data != second.data
    assert source.poll_damage() is True


def test_stamp_reads_back_counter_and_milliseconds_from_raw_frames() -> None:
    source = SyntheticSource(640, 360)
    for expected_counter in range(3):
        raw = source.capture(1234.5678 + expected_counter)
        assert read_embedded_stamp(raw) == EmbeddedStamp(
            expected_counter, capture_time_to_milliseconds(1234.5678 + expected_counter)
        )


@pytest.mark.parametrize(("width", "height"), [(64, 80), (100, 60), (256, 64), (1920, 1080)])
def test_stamp_wraps_onto_more_block_rows_in_narrow_frames(width: int, height: int) -> None:
    per_row, rows = stamp_layout(width)
    assert per_row * rows >= 64
    source = SyntheticSource(width, height)
    source.capture(0.0)
    assert read_embedded_stamp(source.capture(77.0)) == EmbeddedStamp(1, 77000)


@pytest.mark.parametrize(("width", "height"), [(63, 100), (8, 8), (64, 60)])
def test_frames_too_small_for_a_stamp_are_refused(width: int, height: int) -> None:
    with pytest.raises((StampUnreadable, ValueError)):
        SyntheticSource(width, height)


def test_capture_after_close_is_an_error() -> None:
    source = SyntheticSource(128, 72)
    source.close()
    assert source.poll_damage() is False
    with pytest.raises(ValueError):
        source.capture(0.0)


def test_milliseconds_wrap_at_32_bits() -> None:
    assert capture_time_to_milliseconds(2**32 / 1000 + 0.005) == 5
    assert capture_time_to_milliseconds(0.0004) == 0


@settings(max_examples=200, deadline=None)
@given(
    counter_start=st.integers(min_value=0, max_value=2**32 - 1),
    seconds=st.floats(min_value=0, max_value=1e7, allow_nan=False),
)
def test_stamp_round_trips_any_counter_and_time(counter_start: int, seconds: float) -> None:
    source = SyntheticSource(96, 80)
    source._counter = counter_start  # jump ahead instead of drawing billions of frames
    raw = source.capture(seconds)
    assert read_embedded_stamp(raw) == EmbeddedStamp(
        counter_start, capture_time_to_milliseconds(seconds)
    )


@pytest.mark.parametrize(("width", "height", "bitrate"), [(640, 360, 300), (320, 180, 150)])
def test_stamp_survives_h264_encode_and_decode(width: int, height: int, bitrate: int) -> None:
    source = SyntheticSource(width, height)
    encoder = H264Encoder(width, height, 30, bitrate_kbps=bitrate, preference=("libx264",))
    decoder = av.CodecContext.create("h264", "r")
    sent: list[EmbeddedStamp] = []
    decoded: list[EmbeddedStamp] = []
    for i in range(40):
        raw = source.capture(500.0 + i / 30)
        sent.append(EmbeddedStamp(i, capture_time_to_milliseconds(500.0 + i / 30)))
        for encoded in encoder.encode(raw):
            for packet in decoder.parse(encoded.data):
                for picture in decoder.decode(packet):
                    assert (picture.width, picture.height) == (width, height)
                    decoded.append(read_embedded_stamp(picture))
    for packet in decoder.parse(b""):
        for picture in decoder.decode(packet):
            decoded.append(read_embedded_stamp(picture))
    for picture in decoder.decode(None):
        decoded.append(read_embedded_stamp(picture))
    # Every picture that came out carries exactly the stamp that went in, in order.
    assert len(decoded) >= 35
    assert decoded == sent[: len(decoded)]


def test_stamp_block_size_matches_the_documented_layout() -> None:
    # 64 blocks of 8x8: a 512-pixel-wide frame holds the stamp on one block row.
    assert STAMP_BLOCK == 8
    assert stamp_layout(512) == (64, 1)
    assert stamp_layout(256) == (32, 2)


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(min_value=1, max_value=160),
    height=st.integers(min_value=1, max_value=40),
    seed=st.binary(min_size=1, max_size=64),
)
def test_reading_a_stamp_from_arbitrary_pixels_never_crashes(
    width: int, height: int, seed: bytes
) -> None:
    data = (seed * (width * height * 4 // len(seed) + 1))[: width * height * 4]
    raw = RawFrame(data, width, height, width * 4, 0.0)
    try:
        stamp = read_embedded_stamp(raw)
    except StampUnreadable:
        assert width < 64 or height < 8 * stamp_layout(width)[1]
    else:
        assert 0 <= stamp.counter < 2**32 and 0 <= stamp.milliseconds < 2**32
