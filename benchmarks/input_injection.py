"""Input injection into XTEST: selkies-trio's XInput side by side with xdotool.

Both inject into the same private Xvfb in the same run, so the ratio survives a
noisy machine. Measured:

- pointer motion throughput: N absolute moves. Ours: `handle_message("m,x,y,0,0")`
  then one XSync; xdotool: one process chaining N `mousemove` commands.
- key throughput: typing a text of N characters (ASCII and non-Latin-1, the latter
  needing keycode remapping). Ours: one `co,end,<text>` frame; xdotool:
  `xdotool type --delay 0 <text>`.
- per-event latency: one move and an XSync round trip (ours), one `xdotool
  mousemove --sync` process (xdotool; what a shell-driven injector costs).

    .venv/bin/python benchmarks/input_injection.py [--events 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selkies_trio.input.permissions import ClientPermissions
from selkies_trio.input.x11_input import XInput

CONTROLLER = ClientPermissions.controller("bench")


@contextmanager
def private_xvfb() -> Iterator[str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x720x24",
         "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(5)


def positions(count: int) -> list[tuple[int, int]]:
    return [(37 * i % 1280, 53 * i % 720) for i in range(count)]


def ours_motion(xinput: XInput, count: int) -> float:
    start = time.perf_counter()
    for x, y in positions(count):
        xinput.handle_message(f"m,{x},{y},0,0", CONTROLLER)
    xinput.display.sync()
    return count / (time.perf_counter() - start)


def xdotool_motion(env: dict[str, str], count: int) -> float:
    argv = ["xdotool"]
    for x, y in positions(count):
        argv += ["mousemove", str(x), str(y)]
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True)
    return count / (time.perf_counter() - start)


def ours_typing(xinput: XInput, text: str) -> float:
    start = time.perf_counter()
    xinput.handle_message(f"co,end,{text}", CONTROLLER)
    xinput.display.sync()
    return len(text) / (time.perf_counter() - start)


def xdotool_typing(env: dict[str, str], text: str) -> float:
    start = time.perf_counter()
    subprocess.run(["xdotool", "type", "--delay", "0", text], env=env, check=True)
    return len(text) / (time.perf_counter() - start)


def ours_latency(xinput: XInput, samples: int) -> list[float]:
    out = []
    for x, y in positions(samples):
        start = time.perf_counter()
        xinput.handle_message(f"m,{x},{y},0,0", CONTROLLER)
        xinput.display.sync()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def xdotool_latency(env: dict[str, str], samples: int) -> list[float]:
    out = []
    for x, y in positions(samples):
        start = time.perf_counter()
        subprocess.run(["xdotool", "mousemove", "--sync", str(x + 1), str(y + 1)], env=env,
                       check=True)
        out.append((time.perf_counter() - start) * 1e3)
    return out


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="pointer moves per run")
    parser.add_argument("--chars", type=int, default=400, help="characters typed per run")
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    if shutil.which("xdotool") is None:
        sys.exit("xdotool is not installed (apt package xdotool); it is the peer of this benchmark")

    ascii_text = ("the quick brown fox jumps over the lazy dog " * 50)[: args.chars]
    unicode_text = ("жизнь → €uro ✓ " * 50)[: args.chars]
    results: dict[str, Any] = {}
    with private_xvfb() as display_name:
        env = dict(os.environ, DISPLAY=display_name)
        xinput = XInput(display_name)
        try:
            results["motion_events_per_s"] = {
                "ours": ours_motion(xinput, args.events),
                "xdotool": xdotool_motion(env, args.events),
            }
            results["ascii_chars_per_s"] = {
                "ours": ours_typing(xinput, ascii_text),
                "xdotool": xdotool_typing(env, ascii_text),
            }
            results["unicode_chars_per_s"] = {
                "ours": ours_typing(xinput, unicode_text),
                "xdotool": xdotool_typing(env, unicode_text),
            }
            ours = ours_latency(xinput, args.latency_samples)
            peer = xdotool_latency(env, max(10, args.latency_samples // 5))
            for name, values in (("ours", ours), ("xdotool", peer)):
                results.setdefault("motion_latency_ms_p50", {})[name] = statistics.median(values)
                results.setdefault("motion_latency_ms_p99", {})[name] = percentile(values, 0.99)
        finally:
            xinput.close()

    print(f"{'metric':28} {'ours':>12} {'xdotool':>12} {'ours/xdotool':>13}")
    for metric, row in results.items():
        ratio = row["ours"] / row["xdotool"] if row["xdotool"] else float("nan")
        print(f"{metric:28} {row['ours']:12.2f} {row['xdotool']:12.2f} {ratio:13.2f}")
    if args.json:
        args.json.write_text(json.dumps(
            {"benchmark": "input_injection", "args": {k: str(v) for k, v in vars(args).items()},
             "results": results}, indent=2))


if __name__ == "__main__":
    main()
