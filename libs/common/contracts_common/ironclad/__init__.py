"""Ironclad CLM client library: auth, pacing, retries and typed errors.

See /work/shared/reference/ironclad-api.md for the API facts this follows.
"""

from .client import AttachmentStream, IroncladClient, RecordPage, RequestEvent
from .errors import (
    IroncladAuthError,
    IroncladBadRequest,
    IroncladError,
    IroncladForbidden,
    IroncladNotFound,
    IroncladRateLimited,
    IroncladServerError,
    IroncladUnreachable,
    IroncladUserRejected,
    OAuthError,
    OAuthInvalidClient,
    OAuthInvalidScope,
    OAuthUnauthorizedClient,
    api_error_from_response,
    oauth_error_from_response,
)
from .ratelimit import (
    DEFAULT_LIMITS,
    Bucket,
    MongoRateLimiter,
    NoRateLimiter,
    RateLimiter,
    bucket_for,
)
from .regions import API_PREFIX, TOKEN_PATH, Region, ironclad_origin
from .retry import RetryPolicy
from .scopes import ALL_SCOPES, AUTOMATIC_SYNC_SCOPES, REQUIRED_SCOPES, SCOPES, Scope, missing_scopes
from .tokens import IroncladCredentials, Token, TokenCache

__all__ = [
    "ALL_SCOPES",
    "API_PREFIX",
    "AUTOMATIC_SYNC_SCOPES",
    "DEFAULT_LIMITS",
    "REQUIRED_SCOPES",
    "SCOPES",
    "TOKEN_PATH",
    "AttachmentStream",
    "Bucket",
    "IroncladAuthError",
    "IroncladBadRequest",
    "IroncladClient",
    "IroncladCredentials",
    "IroncladError",
    "IroncladForbidden",
    "IroncladNotFound",
    "IroncladRateLimited",
    "IroncladServerError",
    "IroncladUnreachable",
    "IroncladUserRejected",
    "MongoRateLimiter",
    "NoRateLimiter",
    "OAuthError",
    "OAuthInvalidClient",
    "OAuthInvalidScope",
    "OAuthUnauthorizedClient",
    "RateLimiter",
    "RecordPage",
    "Region",
    "RequestEvent",
    "RetryPolicy",
    "Scope",
    "Token",
    "TokenCache",
    "api_error_from_response",
    "bucket_for",
    "ironclad_origin",
    "missing_scopes",
    "oauth_error_from_response",
]
