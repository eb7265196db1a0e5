"""The OpenAPI 3.1 document of the gateway (extended as endpoints land)."""

from __future__ import annotations

from typing import Any


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Contracts AI Ironclad gateway", "version": "1"},
        "paths": {},
    }
