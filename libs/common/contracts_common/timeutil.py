from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: Any) -> str | None:
    """An aware datetime as the API's ISO-8601 UTC string (`...Z`); anything else as None."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        text: str = value.astimezone(UTC).isoformat()
        return text.replace("+00:00", "Z")
    return None
