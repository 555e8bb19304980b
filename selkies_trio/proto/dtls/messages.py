"""Bodies of the DTLS 1.2 handshake messages (RFC 5246 section 7.4, RFC 6347 section 4.2,
RFC 8422 section 5 for the ECDHE/ECDSA forms).

      struct {                                   struct {
        ProtocolVersion client_version;            ProtocolVersion server_version;
        Random random;                             Random random;
        SessionID session_id;                      SessionID session_id;
        opaque cookie<0..2^8-1>;  // DTLS          CipherSuite cipher_suite;
        CipherSuite cipher_suites<2..2^16-2>;      CompressionMethod compression_method;
        CompressionMethod                          Extension extensions<0..2^16-1>;
          compression_methods<1..2^8-1>;         } ServerHello;
        Extension extensions<0..2^16-1>;
      } ClientHello;

      struct {
        ProtocolVersion server_version;
        opaque cookie<0..2^8-1>;
      } HelloVerifyRequest;

      opaque ASN.1Cert<1..2^24-1>;
      struct { ASN.1Cert certificate_list<0..2^24-1>; } Certificate;

      struct {                                   // RFC 8422 5.4
        ECParameters curve_params;               //   curve_type named_curve(3), NamedCurve
        ECPoint      public;                     //   opaque point<1..2^8-1>
        digitally-signed struct { ... } signed_params;
      } ServerKeyExchange;

      struct {
        ClientCertificateType certificate_types<1..2^8-1>;
        SignatureAndHashAlgorithm supported_signature_algorithms<2..2^16-2>;
        DistinguishedName certificate_authorities<0..2^16-1>;
      } CertificateRequest;

      struct { ECPoint ecdh_Yc; } ClientKeyExchange;      // opaque point<1..2^8-1>
      struct { digitally-signed ... } CertificateVerify;  // scheme(2) signature<0..2^16-1>
      struct { opaque verify_data[12]; } Finished;
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .alerts import AlertDescription
from .errors import DtlsDecodeError
from .extensions import Extensions, encode_extensions, parse_extensions_untrusted
from .wire import Reader, encode_uint16_list, uint, uint16_list_untrusted, vector

RANDOM_LENGTH = 32
CURVE_TYPE_NAMED_CURVE = 3
CLIENT_CERTIFICATE_TYPE_ECDSA_SIGN = 64
COMPRESSION_NULL = 0


@dataclass(frozen=True)
class ClientHello:
    client_version: int
    random: bytes
    session_id: bytes
    cookie: bytes
    cipher_suites: list[int]
    compression_methods: bytes
    extensions: Extensions = field(default_factory=list)

    def encode(self) -> bytes:
        return (
            uint(self.client_version, 2)
            + self.random
            + vector(self.session_id, 1)
            + vector(self.cookie, 1)
            + vector(encode_uint16_list(self.cipher_suites), 2)
            + vector(self.compression_methods, 1)
            + encode_extensions(self.extensions)
        )


def parse_client_hello_untrusted(body: bytes) -> ClientHello:
    reader = Reader(body, "ClientHello")
    client_version = reader.read_uint(2)
    random = reader.read_bytes(RANDOM_LENGTH)
    session_id = reader.read_vector(1, maximum=32)
    cookie = reader.read_vector(1)
    cipher_suites = uint16_list_untrusted(reader.read_vector(2, minimum=2), "cipher_suites")
    compression_methods = reader.read_vector(1, minimum=1)
    extensions = parse_extensions_untrusted(reader)
    reader.expect_end()
    return ClientHello(
        client_version, random, session_id, cookie, cipher_suites, compression_methods, extensions
    )


@dataclass(frozen=True)
class ServerHello:
    server_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: Extensions = field(default_factory=list)

    def encode(self) -> bytes:
        return (
            uint(self.server_version, 2)
            + self.random
            + vector(self.session_id, 1)
            + uint(self.cipher_suite, 2)
            + bytes((self.compression_method,))
            + encode_extensions(self.extensions)
        )


def parse_server_hello_untrusted(body: bytes) -> ServerHello:
    reader = Reader(body, "ServerHello")
    server_version = reader.read_uint(2)
    random = reader.read_bytes(RANDOM_LENGTH)
    session_id = reader.read_vector(1, maximum=32)
    cipher_suite = reader.read_uint(2)
    compression_method = reader.read_uint(1)
    extensions = parse_extensions_untrusted(reader)
    reader.expect_end()
    return ServerHello(
        server_version, random, session_id, cipher_suite, compression_method, extensions
    )


@dataclass(frozen=True)
class HelloVerifyRequest:
    server_version: int
    cookie: bytes

    def encode(self) -> bytes:
        return uint(self.server_version, 2) + vector(self.cookie, 1)


def parse_hello_verify_request_untrusted(body: bytes) -> HelloVerifyRequest:
    reader = Reader(body, "HelloVerifyRequest")
    server_version = reader.read_uint(2)
    cookie = reader.read_vector(1, maximum=255)
    reader.expect_end()
    return HelloVerifyRequest(server_version, cookie)


@dataclass(frozen=True)
class Certificate:
    certificate_list: list[bytes]

    def encode(self) -> bytes:
        return vector(b"".join(vector(der, 3) for der in self.certificate_list), 3)


def parse_certificate_untrusted(body: bytes) -> Certificate:
    reader = Reader(body, "Certificate")
    chain = Reader(reader.read_vector(3), "certificate_list")
    reader.expect_end()
    certificates: list[bytes] = []
    while not chain.at_end():
        certificates.append(chain.read_vector(3, minimum=1))
    return Certificate(certificates)


@dataclass(frozen=True)
class ServerKeyExchange:
    named_curve: int
    public: bytes
    signature_scheme: int
    signature: bytes

    def signed_params(self) -> bytes:
        """The ServerECDHParams, which the signature covers after both randoms."""
        return bytes((CURVE_TYPE_NAMED_CURVE,)) + uint(self.named_curve, 2) + vector(self.public, 1)

    def encode(self) -> bytes:
        return self.signed_params() + uint(self.signature_scheme, 2) + vector(self.signature, 2)


def parse_server_key_exchange_untrusted(body: bytes) -> ServerKeyExchange:
    reader = Reader(body, "ServerKeyExchange")
    curve_type = reader.read_uint(1)
    if curve_type != CURVE_TYPE_NAMED_CURVE:
        raise DtlsDecodeError("only named curves are supported", AlertDescription.ILLEGAL_PARAMETER)
    named_curve = reader.read_uint(2)
    public = reader.read_vector(1, minimum=1)
    signature_scheme = reader.read_uint(2)
    signature = reader.read_vector(2)
    reader.expect_end()
    return ServerKeyExchange(named_curve, public, signature_scheme, signature)


@dataclass(frozen=True)
class CertificateRequest:
    certificate_types: bytes
    supported_signature_algorithms: list[int]
    certificate_authorities: bytes = b""

    def encode(self) -> bytes:
        return (
            vector(self.certificate_types, 1)
            + vector(encode_uint16_list(self.supported_signature_algorithms), 2)
            + vector(self.certificate_authorities, 2)
        )


def parse_certificate_request_untrusted(body: bytes) -> CertificateRequest:
    reader = Reader(body, "CertificateRequest")
    certificate_types = reader.read_vector(1, minimum=1)
    schemes = uint16_list_untrusted(reader.read_vector(2, minimum=2), "signature_algorithms")
    authorities = reader.read_vector(2)
    reader.expect_end()
    return CertificateRequest(certificate_types, schemes, authorities)


def parse_server_hello_done_untrusted(body: bytes) -> None:
    if body:
        raise DtlsDecodeError("ServerHelloDone is not empty")


@dataclass(frozen=True)
class ClientKeyExchange:
    public: bytes

    def encode(self) -> bytes:
        return vector(self.public, 1)


def parse_client_key_exchange_untrusted(body: bytes) -> ClientKeyExchange:
    reader = Reader(body, "ClientKeyExchange")
    public = reader.read_vector(1, minimum=1)
    reader.expect_end()
    return ClientKeyExchange(public)


@dataclass(frozen=True)
class CertificateVerify:
    signature_scheme: int
    signature: bytes

    def encode(self) -> bytes:
        return uint(self.signature_scheme, 2) + vector(self.signature, 2)


def parse_certificate_verify_untrusted(body: bytes) -> CertificateVerify:
    reader = Reader(body, "CertificateVerify")
    signature_scheme = reader.read_uint(2)
    signature = reader.read_vector(2)
    reader.expect_end()
    return CertificateVerify(signature_scheme, signature)


@dataclass(frozen=True)
class Finished:
    verify_data: bytes

    def encode(self) -> bytes:
        return self.verify_data


def parse_finished_untrusted(body: bytes) -> Finished:
    if len(body) != 12:
        raise DtlsDecodeError("Finished verify_data must be 12 bytes")
    return Finished(body)
