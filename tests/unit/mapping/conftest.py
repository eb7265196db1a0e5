"""Fixtures: the recorded Ironclad schema (118 properties) and records (copied from
/work/shared/reference/ironclad-recorded so the tests stand alone)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.fixture(scope="session")
def metadata() -> dict[str, Any]:
    return load("records-metadata.json")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def recorded_records() -> list[dict[str, Any]]:
    return load("records.json")  # type: ignore[no-any-return]


def record(**props: tuple[str, Any]) -> dict[str, Any]:
    """A record with properties given as ``id=(type, value)``."""
    return {
        "id": "22e2ff72-56a1-4711-a4ca-41328d311e9f",
        "ironcladId": "IC-1",
        "type": "consultingAgreement",
        "name": "Consulting Agreement with Jane Doe",
        "lastUpdated": "2018-05-08T17:28:10Z",
        "properties": {k: {"type": t, "value": v} for k, (t, v) in props.items()},
        "attachments": {},
        "links": [],
        "contractStatus": {"status": "active"},
    }
