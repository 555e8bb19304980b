"""HTTP routes of the real server: client page, health, settings payload, metrics, auth, TLS."""

from __future__ import annotations

import base64
import datetime
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from trio_websocket import open_websocket_url

from selkies_trio.app.http import basic_auth_ok, origin_allowed

from .server import running_server, ws_url
from .test_signalling import selkies_hello


async def get(url: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(verify=kwargs.pop("verify", True)) as client:
        return await client.get(url, timeout=10, **kwargs)


async def test_index_health_settings_turn_metrics() -> None:
    async with running_server("--framerate", "30", "--ui-title", "Desk") as (running, _peer):
        base = running.urls[0]
        index = await get(base + "/")
        assert index.status_code == 200 and "<html" in index.text
        assert (await get(base + "/health")).json()["status"] == "ok"
        payload = (await get(base + "/api/settings")).json()
        assert payload["framerate"]["value"] == 30 and payload["framerate"]["locked"] is True
        assert payload["ui_title"]["value"] == "Desk"
        assert "master_token" not in payload and "basic_auth_password" not in payload
        assert (await get(base + "/api/turn")).json() == {"iceServers": []}
        metrics = (await get(base + "/metrics")).text
        assert "selkies_process_resident_memory_bytes " in metrics
        assert "selkies_signalling_connections 0" in metrics
        assert (await get(base + "/no-such-file.js")).status_code == 404
        assert (await get(base + "/../pyproject.toml")).status_code == 404


async def test_basic_auth_guards_everything() -> None:
    env = {"SELKIES_BASIC_AUTH_USER": "ann", "SELKIES_BASIC_AUTH_PASSWORD": "s3cret"}
    async with running_server(env=env) as (running, _peer):
        base = running.urls[0]
        for path in ("/", "/health", "/api/settings", "/metrics"):
            refused = await get(base + path)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"].startswith("Basic")
            assert (await get(base + path, auth=("ann", "wrong"))).status_code == 401
            assert (await get(base + path, auth=("ann", "s3cret"))).status_code == 200
        good = base64.b64encode(b"ann:s3cret")
        headers = [(b"Authorization", b"Basic " + good)]
        async with open_websocket_url(ws_url(running), extra_headers=headers) as ws:
            await selkies_hello(ws)


def test_auth_and_origin_helpers() -> None:
    assert basic_auth_ok("Basic " + base64.b64encode(b"u:p:q").decode(), "u", "p:q")
    assert not basic_auth_ok("Basic !!!", "u", "p")
    assert not basic_auth_ok("Basic " + base64.b64encode(b"\xff").decode(), "u", "p")
    assert not basic_auth_ok("Bearer x", "u", "p")
    assert origin_allowed(None, "h:1", ())
    assert origin_allowed("https://H:1", "h:1", ())
    assert not origin_allowed("https://h:2", "h:1", ())
    assert origin_allowed("https://x", "h:1", ("*",))


ORIGINS = [
    # (Origin, Host, allowed origins, verdict)
    ("http://h:1", "h:1", (), True),
    ("http://h", "h", (), True),
    ("http://h", "h:80", (), True),
    ("https://h", "h:443", (), True),
    ("https://h:443", "h", (), True),
    ("http://h", "h:8080", (), False),
    ("http://[::1]:8080", "[::1]:8080", (), True),
    ("http://[::1]:8080", "[::2]:8080", (), False),
    # Browsers send http(s) origins; anything else is not a page of ours.
    ("ftp://h:1", "h:1", (), False),
    ("ws://h:1", "h:1", (), False),
    ("file://", "h:1", (), False),
    ("null", "h:1", (), False),
    ("", "h:1", (), False),
    ("h:1", "h:1", (), False),
    # Malformed: refused, never an exception.
    ("http://[abc", "h:1", (), False),
    ("http://[abc", "[abc", (), False),
    ("http://h:99999", "h:99999", (), False),
    ("http://h:1", "h:99999", (), False),
    ("http://h:x", "h:x", (), False),
    ("http://h:1/path", "h:1", (), False),
    ("http://u@h:1", "h:1", (), False),
    ("http://h:1?q", "h:1", (), False),
    ("http://h:1", "u@h:1", (), False),
    ("http://h:1", "h:1/x", (), False),
    ("http://h:1", None, (), False),
    ("http://h:1", "", (), False),
    ("http://h:1", "[", (), False),
    # Configured origins match whatever the default-port spelling.
    ("https://app.test", "h:1", ("https://app.test:443",), True),
    ("https://APP.test:443", "h:1", ("https://app.test",), True),
    ("http://app.test", "h:1", ("https://app.test",), False),
    ("http://[abc", "h:1", ("https://app.test",), False),
    ("http://[abc", "h:1", ("*",), True),
]


@pytest.mark.parametrize("origin,host,allowed,verdict", ORIGINS)
def test_origin_check(
    origin: str, host: str | None, allowed: tuple[str, ...], verdict: bool
) -> None:
    assert origin_allowed(origin, host, allowed) is verdict


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return cert_path, key_path


async def test_https_with_configured_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    async with running_server("--tls-cert", str(cert), "--tls-key", str(key)) as (running, _p):
        base = running.urls[0]
        assert base.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        assert (await get(base + "/health", verify=context)).status_code == 200
