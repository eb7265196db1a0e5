"""The API's error shape, `{"error": {"code", "message", "details"}}`, and the middleware that makes it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from contracts_common.problems import Problem

log = structlog.get_logger(__name__)

T = TypeVar("T", bound=BaseModel)


class ApiError(Problem):
    """A problem found while answering an admin call."""


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "details": details or {}}}, status=status
    )


def validation_details(exc: ValidationError) -> dict[str, Any]:
    return {
        "fields": [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
    }


def invalid_body(exc: ValidationError) -> ApiError:
    details = validation_details(exc)
    names = ", ".join(f["field"] for f in details["fields"][:5])
    return ApiError(422, "VALIDATION_FAILED", f"The request body is invalid: {names}.", details)


async def read_json(request: web.Request) -> Any:
    if request.content_type not in ("application/json", ""):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json.")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, "BODY_TOO_LARGE", "The request body is too large.") from exc
    if not raw:
        raise ApiError(400, "EMPTY_BODY", "The request needs a JSON body.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "MALFORMED_JSON", f"The request body is not valid JSON: {exc}.") from exc


async def parse_body(request: web.Request, model: type[T]) -> T:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_body(exc) from exc


def parse_query(request: web.Request, model: type[T], *, status: int = 400) -> T:
    """The query string as `model` (its fields are the documented parameters); `status` (400, or 422 where
    the API says a well-formed request for a value not offered is unprocessable) naming the field."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        name = ".".join(str(p) for p in first["loc"]) or "query"
        message = f"The query parameter {name} is invalid: {first['msg']}."
        raise ApiError(status, "INVALID_PARAM", message, {"field": name}) from exc


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "BODY_TOO_LARGE", "The request body is too large.")
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith(("/api/", "/webhooks/")):
            code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status, "HTTP_ERROR")
            answer = error_response(exc.status, code, exc.reason or "request failed")
            if "Allow" in exc.headers:  # 405: the methods the path does take (RFC 9110)
                answer.headers["Allow"] = exc.headers["Allow"]
            return answer
        raise
    except Exception:
        log.exception("unhandled_error", path=request.path, method=request.method)
        return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side; it was logged.")
