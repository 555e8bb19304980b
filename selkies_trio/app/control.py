"""The control plane of secure mode (seeds/001): `POST /tokens` on `control_port`."""

from __future__ import annotations

import logging

from quart import Response, jsonify, request
from quart_trio import QuartTrio

from .signalling import SignallingHub
from .tokens import TokenTableError, parse_token_table, secrets_equal
from .untrusted_json import JsonDecodeError, loads_untrusted

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def create_control_app(master_token: str, hub: SignallingHub) -> QuartTrio:
    if not master_token:
        raise ValueError("the control plane needs a master token")
    app = QuartTrio(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.route("/tokens", methods=["POST"])
    async def post_tokens() -> Response:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets_equal(given.strip(), master_token):
            response = _error(401, "a valid 'Authorization: Bearer <master token>' is required")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        raw = await request.get_data()
        try:
            body = loads_untrusted(raw)
        except JsonDecodeError as error:
            return _error(400, f"body is not valid JSON: {error}")
        try:
            table = parse_token_table(body)
        except TokenTableError as error:
            return _error(400, str(error))
        revoked, updated = hub.apply_token_table(table)
        log.info(
            "token table replaced: %d tokens, %d clients disconnected, %d updated",
            len(table), revoked, updated,
        )
        return jsonify({"tokens": len(table), "disconnected": revoked, "updated": updated})

    return app
