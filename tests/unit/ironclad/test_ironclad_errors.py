from __future__ import annotations

import json

import pytest

from contracts_common.ironclad import (
    IroncladAuthError,
    IroncladBadRequest,
    IroncladError,
    IroncladForbidden,
    IroncladNotFound,
    IroncladRateLimited,
    IroncladServerError,
    OAuthError,
    OAuthInvalidClient,
    OAuthInvalidScope,
    OAuthUnauthorizedClient,
    api_error_from_response,
    oauth_error_from_response,
)


def body(**kw: str) -> bytes:
    return json.dumps(kw).encode()


@pytest.mark.parametrize(
    ("status", "payload", "cls"),
    [
        (401, body(code="UNAUTHORIZED", message="invalid authentication token"), IroncladAuthError),
        (403, body(code="FORBIDDEN", message="access forbidden"), IroncladForbidden),
        (404, body(code="NOT_FOUND", message="not found"), IroncladNotFound),
        (400, body(code="NOT_FOUND", message="couldn't find a record matching the id x"), IroncladNotFound),
        (400, body(code="INVALID_PARAM", message="unknown record type t", param="type"), IroncladBadRequest),
        (400, body(code="MISSING_PARAM", message="missing name", param="name"), IroncladBadRequest),
        (422, body(code="INVALID_PARAM", message="bad role"), IroncladBadRequest),
        (429, body(code="TOO_MANY_REQUESTS", message="slow down"), IroncladRateLimited),
        (500, b"<html>Internal Server Error</html>", IroncladServerError),
        (503, b"", IroncladServerError),
        (409, body(code="CONFLICT", message="x"), IroncladError),
    ],
)
def test_api_error_mapping(status: int, payload: bytes, cls: type[IroncladError]) -> None:
    err = api_error_from_response(status, payload, "rid-1")
    assert type(err) is cls
    assert err.status == status
    assert err.request_id == "rid-1"
    assert isinstance(err, IroncladError)


def test_api_error_fields_from_json() -> None:
    err = api_error_from_response(
        400,
        body(code="INVALID_PARAM", message="unknown property p", param="properties.p"),
    )
    assert (err.code, err.message, err.param) == ("INVALID_PARAM", "unknown property p", "properties.p")
    assert "INVALID_PARAM" in str(err)


@pytest.mark.parametrize(
    "raw", [b"<html>\n<b>Bad   Gateway</b>\n</html>", b"\xff\xfe garbage", b"[1,2]", b"null"]
)
def test_api_error_tolerates_non_json(raw: bytes) -> None:
    err = api_error_from_response(502, raw)
    assert isinstance(err, IroncladServerError)
    assert err.code is None
    assert err.message  # some text, never empty
    assert "\n" not in err.message


def test_api_error_empty_body_has_status_message() -> None:
    assert api_error_from_response(403, b"").message == "HTTP 403"


def test_api_error_message_is_capped() -> None:
    err = api_error_from_response(500, b"x" * 10_000)
    assert len(err.message) <= 500


@pytest.mark.parametrize(
    ("status", "payload", "cls"),
    [
        (401, body(error="invalid_client", error_description="invalid client"), OAuthInvalidClient),
        (400, body(error="invalid_scope", error_description="bad scope"), OAuthInvalidScope),
        (403, body(error="unauthorized_client", error_description="grant"), OAuthUnauthorizedClient),
        (403, body(error="invalid_grant", error_description="grant"), OAuthUnauthorizedClient),
        (400, body(error="invalid_request", error_description="missing grant_type"), OAuthError),
        (401, b"Unauthorized", OAuthInvalidClient),
        (403, b"", OAuthUnauthorizedClient),
        (401, body(code="UNAUTHORIZED", message="invalid client"), OAuthInvalidClient),
    ],
)
def test_oauth_error_mapping(status: int, payload: bytes, cls: type[OAuthError]) -> None:
    err = oauth_error_from_response(status, payload)
    assert type(err) is cls
    assert isinstance(err, OAuthError)
    assert isinstance(err, IroncladError)
    assert err.status == status


def test_oauth_error_fields() -> None:
    err = oauth_error_from_response(400, body(error="invalid_scope", error_description="scope x not allowed"))
    assert err.code == "invalid_scope"
    assert err.message == "scope x not allowed"


@pytest.mark.parametrize(("status", "cls"), [(429, IroncladRateLimited), (500, IroncladServerError)])
def test_oauth_transient_errors_are_api_style(status: int, cls: type[IroncladError]) -> None:
    assert type(oauth_error_from_response(status, b"oops")) is cls
