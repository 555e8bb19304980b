"""Build JSEP offers and answers for our sender (RFC 8829 sections 5.2 and 5.3).

The server offers, as Selkies does: one BUNDLE transport (RFC 9143) carrying H.264
constrained-baseline video (RFC 6184, packetization-mode 1), Opus audio (RFC 7587)
and the data channel (RFC 8841), with rtcp-mux, trickle ICE and a sha-256 DTLS
fingerprint. When a browser offers instead, the answer picks the same formats out
of what it offered and rejects the rest with port 0 (RFC 8829 5.3.1).

An offered video section looks like::

    m=video 9 UDP/TLS/RTP/SAVPF 102
    c=IN IP4 0.0.0.0
    a=rtcp:9 IN IP4 0.0.0.0
    a=ice-ufrag:... / a=ice-pwd:... / a=ice-options:trickle
    a=fingerprint:sha-256 AB:CD:...
    a=setup:actpass
    a=mid:0
    a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid
    a=sendonly
    a=msid:<stream> <track>
    a=rtcp-mux / a=rtcp-rsize
    a=rtpmap:102 H264/90000
    a=rtcp-fb:102 goog-remb / transport-cc / ccm fir / nack / nack pli
    a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
    a=ssrc:<ssrc> cname:<cname>
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .h264 import H264_CLOCK_RATE, H264_FMTP, accepts_constrained_baseline_mode_1
from .opus import OPUS_CLOCK_RATE, OPUS_ENCODING_NAME, OPUS_FMTP, OPUS_SDP_CHANNELS
from .rtp import ABS_SEND_TIME_URI, SDES_MID_URI, TRANSPORT_WIDE_CC_URI
from .sdp import (
    ExtensionMap,
    Fingerprint,
    Group,
    MediaDescription,
    Origin,
    RtpCodec,
    SessionDescription,
    SsrcAttribute,
)

RTP_PROTOCOL = "UDP/TLS/RTP/SAVPF"
DATA_CHANNEL_PROTOCOL = "UDP/DTLS/SCTP"
DATA_CHANNEL_FORMAT = "webrtc-datachannel"
DEFAULT_SCTP_PORT = 5000
DEFAULT_MAX_MESSAGE_SIZE = 262_144
VIDEO_FEEDBACK: tuple[str, ...] = ("goog-remb", "transport-cc", "ccm fir", "nack", "nack pli")
AUDIO_FEEDBACK: tuple[str, ...] = ("transport-cc",)
DEFAULT_VIDEO_PAYLOAD_TYPE = 102
DEFAULT_AUDIO_PAYLOAD_TYPE = 111
# Local identifiers we offer; in an answer the offerer's identifiers are kept.
DEFAULT_EXTENSION_IDS: dict[str, int] = {
    SDES_MID_URI: 1,
    ABS_SEND_TIME_URI: 2,
    TRANSPORT_WIDE_CC_URI: 3,
}
MediaKind = Literal["video", "audio", "application"]
Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]


class SdpLocalProtocolError(ValueError):
    """The caller asked for a description that cannot be written."""


@dataclass(frozen=True, slots=True)
class LocalTransport:
    """Our ICE and DTLS parameters, shared by every bundled section."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint: Fingerprint
    setup: str = "actpass"
    # Candidate attribute values ("candidate:..."), as ice_candidate writes them.
    candidates: tuple[str, ...] = ()
    end_of_candidates: bool = False


@dataclass(frozen=True, slots=True)
class LocalTrack:
    """An outgoing RTP stream: its SSRC and the identifiers that label it (RFC 8830)."""

    ssrc: int
    cname: str
    stream_id: str
    track_id: str


@dataclass(frozen=True, slots=True)
class MediaSection:
    """One section we offer: a media kind, its MID, and the track we send, if any."""

    kind: MediaKind
    mid: str
    direction: Direction = "sendonly"
    track: LocalTrack | None = None
    payload_type: int | None = None


def _random_session_id(random: Callable[[int], bytes]) -> str:
    # RFC 8866 5.2 suggests an NTP-format value; JSEP 5.2.1 asks for 63 random bits.
    return str(int.from_bytes(random(8), "big") & ((1 << 63) - 1))


def _base_session(session_id: str, bundle_mids: Sequence[str]) -> SessionDescription:
    session = SessionDescription(origin=Origin(session_id=session_id))
    if bundle_mids:
        session.groups.append(Group("BUNDLE", list(bundle_mids)))
    session.extmap_allow_mixed = True
    session.msid_semantic = " WMS"
    return session


def _transport_section(
    kind: str, protocol: str, formats: list[str], mid: str, transport: LocalTransport
) -> MediaDescription:
    return MediaDescription(
        kind=kind,
        port=9,
        protocol=protocol,
        formats=formats,
        connection="IN IP4 0.0.0.0",
        mid=mid,
        ice_ufrag=transport.ice_ufrag,
        ice_pwd=transport.ice_pwd,
        ice_options=["trickle"],
        fingerprints=[transport.fingerprint],
        setup=transport.setup,
        candidates=list(transport.candidates),
        end_of_candidates=transport.end_of_candidates,
    )


def _label_track(media: MediaDescription, track: LocalTrack | None) -> None:
    if track is None:
        return
    media.msid.append(f"{track.stream_id} {track.track_id}")
    media.ssrcs.append(SsrcAttribute(track.ssrc, "cname", track.cname))
    media.ssrcs.append(SsrcAttribute(track.ssrc, "msid", f"{track.stream_id} {track.track_id}"))


def _video_codec(payload_type: int) -> RtpCodec:
    return RtpCodec(
        payload_type, "H264", H264_CLOCK_RATE, None, dict(H264_FMTP), list(VIDEO_FEEDBACK)
    )


def _audio_codec(payload_type: int) -> RtpCodec:
    return RtpCodec(
        payload_type,
        OPUS_ENCODING_NAME,
        OPUS_CLOCK_RATE,
        OPUS_SDP_CHANNELS,
        dict(OPUS_FMTP),
        list(AUDIO_FEEDBACK),
    )


def _rtp_section(
    kind: str,
    mid: str,
    codec: RtpCodec,
    direction: str,
    transport: LocalTransport,
    extmaps: list[ExtensionMap],
) -> MediaDescription:
    media = _transport_section(kind, RTP_PROTOCOL, [str(codec.payload_type)], mid, transport)
    media.rtcp = "9 IN IP4 0.0.0.0"
    media.direction = direction
    media.rtcp_mux = True
    media.rtcp_rsize = kind == "video"
    media.extmaps = extmaps
    media.codecs = [codec]
    return media


def _application_section(
    mid: str, transport: LocalTransport, max_message_size: int
) -> MediaDescription:
    media = _transport_section(
        "application", DATA_CHANNEL_PROTOCOL, [DATA_CHANNEL_FORMAT], mid, transport
    )
    media.sctp_port = DEFAULT_SCTP_PORT
    media.max_message_size = max_message_size
    return media


def build_offer(
    transport: LocalTransport,
    sections: Sequence[MediaSection],
    *,
    session_id: str | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    random: Callable[[int], bytes] = os.urandom,
) -> SessionDescription:
    """An offer with every section bundled on one transport (JSEP 5.2.1)."""
    if transport.setup != "actpass":
        raise SdpLocalProtocolError("an offer's setup must be actpass (RFC 8842 5.2)")
    mids = [section.mid for section in sections]
    if len(set(mids)) != len(mids):
        raise SdpLocalProtocolError("MIDs must be unique")
    session = _base_session(session_id or _random_session_id(random), mids)
    for section in sections:
        if section.kind == "application":
            session.media.append(_application_section(section.mid, transport, max_message_size))
            continue
        if section.kind == "video":
            codec = _video_codec(section.payload_type or DEFAULT_VIDEO_PAYLOAD_TYPE)
            uris = [SDES_MID_URI, ABS_SEND_TIME_URI, TRANSPORT_WIDE_CC_URI]
        else:
            codec = _audio_codec(section.payload_type or DEFAULT_AUDIO_PAYLOAD_TYPE)
            uris = [SDES_MID_URI, TRANSPORT_WIDE_CC_URI]
        extmaps = [ExtensionMap(DEFAULT_EXTENSION_IDS[uri], uri) for uri in uris]
        media = _rtp_section(
            section.kind, section.mid, codec, section.direction, transport, extmaps
        )
        _label_track(media, section.track)
        session.media.append(media)
    return session


_REVERSED_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


def _answer_direction(offered: str | None, we_send: bool) -> str:
    # We never consume the browser's media, so at most we send (RFC 8829 5.3.1).
    mirror = _REVERSED_DIRECTION[offered or "sendrecv"]
    can_send = we_send and mirror in ("sendrecv", "sendonly")
    can_receive = mirror in ("sendrecv", "recvonly")
    if can_send:
        return "sendonly"
    return "recvonly" if can_receive else "inactive"


def _rejected_copy(offered: MediaDescription) -> MediaDescription:
    return MediaDescription(
        kind=offered.kind,
        port=0,
        protocol=offered.protocol,
        formats=list(offered.formats),
        connection="IN IP4 0.0.0.0",
        mid=offered.mid,
    )


def build_answer(
    offer: SessionDescription,
    transport: LocalTransport,
    tracks: Mapping[str, LocalTrack] | None = None,
    *,
    session_id: str | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    random: Callable[[int], bytes] = os.urandom,
) -> SessionDescription:
    """Answer a browser's offer: H.264 constrained baseline video, Opus audio, data channel.

    ``tracks`` maps a media kind ("video", "audio") to the track we send in the first
    section of that kind. Sections we cannot serve are rejected with port 0.
    """
    if transport.setup not in ("active", "passive"):
        raise SdpLocalProtocolError("an answer's setup must be active or passive")
    remaining_tracks = dict(tracks or {})
    session = _base_session(session_id or _random_session_id(random), ())
    accepted: list[str] = []
    for offered in offer.media:
        answer = _answer_section(offered, transport, remaining_tracks, max_message_size)
        session.media.append(answer)
        if answer.port != 0 and answer.mid is not None:
            accepted.append(answer.mid)
    if offer.bundle_mids() and accepted:
        session.groups.append(Group("BUNDLE", accepted))
    return session


def _answer_section(
    offered: MediaDescription,
    transport: LocalTransport,
    tracks: dict[str, LocalTrack],
    max_message_size: int,
) -> MediaDescription:
    if offered.port == 0 or offered.mid is None:
        return _rejected_copy(offered)
    if offered.kind == "application":
        if DATA_CHANNEL_PROTOCOL not in offered.protocol or offered.sctp_port is None:
            return _rejected_copy(offered)
        return _application_section(offered.mid, transport, max_message_size)
    if offered.kind == "video":
        candidates = [
            codec
            for codec in offered.codecs_named("H264")
            if accepts_constrained_baseline_mode_1(codec.parameters)
        ]
        ours = dict(H264_FMTP)
        our_feedback = VIDEO_FEEDBACK
    elif offered.kind == "audio":
        candidates = [
            codec
            for codec in offered.codecs_named(OPUS_ENCODING_NAME)
            if codec.clock_rate == OPUS_CLOCK_RATE
        ]
        ours = dict(OPUS_FMTP)
        our_feedback = AUDIO_FEEDBACK
    else:
        return _rejected_copy(offered)
    if not candidates or "SAVPF" not in offered.protocol:
        return _rejected_copy(offered)
    chosen = candidates[0]
    codec = RtpCodec(
        chosen.payload_type,
        chosen.name,
        chosen.clock_rate,
        chosen.channels,
        ours,
        [fb for fb in chosen.feedback if fb in our_feedback],
    )
    track = tracks.pop(offered.kind, None)
    extmaps = [
        ExtensionMap(extension.id, extension.uri)
        for extension in offered.extmaps
        if extension.uri in DEFAULT_EXTENSION_IDS
    ]
    media = _rtp_section(
        offered.kind,
        offered.mid,
        codec,
        _answer_direction(offered.direction, track is not None),
        transport,
        extmaps,
    )
    media.protocol = offered.protocol
    media.rtcp_rsize = offered.rtcp_rsize
    if media.direction in ("sendonly", "sendrecv"):
        _label_track(media, track)
    return media
