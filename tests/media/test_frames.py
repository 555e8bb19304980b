"""RawFrame validation, the BGRX -> PyAV bridge, and the shared RTP payload cache."""

from __future__ import annotations

import threading

import pytest

from selkies_trio.media.frames import EncodedFrame, RawFrame, raw_to_video_frame


def _frame_with_stride(width: int, height: int, stride: int) -> RawFrame:
    rows = []
    for y in range(height):
        pixels = b"".join(bytes((x & 0xFF, y & 0xFF, (x + y) & 0xFF, 0)) for x in range(width))
        rows.append(pixels + b"\xee" * (stride - width * 4))
    return RawFrame(b"".join(rows), width, height, stride, capture_time=1.5)


@pytest.mark.parametrize(
    ("width", "height", "stride", "length", "message"),
    [
        (0, 4, 0, 0, "positive"),
        (4, -1, 16, 64, "positive"),
        (4, 4, 12, 64, "stride"),
        (4, 4, 16, 16 * 3 + 15, "shorter"),
    ],
)
def test_raw_frame_rejects_inconsistent_geometry(
    width: int, height: int, stride: int, length: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RawFrame(bytes(length), width, height, stride, 0.0)


@pytest.mark.parametrize(("width", "stride"), [(16, 64), (13, 64), (13, 52), (7, 40)])
def test_raw_to_video_frame_keeps_every_pixel_whatever_the_row_padding(
    width: int, stride: int
) -> None:
    height = 5
    raw = _frame_with_stride(width, height, stride)
    video = raw_to_video_frame(raw)
    assert (video.width, video.height, video.format.name) == (width, height, "bgr0")
    rgb = video.reformat(format="rgb24")
    plane = memoryview(rgb.planes[0])
    line = rgb.planes[0].line_size
    for y in range(height):
        for x in (0, width // 2, width - 1):
            red, green, blue = plane[y * line + x * 3 : y * line + x * 3 + 3]
            # BGRX in memory: blue is x, green is y, red is x + y.
            assert (blue, green, red) == (x & 0xFF, y & 0xFF, (x + y) & 0xFF)


def test_rtp_payloads_are_computed_once_per_mtu_and_shared() -> None:
    frame = EncodedFrame(b"\x00\x00\x00\x01\x65" + bytes(3000), True, 0, 64, 64, 0.0)
    calls: list[int] = []

    def split(data: bytes, mtu: int) -> list[bytes]:
        calls.append(mtu)
        return [data[i : i + mtu] for i in range(0, len(data), mtu)]

    first = frame.rtp_payloads(1200, split)
    again = frame.rtp_payloads(1200, split)
    other = frame.rtp_payloads(500, split)
    assert first is again
    assert calls == [1200, 500]
    assert b"".join(first) == frame.data == b"".join(other)
    assert sorted(frame.cached_payload_sizes()) == [500, 1200]


def test_rtp_payload_cache_packetizes_once_under_concurrent_first_use() -> None:
    frame = EncodedFrame(bytes(5000), False, 1, 64, 64, 0.0)
    calls: list[int] = []
    gate = threading.Barrier(4)

    def slow_split(data: bytes, mtu: int) -> list[bytes]:
        calls.append(mtu)
        return [data[:mtu], data[mtu:]]

    results: list[list[bytes]] = []

    def worker() -> None:
        gate.wait()
        results.append(frame.rtp_payloads(1000, slow_split))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1000]
    assert all(result is results[0] for result in results)
