"""A problem an admin can act on: an HTTP status, a stable code, a sentence and details. The gateway
answers with it (`{"error": {code, message, details}}`); the importer stores it on what failed."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}
