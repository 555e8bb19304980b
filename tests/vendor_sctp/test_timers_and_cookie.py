"""RTO estimation (RFC 6298), congestion window rules (RFC 9260 section 7.2) and
the signed State Cookie."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vendor_sctp.congestion import CongestionController, RtoEstimator
from vendor_sctp.cookie import (
    COOKIE_SIZE,
    CookieContents,
    StaleCookieError,
    make_cookie,
    open_cookie_untrusted,
)
from vendor_sctp.errors import SctpDecodeError


def test_rto_first_and_later_measurements() -> None:
    rto = RtoEstimator(initial=1.0, minimum=0.0, maximum=60.0)
    assert rto.rto == 1.0
    rto.on_rtt_measurement(0.1)
    assert rto.srtt == pytest.approx(0.1) and rto.rttvar == pytest.approx(0.05)
    assert rto.rto == pytest.approx(0.1 + 4 * 0.05)
    rto.on_rtt_measurement(0.3)
    # RTTVAR = 3/4 * 0.05 + 1/4 * |0.1 - 0.3|, SRTT = 7/8 * 0.1 + 1/8 * 0.3
    assert rto.rttvar == pytest.approx(0.0875)
    assert rto.srtt == pytest.approx(0.125)
    assert rto.rto == pytest.approx(0.125 + 4 * 0.0875)


def test_rto_is_clamped_and_backs_off() -> None:
    rto = RtoEstimator(initial=1.0, minimum=0.2, maximum=5.0)
    rto.on_rtt_measurement(0.001)
    assert rto.rto == 0.2
    for expected in (0.4, 0.8, 1.6, 3.2, 5.0, 5.0):
        rto.back_off()
        assert rto.rto == pytest.approx(expected)


def test_congestion_window_rules() -> None:
    cc = CongestionController(mtu=1200, initial_ssthresh=100_000)
    assert cc.cwnd == 4380  # min(4 * MTU, max(2 * MTU, 4380))
    cc.on_sack(3000, cumulative_advanced=True, flight_size_before=4380, all_acked=False)
    assert cc.cwnd == 4380 + 1200, "slow start: at most one MTU per SACK"
    cc.on_sack(3000, cumulative_advanced=True, flight_size_before=100, all_acked=False)
    assert cc.cwnd == 5580, "no growth while the window is not used"
    cc.on_sack(3000, cumulative_advanced=False, flight_size_before=5580, all_acked=False)
    assert cc.cwnd == 5580, "slow start grows only when the cumulative ack moves"
    assert cc.enter_fast_recovery(highest_outstanding_tsn=50)
    assert cc.cwnd == cc.ssthresh == 4800  # max(cwnd / 2, 4 * MTU)
    assert not cc.enter_fast_recovery(60), "one reduction per recovery"
    cc.exit_fast_recovery()
    cc.on_retransmission_timeout()
    assert cc.cwnd == 1200 and cc.ssthresh == 4800
    cc.cwnd = 6000  # congestion avoidance: one MTU per window of acked bytes
    cc.on_sack(5000, cumulative_advanced=True, flight_size_before=6000, all_acked=False)
    assert cc.cwnd == 6000
    # Gap-acked bytes count too (the cumulative ack need not move).
    cc.on_sack(1000, cumulative_advanced=False, flight_size_before=6000, all_acked=False)
    assert cc.cwnd == 7200 and cc.partial_bytes_acked == 0
    cc.on_sack(3000, cumulative_advanced=True, flight_size_before=7200, all_acked=True)
    assert cc.cwnd == 7200 and cc.partial_bytes_acked == 0, "reset when everything is acked"
    cc.on_sack(9000, cumulative_advanced=True, flight_size_before=1000, all_acked=False)
    assert cc.cwnd == 7200 and cc.partial_bytes_acked == 7200, "capped while not fully used"


CONTENTS = CookieContents(
    created_at=12.5,
    local_verification_tag=0x01020304,
    peer_verification_tag=0xA0B0C0D0,
    local_initial_tsn=7,
    peer_initial_tsn=0xFFFFFFFF,
    peer_receiver_window=131072,
    outbound_streams=1024,
    inbound_streams=65535,
    peer_supports_forward_tsn=True,
    peer_supports_reconfig=False,
)


def test_cookie_round_trip() -> None:
    cookie = make_cookie(CONTENTS, b"secret")
    assert len(cookie) == COOKIE_SIZE
    assert open_cookie_untrusted(cookie, b"secret", now=13.0, lifetime=60) == CONTENTS


def test_cookie_checks() -> None:
    cookie = make_cookie(CONTENTS, b"secret")
    with pytest.raises(SctpDecodeError):
        open_cookie_untrusted(cookie, b"other secret", now=13.0, lifetime=60)
    with pytest.raises(SctpDecodeError):
        open_cookie_untrusted(cookie[:-1], b"secret", now=13.0, lifetime=60)
    with pytest.raises(StaleCookieError) as stale:
        open_cookie_untrusted(cookie, b"secret", now=80.0, lifetime=60)
    assert stale.value.staleness == pytest.approx(7.5)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=COOKIE_SIZE + 8))
def test_fuzz_cookie_raises_only_decode_error(cookie: bytes) -> None:
    with pytest.raises(SctpDecodeError):
        open_cookie_untrusted(cookie, b"secret", now=0.0, lifetime=60)


def test_idle_halves_the_window_per_rto_down_to_four_mtu() -> None:
    cc = CongestionController(mtu=1000, initial_ssthresh=10**6)
    cc.cwnd = 64_000
    cc.on_idle(idle_for=0.5, rto=1.0)
    assert cc.cwnd == 64_000
    cc.on_idle(idle_for=2.5, rto=1.0)
    assert cc.cwnd == 16_000
    cc.on_idle(idle_for=100.0, rto=1.0)
    assert cc.cwnd == 4_000
    cc.on_retransmission_timeout()
    cc.on_idle(idle_for=100.0, rto=1.0)
    assert cc.cwnd == 1_000, "idleness never grows the window"
