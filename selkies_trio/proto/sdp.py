"""SDP for WebRTC: parse browser descriptions, build offers and answers (RFC 8866, RFC 8829).

RFC 8866 section 5: a description is lines of ``<type>=<value>``; the session part
(v=, o=, s=, t=, a=) is followed by media descriptions, each starting with
``m=<media> <port> <proto> <fmt> ...`` (section 5.14)::

    v=0
    o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
    s=<session name>
    t=<start-time> <stop-time>
    a=group:BUNDLE <mid> ...                            (RFC 9143)
    m=video 9 UDP/TLS/RTP/SAVPF <payload types>
    c=IN IP4 0.0.0.0
    a=ice-ufrag / a=ice-pwd / a=ice-options:trickle     (RFC 8839 section 5.4)
    a=fingerprint:sha-256 <hex:hex:...>                 (RFC 8122 section 5)
    a=setup:actpass|active|passive                      (RFC 4145 section 4)
    a=mid / a=msid / a=rtcp-mux / a=rtcp-rsize          (RFC 5888, 8830, 5761, 5506)
    a=extmap:<id>[/<direction>] <uri>                   (RFC 8285 section 8)
    a=rtpmap:<pt> <name>/<clock rate>[/<channels>]      (RFC 8866 section 6.6)
    a=fmtp:<pt> <parameters> / a=rtcp-fb:<pt> <type>    (RFC 4585 section 4.2)
    a=candidate:<foundation> <component> <transport> <priority> <address> <port>
                typ <type> [raddr <a>] [rport <p>] *(<name> <value>)   (RFC 8839 5.1)
    m=application 9 UDP/DTLS/SCTP webrtc-datachannel    (RFC 8841)
    a=sctp-port:5000 / a=max-message-size:<bytes>

Only the subset JSEP (RFC 8829) peers exchange is given a type; every other line is
kept verbatim so a parsed description serializes back without loss. Candidate
values are kept as text: the ICE layer (ice_candidate) parses them. Building
offers and answers is sdp_negotiation's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
SETUP_ROLES = ("actpass", "active", "passive", "holdconn")



class SdpParseError(Exception):
    """Text from the network is not a description we can understand."""


def _parse_int(text: str, what: str, low: int = 0, high: int = (1 << 64) - 1) -> int:
    # The length cap keeps int() away from its 4300-digit ValueError.
    if not text.isdigit() or not text.isascii() or len(text) > 20:
        raise SdpParseError(f"{what} {text[:30]!r} is not a decimal number up to 20 digits")
    value = int(text)
    if not low <= value <= high:
        raise SdpParseError(f"{what} {value} is outside {low}..{high}")
    return value


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A certificate fingerprint (RFC 8122 section 5): hash name and upper-case hex pairs."""

    algorithm: str
    value: str

    @classmethod
    def from_digest(cls, algorithm: str, digest: bytes) -> Fingerprint:
        return cls(algorithm.lower(), ":".join(f"{byte:02X}" for byte in digest))

    @classmethod
    def parse_untrusted(cls, text: str) -> Fingerprint:
        algorithm, _, value = text.strip().partition(" ")
        value = value.strip()
        if not algorithm or not value:
            raise SdpParseError(f"fingerprint {text!r} needs a hash name and a value")
        fingerprint = cls(algorithm.lower(), value.upper())
        fingerprint.digest()  # validates the hex pairs
        return fingerprint

    def digest(self) -> bytes:
        pairs = self.value.split(":")
        if any(len(pair) != 2 for pair in pairs):
            raise SdpParseError(f"fingerprint {self.value!r} is not colon-separated hex pairs")
        try:
            return bytes.fromhex("".join(pairs))
        except ValueError as error:
            raise SdpParseError(f"fingerprint {self.value!r} is not hex") from error


@dataclass
class RtpCodec:
    payload_type: int
    name: str
    clock_rate: int
    channels: int | None = None
    # fmtp "key=value;key=value"; an item without "=" (RED's "111/111") maps to "".
    parameters: dict[str, str] = field(default_factory=dict)
    feedback: list[str] = field(default_factory=list)

    def fmtp_value(self) -> str:
        return ";".join(f"{k}={v}" if v else k for k, v in self.parameters.items())


@dataclass
class ExtensionMap:
    id: int
    uri: str
    direction: str | None = None
    attributes: str | None = None


@dataclass
class SsrcAttribute:
    ssrc: int
    name: str
    value: str | None = None


@dataclass
class SsrcGroup:
    semantics: str
    ssrcs: list[int]


@dataclass
class Group:
    semantics: str
    mids: list[str]


@dataclass
class Origin:
    username: str = "-"
    session_id: str = "0"
    session_version: int = 2
    network_type: str = "IN"
    address_type: str = "IP4"
    address: str = "127.0.0.1"


@dataclass
class MediaDescription:
    kind: str
    port: int
    protocol: str
    formats: list[str]
    connection: str | None = None
    bandwidths: list[str] = field(default_factory=list)
    other_lines: list[str] = field(default_factory=list)
    mid: str | None = None
    direction: str | None = None
    msid: list[str] = field(default_factory=list)
    rtcp: str | None = None
    rtcp_mux: bool = False
    rtcp_mux_only: bool = False
    rtcp_rsize: bool = False
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: list[str] = field(default_factory=list)
    fingerprints: list[Fingerprint] = field(default_factory=list)
    setup: str | None = None
    # Values as trickled ("candidate:..."); the ICE layer parses them.
    candidates: list[str] = field(default_factory=list)
    end_of_candidates: bool = False
    extmap_allow_mixed: bool = False
    extmaps: list[ExtensionMap] = field(default_factory=list)
    codecs: list[RtpCodec] = field(default_factory=list)
    ssrcs: list[SsrcAttribute] = field(default_factory=list)
    ssrc_groups: list[SsrcGroup] = field(default_factory=list)
    sctp_port: int | None = None
    max_message_size: int | None = None
    other_attributes: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.port == 0 and "bundle-only" not in {n for n, _ in self.other_attributes}

    def extension_id(self, uri: str) -> int | None:
        for extension in self.extmaps:
            if extension.uri == uri:
                return extension.id
        return None

    def codecs_named(self, name: str) -> list[RtpCodec]:
        return [codec for codec in self.codecs if codec.name.lower() == name.lower()]

    def codec(self, payload_type: int) -> RtpCodec | None:
        for codec in self.codecs:
            if codec.payload_type == payload_type:
                return codec
        return None

    def to_lines(self) -> list[str]:
        lines = [f"m={self.kind} {self.port} {self.protocol} {' '.join(self.formats)}"]
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines += [f"b={bandwidth}" for bandwidth in self.bandwidths]
        lines += self.other_lines
        if self.rtcp is not None:
            lines.append(f"a=rtcp:{self.rtcp}")
        if self.ice_ufrag is not None:
            lines.append(f"a=ice-ufrag:{self.ice_ufrag}")
        if self.ice_pwd is not None:
            lines.append(f"a=ice-pwd:{self.ice_pwd}")
        if self.ice_options:
            lines.append(f"a=ice-options:{' '.join(self.ice_options)}")
        lines += [f"a=fingerprint:{f.algorithm} {f.value}" for f in self.fingerprints]
        if self.setup is not None:
            lines.append(f"a=setup:{self.setup}")
        if self.mid is not None:
            lines.append(f"a=mid:{self.mid}")
        if self.extmap_allow_mixed:
            lines.append("a=extmap-allow-mixed")
        for extension in self.extmaps:
            direction = f"/{extension.direction}" if extension.direction else ""
            attributes = f" {extension.attributes}" if extension.attributes else ""
            lines.append(f"a=extmap:{extension.id}{direction} {extension.uri}{attributes}")
        if self.direction is not None:
            lines.append(f"a={self.direction}")
        lines += [f"a=msid:{msid}" for msid in self.msid]
        if self.rtcp_mux:
            lines.append("a=rtcp-mux")
        if self.rtcp_mux_only:
            lines.append("a=rtcp-mux-only")
        if self.rtcp_rsize:
            lines.append("a=rtcp-rsize")
        for codec in self.codecs:
            if codec.name:
                channels = f"/{codec.channels}" if codec.channels is not None else ""
                lines.append(
                    f"a=rtpmap:{codec.payload_type} {codec.name}/{codec.clock_rate}{channels}"
                )
            lines += [f"a=rtcp-fb:{codec.payload_type} {fb}" for fb in codec.feedback]
            if codec.parameters:
                lines.append(f"a=fmtp:{codec.payload_type} {codec.fmtp_value()}")
        if self.sctp_port is not None:
            lines.append(f"a=sctp-port:{self.sctp_port}")
        if self.max_message_size is not None:
            lines.append(f"a=max-message-size:{self.max_message_size}")
        for group in self.ssrc_groups:
            lines.append(f"a=ssrc-group:{group.semantics} {' '.join(map(str, group.ssrcs))}")
        for attribute in self.ssrcs:
            value = f":{attribute.value}" if attribute.value is not None else ""
            lines.append(f"a=ssrc:{attribute.ssrc} {attribute.name}{value}")
        lines += [_attribute_line(name, value) for name, value in self.other_attributes]
        lines += [f"a={candidate}" for candidate in self.candidates]
        if self.end_of_candidates:
            lines.append("a=end-of-candidates")
        return lines


def _attribute_line(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


@dataclass
class SessionDescription:
    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    timing: str = "0 0"
    groups: list[Group] = field(default_factory=list)
    msid_semantic: str | None = None
    extmap_allow_mixed: bool = False
    ice_lite: bool = False
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: list[str] = field(default_factory=list)
    fingerprints: list[Fingerprint] = field(default_factory=list)
    setup: str | None = None
    other_lines: list[str] = field(default_factory=list)
    other_attributes: list[tuple[str, str | None]] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    def to_sdp(self) -> str:
        o = self.origin
        lines = [
            "v=0",
            f"o={o.username} {o.session_id} {o.session_version} "
            f"{o.network_type} {o.address_type} {o.address}",
            f"s={self.session_name}",
            f"t={self.timing}",
        ]
        lines += self.other_lines
        for group in self.groups:
            lines.append(f"a=group:{' '.join([group.semantics, *group.mids])}")
        if self.extmap_allow_mixed:
            lines.append("a=extmap-allow-mixed")
        if self.msid_semantic is not None:
            lines.append(f"a=msid-semantic:{self.msid_semantic}")
        if self.ice_lite:
            lines.append("a=ice-lite")
        if self.ice_ufrag is not None:
            lines.append(f"a=ice-ufrag:{self.ice_ufrag}")
        if self.ice_pwd is not None:
            lines.append(f"a=ice-pwd:{self.ice_pwd}")
        if self.ice_options:
            lines.append(f"a=ice-options:{' '.join(self.ice_options)}")
        lines += [f"a=fingerprint:{f.algorithm} {f.value}" for f in self.fingerprints]
        if self.setup is not None:
            lines.append(f"a=setup:{self.setup}")
        lines += [_attribute_line(name, value) for name, value in self.other_attributes]
        for media in self.media:
            lines += media.to_lines()
        return "\r\n".join(lines) + "\r\n"

    def media_by_mid(self, mid: str) -> MediaDescription | None:
        for media in self.media:
            if media.mid == mid:
                return media
        return None

    def bundle_mids(self) -> list[str]:
        for group in self.groups:
            if group.semantics == "BUNDLE":
                return list(group.mids)
        return []

    # Transport attributes may sit at session level or in each media section
    # (RFC 8839 5.4, RFC 8122 5); the media level wins.

    def ice_credentials(self, media: MediaDescription) -> tuple[str, str] | None:
        ufrag = media.ice_ufrag or self.ice_ufrag
        pwd = media.ice_pwd or self.ice_pwd
        return (ufrag, pwd) if ufrag and pwd else None

    def fingerprints_for(self, media: MediaDescription) -> list[Fingerprint]:
        return media.fingerprints or self.fingerprints

    def setup_for(self, media: MediaDescription) -> str | None:
        return media.setup or self.setup


def parse_sdp_untrusted(text: str) -> SessionDescription:
    """Parse a session description; raises only SdpParseError."""
    if not isinstance(text, str):
        raise SdpParseError("SDP must be text")
    session = SessionDescription()
    current: MediaDescription | None = None
    seen_version = False
    for number, raw_line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        line = raw_line.rstrip("\r")
        if not line:
            continue
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpParseError(f"line {number} {line[:40]!r} is not <type>=<value>")
        kind, value = line[0], line[2:]
        if not seen_version:
            if kind != "v" or value != "0":
                raise SdpParseError("a description starts with v=0")
            seen_version = True
            continue
        try:
            if kind == "m":
                current = _parse_media_line(value)
                session.media.append(current)
            elif current is None:
                _apply_session_line(session, kind, value)
            else:
                _apply_media_line(current, kind, value)
        except SdpParseError as error:
            raise SdpParseError(f"line {number}: {error}") from None
    if not seen_version:
        raise SdpParseError("empty description")
    for media in session.media:
        order = {fmt: index for index, fmt in enumerate(media.formats)}
        media.codecs.sort(key=lambda codec: order.get(str(codec.payload_type), len(order)))
    return session


def _parse_media_line(value: str) -> MediaDescription:
    tokens = value.split()
    if len(tokens) < 3:
        raise SdpParseError(f"m={value!r} needs media, port and protocol")
    port_text = tokens[1].partition("/")[0]
    return MediaDescription(
        kind=tokens[0],
        port=_parse_int(port_text, "port", 0, 65535),
        protocol=tokens[2],
        formats=tokens[3:],
    )


def _apply_session_line(session: SessionDescription, kind: str, value: str) -> None:
    if kind == "o":
        tokens = value.split()
        if len(tokens) != 6:
            raise SdpParseError(f"o={value!r} needs six fields")
        session.origin = Origin(
            tokens[0],
            str(_parse_int(tokens[1], "sess-id")),
            _parse_int(tokens[2], "sess-version"),
            tokens[3],
            tokens[4],
            tokens[5],
        )
    elif kind == "s":
        session.session_name = value
    elif kind == "t":
        session.timing = value
    elif kind == "a":
        name, separator, attribute_value = value.partition(":")
        argument = attribute_value if separator else None
        if name == "group" and argument is not None:
            tokens = argument.split()
            if not tokens:
                raise SdpParseError("a=group without semantics")
            session.groups.append(Group(tokens[0], tokens[1:]))
        elif name == "msid-semantic":
            session.msid_semantic = argument
        elif name == "extmap-allow-mixed":
            session.extmap_allow_mixed = True
        elif name == "ice-lite":
            session.ice_lite = True
        elif name == "ice-ufrag":
            session.ice_ufrag = argument
        elif name == "ice-pwd":
            session.ice_pwd = argument
        elif name == "ice-options" and argument is not None:
            session.ice_options = argument.split()
        elif name == "fingerprint" and argument is not None:
            session.fingerprints.append(Fingerprint.parse_untrusted(argument))
        elif name == "setup":
            session.setup = _parse_setup(argument)
        else:
            session.other_attributes.append((name, argument))
    else:
        session.other_lines.append(f"{kind}={value}")


def _parse_setup(argument: str | None) -> str:
    if argument not in SETUP_ROLES:
        raise SdpParseError(f"a=setup:{argument} is not one of {SETUP_ROLES}")
    return argument


def _codec_for(media: MediaDescription, payload_type_text: str) -> RtpCodec:
    payload_type = _parse_int(payload_type_text, "payload type", 0, 127)
    codec = media.codec(payload_type)
    if codec is None:
        # fmtp or rtcp-fb before (or without) rtpmap, as for static payload types.
        codec = RtpCodec(payload_type, "", 0)
        media.codecs.append(codec)
    return codec


def _apply_media_line(media: MediaDescription, kind: str, value: str) -> None:
    if kind == "c":
        media.connection = value
        return
    if kind == "b":
        media.bandwidths.append(value)
        return
    if kind != "a":
        media.other_lines.append(f"{kind}={value}")
        return
    name, separator, attribute_value = value.partition(":")
    argument = attribute_value if separator else None
    if name == "rtpmap" and argument is not None:
        payload_type_text, _, encoding = argument.partition(" ")
        fields = encoding.strip().split("/")
        if len(fields) not in (2, 3) or not fields[0]:
            raise SdpParseError(f"a=rtpmap:{argument!r} is not <pt> <name>/<rate>[/<ch>]")
        codec = _codec_for(media, payload_type_text)
        codec.name = fields[0]
        codec.clock_rate = _parse_int(fields[1], "clock rate", 1, 0xFFFFFFFF)
        codec.channels = _parse_int(fields[2], "channels", 1, 255) if len(fields) == 3 else None
    elif name == "fmtp" and argument is not None:
        payload_type_text, _, parameters = argument.partition(" ")
        items = [item.strip().partition("=") for item in parameters.split(";")]
        if not any(key for key, _, _ in items):
            _parse_int(payload_type_text, "payload type", 0, 127)
            media.other_attributes.append((name, argument))
            return
        codec = _codec_for(media, payload_type_text)
        for key, _, item_value in items:
            if key:
                codec.parameters[key] = item_value
    elif name == "rtcp-fb" and argument is not None:
        payload_type_text, _, feedback = argument.partition(" ")
        if payload_type_text == "*":
            media.other_attributes.append((name, argument))
        else:
            _codec_for(media, payload_type_text).feedback.append(feedback.strip())
    elif name == "extmap" and argument is not None:
        media.extmaps.append(_parse_extmap(argument))
    elif name == "mid":
        media.mid = argument
    elif name in DIRECTIONS and argument is None:
        media.direction = name
    elif name == "msid" and argument is not None:
        media.msid.append(argument)
    elif name == "rtcp":
        media.rtcp = argument
    elif name == "rtcp-mux":
        media.rtcp_mux = True
    elif name == "rtcp-mux-only":
        media.rtcp_mux_only = True
    elif name == "rtcp-rsize":
        media.rtcp_rsize = True
    elif name == "ice-ufrag":
        media.ice_ufrag = argument
    elif name == "ice-pwd":
        media.ice_pwd = argument
    elif name == "ice-options" and argument is not None:
        media.ice_options = argument.split()
    elif name == "fingerprint" and argument is not None:
        media.fingerprints.append(Fingerprint.parse_untrusted(argument))
    elif name == "setup":
        media.setup = _parse_setup(argument)
    elif name == "candidate" and argument is not None:
        media.candidates.append(f"candidate:{argument}")
    elif name == "end-of-candidates":
        media.end_of_candidates = True
    elif name == "extmap-allow-mixed":
        media.extmap_allow_mixed = True
    elif name == "ssrc" and argument is not None:
        ssrc_text, _, attribute = argument.partition(" ")
        attribute_name, attribute_separator, attribute_value = attribute.partition(":")
        media.ssrcs.append(
            SsrcAttribute(
                _parse_int(ssrc_text, "SSRC", 0, 0xFFFFFFFF),
                attribute_name,
                attribute_value if attribute_separator else None,
            )
        )
    elif name == "ssrc-group" and argument is not None:
        tokens = argument.split()
        if not tokens:
            raise SdpParseError("a=ssrc-group without semantics")
        media.ssrc_groups.append(
            SsrcGroup(tokens[0], [_parse_int(t, "SSRC", 0, 0xFFFFFFFF) for t in tokens[1:]])
        )
    elif name == "sctp-port" and argument is not None:
        media.sctp_port = _parse_int(argument, "sctp-port", 0, 65535)
    elif name == "max-message-size" and argument is not None:
        media.max_message_size = _parse_int(argument, "max-message-size")
    else:
        media.other_attributes.append((name, argument))


def _parse_extmap(argument: str) -> ExtensionMap:
    tokens = argument.split(maxsplit=2)
    if len(tokens) < 2:
        raise SdpParseError(f"a=extmap:{argument!r} needs an id and a URI")
    id_text, _, direction = tokens[0].partition("/")
    return ExtensionMap(
        _parse_int(id_text, "extmap id", 1, 255),
        tokens[1],
        direction or None,
        tokens[2] if len(tokens) == 3 else None,
    )
