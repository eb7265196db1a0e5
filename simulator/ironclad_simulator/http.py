"""Response helpers shared by the public and control APIs."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ironclad_simulator.errors import ApiError

# Byte-for-byte what a live probe saw for a missing or bad token (note the spaces inside the braces).
UNAUTHORIZED_BODY = '{ "code": "UNAUTHORIZED", "message": "%s" }'


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=dumps(data), status=status, content_type="application/json", charset="utf-8", headers=headers
    )


def error_response(err: ApiError) -> web.Response:
    if err.status == 401 and err.code == "UNAUTHORIZED":
        return web.Response(
            body=(UNAUTHORIZED_BODY % err.message).encode("utf-8"),
            status=401,
            content_type="application/json",
            charset="utf-8",
        )
    return json_response(err.body(), status=err.status)


def oauth_error(status: int, error: str, description: str) -> web.Response:
    return json_response(
        {"error": error, "error_description": description},
        status=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def origin_of(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"
