"""A peer whose SCTP misbehaves is closed alone; another peer keeps streaming.

Both peers are real aiortc clients of our server subprocess. The bad one first
sends hundreds of random byte strings as DTLS application data (garbage where
SCTP packets belong), then SCTP packets whose common header, verification tag and
CRC32c are right but whose chunks are truncated, too short or of unknown types:
the server drops them and the bad peer's own channels keep working. Then it sends a well-formed SCTP ABORT, after which its association is
gone for good: the server closes that peer (DTLS close_notify) and only it, while
the good peer's decoded frames keep coming.
"""

from __future__ import annotations

import re

from .client_process import aiortc_client
from .selkies_server import running_server


def test_misbehaving_sctp_peer_is_closed_alone() -> None:
    with running_server() as server, aiortc_client(server.url, "--stream",
                                                    "--frames", "10") as good:
        good.frames_at_least(10, 60)
        with aiortc_client(server.url, "--misbehave", "--garbage", "500",
                           "--seed", "5") as bad:
            bad.wait_for_event("garbage-sent", 60)
            assert bad.wait_for_event("malformed-sent", 60)["count"] == 500
            after = bad.wait_for(lambda e: e.get("phase") == "after-garbage", 60)
            assert after["all_ok"] is True
            frames_at_abort = good.frames_at_least(0, 5)["count"]
            bad.wait_for_event("abort-sent", 30)
            closed = bad.wait_for_event("dtls-state", 30)
            assert closed["state"] == "closed"
            bad.wait_for_event("done", 30)
            assert bad.finish() == 0
        closures = server.wait_for_log(r"transport closed: (.*)", 10)
        assert "SCTP association closed" in closures.group(1)
        # The good peer keeps receiving and decoding video after the other peer's end.
        good.frames_at_least(frames_at_abort + 60, 30)
        closed_sessions = [line for line in server.log if re.search("transport closed", line)]
        assert len(closed_sessions) == 1, closed_sessions
        good.finish()
