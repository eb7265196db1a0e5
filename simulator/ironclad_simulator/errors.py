"""Ironclad-shaped API errors: `{code, message, param?}` bodies."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as `status` with body `{"code", "message", "param"?}`."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.param is not None:
            out["param"] = self.param
        return out


def invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "INVALID_PARAM", message, param)


def missing(param: str, message: str | None = None) -> ApiError:
    return ApiError(400, "MISSING_PARAM", message or f"missing required parameter {param}", param)


def not_found(message: str = "not found", param: str | None = None, status: int = 404) -> ApiError:
    return ApiError(status, "NOT_FOUND", message, param)


def forbidden(message: str = "access forbidden", param: str | None = None) -> ApiError:
    return ApiError(403, "FORBIDDEN", message, param)
