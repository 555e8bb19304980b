"""The Quart-trio application: static client, health, settings, metrics, signalling socket."""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
from quart import Response, jsonify, request, send_from_directory, websocket
from quart_trio import QuartTrio

from .. import __version__
from .signalling import SignallingHub
from .tokens import secrets_equal

log = logging.getLogger(__name__)


def web_root() -> Path:
    """The browser client: inside the package when installed, beside it in a checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "web", package.parent / "web"):
        if (candidate / "index.html").is_file():
            return candidate
    raise FileNotFoundError("web/index.html is missing from both the package and the checkout")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(netloc: str, default_port: int) -> tuple[str, int] | None:
    """`host[:port]` as (lower-case host, port), or None if it is anything more."""
    try:
        parts = urlsplit("//" + netloc)
        port = parts.port
    except ValueError:  # "[abc", "h:99999", "h:x"
        return None
    if (
        not parts.hostname
        or parts.netloc != netloc
        or parts.username is not None
        or parts.path
        or parts.query
        or parts.fragment
    ):
        return None
    return parts.hostname, default_port if port is None else port


def _web_origin(text: str) -> tuple[str, str, int] | None:
    """An http(s) origin as a browser serializes it, as (scheme, host, port)."""
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        return None
    # Settings may spell a configured origin with a trailing slash.
    found = _host_port(rest.removesuffix("/"), _DEFAULT_PORTS[scheme])
    return None if found is None else (scheme, *found)


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin on WebSockets; other clients (aiortc, tools) may not.

    A page of ours has an http or https origin naming the host and port the
    browser connected to (the Host header); a port left out is the scheme's
    default on both sides. Anything malformed is refused, never raised.
    """
    if origin is None:
        return True
    if "*" in allowed:
        return True
    parsed = _web_origin(origin)
    if parsed is None:
        return False
    if any(_web_origin(item) == parsed for item in allowed):
        return True
    if not host:
        return False
    scheme, origin_host, origin_port = parsed
    return _host_port(host, _DEFAULT_PORTS[scheme]) == (origin_host, origin_port)


def basic_auth_ok(header: str | None, user: str, password: str) -> bool:
    if not header or not header.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    given_user, sep, given_password = decoded.partition(":")
    # Both comparisons always run, so timing does not tell which one failed.
    user_ok = secrets_equal(given_user, user)
    password_ok = secrets_equal(given_password, password)
    return bool(sep) and user_ok and password_ok


def _setting(settings: Any, name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def create_app(
    settings: Any, hub: SignallingHub, metrics_provider: Callable[[], str] | None = None
) -> QuartTrio:
    """`metrics_provider()` returns extra Prometheus lines (the media engine's) for
    `/metrics`; it is called on every scrape."""
    app = QuartTrio(__name__, static_folder=None)
    root = web_root()
    auth_user = _setting(settings, "basic_auth_user", "")
    auth_password = _setting(settings, "basic_auth_password", "")
    allowed_origins = tuple(_setting(settings, "allowed_origins", ()) or ())

    def unauthorized() -> Response:
        return Response(
            "authentication required\n",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="selkies-trio", charset="UTF-8"'},
        )

    if auth_user and auth_password:

        @app.before_request
        async def check_basic_auth_http() -> Response | None:
            if not basic_auth_ok(request.headers.get("Authorization"), auth_user, auth_password):
                return unauthorized()
            return None

        @app.before_websocket
        async def check_basic_auth_ws() -> Response | None:
            if not basic_auth_ok(websocket.headers.get("Authorization"), auth_user, auth_password):
                return unauthorized()
            return None

    @app.route("/")
    async def index() -> Response:
        response = await send_from_directory(root, "index.html")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.route("/health")
    async def health() -> Response:
        return jsonify({"status": "ok", "version": __version__})

    @app.route("/api/settings")
    async def api_settings() -> Response:
        return jsonify(settings.client_payload())

    @app.route("/api/turn")
    async def api_turn() -> Response:
        # STUN/TURN sources come later (DESIGN.md); host candidates need none.
        return jsonify({"iceServers": []})

    @app.route("/metrics")
    async def metrics() -> Response:
        return Response(
            render_metrics(hub, metrics_provider), mimetype="text/plain; version=0.0.4"
        )

    @app.route("/<path:name>")
    async def static_file(name: str) -> Response:
        return await send_from_directory(root, name)

    @app.websocket("/api/webrtc/signaling")
    async def signaling() -> Response | None:
        if not origin_allowed(
            websocket.headers.get("Origin"), websocket.headers.get("Host"), allowed_origins
        ):
            log.warning("signalling: refused Origin %r", websocket.headers.get("Origin"))
            return Response("origin not allowed\n", status=403)
        await websocket.accept()
        remote = websocket.headers.get("Remote-Addr", "?")
        token = websocket.args.get("token") or None
        await hub.handle(websocket._get_current_object(), remote, token)  # type: ignore[attr-defined]
        return None

    return app


def render_metrics(hub: SignallingHub, provider: Callable[[], str] | None = None) -> str:
    process = psutil.Process(os.getpid())
    with process.oneshot():
        cpu = process.cpu_times()
        rss = process.memory_info().rss
    sessions = sum(1 for c in hub.clients.values() if c.in_session)
    lines = [
        "# HELP selkies_process_cpu_seconds_total CPU time of the server process.",
        "# TYPE selkies_process_cpu_seconds_total counter",
        f"selkies_process_cpu_seconds_total {cpu.user + cpu.system:.3f}",
        "# HELP selkies_process_resident_memory_bytes Resident memory of the server process.",
        "# TYPE selkies_process_resident_memory_bytes gauge",
        f"selkies_process_resident_memory_bytes {rss}",
        "# HELP selkies_signalling_connections Open signalling WebSockets.",
        "# TYPE selkies_signalling_connections gauge",
        f"selkies_signalling_connections {len(hub.connections)}",
        "# HELP selkies_sessions Selkies clients in a session with the server.",
        "# TYPE selkies_sessions gauge",
        f"selkies_sessions {sessions}",
    ]
    text = "\n".join(lines) + "\n"
    if provider is not None:
        extra = provider()
        text += extra if extra.endswith("\n") or not extra else extra + "\n"
    return text
