"""runtime/webrtc.py run_session: a session whose browser never answers its offer ends."""

from __future__ import annotations

import time
from typing import Any

import trio
import trio.testing

from selkies_trio.media.capture_synthetic import SyntheticSource
from selkies_trio.media.encoder import H264Encoder
from selkies_trio.proto.dtls.certificate import generate_certificate
from selkies_trio.runtime.hub import BroadcastHub
from selkies_trio.runtime.sessions import SessionContext
from selkies_trio.runtime.udp_mux import UdpMux
from selkies_trio.runtime.webrtc import WebRtcEnvironment, run_session


async def test_a_browser_that_never_answers_is_dropped_after_the_connect_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    certificate, key = generate_certificate(time.time())
    mux = UdpMux("127.0.0.1", 0)
    # Capture and encode on the loop: a worker thread would let the clock run on.
    hub = BroadcastHub(lambda: SyntheticSource(160, 96), H264Encoder, fps=5,
                       offload_to_thread=False)
    env = WebRtcEnvironment(mux=mux, hub=hub, addresses=("127.0.0.1",), certificate=certificate,
                            private_key=key, connect_timeout=30.0)
    sent: list[dict[str, Any]] = []
    _inbox, messages = trio.open_memory_channel[dict[str, Any]](8)
    context = SessionContext("client-1", "controller", {}, messages, sent.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(mux.run)
        nursery.start_soon(hub.run)
        started = trio.current_time()
        with trio.fail_after(120):
            await run_session(context, env)
        ended_after = trio.current_time() - started
        # Meanwhile the session kept the encoder warm for its first keyframe.
        encoded = hub.statistics().frames_encoded
        nursery.cancel_scope.cancel()
    assert [message["sdp"]["type"] for message in sent] == ["offer"]
    assert 30.0 <= ended_after < 31.0
    assert encoded > 0
    assert "client-1" not in env.peers
