"""The H.264 encoder: WebRTC-friendly bitstream, keyframes on request, live changes."""

from __future__ import annotations

import logging

import av
import pytest

from selkies_trio.media.capture_synthetic import SyntheticSource
from selkies_trio.media.encoder import (
    DEFAULT_PREFERENCE,
    EncoderSettings,
    H264Encoder,
    encoder_preference,
)
from selkies_trio.media.frames import EncodedFrame, EncoderError

NAL_IDR, NAL_SPS, NAL_PPS, NAL_NON_IDR = 5, 7, 8, 1


def nal_units(annexb: bytes) -> list[bytes]:
    """Split an Annex B byte stream on its 3- and 4-byte start codes."""
    units: list[bytes] = []
    position = annexb.find(b"\x00\x00\x01")
    while position != -1:
        start = position + 3
        following = annexb.find(b"\x00\x00\x01", start)
        end = len(annexb) if following == -1 else following
        unit = annexb[start:end]
        if following != -1 and unit.endswith(b"\x00"):
            unit = unit[:-1]
        units.append(unit)
        position = following
    return units


def nal_types(frame: EncodedFrame) -> list[int]:
    return [unit[0] & 0x1F for unit in nal_units(frame.data)]


def encode_run(
    encoder: H264Encoder,
    source: SyntheticSource,
    count: int,
    force_at: frozenset[int] = frozenset(),
) -> list[EncodedFrame]:
    out: list[EncodedFrame] = []
    for i in range(count):
        out.extend(encoder.encode(source.capture(i / 30), force_keyframe=i in force_at))
    return out


def decode_all(frames: list[EncodedFrame]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create("h264", "r")
    pictures: list[av.VideoFrame] = []
    for frame in frames:
        # Each EncodedFrame is one whole access unit, so it is one packet: no parser.
        pictures.extend(decoder.decode(av.Packet(frame.data)))
    pictures.extend(decoder.decode(None))
    return pictures


def test_first_frame_is_an_idr_with_constrained_baseline_sps_and_pps() -> None:
    encoder = H264Encoder(320, 180, 30, bitrate_kbps=500, preference=("libx264",))
    (first,) = encoder.encode(SyntheticSource(320, 180).capture(0.0))
    types = nal_types(first)
    assert first.keyframe
    assert types[:2] == [NAL_SPS, NAL_PPS]
    assert NAL_IDR in types
    sps = next(unit for unit in nal_units(first.data) if unit[0] & 0x1F == NAL_SPS)
    profile_idc, constraint_flags = sps[1], sps[2]
    # Constrained Baseline = profile_idc 66 with constraint_set1_flag (H.264 A.2.1.1).
    assert profile_idc == 66
    assert constraint_flags & 0x40
    assert (first.width, first.height, first.encoder_name) == (320, 180, "libx264")


def test_forced_keyframes_are_idr_pictures_with_sps_pps_and_others_are_not() -> None:
    encoder = H264Encoder(320, 180, 30, bitrate_kbps=500, preference=("libx264",))
    frames = encode_run(encoder, SyntheticSource(320, 180), 30, force_at=frozenset({12, 25}))
    assert len(frames) == 30
    keyframe_positions = [i for i, frame in enumerate(frames) if frame.keyframe]
    assert keyframe_positions == [0, 12, 25]
    for i, frame in enumerate(frames):
        types = nal_types(frame)
        if frame.keyframe:
            assert types[:2] == [NAL_SPS, NAL_PPS] and NAL_IDR in types
        else:
            assert NAL_SPS not in types and NAL_IDR not in types
            assert NAL_NON_IDR in types
        # No B-frames: output order is capture order, one access unit per frame.
        assert frame.pts == i


def test_encoded_stream_decodes_to_the_encoder_size_even_when_capture_differs() -> None:
    encoder = H264Encoder(256, 144, 30, bitrate_kbps=400, preference=("libx264",))
    frames = encode_run(encoder, SyntheticSource(640, 360), 10)
    pictures = decode_all(frames)
    assert len(pictures) == 10
    assert {(p.width, p.height) for p in pictures} == {(256, 144)}


def test_odd_sizes_are_rounded_down_to_even_for_yuv420() -> None:
    encoder = H264Encoder(321, 181, 30, bitrate_kbps=400, preference=("libx264",))
    assert (encoder.width, encoder.height) == (320, 180)
    (frame,) = encoder.encode(SyntheticSource(321, 181).capture(0.0))
    assert (frame.width, frame.height) == (320, 180)


def test_resolution_change_reopens_with_a_keyframe_at_the_new_size() -> None:
    source = SyntheticSource(320, 180)
    encoder = H264Encoder(320, 180, 30, bitrate_kbps=400, preference=("libx264",))
    before = encode_run(encoder, source, 5)
    assert encoder.reconfigure(size=(160, 90)) is True
    after = encode_run(encoder, source, 5)
    assert after[0].keyframe and not any(f.keyframe for f in after[1:])
    assert {(f.width, f.height) for f in after} == {(160, 90)}
    pictures = decode_all(before + after)
    assert [(p.width, p.height) for p in pictures] == [(320, 180)] * 5 + [(160, 90)] * 5


def test_reconfigure_with_unchanged_settings_keeps_the_encoder() -> None:
    encoder = H264Encoder(160, 96, 30, bitrate_kbps=400, preference=("libx264",))
    assert encoder.reconfigure(size=(160, 96), fps=30, bitrate_kbps=400) is False


def test_bitrate_change_changes_the_output_rate() -> None:
    source = SyntheticSource(640, 360, speed=16)
    encoder = H264Encoder(640, 360, 30, bitrate_kbps=3000, preference=("libx264",))
    high = encode_run(encoder, source, 40)
    assert encoder.reconfigure(bitrate_kbps=200) is True
    low = encode_run(encoder, source, 40)
    high_bytes = sum(len(f.data) for f in high[10:])
    low_bytes = sum(len(f.data) for f in low[10:])
    assert low_bytes * 3 < high_bytes
    # 200 kbps for 30 frames at 30 fps is 25 kB; allow the VBV slack.
    assert low_bytes < 2 * 200_000 / 8


def test_crf_mode_and_switching_between_crf_and_cbr() -> None:
    source = SyntheticSource(320, 180)
    encoder = H264Encoder(320, 180, 30, crf=40, preference=("libx264",))
    assert encoder.settings.crf == 40 and encoder.settings.bitrate_kbps is None
    coarse = encode_run(encoder, source, 10)
    encoder.reconfigure(crf=15)
    fine = encode_run(encoder, source, 10)
    assert sum(len(f.data) for f in fine) > 2 * sum(len(f.data) for f in coarse)
    encoder.reconfigure(bitrate_kbps=300)
    assert encoder.settings.crf is None and encoder.settings.bitrate_kbps == 300
    with pytest.raises(ValueError):
        encoder.reconfigure(bitrate_kbps=300, crf=20)


def test_unavailable_preferred_encoder_falls_back_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="selkies_trio.media.encoder")
    encoder = H264Encoder(160, 96, 30, preference=("no_such_encoder", "libx264"))
    assert encoder.name == "libx264"
    lines = [r.getMessage() for r in caplog.records if "video encoder" in r.getMessage()]
    assert len(lines) == 1
    assert "libx264" in lines[0] and "no_such_encoder" in lines[0]
    # A reopen for a new size keeps the working encoder and logs nothing new at INFO.
    encoder.reconfigure(size=(128, 72))
    infos = [
        r for r in caplog.records if r.levelno >= logging.INFO and "video encoder" in r.getMessage()
    ]
    assert len(infos) == 1


def test_nvenc_is_tried_and_either_runs_or_is_explained(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="selkies_trio.media.encoder")
    encoder = H264Encoder(160, 96, 30)
    message = next(r.getMessage() for r in caplog.records if "video encoder" in r.getMessage())
    if encoder.name == "h264_nvenc":
        assert "first choice" in message
    else:
        assert encoder.name == "libx264" and "h264_nvenc" in message


def test_no_encoder_at_all_is_an_encoder_error() -> None:
    with pytest.raises(EncoderError, match="no_such_encoder"):
        H264Encoder(160, 96, 30, preference=("no_such_encoder",))


@pytest.mark.parametrize(
    "settings",
    [
        EncoderSettings(1, 96),
        EncoderSettings(160, 96, fps=0),
        EncoderSettings(160, 96, bitrate_kbps=None, crf=None),
        EncoderSettings(160, 96, bitrate_kbps=500, crf=20),
        EncoderSettings(160, 96, bitrate_kbps=None, crf=99),
        EncoderSettings(160, 96, bitrate_kbps=1),
    ],
)
def test_invalid_settings_are_refused(settings: EncoderSettings) -> None:
    with pytest.raises(ValueError):
        settings.validated()


def test_encode_after_close_is_an_error() -> None:
    encoder = H264Encoder(160, 96, 30, preference=("libx264",))
    encoder.close()
    with pytest.raises(EncoderError):
        encoder.encode(SyntheticSource(160, 96).capture(0.0))


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, DEFAULT_PREFERENCE),
        ("auto", DEFAULT_PREFERENCE),
        ("x264enc", ("libx264",)),
        ("nvh264enc", ("h264_nvenc", "libx264")),
        ("vah264enc", ("h264_vaapi", "libx264")),
    ],
)
def test_selkies_encoder_setting_maps_to_ffmpeg_encoders(
    setting: str | None, expected: tuple[str, ...]
) -> None:
    assert encoder_preference(setting) == expected
    assert encoder_preference(setting)[-1] == "libx264"


def test_vaapi_request_without_a_vaapi_build_falls_back_to_libx264(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="selkies_trio.media.encoder")
    encoder = H264Encoder(160, 96, 30, preference=encoder_preference("vah264enc"))
    if encoder.name == "libx264":
        assert any("h264_vaapi" in r.getMessage() for r in caplog.records)
    else:
        assert encoder.name == "h264_vaapi"


def test_unknown_encoder_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="jpeg"):
        encoder_preference("jpeg")
