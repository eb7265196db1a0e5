"""R5: updates of one record applied in any order, with duplicates, end at the newest lastUpdated;
stale ones are counted as skipped, never written. Against the real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient

from contracts_common.storage.contracts import Contracts, ContractWrite
from contracts_common.storage.database import Database
from contracts_common.storage.runs import Outcome
from tests.support.services import drop_test_database

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def version(record_id: str, n: int) -> dict[str, Any]:
    stamp = (BASE + timedelta(seconds=n)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "id": record_id,
        "ironcladId": "IC-1",
        "type": "nda",
        "name": f"v{n}",
        "lastUpdated": stamp,
        "properties": {},
        "attachments": {},
        "links": [],
    }


@asynccontextmanager
async def scratch_contracts(url: str) -> AsyncIterator[tuple[Database, Contracts]]:
    """A database of its own for one example, dropped afterwards."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(url, tz_aware=True)
    name = "stale_" + uuid.uuid4().hex[:8]
    db = Database(client=client, db=client[name])
    try:
        await db.ensure_indexes()
        yield db, Contracts(db)
    finally:
        await drop_test_database(client, name)
        await client.close()


def write(record: dict[str, Any], slot: str | None = None) -> ContractWrite:
    return ContractWrite(
        record=record,
        fields={"title": record["name"]},
        field_errors=[],
        attachments=None,
        document_failures=[],
        slot=slot,
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=12))
async def test_any_order_with_duplicates_ends_at_the_newest(
    service_urls: tuple[str, str], order: list[int]
) -> None:
    async with scratch_contracts(service_urls[1]) as (db, contracts):
        record_id = str(uuid.uuid4())
        outcomes = []
        newest_so_far = -1
        for n in order:
            [outcome] = await contracts.upsert_batch(
                "t1", [write(version(record_id, n))], mapping_version=1, run_id=None
            )
            outcomes.append(outcome)
            if n > newest_so_far:
                assert outcome in (Outcome.CREATED, Outcome.UPDATED)
                newest_so_far = n
            elif n == newest_so_far:
                assert outcome == Outcome.UNCHANGED
            else:
                assert outcome == Outcome.SKIPPED_STALE
        stored = [d async for d in db.contracts.find({"tenant": "t1"})]
        assert len(stored) == 1
        assert stored[0]["ironclad"]["name"] == f"v{max(order)}"
        assert stored[0]["fields"]["title"] == f"v{max(order)}"
        assert outcomes.count(Outcome.CREATED) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=6), min_size=1, max_size=4
    )
)
async def test_versions_inside_one_bulk_write_end_at_the_newest(
    service_urls: tuple[str, str], batches: list[list[int]]
) -> None:
    """The batch path: several versions of one record in the same unordered bulk write, and across
    batches, still end at the newest; exactly one write creates it, and a batch whose versions are all
    older than what is stored writes nothing."""
    async with scratch_contracts(service_urls[1]) as (db, contracts):
        record_id = str(uuid.uuid4())
        created = 0
        newest_so_far = -1
        for batch in batches:
            outcomes = await contracts.upsert_batch(
                "t1", [write(version(record_id, n)) for n in batch], mapping_version=1, run_id=None
            )
            assert len(outcomes) == len(batch)
            created += outcomes.count(Outcome.CREATED)
            if max(batch) <= newest_so_far:
                assert all(o in (Outcome.UNCHANGED, Outcome.SKIPPED_STALE) for o in outcomes), outcomes
            for n, outcome in zip(batch, outcomes, strict=True):
                if n < newest_so_far:
                    assert outcome == Outcome.SKIPPED_STALE
            newest_so_far = max(newest_so_far, *batch)
        stored = [d async for d in db.contracts.find({"tenant": "t1"})]
        assert len(stored) == 1
        assert stored[0]["ironclad"]["name"] == f"v{newest_so_far}"
        assert stored[0]["fields"]["title"] == f"v{newest_so_far}"
        assert created == 1


async def test_a_record_in_two_slots_of_one_run_is_created_once(service_urls: tuple[str, str]) -> None:
    """Seen in a 600-record import under edits: `created` 603 for 600 contracts. A record listed twice
    (pages shift when an edit moves a record) or read again by the closing pass fills two slots of the
    run; the second found it stored at the same version by the same run and reported the first's
    `created` again. A redelivery of the slot that wrote it still reports what that write did."""
    async with scratch_contracts(service_urls[1]) as (db, contracts):
        record = version(str(uuid.uuid4()), 1)
        first = await contracts.upsert_batch("t1", [write(record, "p0:99")], mapping_version=1, run_id="r1")
        again = await contracts.upsert_batch("t1", [write(record, "p1:0")], mapping_version=1, run_id="r1")
        closing = await contracts.upsert_batch(
            "t1", [write(record, f"c:{record['id']}")], mapping_version=1, run_id="r1"
        )
        redelivered = await contracts.upsert_batch(
            "t1", [write(record, "p0:99")], mapping_version=1, run_id="r1"
        )
        assert (first, again, closing, redelivered) == (
            [Outcome.CREATED],
            [Outcome.UNCHANGED],
            [Outcome.UNCHANGED],
            [Outcome.CREATED],
        )
        assert await db.contracts.count_documents({"tenant": "t1"}) == 1
