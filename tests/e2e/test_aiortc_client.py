"""aiortc, an implementation nobody here wrote, as a client of our server.

Through `/api/webrtc/signaling` in the Selkies dialect: ICE, DTLS 1.2 and SRTP
interop (aiortc decodes our H.264 with its own decoder), and data channels both
ways: `server_settings` and `ping` arrive on our `input` channel (aiortc answers
`pong,<ts>` and gets a `latency_measurement`), and its own "echo" channel gets
every message back, text and binary, 1 B to 256 KiB.
"""

from __future__ import annotations

from .client_process import aiortc_client
from .selkies_server import running_server


def test_aiortc_receives_video_and_exchanges_data_channel_messages() -> None:
    with running_server() as server, aiortc_client(server.url, "--frames", "30") as client:
        connected = client.wait_for_event("connected", 60)
        assert connected["input_types"][0] == "server_settings"
        echo = client.wait_for_event("echo", 60)
        assert echo["all_ok"] is True
        assert echo["count"] == 14  # 7 sizes, text and binary
        frames = client.frames_at_least(30, 60)
        assert (frames["width"], frames["height"]) == (1280, 720)
        done = client.wait_for_event("done", 30)
        assert done["frames"] >= 30
        # The server measured the round trip from aiortc's pong.
        assert {"server_settings", "ping", "latency_measurement"} <= set(done["input_types"])
        assert client.finish() == 0
        server.wait_for_log(r"session client-\S+: DTLS server up", 5)
