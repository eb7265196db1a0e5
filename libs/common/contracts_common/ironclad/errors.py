"""Typed Ironclad errors and the mapping from HTTP responses to them.

API errors are JSON `{code, message, param?}` (§6.2); the OAuth token endpoint answers RFC 6749
`{error, error_description}` (§2.2). Both parsers tolerate bodies that are not JSON at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_MAX_MESSAGE = 500


class IroncladError(Exception):
    """Base of every error the Ironclad client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.param:
            parts.append(f"param={self.param}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class IroncladAuthError(IroncladError):
    """401 UNAUTHORIZED on an API call, still after one token refresh."""


class IroncladForbidden(IroncladError):
    """403: missing scope or the acting user may not do this."""


class IroncladNotFound(IroncladError):
    """404, or a 400 whose code is NOT_FOUND."""


class IroncladBadRequest(IroncladError):
    """Any other 400/422 (INVALID_PARAM, MISSING_PARAM, ...)."""


class IroncladRateLimited(IroncladError):
    """429, after the retries were used up."""


class IroncladServerError(IroncladError):
    """5xx, after the retries were used up."""


class IroncladUnreachable(IroncladError):
    """DNS failure, refused connection, reset or timeout, after the retries were used up."""


class IroncladUserRejected(IroncladError):
    """Ironclad refused the `x-as-user-email` user (raised by `check_user`)."""


class OAuthError(IroncladError):
    """The token endpoint refused; `code` holds the RFC 6749 `error` value."""


class OAuthInvalidClient(OAuthError):
    """401 invalid_client: wrong secret or unknown client. The connection needs re-authorisation."""


class OAuthInvalidScope(OAuthError):
    """400 invalid_scope: a requested scope is not registered on the app."""


class OAuthUnauthorizedClient(OAuthError):
    """403 unauthorized_client / invalid_grant: the client-credentials grant is not enabled."""


def _parse_json_object(body: bytes | str) -> Mapping[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _text(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text[:_MAX_MESSAGE]


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def api_error_from_response(status: int, body: bytes | str, request_id: str | None = None) -> IroncladError:
    """Map a non-2xx API response to its typed error."""
    data = _parse_json_object(body)
    code = _str_or_none(data.get("code")) if data else None
    message = _str_or_none(data.get("message")) if data else None
    param = _str_or_none(data.get("param")) if data else None
    if not message:
        message = _text(body) or f"HTTP {status}"
    kwargs: dict[str, Any] = {"status": status, "code": code, "param": param, "request_id": request_id}
    cls: type[IroncladError]
    if status == 401:
        cls = IroncladAuthError
    elif status == 403:
        cls = IroncladForbidden
    elif status == 404 or (code is not None and code.upper() == "NOT_FOUND" and 400 <= status < 500):
        cls = IroncladNotFound
    elif status in (400, 422):
        cls = IroncladBadRequest
    elif status == 429:
        cls = IroncladRateLimited
    elif status >= 500:
        cls = IroncladServerError
    else:
        cls = IroncladError
    return cls(message, **kwargs)


def oauth_error_from_response(status: int, body: bytes | str, request_id: str | None = None) -> IroncladError:
    """Map a non-2xx token-endpoint response to its typed error (429/5xx become API-style errors)."""
    if status == 429:
        return IroncladRateLimited(
            _text(body) or "token endpoint rate limited", status=status, request_id=request_id
        )
    if status >= 500:
        return IroncladServerError(_text(body) or f"HTTP {status}", status=status, request_id=request_id)
    data = _parse_json_object(body)
    error = _str_or_none(data.get("error")) if data else None
    if data and not error:
        # Some gateways answer the API-style shape even here.
        error = _str_or_none(data.get("code"))
    description = _str_or_none(data.get("error_description") or data.get("message")) if data else None
    message = description or error or _text(body) or f"HTTP {status}"
    kwargs: dict[str, Any] = {"status": status, "code": error, "request_id": request_id}
    normalized = (error or "").lower()
    cls: type[OAuthError]
    if normalized == "invalid_client":
        cls = OAuthInvalidClient
    elif normalized == "invalid_scope":
        cls = OAuthInvalidScope
    elif normalized in ("unauthorized_client", "invalid_grant"):
        cls = OAuthUnauthorizedClient
    elif status == 401:
        cls = OAuthInvalidClient
    elif status == 403:
        cls = OAuthUnauthorizedClient
    else:
        cls = OAuthError
    return cls(message, **kwargs)
