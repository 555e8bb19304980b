"""SCTP over a lossy link: vendor_sctp against aiortc, side by side, in real time.

For every cell of a grid (packet loss x round-trip time x channel kind) both stacks run,
one after the other in the same asyncio loop, over the same seeded impaired link model
(`tests/vendor_sctp/link.py`: loss, delay, reordering, a bandwidth cap; plus jitter that
keeps packet order, added by `sctp_peers.RealTimeLink`) driven with the loop's clock;
see `sctp_peers.py` for the two adapters. Channel kinds: reliable-ordered, unordered
(reliable), and unordered with max-retransmits 0. Defaults: jitter 10 % of the one-way
delay, a 1 Gbit/s cap (it never binds: both stacks are CPU-bound far below it), and no
reordering, because the link's reordering holds a packet back by one to three one-way
delays, which any sender takes for a loss (`--reorder` turns it on). Each receiver's
inbox holds about 200 kB, like a UDP socket buffer, and drops the rest.

Each cell and stack gets fresh associations (the handshake runs lossless, then the loss
is switched on), `bulk_repeats` bulk runs and one paced run:

- bulk: the sender keeps its channel's buffered amount between two watermarks with
  16 KiB messages for a fixed time, as a browser app does with bufferedamountlow;
  throughput is the user payload delivered in that time (median of the repeats). A
  fresh association starts in slow start, so short runs mostly measure its ramp-up.
- paced: a seeded mix of small and multi-fragment messages at a fixed rate, then a
  drain. One-way latency is from the app's send() to the receiver's message callback.
  Head-of-line stall: a message is stalled when it was complete at the receiver (its
  last missing fragment arrived) but delivered only while a LATER arrival was being
  processed; the stall is the time between. Undelivered: sent but never delivered by
  the end of the drain (for max-retransmits 0, the messages lost or abandoned).

Both paced runs of a cell go at the same time, so a scheduling hiccup of the machine hits
both stacks alike; bulk runs go one after the other, alternating who goes first. Bulk runs
also report process CPU time per MB delivered, which other processes do not disturb.

`--virtual-clock` runs everything on a simulated clock (`virtual_clock.py`): CPU costs
nothing, so only the protocols' behaviour is compared, and a run is exactly repeatable.

Prints a markdown table with ours/aiortc ratios and the three targets of issue 3, writes
`--json PATH`, and draws `--plot PATH` with matplotlib. Usage:

    .venv/bin/python benchmarks/sctp_lossy.py --quick [--json PATH] [--plot PATH]
    .venv/bin/python benchmarks/sctp_lossy.py [--loss 0,1,5,10,20] [--rtt 2,50,150]
    .venv/bin/python benchmarks/sctp_lossy.py --virtual-clock
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.sctp_peers import (
    CHANNEL_KINDS,
    MESSAGE_ID,
    STACKS,
    ChannelKind,
    LinkSpec,
    WiredPair,
    connect_pair,
    wire_pair,
)
from benchmarks.virtual_clock import VirtualClockLoop, aiortc_on_loop_clock

HANDSHAKE_TIMEOUT = 10.0
# One-way delay, jitter and the link's reordering hold-back together stay under 2.2 RTT.
UNRELIABLE_DRAIN_RTTS = 3.0
UNRELIABLE_DRAIN_MIN = 0.25
UNSENT_POLL_INTERVAL = 0.005
VIRTUAL_CLOCK_BANDWIDTH = 50e6


@dataclass(frozen=True)
class Settings:
    losses: tuple[float, ...] = (0.0, 0.01, 0.05, 0.10, 0.20)
    rtts: tuple[float, ...] = (0.002, 0.050, 0.150)
    kinds: tuple[str, ...] = tuple(CHANNEL_KINDS)
    bulk_seconds: float = 2.0
    bulk_message_size: int = 16 * 1024
    # Bulk runs per cell and stack; the reported throughput is their median.
    bulk_repeats: int = 2
    high_water: int = 1024 * 1024
    low_water: int = 256 * 1024
    paced_seconds: float = 2.0
    # Kept under what a loss-based congestion control gets through at 5 % loss and 50 ms
    # (about 1 Mbit/s), so latency is mostly the link and recovery, not a send queue.
    paced_rate: float = 100.0
    # Paced sizes: this share are multi-fragment (1.2-4 kB), the rest 16-300 bytes.
    large_share: float = 0.15
    drain_timeout: float = 10.0
    jitter_share: float = 0.1
    reorder: float = 0.0
    bandwidth: float | None = 1e9
    seed: int = 1
    # Run on `virtual_clock.VirtualClockLoop`: protocol behaviour only, no CPU cost.
    virtual_clock: bool = False


QUICK = Settings(
    losses=(0.0, 0.05),
    rtts=(0.050,),
    bulk_seconds=1.0,
    bulk_repeats=1,
    paced_seconds=1.5,
    paced_rate=150.0,
    drain_timeout=5.0,
)


@dataclass
class RunResult:
    stack: str
    kind: str
    loss: float
    rtt_ms: float
    # Median of the bulk repeats, and every repeat.
    throughput_mbps: float = 0.0
    throughput_samples_mbps: list[float] = field(default_factory=list)
    bulk_messages_delivered: int = 0
    # Process CPU time (both ends, the link and the loop) per MB delivered in bulk runs:
    # other processes on the machine do not count, so this survives a noisy machine.
    cpu_ms_per_mb: float | None = None
    cpu_ms_per_mb_samples: list[float] = field(default_factory=list)
    sent: int = 0
    delivered: int = 0
    undelivered: int = 0
    duplicates: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_max_ms: float | None = None
    hol_stalled_messages: int = 0
    hol_stall_total_ms: float = 0.0
    hol_stall_max_ms: float = 0.0
    # Delivered messages whose completion the link watch never saw (should stay 0).
    untracked: int = 0
    # Forward-direction packets of the paced run: put on the link, lost by the link.
    packets_sent: int = 0
    packets_dropped: int = 0
    # Arrivals the receivers dropped because their inbox (socket buffer) was full, both runs.
    inbox_drops: int = 0
    errors: list[str] = field(default_factory=list)


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def paced_sizes(count: int, large_share: float, seed: int) -> list[int]:
    draw = random.Random(seed)
    return [
        draw.randint(1200, 4000) if draw.random() < large_share else draw.randint(16, 300)
        for _ in range(count)
    ]


def make_payload(message_id: int, size: int, filler: bytes) -> bytes:
    return MESSAGE_ID.pack(message_id) + filler[: max(0, size - MESSAGE_ID.size)]


async def _open_pair(
    stack: str, kind: ChannelKind, spec: LinkSpec, seed: int, *, watch_fragments: bool
) -> WiredPair:
    pair = wire_pair(
        asyncio.get_running_loop(), stack, kind, spec, seed, watch_fragments=watch_fragments
    )
    try:
        await connect_pair(pair, within=HANDSHAKE_TIMEOUT)
    except BaseException:
        await pair.close()
        raise
    pair.impair()
    return pair


async def bulk_transfer(
    stack: str, kind: ChannelKind, spec: LinkSpec, settings: Settings, seed: int, result: RunResult
) -> None:
    loop = asyncio.get_running_loop()
    pair = await _open_pair(stack, kind, spec, seed, watch_fragments=False)
    filler = bytes(settings.bulk_message_size)
    delivered_bytes = 0
    delivered_messages = 0
    window_open = True
    next_id = 0

    def on_message(payload: bytes, arrival_index: int) -> None:
        nonlocal delivered_bytes, delivered_messages
        if window_open:
            delivered_bytes += len(payload)
            delivered_messages += 1

    def refill() -> None:
        nonlocal next_id
        while window_open and pair.sender.buffered_amount() < settings.high_water:
            pair.sender.send(make_payload(next_id, settings.bulk_message_size, filler))
            next_id += 1

    pair.receiver.on_message = on_message
    pair.sender.on_buffered_low = refill
    pair.sender.set_buffered_amount_low_threshold(settings.low_water)
    try:
        started = loop.time()
        cpu_started = time.process_time()
        ends = started + settings.bulk_seconds
        refill()
        # bufferedamountlow does the refilling; this tick only guards against a missed one.
        while (remaining := ends - loop.time()) > 0:
            await asyncio.sleep(min(0.02, remaining))
            refill()
        window_open = False
        elapsed = loop.time() - started
        cpu_seconds = time.process_time() - cpu_started
    finally:
        window_open = False
        await pair.close()
    result.inbox_drops += pair.sender.inbox_drops + pair.receiver.inbox_drops
    result.throughput_samples_mbps.append(delivered_bytes * 8 / elapsed / 1e6)
    result.throughput_mbps = statistics.median(result.throughput_samples_mbps)
    if delivered_bytes:
        result.cpu_ms_per_mb_samples.append(cpu_seconds * 1000 / (delivered_bytes / 1e6))
        result.cpu_ms_per_mb = statistics.median(result.cpu_ms_per_mb_samples)
    result.bulk_messages_delivered += delivered_messages


async def paced_messages(
    stack: str,
    kind: ChannelKind,
    spec: LinkSpec,
    settings: Settings,
    seed: int,
    result: RunResult,
    prepare: Callable[[WiredPair], None] | None = None,
) -> None:
    """`prepare` sees the connected pair before the first message (e.g. to add a drop hook)."""
    loop = asyncio.get_running_loop()
    count = max(1, round(settings.paced_seconds * settings.paced_rate))
    sizes = paced_sizes(count, settings.large_share, seed)
    filler = bytes(max(sizes))
    pair = await _open_pair(stack, kind, spec, seed, watch_fragments=True)
    if prepare is not None:
        prepare(pair)
    sent_at: dict[int, float] = {}
    delivered: dict[int, tuple[float, int]] = {}
    duplicates = 0
    all_delivered = asyncio.Event()

    def on_message(payload: bytes, arrival_index: int) -> None:
        nonlocal duplicates
        (message_id,) = MESSAGE_ID.unpack_from(payload)
        if message_id in delivered:
            duplicates += 1
            return
        delivered[message_id] = (loop.time(), arrival_index)
        if len(delivered) == count:
            all_delivered.set()

    pair.receiver.on_message = on_message
    try:
        started = loop.time()
        next_id = 0
        while next_id < count:
            now = loop.time()
            while next_id < count and started + next_id / settings.paced_rate <= now:
                sent_at[next_id] = loop.time()
                pair.sender.send(make_payload(next_id, sizes[next_id], filler))
                next_id += 1
            if next_id < count:
                await asyncio.sleep(max(0.0, started + next_id / settings.paced_rate - loop.time()))
        await _drain(pair, kind, spec, settings, all_delivered)
        result.packets_sent = pair.forward.impaired.stats.sent
        result.packets_dropped = pair.forward.impaired.stats.dropped
    finally:
        await pair.close()
    result.inbox_drops += pair.sender.inbox_drops + pair.receiver.inbox_drops

    latencies: list[float] = []
    stalls: list[float] = []
    for message_id, (delivered_at, arrival_index) in delivered.items():
        latencies.append(delivered_at - sent_at[message_id])
        completion = pair.watch.completions.get(message_id)
        if completion is None:
            result.untracked += 1
        elif completion.arrival_index != arrival_index:
            stalls.append(delivered_at - completion.at)
    result.sent = count
    result.delivered = len(delivered)
    result.undelivered = count - len(delivered)
    result.duplicates = duplicates
    result.latency_p50_ms = _ms(percentile(latencies, 0.50))
    result.latency_p99_ms = _ms(percentile(latencies, 0.99))
    result.latency_max_ms = _ms(max(latencies) if latencies else None)
    result.hol_stalled_messages = len(stalls)
    result.hol_stall_total_ms = sum(stalls) * 1000
    result.hol_stall_max_ms = max(stalls, default=0.0) * 1000


async def _drain(
    pair: WiredPair, kind: ChannelKind, spec: LinkSpec, settings: Settings, done: asyncio.Event
) -> None:
    """Wait for every message, or for what can still come: a reliable channel gets up to
    `drain_timeout`; an unreliable one until the sender has transmitted everything once,
    then the time a packet can spend on the link."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.drain_timeout
    if not kind.reliable:
        # Neither stack signals "everything sent", so look again every few milliseconds.
        while pair.sender.unsent_bytes() and loop.time() < deadline:
            try:
                await asyncio.wait_for(done.wait(), UNSENT_POLL_INTERVAL)
                return
            except TimeoutError:
                pass
        deadline = min(
            deadline, loop.time() + max(UNRELIABLE_DRAIN_MIN, UNRELIABLE_DRAIN_RTTS * spec.rtt)
        )
    try:
        await asyncio.wait_for(done.wait(), max(0.0, deadline - loop.time()))
    except TimeoutError:
        pass


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


async def _run_recording_errors(run: Awaitable[None], result: RunResult, phase: str) -> None:
    try:
        await run
    except Exception as error:  # a failing stack is a result, not the end of the run
        result.errors.append(f"{phase}: {error!r}")


def run_benchmark(
    settings: Settings, progress: Callable[[str], None] = lambda line: None
) -> list[RunResult]:
    """Run the grid on a fresh loop: virtual-clock or real-time as `settings` says."""
    factory = VirtualClockLoop if settings.virtual_clock else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(run_grid(settings, progress))


async def run_grid(
    settings: Settings, progress: Callable[[str], None] = lambda line: None
) -> list[RunResult]:
    """The grid on the running loop (a `VirtualClockLoop` makes it a virtual-clock run)."""
    loop = asyncio.get_running_loop()
    loop_errors: list[str] = []

    def collect(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        loop_errors.append(repr(exception) if exception is not None else str(context["message"]))

    loop.set_exception_handler(collect)
    try:
        if isinstance(loop, VirtualClockLoop):
            with aiortc_on_loop_clock(loop):
                return await _run_cells(settings, progress, loop_errors)
        return await _run_cells(settings, progress, loop_errors)
    finally:
        loop.set_exception_handler(None)


async def _run_cells(
    settings: Settings, progress: Callable[[str], None], loop_errors: list[str]
) -> list[RunResult]:
    results: list[RunResult] = []
    cells = [
        (kind_name, rtt, loss)
        for kind_name in settings.kinds
        for rtt in settings.rtts
        for loss in settings.losses
    ]
    for index, (kind_name, rtt, loss) in enumerate(cells):
        kind = CHANNEL_KINDS[kind_name]
        spec = LinkSpec(
            loss=loss,
            rtt=rtt,
            jitter_share=settings.jitter_share,
            reorder=settings.reorder,
            bandwidth=settings.bandwidth,
        )
        seed = settings.seed * 100_003 + index * 17
        cell = {
            stack: RunResult(stack=stack, kind=kind_name, loss=loss, rtt_ms=rtt * 1000)
            for stack in STACKS
        }
        # Who goes first alternates (by cell, by repeat) so a drift in machine load does not
        # favour one stack; the bulk repeats of both stacks interleave for the same reason.
        for turn in range(settings.bulk_repeats):
            order = STACKS if (index + turn) % 2 == 0 else tuple(reversed(STACKS))
            for stack in order:
                del loop_errors[:]
                await _run_recording_errors(
                    bulk_transfer(stack, kind, spec, settings, seed + turn, cell[stack]),
                    cell[stack],
                    "bulk",
                )
                cell[stack].errors.extend(f"bulk: {e}" for e in loop_errors)
        # The paced runs go side by side: they need little CPU, and a scheduling hiccup of
        # this shared machine then delays both stacks' messages alike.
        del loop_errors[:]
        paced_seed = seed + settings.bulk_repeats
        await asyncio.gather(
            *(
                _run_recording_errors(
                    paced_messages(stack, kind, spec, settings, paced_seed, cell[stack]),
                    cell[stack],
                    "paced",
                )
                for stack in STACKS
            )
        )
        for stack in STACKS:
            cell[stack].errors.extend(f"paced (either stack): {e}" for e in loop_errors)
        for stack in STACKS:
            result = cell[stack]
            results.append(result)
            progress(
                f"{kind_name:17} rtt {rtt * 1000:5.0f} ms loss {loss * 100:4.1f} % {stack:6}: "
                f"{result.throughput_mbps:7.2f} Mbit/s  p99 {_fmt(result.latency_p99_ms)} ms  "
                f"stalls {result.hol_stalled_messages}  undelivered {result.undelivered}"
                + (f"  ERRORS {result.errors}" if result.errors else "")
            )
    return results


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or theirs == 0:
        return "-"
    return f"{ours / theirs:.2f}x"


def paired(results: Sequence[RunResult]) -> list[tuple[RunResult, RunResult]]:
    """(ours, aiortc) per cell, in grid order."""
    theirs = {(r.kind, r.rtt_ms, r.loss): r for r in results if r.stack == "aiortc"}
    return [
        (r, theirs[(r.kind, r.rtt_ms, r.loss)])
        for r in results
        if r.stack == "ours" and (r.kind, r.rtt_ms, r.loss) in theirs
    ]


def _stalls(result: RunResult) -> str:
    return f"{result.hol_stalled_messages} ({result.hol_stall_total_ms:.0f})"


def markdown_table(results: Sequence[RunResult]) -> str:
    lines = [
        "| channel | RTT ms | loss % | Mbit/s ours | Mbit/s aiortc | ours/aiortc "
        "| CPU ms/MB ours | CPU ms/MB aiortc "
        "| p50 ms ours | p50 ms aiortc | p99 ms ours | p99 ms aiortc | ours/aiortc "
        "| HOL stalls ours (ms) | HOL stalls aiortc (ms) | undelivered ours | undelivered aiortc |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for ours, theirs in paired(results):
        lines.append(
            f"| {ours.kind} | {ours.rtt_ms:.0f} | {ours.loss * 100:g} "
            f"| {ours.throughput_mbps:.2f} | {theirs.throughput_mbps:.2f} "
            f"| {_ratio(ours.throughput_mbps, theirs.throughput_mbps)} "
            f"| {_fmt(ours.cpu_ms_per_mb, 0)} | {_fmt(theirs.cpu_ms_per_mb, 0)} "
            f"| {_fmt(ours.latency_p50_ms)} | {_fmt(theirs.latency_p50_ms)} "
            f"| {_fmt(ours.latency_p99_ms)} | {_fmt(theirs.latency_p99_ms)} "
            f"| {_ratio(ours.latency_p99_ms, theirs.latency_p99_ms)} "
            f"| {_stalls(ours)} | {_stalls(theirs)} "
            f"| {ours.undelivered}/{ours.sent} | {theirs.undelivered}/{theirs.sent} |"
        )
    return "\n".join(lines)


def evaluate_targets(results: Sequence[RunResult]) -> dict[str, Any]:
    """Issue 3's targets, each with the cells it was judged on (None: not in this grid)."""
    pairs = paired(results)
    clean = [
        {"kind": o.kind, "rtt_ms": o.rtt_ms, "ratio": o.throughput_mbps / t.throughput_mbps}
        for o, t in pairs
        if o.loss == 0 and t.throughput_mbps > 0
    ]
    unordered_p99 = [
        {"kind": o.kind, "rtt_ms": o.rtt_ms, "ratio": o.latency_p99_ms / t.latency_p99_ms}
        for o, t in pairs
        if o.kind.startswith("unordered")
        and math.isclose(o.loss, 0.05)
        and o.latency_p99_ms is not None
        and t.latency_p99_ms
    ]
    unordered_stalls = [
        r.hol_stalled_messages for r in results if r.stack == "ours" and r.kind.startswith("unordered")
    ]

    def verdict(cells: list[dict[str, Any]], good: Callable[[float], bool]) -> bool | None:
        return None if not cells else all(good(cell["ratio"]) for cell in cells)

    return {
        "clean_link_throughput_at_least_3x": {
            "met": verdict(clean, lambda ratio: ratio >= 3.0),
            "cells": clean,
        },
        "unordered_p99_at_5pct_loss_at_most_half": {
            "met": verdict(unordered_p99, lambda ratio: ratio <= 0.5),
            "cells": unordered_p99,
        },
        "zero_hol_stalls_on_unordered": {
            "met": None if not unordered_stalls else sum(unordered_stalls) == 0,
            "stalled_messages": sum(unordered_stalls),
        },
    }


def targets_summary(targets: dict[str, Any]) -> str:
    lines = []
    for name, target in targets.items():
        met = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        detail = ""
        if target.get("cells"):
            detail = ", ".join(
                f"{c['kind']} {c['rtt_ms']:.0f} ms: {c['ratio']:.2f}x" for c in target["cells"]
            )
        elif "stalled_messages" in target:
            detail = f"{target['stalled_messages']} stalled messages"
        lines.append(f"- {name}: {met} ({detail})")
    return "\n".join(lines)


def draw_plot(results: Sequence[RunResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r.kind for r in results))
    rtts = sorted({r.rtt_ms for r in results})
    metrics: list[tuple[str, Callable[[RunResult], float | None], bool]] = [
        ("goodput, Mbit/s", lambda r: r.throughput_mbps, True),
        ("CPU ms per MB delivered", lambda r: r.cpu_ms_per_mb, True),
        ("one-way latency p99, ms", lambda r: r.latency_p99_ms, True),
        ("HOL stall total, ms", lambda r: r.hol_stall_total_ms, False),
    ]
    figure, axes = plt.subplots(
        len(metrics), len(kinds), figsize=(4.2 * len(kinds), 3.2 * len(metrics)), squeeze=False
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for column, kind in enumerate(kinds):
        for row, (label, metric, log_scale) in enumerate(metrics):
            axis = axes[row][column]
            for colour_index, rtt in enumerate(rtts):
                for stack, style in (("ours", "-"), ("aiortc", "--")):
                    cell = sorted(
                        (r for r in results if r.kind == kind and r.rtt_ms == rtt and r.stack == stack),
                        key=lambda r: r.loss,
                    )
                    points = [(r.loss * 100, metric(r)) for r in cell if metric(r) is not None]
                    if not points:
                        continue
                    axis.plot(
                        [x for x, _ in points],
                        [y for _, y in points],
                        style,
                        marker="o",
                        color=colours[colour_index % len(colours)],
                        label=f"{stack}, RTT {rtt:.0f} ms",
                    )
            if log_scale and any(line.get_ydata().size for line in axis.get_lines()):
                axis.set_yscale("log")
            axis.set_xlabel("loss, %")
            axis.set_ylabel(label)
            if row == 0:
                axis.set_title(kind)
            axis.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.suptitle("SCTP over an impaired link: vendor_sctp (solid) vs aiortc (dashed)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(settings: Settings, results: Sequence[RunResult], argv: Sequence[str]) -> dict[str, Any]:
    return {
        "benchmark": "sctp_lossy",
        "command": " ".join(["benchmarks/sctp_lossy.py", *argv]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "settings": asdict(settings),
        "results": [asdict(r) for r in results],
        "targets": evaluate_targets(results),
    }


def _float_list(text: str, scale: float) -> tuple[float, ...]:
    return tuple(float(part) * scale for part in text.split(",") if part.strip())


def parse_settings(argv: Sequence[str]) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="loss 0,5 %%, RTT 50 ms, 1 s phases")
    parser.add_argument("--loss", help="loss percentages, comma separated (e.g. 0,1,5,10,20)")
    parser.add_argument("--rtt", help="round-trip times in ms, comma separated (e.g. 2,50,150)")
    parser.add_argument("--kinds", help=f"channel kinds, comma separated: {','.join(CHANNEL_KINDS)}")
    parser.add_argument("--seconds", type=float, help="duration of each bulk and paced phase")
    parser.add_argument("--paced-seconds", type=float,
                        help="duration of the paced phase (overrides --seconds): its p99 is "
                             "over seconds x rate messages")
    parser.add_argument("--rate", type=float, help="paced messages per second")
    parser.add_argument("--repeats", type=int, help="bulk runs per cell and stack (median)")
    parser.add_argument("--bandwidth-mbps", type=float, help="link cap per direction, 0 = none")
    parser.add_argument("--jitter", type=float, help="jitter, %% of the one-way delay")
    parser.add_argument("--reorder", type=float, help="%% of packets held back (reordered)")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--virtual-clock",
        action="store_true",
        help="protocols only, no CPU cost: a simulated clock, a 50 Mbit/s cap, one bulk run",
    )
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--plot", type=Path, default=Path("sctp_lossy.png"), help="PNG path")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.virtual_clock:
        # With free CPU a gigabit link would carry hundreds of megabytes per run.
        settings = replace(
            settings, virtual_clock=True, bandwidth=VIRTUAL_CLOCK_BANDWIDTH, bulk_repeats=1
        )
    if args.loss:
        settings = replace(settings, losses=_float_list(args.loss, 0.01))
    if args.rtt:
        settings = replace(settings, rtts=_float_list(args.rtt, 0.001))
    if args.kinds:
        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        unknown = [k for k in kinds if k not in CHANNEL_KINDS]
        if unknown:
            parser.error(f"unknown channel kinds {unknown}; choose from {list(CHANNEL_KINDS)}")
        settings = replace(settings, kinds=kinds)
    if args.seconds:
        settings = replace(settings, bulk_seconds=args.seconds, paced_seconds=args.seconds)
    if args.paced_seconds:
        settings = replace(settings, paced_seconds=args.paced_seconds)
    if args.repeats:
        settings = replace(settings, bulk_repeats=args.repeats)
    if args.rate:
        settings = replace(settings, paced_rate=args.rate)
    if args.bandwidth_mbps is not None:
        settings = replace(settings, bandwidth=args.bandwidth_mbps * 1e6 or None)
    if args.jitter is not None:
        settings = replace(settings, jitter_share=args.jitter / 100)
    if args.reorder is not None:
        settings = replace(settings, reorder=args.reorder / 100)
    if args.seed is not None:
        settings = replace(settings, seed=args.seed)
    return settings, args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    settings, args = parse_settings(argv)
    results = run_benchmark(settings, lambda line: print(line, file=sys.stderr, flush=True))
    document = report(settings, results, argv)
    print(markdown_table(results))
    print()
    print(targets_summary(document["targets"]))
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    if not args.no_plot:
        draw_plot(results, args.plot)
        print(f"\nplot: {args.plot}")
    failed = [r for r in results if r.errors]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
