"""The WebRTC side of a browser session, on trio.

    run_session()  one nursery per browser
     ├─ transport driver: datagrams in, timers, datagrams out (PeerTransport)
     ├─ signalling: the browser's answer and trickled candidates
     ├─ video sender: hub subscription → RTP (shared payloads) → SRTP → UDP
     ├─ audio sender: audio hub subscription → RTP (RFC 7587, one Opus packet each)
     ├─ sender reports (RTCP SR per outgoing SSRC)
     └─ input channel: settings, pings, and a `stats` message every `stats_interval`

The sans-IO `PeerTransport` does the protocol work; this module only feeds it
bytes and `now`, flushes what it wants sent, and re-arms its one deadline.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..input import server_messages
from ..input.events import MediaToggle
from ..input.permissions import ClientPermissions, Role, check, may_use_mouse_keyboard
from ..input.protocol import parse_client_message_untrusted, verb_of
from ..media.audio import EncodedAudio
from ..proto import datachannel as dc
from ..proto.dtls.certificate import generate_certificate
from ..proto.h264 import packetize_annex_b
from ..proto.opus import OPUS_CLOCK_RATE, opus_payload
from ..proto.peer import (
    DataChannelEventReceived,
    IceStateChanged,
    LocalIceCandidate,
    PeerTransport,
    RemoteDescriptionError,
    RtcpReceived,
    TransportClosed,
    TransportReady,
)
from ..proto.rtcp import (
    FullIntraRequest,
    GenericNack,
    PictureLossIndication,
    SenderReport,
    ntp_timestamp_from_unix,
)
from ..proto.rtp import SDES_MID_URI, HeaderExtension, RtpPacket, encode_mid, sequence_add
from ..proto.rtp_history import RtpPacketHistory
from ..proto.sdp import SdpParseError, parse_sdp_untrusted
from ..proto.sdp_negotiation import (
    DEFAULT_AUDIO_PAYLOAD_TYPE,
    DEFAULT_EXTENSION_IDS,
    DEFAULT_VIDEO_PAYLOAD_TYPE,
    LocalTrack,
    LocalTransport,
    MediaSection,
    build_offer,
)
from .audio_hub import AudioHub
from .channels import SessionChannels
from .hub import BroadcastHub
from .input_service import InputService
from .media_control import MediaControl
from .sessions import SessionContext
from .udp_mux import PeerPort, UdpMux

log = logging.getLogger(__name__)

# BUNDLE order: video, then audio when it is enabled, then the data channel.
VIDEO_MID = "0"
AUDIO_MID = "1"
DATA_MID = "1"
DATA_MID_WITH_AUDIO = "2"
RTP_MTU = 1200
# RTP header (12) + mid extension (8) + SRTP tag (10) stay inside RTP_MTU.
MAX_PAYLOAD = RTP_MTU - 40
SENDER_REPORT_INTERVAL = 1.0
# Datagrams a driver takes from its inbox before it flushes what they caused.
RECEIVE_BATCH = 32
VIDEO_CLOCK = 90_000
# A channel the browser opens with this label gets every message back (diagnostics:
# round-trip time and throughput of the data path, used by tests and benchmarks).
ECHO_LABEL = "echo"


@dataclass
class WebRtcEnvironment:
    """What every session shares: the UDP mux, our certificate, the video hub."""

    mux: UdpMux
    hub: BroadcastHub
    addresses: Sequence[str]
    certificate: x509.Certificate = field(default=None)  # type: ignore[assignment]
    private_key: ec.EllipticCurvePrivateKey = field(default=None)  # type: ignore[assignment]
    random: Callable[[int], bytes] = os.urandom
    # Remote input (X11); None runs sessions without input injection.
    input: InputService | None = None
    # The payload of the `server_settings` message sent when `input` opens.
    settings_payload: Callable[[], dict[str, Any]] = dict
    # Every live session, to work out who holds exclusive mouse and keyboard.
    sessions: Callable[[], list[SessionContext]] = list
    # Seconds between `ping` messages on `input` (the client answers `pong,<ts>`).
    ping_interval: float = 5.0
    # A session not connected (ICE and DTLS up) this long after its offer ends: a
    # browser that never answers would otherwise hold its task and keep the encoder
    # warm until it disconnects.
    connect_timeout: float = 30.0
    # Called with (client id, channel label, message) for messages on data channels.
    on_channel_message: Callable[[str, str, str | bytes], None] | None = None
    # Channels the server opens on every session: (label, ordered, max_retransmits).
    channels: tuple[tuple[str, bool, int | None], ...] = (
        ("input", True, None),
        ("pointer", False, 0),
    )
    # Opus audio for every session; None offers no audio m-line.
    audio_hub: AudioHub | None = None
    # The payload of the periodic `stats` message on `input`; None sends none.
    stats_payload: Callable[[], dict[str, Any]] | None = None
    stats_interval: float = 2.0
    # The RTP senders of every live session by client id (for statistics).
    peers: dict[str, PeerMedia] = field(default_factory=dict)
    # What is streamed, for the page (`system` action `video_source,<text>`).
    video_source: str = ""
    # Stream changes from clients (framerate, bitrate, ...); None leaves the stream alone.
    media_control: MediaControl | None = None

    def __post_init__(self) -> None:
        if self.certificate is None or self.private_key is None:
            # One certificate for the server's lifetime: its fingerprint is in every offer.
            self.certificate, self.private_key = generate_certificate(time.time(),
                                                                      random=self.random)

    def announce(self, frame: str) -> None:
        """Send a frame on every session's `input` channel (e.g. a stream change)."""
        for peer in self.peers.values():
            peer.channels.send_nowait("input", frame)

    def refresh_permissions(self) -> None:
        """Re-derive every session's input rights (after a session came or went, or
        a token changed) and tell the clients whose mouse/keyboard access changed."""
        everyone = self.sessions()
        for context in everyone:
            peer = self.peers.get(context.client_id)
            if peer is not None and peer.permissions is not None:
                peer.apply_permissions(client_permissions(context, everyone), self.input)


class TransportDriver:
    """Owns one PeerTransport: feeds it, flushes it, keeps its deadline."""

    def __init__(self, transport: PeerTransport, port: PeerPort, on_event: Callable[[Any], None]):
        self.transport = transport
        self.port = port
        self._on_event = on_event
        self._wait: trio.CancelScope | None = None
        self._poked = False

    def poke(self) -> None:
        """Something changed the transport outside the driver: flush and re-arm now."""
        self._poked = True
        if self._wait is not None:
            self._wait.cancel()

    async def flush(self) -> None:
        """Send what the transport has queued and hand out its events, until neither
        the event handlers nor other tasks (`poke`) queue anything more: a NACK's
        retransmissions or a data-channel reply leave now, not at the next wake-up."""
        while True:
            self._poked = False
            for data, addr in self.transport.datagrams_to_send(trio.current_time()):
                await self.port.send(data, addr)
            handled = False
            while (event := self.transport.next_event()) is not None:
                self._on_event(event)
                handled = True
            if not (handled or self._poked):
                return

    async def run(self) -> None:
        transport = self.transport
        while not transport.closed:
            now = trio.current_time()
            timer = transport.get_timer()
            if timer is not None and timer <= now:
                transport.handle_timer(now)
            await self.flush()
            if transport.closed:
                break
            timer = transport.get_timer()
            with trio.CancelScope(deadline=math.inf if timer is None else timer) as scope:
                self._wait = scope
                try:
                    data, addr = await self.port.inbox.receive()
                except trio.EndOfChannel:
                    return
                now = trio.current_time()
                transport.receive_datagram(data, addr, now)
                # Whatever else already waits is handled before flushing: one flush
                # (and one SACK, one timer computation) per burst, not per datagram.
                for _ in range(RECEIVE_BATCH - 1):
                    try:
                        data, addr = self.port.inbox.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    transport.receive_datagram(data, addr, now)
            self._wait = None
        await self.flush()


class RtpSender:
    """One outgoing RTP stream of a peer: its SSRC, sequence and timestamp origin.

    The payloads are shared between peers; only the 12-byte header (and the mid
    extension, RFC 8843 section 15) is written per peer.
    """

    def __init__(self, transport: PeerTransport, random: Callable[[int], bytes], *,
                 payload_type: int, clock_rate: int, mid: str) -> None:
        self.transport = transport
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.mid = mid
        self.ssrc = int.from_bytes(random(4), "big") or 1
        self.sequence = int.from_bytes(random(2), "big")
        self.timestamp_offset = int.from_bytes(random(4), "big")
        self.packets = 0
        self.octets = 0
        self.last_rtp_timestamp = 0
        self.last_sent_at = 0.0  # trio's clock
        self.mid_extension_id = DEFAULT_EXTENSION_IDS[SDES_MID_URI]
        self._mid_extension = (HeaderExtension(self.mid_extension_id, encode_mid(mid)),)

    def _packet(self, payload: bytes, timestamp: int, marker: bool, now: float) -> bytes:
        packet = RtpPacket(
            payload_type=self.payload_type,
            sequence_number=self.sequence,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
            extensions=self._mid_extension,
        ).to_bytes()
        self.sequence = sequence_add(self.sequence, 1)
        self.packets += 1
        self.octets += len(payload)
        self.last_rtp_timestamp = timestamp
        self.last_sent_at = now
        return packet

    def sender_report(self, now: float, wall: float) -> bytes:
        """An SR for the instant `now` (trio's clock), which is `wall` (Unix time).

        Its RTP timestamp is the one a sample taken at that instant would carry
        (RFC 3550 section 6.4.1), extrapolated from the last packet sent: the
        receiver pairs it with the NTP time to line audio up with video, so the last
        packet's own timestamp, seconds old on a static screen, would skew that.
        """
        elapsed = round((now - self.last_sent_at) * self.clock_rate)
        return SenderReport(
            ssrc=self.ssrc,
            ntp_timestamp=ntp_timestamp_from_unix(wall),
            rtp_timestamp=(self.last_rtp_timestamp + elapsed) & 0xFFFFFFFF,
            packet_count=self.packets & 0xFFFFFFFF,
            octet_count=self.octets & 0xFFFFFFFF,
        ).to_bytes()


class VideoSender(RtpSender):
    """H.264 (RFC 6184): one access unit per RTP timestamp, marker on its last packet."""

    def __init__(self, transport: PeerTransport, random: Callable[[int], bytes]) -> None:
        super().__init__(transport, random, payload_type=DEFAULT_VIDEO_PAYLOAD_TYPE,
                         clock_rate=VIDEO_CLOCK, mid=VIDEO_MID)
        self.history = RtpPacketHistory()
        self.keyframe_requests = 0

    def rtp_timestamp(self, capture_time: float) -> int:
        return (int(capture_time * VIDEO_CLOCK) + self.timestamp_offset) & 0xFFFFFFFF

    def send_frame(self, payloads: list[bytes], capture_time: float) -> None:
        timestamp = self.rtp_timestamp(capture_time)
        now = trio.current_time()
        for index, payload in enumerate(payloads):
            sequence = self.sequence
            packet = self._packet(payload, timestamp, index == len(payloads) - 1, now)
            self.history.store(sequence, packet, now)
            self.transport.send_rtp(packet)

    def handle_feedback(self, packet: object, request_keyframe: Callable[[str], None]) -> None:
        """Act on one RTCP feedback packet: NACK resends from the history, PLI/FIR ask
        the hub for a keyframe. Feedback about another SSRC (or a forged one) is not
        ours to act on."""
        if _asks_for_keyframe(packet, self.ssrc):
            self.keyframe_requests += 1
            request_keyframe("browser PLI/FIR")
        elif (isinstance(packet, GenericNack) and packet.media_ssrc == self.ssrc
              and self.transport.ready):
            self.retransmit(packet.lost)

    def retransmit(self, lost: Sequence[int]) -> int:
        packets = self.history.retransmissions(list(lost), trio.current_time())
        for packet in packets:
            self.transport.send_rtp(packet)
        return len(packets)


class AudioSender(RtpSender):
    """Opus (RFC 7587): one packet per RTP packet, 48 kHz timestamps counted in samples."""

    def __init__(self, transport: PeerTransport, random: Callable[[int], bytes]) -> None:
        super().__init__(transport, random, payload_type=DEFAULT_AUDIO_PAYLOAD_TYPE,
                         clock_rate=OPUS_CLOCK_RATE, mid=AUDIO_MID)
        self._first_sample: int | None = None

    def rtp_timestamp(self, sample_index: int) -> int:
        return (sample_index + self.timestamp_offset) & 0xFFFFFFFF

    def send_packet(self, packet: EncodedAudio, now: float) -> None:
        # RFC 7587 4.2: the marker bit flags the first packet of a talkspurt; for us,
        # the first packet this peer gets (it may join a running stream).
        first = self._first_sample is None or packet.first
        if first:
            self._first_sample = packet.sample_index
        timestamp = self.rtp_timestamp(packet.sample_index)
        self.transport.send_rtp(self._packet(opus_payload(packet.data), timestamp, first, now))


@dataclass
class PeerMedia:
    """One live session as the rest of the service sees it: its RTP senders (for
    statistics), its channels (for announcements) and its current input rights."""

    transport: PeerTransport
    video: VideoSender
    audio: AudioSender | None
    channels: SessionChannels
    # Set once `input` is open and the client is registered with the input layer.
    permissions: ClientPermissions | None = None
    # START_VIDEO / STOP_VIDEO and START_AUDIO / STOP_AUDIO from this client.
    video_paused: bool = False
    audio_paused: bool = False

    def apply_permissions(self, permissions: ClientPermissions,
                          input_service: InputService | None) -> None:
        previous = self.permissions
        if permissions == previous:
            return
        self.permissions = permissions
        if input_service is not None:
            input_service.update_client(permissions)
        access = may_use_mouse_keyboard(permissions)
        if previous is None or access != may_use_mouse_keyboard(previous):
            self.channels.send_nowait("input", server_messages.system(f"mk_access,{int(access)}"))
        if previous is not None and (previous.role, previous.slot) != (
                permissions.role, permissions.slot):
            update = {"role": permissions.role.value, "slot": permissions.slot}
            self.channels.send_nowait(
                "input", server_messages.system("role_update," + json.dumps(update)))


def _build_offer(transport: PeerTransport, candidates: list[str], ssrc: int,
                 random: Callable[[int], bytes], audio_ssrc: int | None = None) -> str:
    track = LocalTrack(ssrc=ssrc, cname="selkies-trio", stream_id="desktop", track_id="video")
    sections = [MediaSection("video", VIDEO_MID, "sendonly", track)]
    if audio_ssrc is None:
        sections.append(MediaSection("application", DATA_MID))
    else:
        audio = LocalTrack(ssrc=audio_ssrc, cname="selkies-trio", stream_id="desktop",
                           track_id="audio")
        sections.append(MediaSection("audio", AUDIO_MID, "sendonly", audio))
        sections.append(MediaSection("application", DATA_MID_WITH_AUDIO))
    offer = build_offer(
        LocalTransport(
            transport.local_ufrag, transport.local_pwd, transport.local_fingerprint,
            "actpass", candidates=tuple(candidates), end_of_candidates=True,
        ),
        sections,
        random=random,
    )
    return offer.to_sdp()


async def run_session(context: SessionContext, env: WebRtcEnvironment) -> None:
    """Negotiate, connect, and stream to one browser until it leaves or fails."""
    transport = PeerTransport(env.certificate, env.private_key, random=env.random)
    port = env.mux.register(transport.local_ufrag)
    ready = trio.Event()
    closed_reason: list[str] = []
    sender = VideoSender(transport, env.random)
    audio_sender = AudioSender(transport, env.random) if env.audio_hub is not None else None
    subscription_ref: list[Any] = []

    def request_keyframe(reason: str) -> None:
        if subscription_ref:
            subscription_ref[0].request_keyframe(reason)

    def on_event(event: Any) -> None:
        if isinstance(event, LocalIceCandidate):
            # Host candidates are all in the offer already; nothing to trickle.
            return
        if isinstance(event, IceStateChanged):
            log.info("session %s: ICE %s", context.client_id, event.state)
        elif isinstance(event, TransportReady):
            log.info("session %s: DTLS %s up (SRTP profile %#x) via %s:%d", context.client_id,
                     event.dtls_role, event.srtp_profile, *event.remote)
            if transport.datachannels is not None:
                for label, ordered, max_retransmits in env.channels:
                    transport.datachannels.create_channel(
                        label, ordered=ordered, max_retransmits=max_retransmits
                    )
            ready.set()
        elif isinstance(event, RtcpReceived):
            for packet in event.packets:
                sender.handle_feedback(packet, request_keyframe)
        elif isinstance(event, DataChannelEventReceived):
            inner = event.event
            channels.on_event(inner)
            if isinstance(inner, dc.ChannelMessage):
                label = channels.label_of(inner.channel_id)
                _on_channel_message(context, env, channels, label, inner.data)
        elif isinstance(event, TransportClosed):
            closed_reason.append(event.reason)

    driver = TransportDriver(transport, port, on_event)
    channels = SessionChannels(transport, driver.poke)
    try:
        for address in env.addresses:
            transport.add_host_address(address, env.mux.local_address[1])
        transport.finish_gathering()
        candidates = list(transport.ice.local_candidates())
        context.send_signal({"sdp": {"type": "offer",
                                     "sdp": _build_offer(
                                         transport, candidates, sender.ssrc, env.random,
                                         audio_sender.ssrc if audio_sender else None)}})
        env.peers[context.client_id] = PeerMedia(transport, sender, audio_sender, channels)
        senders: list[RtpSender] = [sender] if audio_sender is None else [sender, audio_sender]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_signalling_loop, context, transport, driver)
            peer = env.peers[context.client_id]
            nursery.start_soon(_video_loop, env.hub, transport, driver, sender, ready,
                               subscription_ref, peer)
            if env.audio_hub is not None and audio_sender is not None:
                nursery.start_soon(_audio_loop, env.audio_hub, transport, driver,
                                   audio_sender, ready, peer)
            nursery.start_soon(_sender_reports, transport, driver, senders, ready)
            nursery.start_soon(_input_channel, context, env, channels)
            nursery.start_soon(channels.run_echo, ECHO_LABEL)
            nursery.start_soon(_connect_deadline, transport, driver, ready, env.connect_timeout)
            # The driver returns once the transport has closed, for whatever reason.
            await driver.run()
            nursery.cancel_scope.cancel()
        log.info("session %s: transport closed: %s", context.client_id,
                 closed_reason[0] if closed_reason else "unknown")
    finally:
        env.peers.pop(context.client_id, None)
        port.close()
        transport.close()
        if env.input is not None:
            await env.input.remove_client(context.client_id)
        # The session manager still lists this session until we return: leave it out.
        env.refresh_permissions()


def _asks_for_keyframe(packet: object, ssrc: int) -> bool:
    if isinstance(packet, PictureLossIndication):
        return packet.media_ssrc == ssrc
    if isinstance(packet, FullIntraRequest):
        return any(entry.ssrc == ssrc for entry in packet.entries)
    return False


async def _connect_deadline(transport: PeerTransport, driver: TransportDriver,
                            ready: trio.Event, seconds: float) -> None:
    with trio.move_on_after(seconds):
        await ready.wait()
        return
    transport.close(f"not connected within {seconds:g} s of the offer")
    driver.poke()


async def _signalling_loop(context: SessionContext, transport: PeerTransport,
                           driver: TransportDriver) -> None:
    """The browser's answer and trickled candidates. A bad first answer ends the
    session (there is nothing to connect to); a repeated answer, a malformed
    candidate or anything after close is logged and ignored."""
    async for message in context.messages:
        if transport.closed:
            continue
        if "sdp" in message:
            description = message["sdp"]
            if not isinstance(description, dict) or description.get("type") != "answer":
                log.warning("session %s: ignoring a description that is not an answer",
                            context.client_id)
                continue
            if transport.has_remote_description:
                log.warning("session %s: ignoring a second answer (no renegotiation)",
                            context.client_id)
                continue
            try:
                transport.set_remote_description(
                    parse_sdp_untrusted(str(description.get("sdp", ""))), trio.current_time()
                )
            except (SdpParseError, RemoteDescriptionError) as error:
                log.warning("session %s: bad answer: %s", context.client_id, error)
                transport.close(f"bad remote description: {error}")
        elif "ice" in message:
            ice = message["ice"]
            candidate = str(ice.get("candidate") or "") if isinstance(ice, dict) else ""
            if candidate and not transport.add_remote_candidate(candidate):
                log.debug("session %s: remote candidate not used: %.120s",
                          context.client_id, candidate)
            elif not candidate:
                transport.add_remote_candidate(None)
        driver.poke()


async def _video_loop(hub: BroadcastHub, transport: PeerTransport, driver: TransportDriver,
                      sender: VideoSender, ready: trio.Event, subscription_ref: list[Any],
                      peer: PeerMedia) -> None:
    """Frames from the hub to this peer. A capture or encoder failure ends every
    subscription; the hub restarts, and we subscribe again (starting on a keyframe).
    The session keeps the hub warm from its start, so once the peer connects its first
    keyframe is one tick away rather than an encoder start-up away."""
    async with hub.warm():
        await ready.wait()
        await _stream_video(hub, transport, driver, sender, subscription_ref, peer)


async def _stream_video(hub: BroadcastHub, transport: PeerTransport, driver: TransportDriver,
                        sender: VideoSender, subscription_ref: list[Any],
                        peer: PeerMedia) -> None:
    while transport.ready:
        async with hub.subscribe(name=f"rtp-{sender.ssrc:08x}") as subscription:
            subscription_ref[:] = [subscription]
            async for frame in subscription:
                if not transport.ready:
                    return
                if peer.video_paused:
                    continue
                payloads = frame.rtp_payloads(MAX_PAYLOAD, packetize_annex_b)
                sender.send_frame(payloads, frame.capture_time)
                await driver.flush()
        # The hub serves new subscribers again after its restart delay.
        log.info("video for %08x: the stream ended; subscribing again", sender.ssrc)


async def _audio_loop(hub: AudioHub, transport: PeerTransport, driver: TransportDriver,
                      sender: AudioSender, ready: trio.Event, peer: PeerMedia) -> None:
    await ready.wait()
    while transport.ready:
        async with hub.subscribe(name=f"rtp-{sender.ssrc:08x}") as subscription:
            async for packet in subscription:
                if not transport.ready:
                    return
                if peer.audio_paused:
                    continue
                sender.send_packet(packet, trio.current_time())
                await driver.flush()


async def _sender_reports(transport: PeerTransport, driver: TransportDriver,
                          senders: Sequence[RtpSender], ready: trio.Event) -> None:
    await ready.wait()
    while transport.ready:
        now, wall = trio.current_time(), time.time()
        reports = [sender.sender_report(now, wall) for sender in senders if sender.packets]
        for report in reports:
            transport.send_rtcp(report)
        if reports:
            await driver.flush()
        await trio.sleep(SENDER_REPORT_INTERVAL)


def client_permissions(context: SessionContext,
                       everyone: list[SessionContext]) -> ClientPermissions:
    """The input layer's view of a session's rights (seed 001, PROTOCOL.md)."""
    token = context.permissions
    # In secure mode the token decides, and it can change while the session runs.
    client_type = token.role if token is not None else context.client_type
    role = Role.CONTROLLER if client_type == "controller" else Role.VIEWER
    slot = token.slot if token is not None else getattr(context.info, "client_slot", None)
    mk_control = bool(getattr(token, "mk_control", False))
    claimed = any(bool(getattr(other.permissions, "mk_control", False)) for other in everyone)
    return ClientPermissions(
        context.client_id, role, slot if slot is not None and slot > 0 else None,
        mk_control=mk_control, mk_control_claimed=claimed,
    )


def _on_channel_message(context: SessionContext, env: WebRtcEnvironment,
                        channels: SessionChannels, label: str, data: str | bytes) -> None:
    if env.on_channel_message is not None:
        env.on_channel_message(context.client_id, label, data)
    if label == ECHO_LABEL:
        channels.echo(data)
        return
    if label not in ("input", "pointer"):
        return
    if isinstance(data, str) and data.startswith("pong,"):
        try:
            sent_ms = float(data[5:])
        except ValueError:
            return
        latency = max(0.0, time.time() * 1000 - sent_ms)
        channels.send_nowait("input", server_messages.latency_measurement(latency))
        return
    peer = env.peers.get(context.client_id)
    if peer is None or peer.permissions is None:
        return  # nothing is accepted before the client is registered on `input`
    if isinstance(data, str) and data in MEDIA_TOGGLES:
        toggle = parse_client_message_untrusted(data)
        assert isinstance(toggle, MediaToggle)
        _toggle_media(peer, peer.permissions, toggle, env)
        return
    if env.media_control is not None and env.media_control.handles(data):
        assert isinstance(data, str)
        env.media_control.handle(data, peer.permissions)
        if verb_of(data) != "SETTINGS":
            return
        # SETTINGS also carries `scaling_dpi`, which the input layer applies (as `s,`).
    if env.input is not None:
        env.input.submit_nowait(context.client_id, data)


# Handled here, per session; the input protocol parses them into `MediaToggle`.
MEDIA_TOGGLES = frozenset({"START_VIDEO", "STOP_VIDEO", "START_AUDIO", "STOP_AUDIO"})


def _toggle_media(peer: PeerMedia, permissions: ClientPermissions, toggle: MediaToggle,
                  env: WebRtcEnvironment) -> None:
    """A client pauses or resumes its own video or audio; the stream goes on for others.
    The permission table decides who may, as for every other verb."""
    verdict = check(toggle, permissions, command_enabled=False)
    if not verdict.allowed:
        log.info("refused %s %s from %s: %s", "START" if toggle.enabled else "STOP",
                 toggle.kind, permissions.client_id, verdict.reason)
        return
    if toggle.kind == "video":
        if peer.video_paused and toggle.enabled:
            # The decoder lost its reference frames while paused.
            env.hub.request_keyframe("a client resumed video")
        peer.video_paused = not toggle.enabled
    else:
        peer.audio_paused = not toggle.enabled


async def _input_channel(context: SessionContext, env: WebRtcEnvironment,
                         channels: SessionChannels) -> None:
    """Once `input` opens: settings, the current cursor, input registration, pings."""
    await channels.opened("input").wait()
    channels.send_nowait("input", server_messages.server_settings(env.settings_payload()))
    if env.video_source:
        channels.send_nowait("input", server_messages.system(f"video_source,{env.video_source}"))
    permissions = client_permissions(context, env.sessions())
    if env.input is not None:
        for frame in env.input.add_client(
            permissions, lambda frame: channels.send_nowait("input", frame)
        ):
            channels.send_nowait("input", frame)
    env.peers[context.client_id].apply_permissions(permissions, None)
    # A new holder of mk_control changes what everyone else may do.
    env.refresh_permissions()
    async with trio.open_nursery() as nursery:
        if env.stats_payload is not None:
            nursery.start_soon(_send_stats, channels, env.stats_payload, env.stats_interval)
        while True:
            channels.send_nowait("input", server_messages.ping(time.time() * 1000))
            await trio.sleep(env.ping_interval)


async def _send_stats(channels: SessionChannels, payload: Callable[[], dict[str, Any]],
                      interval: float) -> None:
    """The dashboard's server figures (CPU, memory, encoder) on `input`."""
    while True:
        channels.send_nowait("input", server_messages.stats(payload()))
        await trio.sleep(interval)
