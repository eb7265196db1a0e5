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
