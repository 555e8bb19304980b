"""An aiortc client of our server, run as its own process: one JSON object per stdout line.

    python -m tests.e2e.aiortc_client URL [--frames N] [--stream] [--misbehave]

It signals in the Selkies dialect, answers our offer, decodes our H.264 video
with aiortc's own decoder, answers `ping` on `input` with `pong,<ts>`, and opens a
channel labelled "echo" (the server sends every message back).

Lines it prints (`event` key): `connected`, `input` (each server message's type),
`echo` (round-trip results), `frames` (every `--report-every` decoded frames, with
the size), `garbage-sent`, `abort-sent`, `dtls-state`, `error`, `done`.

`--stream` keeps receiving video until stdin closes. `--misbehave` first proves
the channels work, then sends random bytes as DTLS application data (garbage
SCTP) and SCTP packets with a valid common header and checksum but truncated or
malformed chunks, checks that the echo channel still works, then sends a
well-formed SCTP ABORT, and waits for the server to close the peer.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import struct
import sys
import time
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcsctptransport import AbortChunk, RTCSctpTransport
from google_crc32c import value as crc32c

from tests.e2e.aiortc_peer import (
    WebSocketClient,
    WebSocketClosed,
    loopback_only,
    parse_peer_frame,
    selkies_session,
)

ECHO_SIZES = [1, 1000, 1200, 16384, 65536, 65537, 262144]


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pc = RTCPeerConnection()
        self.input_types: list[str] = []
        self.settings_seen = asyncio.Event()
        self.echo_inbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.frames = 0
        self.frames_goal = asyncio.Event()
        self.dtls_closed = asyncio.Event()
        self.track_ready = asyncio.Event()
        self.track: Any = None

    @property
    def sctp(self) -> RTCSctpTransport:
        sctp = self.pc.sctp
        assert sctp is not None, "the answer has no data-channel section"
        return sctp

    async def signal(self, socket: WebSocketClient, server_id: str) -> None:
        pc = self.pc

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video":
                self.track = track
                self.track_ready.set()

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label == "input":
                channel.on("message", lambda message: self.on_input(channel, message))

        while True:
            message = parse_peer_frame(await socket.receive(), server_id)
            if message is None:
                continue
            if "sdp" in message and message["sdp"].get("type") == "offer":
                await pc.setRemoteDescription(RTCSessionDescription(**message["sdp"]))
                await pc.setLocalDescription(await pc.createAnswer())
                answer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
                await socket.send(f"{server_id} {json.dumps({'sdp': answer})}")
                return
            # Our offer carries every candidate; trickled ones would come as "ice".

    def on_input(self, channel: Any, message: str | bytes) -> None:
        if not isinstance(message, str):
            return
        try:
            decoded = json.loads(message)
        except ValueError:
            return
        kind = str(decoded.get("type"))
        self.input_types.append(kind)
        emit("input", type=kind, keys=sorted(decoded.get("data") or {})[:5]
             if isinstance(decoded.get("data"), dict) else None)
        if kind == "server_settings":
            self.settings_seen.set()
        elif kind == "ping":
            channel.send(f"pong,{decoded['data']['start_time']}")

    async def receive_video(self) -> None:
        await self.track_ready.wait()
        while True:
            try:
                frame = await self.track.recv()
            except MediaStreamError:
                return
            self.frames += 1
            if self.frames % self.args.report_every == 0 or self.frames == 1:
                emit("frames", count=self.frames, width=frame.width, height=frame.height)
            if self.frames >= self.args.frames:
                self.frames_goal.set()

    async def open_echo(self) -> Any:
        channel = self.pc.createDataChannel("echo")
        opened = asyncio.Event()
        channel.on("open", opened.set)
        channel.on("message", self.echo_inbox.put_nowait)
        await asyncio.wait_for(opened.wait(), 20)
        return channel

    async def echo_round_trips(self, channel: Any, tag: str) -> dict[str, Any]:
        results = []
        for size in ECHO_SIZES:
            text = (tag * size)[:size]
            binary = hashlib.shake_128(f"{tag}{size}".encode()).digest(size)
            for sent in (text, binary):
                channel.send(sent)
                back = await asyncio.wait_for(self.echo_inbox.get(), 20)
                results.append({"size": size, "kind": type(sent).__name__,
                                "ok": back == sent})
        return {"all_ok": all(r["ok"] for r in results), "count": len(results)}

    async def send_garbage(self, count: int) -> None:
        dtls = self.sctp.transport
        rng = random.Random(self.args.seed)
        for _ in range(count):
            size = rng.choice([1, 4, 11, 12, 16, 17, 100, 1000, 1100])
            await dtls._send_data(bytes(rng.getrandbits(8) for _ in range(size)))
        emit("garbage-sent", count=count)

    def malformed_chunks(self, rng: random.Random) -> list[bytes]:
        """Chunk bytes that a parser must reject or skip, never act on (RFC 9260 3.2)."""
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 40)))
        data_header = struct.pack("!LHHL", rng.getrandbits(32), 1, 0, 51)
        return [
            # A DATA chunk whose length runs past the end of the packet.
            struct.pack("!BBH", 0, 0x03, 16 + 200) + data_header + body,
            # A chunk length below the 4-byte chunk header.
            struct.pack("!BBH", 0, 0x03, rng.randrange(0, 4)) + body,
            # A SACK cut short inside its fixed fields.
            struct.pack("!BBH", 3, 0, 16) + body[:3],
            # Unknown chunk types, with each of the four "upper bits" actions.
            struct.pack("!BBH", rng.choice([0x3F, 0x7F, 0xBF, 0xFF]), 0, 4 + len(body)) + body,
            # Only part of a chunk header.
            bytes([0, 3]),
        ]

    async def send_malformed_sctp(self, rounds: int) -> None:
        """Packets with our ports, the peer's verification tag and a correct CRC32c, so
        they pass the common-header checks and reach the chunk parser."""
        sctp = self.sctp
        rng = random.Random(self.args.seed + 1)
        sent = 0
        for _ in range(rounds):
            for chunks in self.malformed_chunks(rng):
                header = struct.pack("!HHL", sctp._local_port, sctp._remote_port,
                                     sctp._remote_verification_tag)
                checksum = crc32c(header + b"\x00\x00\x00\x00" + chunks)
                await sctp.transport._send_data(header + struct.pack("<L", checksum) + chunks)
                sent += 1
        emit("malformed-sent", count=sent)

    async def run(self) -> None:
        loopback_only()
        socket, server_id = await selkies_session(self.args.url)
        await self.signal(socket, server_id)

        @self.sctp.transport.on("statechange")
        def on_dtls_state() -> None:
            state = self.sctp.transport.state
            emit("dtls-state", state=state)
            if state in ("closed", "failed"):
                self.dtls_closed.set()

        video = asyncio.ensure_future(self.receive_video())
        try:
            await asyncio.wait_for(self.settings_seen.wait(), 30)
            emit("connected", input_types=self.input_types)
            echo = await self.open_echo()
            emit("echo", phase="first", **await self.echo_round_trips(echo, "a"))
            await asyncio.wait_for(self.frames_goal.wait(), 60)
            if self.args.misbehave:
                await self.misbehave(echo)
            elif self.args.stream:
                await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            emit("done", frames=self.frames, input_types=sorted(set(self.input_types)))
        finally:
            video.cancel()
            await self.pc.close()
            await socket.close()

    async def misbehave(self, echo: Any) -> None:
        await self.send_garbage(self.args.garbage)
        await self.send_malformed_sctp(self.args.garbage // 5)
        # Both kinds are dropped by the server's SCTP; our channels still work.
        emit("echo", phase="after-garbage", **await self.echo_round_trips(echo, "b"))
        await self.sctp._send_chunk(AbortChunk())
        emit("abort-sent", at=time.time())
        await asyncio.wait_for(self.dtls_closed.wait(), 30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--report-every", type=int, default=10)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--misbehave", action="store_true")
    parser.add_argument("--garbage", type=int, default=500)
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    args = parser.parse_args()
    try:
        asyncio.run(Client(args).run())
    except (TimeoutError, WebSocketClosed, ConnectionError) as error:
        emit("error", message=f"{type(error).__name__}: {error}")
        sys.exit(1)


if __name__ == "__main__":
    main()
