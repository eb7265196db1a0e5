"""Fixtures of the fault suite: child-process workers that are always killed, a direct MongoDB handle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fault.support import Mongo, Workers, mongo
from tests.support.services import Stack


@pytest.fixture
def procs(stack: Stack, artifacts_dir: Path, simulator: object) -> Iterator[Workers]:
    """Start `python -m importer|mapper` children for this stack; all are killed at teardown."""
    workers = Workers(stack, artifacts_dir)
    yield workers
    workers.kill_all()


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Mongo]:
    async with mongo(stack) as m:
        yield m
