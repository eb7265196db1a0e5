"""Ironclad regions and the one place where a base URL is built.

Security promise: the client only ever talks to `https://{region}.ironcladapp.com` or, in tests and
local runs, to the explicitly configured override. Nothing taken from a response (an attachment
`href`, a redirect) ever changes the host.
"""

from __future__ import annotations

from typing import Literal, get_args

Region = Literal["na1", "eu1", "demo"]
REGIONS: tuple[str, ...] = get_args(Region)

API_PREFIX = "/public/api/v1"
TOKEN_PATH = "/oauth/token"


def ironclad_origin(region: Region, base_url_override: str | None = None) -> str:
    """`https://{region}.ironcladapp.com`, or the override (trailing slash stripped) when set."""
    if base_url_override:
        return base_url_override.rstrip("/")
    if region not in REGIONS:
        raise ValueError(f"unknown Ironclad region {region!r}")
    return f"https://{region}.ironcladapp.com"


def api_base(origin: str) -> str:
    return origin + API_PREFIX


def token_url(origin: str) -> str:
    return origin + TOKEN_PATH
