"""Issue 23 / R27: the change feed, with the real broker and database, the services' real setup in this
process, and the Ironclad simulator (the only fake).

Why a reader following the cursor cannot miss a change (mapper/feed.py): one recorder, elected by a
lease, numbers each tenant's changes in the order MongoDB committed them (its change stream) and appends
them in that order, so row n + 1 is never visible before row n. A cursor on a timestamp the writers set
has no such order: `test_a_timestamp_cursor_misses_a_late_commit_the_feed_does_not` shows the miss.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest

from contracts_common.metrics import MESSAGES_HANDLED, MONGODB_COMMANDS
from contracts_common.runtime import connected
from contracts_common.settings import ImporterSettings, MapperSettings
from contracts_common.storage.changes import ChangeRow, Changes, StreamState
from contracts_common.storage.contracts import Contracts, ContractWrite
from contracts_common.storage.database import Database
from importer.bootstrap import setup as importer_setup
from mapper.bootstrap import FEED_SERVICE
from mapper.bootstrap import setup as mapper_setup
from mapper.feed import FeedRecorder
from tests.integration.feed.support import (
    Follower,
    delete_and_reconcile,
    diff,
    feed_recording,
    following,
    mongo_db,
    mongo_picture,
    mongo_versions,
)
from tests.support.api import AdminApi
from tests.support.services import Stack, wait_for

TENANT = "acme"
EMAIL = "admin@acme.example"


@pytest.fixture
async def two_mappers(
    stack: Stack, simulator: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> AsyncIterator[None]:
    """One importer and two mapper runtimes in this process, each with the production setup and the
    change feed on (each mapper runs a feed recorder; the lease lets one record)."""
    overrides = getattr(request, "param", {})
    stack.apply_env(monkeypatch, CHANGE_FEED_ENABLED="true", CHANGE_FEED_LEASE_SECONDS="3", **overrides)
    async with contextlib.AsyncExitStack() as exits:
        for settings, name, setup in (
            (ImporterSettings(), "importer", importer_setup),
            (MapperSettings(), "mapper", mapper_setup),
            (MapperSettings(), "mapper", mapper_setup),
        ):
            runtime = await exits.enter_async_context(connected(settings, name))
            await setup(runtime)
            exits.push_async_callback(runtime.broker.stop_consuming, 5.0)
        yield


async def _connect(api: AdminApi, sim: Any, company: dict[str, Any], count: int, **seed: Any) -> None:
    await sim.seed(company["company_id"], count=count, seed=seed.pop("seed", 23), **seed)
    answer = await api.connect(TENANT, company["apps"][0], EMAIL)
    assert answer.status == 200, answer.body


async def test_r27_a_follower_sees_every_change_of_concurrent_mappers_and_a_reconciliation(
    stack: Stack, api: AdminApi, two_mappers: None, sim: Any, company: dict[str, Any]
) -> None:
    """R27: a consumer follows the cursor while two mappers store a 400-record import page by page
    (records edited meanwhile), then a reconciliation deletes some: its picture equals MongoDB's,
    every deletion seen as `deleted`, every live contract last shown at its stored version."""
    cid = company["company_id"]
    await _connect(api, sim, company, 400, document_ratio=0.0)
    await sim.set_config(latency_ms=20)
    async with mongo_db(stack) as db:
        await wait_for(lambda: feed_recording(db), timeout=20, what="the feed recorder")
        follower = Follower(api, TENANT)
        async with following(follower):
            run_id = await api.start_import(TENANT)
            # Edits while the import runs: some land before their page, some after (then the closing
            # pass stores them again): updates racing creations in two mappers.
            records = await sim.list_records(cid)
            for n, record in enumerate(records[::40]):
                await asyncio.sleep(0.15)
                await sim.edit_record(cid, record["id"], name=f"edited mid-import {n}")
            run = await api.wait_run(TENANT, run_id, timeout=120)
            assert run["status"] == "succeeded", run
            assert run["created"] == 400, run

            gone = [r["id"] for r in records[5::50]]
            await delete_and_reconcile(api, sim, TENANT, cid, gone, timeout=120)

            stored = await mongo_picture(db, TENANT)
            assert len(stored) == 400
            assert sum(v == "deleted" for v in stored.values()) == len(gone)

            async def caught_up() -> bool:
                return follower.picture() == stored

            with contextlib.suppress(AssertionError):
                await wait_for(caught_up, timeout=30, what="the follower to catch up")
            assert follower.picture() == stored, diff(follower.picture(), stored)
        versions = await mongo_versions(db, TENANT)
        shown = {k: c["ironclad"]["lastUpdated"] for k, c in follower.last_contract.items() if k in versions}
        assert shown == versions
        # Every change recorded once here (no recorder died): one created per contract, no gap.
        assert follower.cursors == list(range(1, len(follower.cursors) + 1))
        assert sum(a == "deleted" for a in follower.last_action.values()) == len(gone)


async def test_a_timestamp_cursor_misses_a_late_commit_the_feed_does_not(
    stack: Stack, api: AdminApi, two_mappers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The naive design, reading `updated_at > last seen`, loses a write stamped before another one but
    committed after it (a mapper that stamped its batch, then paused): deterministic here by the stamps
    each writer uses. The feed numbers changes in commit order and shows both."""
    import contracts_common.storage.contracts as contracts_module

    async with mongo_db(stack) as raw:
        await wait_for(lambda: feed_recording(raw), timeout=20, what="the feed recorder")
        db = Database.connect(stack.mongodb_url, stack.database, service="test")
        try:
            store = Contracts(db)
            t_b = datetime.now(UTC)
            t_a = t_b - timedelta(seconds=1)  # A stamped its write first ...

            async def write(record_id: str, stamp: datetime) -> None:
                monkeypatch.setattr(contracts_module, "utcnow", lambda: stamp)
                record = {"id": record_id, "lastUpdated": stamp.isoformat(), "name": record_id}
                item = ContractWrite(record, {"title": record_id}, [], [], [])
                await store.upsert_batch(TENANT, [item], mapping_version=1, run_id=None)

            async def naive_poll(watermark: datetime) -> tuple[list[str], datetime]:
                docs = [
                    d async for d in raw.contracts.find({"tenant": TENANT, "updated_at": {"$gt": watermark}})
                ]
                seen = [d["ironclad"]["id"] for d in docs]
                return seen, max([d["updated_at"] for d in docs], default=watermark)

            await write("record-b", t_b)  # ... but B committed first
            naive_seen, watermark = await naive_poll(t_b - timedelta(hours=1))
            assert naive_seen == ["record-b"]
            await write("record-a", t_a)
            late, _ = await naive_poll(watermark)
            assert late == [], "the naive reader would have seen it: the demonstration is broken"

            follower = Follower(api, TENANT)

            async def both_seen() -> bool:
                await follower.poll()
                return len(follower.last_action) == 2

            await wait_for(both_seen, timeout=20, what="the feed to show both writes")
            order = [follower.last_contract[c]["ironclad"]["id"] for c in follower.last_contract]
            assert order == ["record-b", "record-a"], "the feed lists changes in commit order"
        finally:
            await db.close()


async def test_cursor_rules_over_http(stack: Stack, api: AdminApi) -> None:
    """Expired (rows after the cursor gone), unknown (beyond the head) → 410 CURSOR_EXPIRED; a cursor
    that is not a seq → 400 naming the field; without a cursor, from the oldest retained row."""
    db = Database.connect(stack.mongodb_url, stack.database, service="test")
    try:
        await db.ensure_indexes()
        changes = Changes(db)
        now = datetime.now(UTC)

        def row(tenant: str, seq: int) -> ChangeRow:
            return ChangeRow(
                tenant=tenant,
                seq=seq,
                contract_id=f"{seq:024x}",
                ironclad_id=f"r{seq}",
                action="updated",
                changed_at=now,
                expires_at=now + timedelta(days=1),
            )

        # acme's rows 1..4 expired, 5..7 retained; quiet's rows all expired after head 4.
        await changes.append([row(TENANT, s) for s in (5, 6, 7)])
        await changes.save(StreamState(), {TENANT: 7, "quiet": 4})
    finally:
        await db.close()

    async def get(tenant: str, query: str) -> tuple[int, Any]:
        answer = await api.call("GET", f"/api/v1/tenants/{tenant}/changes?{query}")
        return answer.status, answer.body

    status, body = await get(TENANT, "")
    assert status == 200
    assert [i["cursor"] for i in body["items"]] == ["5", "6", "7"]
    assert body["next_cursor"] == "7"
    assert all("contract" not in i for i in body["items"])  # no such contract stored
    status, body = await get(TENANT, "cursor=4&limit=2")
    assert (status, [i["cursor"] for i in body["items"]], body["next_cursor"]) == (200, ["5", "6"], "6")
    status, body = await get(TENANT, "cursor=7")
    assert (status, body["items"], body["next_cursor"]) == (200, [], "7")
    for expired in ("0", "3"):
        status, body = await get(TENANT, f"cursor={expired}")
        assert status == 410, body
        assert body["error"]["code"] == "CURSOR_EXPIRED"
        assert "expired" in body["error"]["message"]
    status, body = await get(TENANT, "cursor=8")
    assert status == 410
    assert body["error"]["code"] == "CURSOR_EXPIRED"
    assert "never given out" in body["error"]["message"]
    for bad in ("abc", "-1", "07"):
        status, body = await get(TENANT, f"cursor={bad}")
        assert status == 400, body
        assert body["error"]["details"]["field"] == "cursor"
    status, body = await get(TENANT, "limit=1001")
    assert status == 400
    assert body["error"]["details"]["field"] == "limit"

    assert await get("quiet", "") == (200, {"items": [], "next_cursor": "4"})
    assert await get("quiet", "cursor=4") == (200, {"items": [], "next_cursor": "4"})
    status, body = await get("quiet", "cursor=2")
    assert status == 410
    assert "expired" in body["error"]["message"]
    assert await get("fresh", "") == (200, {"items": [], "next_cursor": "0"})
    assert await get("fresh", "cursor=0") == (200, {"items": [], "next_cursor": "0"})
    status, _ = await get("fresh", "cursor=1")
    assert status == 410


def _feed_commands() -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in MONGODB_COMMANDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels.get("service") == FEED_SERVICE:
                out[sample.labels["command"]] = sample.value
    return out


def _batches_stored() -> float:
    return MESSAGES_HANDLED.labels(queue="mapper.records", outcome="ok")._value.get()  # type: ignore[no-any-return]


@pytest.mark.parametrize("two_mappers", [{"PAGE_SIZE": "50"}], indirect=True)
async def test_the_topic_exchange_announces_each_group_and_the_feed_costs_one_insert_per_batch(
    stack: Stack,
    api: AdminApi,
    two_mappers: None,
    sim: Any,
    company: dict[str, Any],
    artifacts_dir: Any,
) -> None:
    """A queue bound to `<prefix>.changes` with `acme.#` gets notices whose counts and cursor ranges
    cover every created contract; the recorder's database commands per stored batch are measured."""
    await _connect(api, sim, company, 500, document_ratio=0.0)
    connection = await aio_pika.connect(stack.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{stack.prefix}.changes")
        assert exchange.name == f"{stack.prefix}.changes"
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(exchange, routing_key=f"{TENANT}.#")
        notices: list[dict[str, Any]] = []
        keys: list[str] = []

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                keys.append(message.routing_key or "")
                notices.append(json.loads(message.body))

        await queue.consume(on_message)
        async with mongo_db(stack) as db:
            await wait_for(lambda: feed_recording(db), timeout=20, what="the feed recorder")
        before, batches_before = _feed_commands(), _batches_stored()
        run = await api.wait_run(TENANT, await api.start_import(TENANT), timeout=120)
        assert run["status"] == "succeeded", run
        assert run["created"] == 500, run

        async def all_announced() -> bool:
            return sum(int(n["counts"].get("created", 0)) for n in notices) >= 500

        await wait_for(all_announced, timeout=20, what="notices for every created contract")
        after, batches = _feed_commands(), _batches_stored() - batches_before
    assert set(keys) == {f"{TENANT}.created"}
    assert all(n["tenant"] == TENANT and n["action"] == "created" for n in notices)
    covered = sorted(s for n in notices for s in range(int(n["cursor_from"]), int(n["cursor_to"]) + 1))
    assert covered == list(range(1, 501))

    spent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    spent = {k: v for k, v in spent.items() if v}
    report = {
        "records": 500,
        "mapper_batches": batches,
        "feed_commands": spent,
        "inserts_per_batch": spent.get("insert", 0) / batches,
        "all_feed_commands_per_batch": sum(spent.values()) / batches,
    }
    (artifacts_dir / "feed_round_trips.json").write_text(json.dumps(report, indent=2))
    print("feed round trips:", report)
    # One insert per recorded group, and a group gathers whole batches (a bulk write's changes arrive
    # together): never more inserts than stored batches.
    assert batches >= 10
    assert spent.get("insert", 0) <= batches, report


async def test_a_token_that_cannot_resume_falls_back_to_every_contract_changed_since(stack: Stack) -> None:
    """The saved resume token is unknown to the server (as after the oplog rolled past it): the recorder
    records every contract changed since its last recorded change, then follows a fresh stream."""
    db = Database.connect(stack.mongodb_url, stack.database, service="test")
    recorder_db = Database.connect(stack.mongodb_url, stack.database, service="test")
    task: asyncio.Task[None] | None = None
    try:
        await db.ensure_indexes()
        store, changes = Contracts(db), Changes(db)

        async def write(record_id: str) -> None:
            record = {"id": record_id, "lastUpdated": datetime.now(UTC).isoformat(), "name": record_id}
            await store.upsert_batch(
                TENANT, [ContractWrite(record, {}, [], [], [])], mapping_version=1, run_id=None
            )

        for n in range(5):
            await write(f"before-{n}")
        await store.mark_deleted(TENANT, ["before-0"], run_id="reconcile-1")
        lost = StreamState(
            resume_token={"_data": "00"}, recorded_until=datetime.now(UTC) - timedelta(hours=1)
        )
        await changes.save(lost, {TENANT: 0})

        recorder = FeedRecorder(db=recorder_db, broker=None, owner="test-recorder", retention_days=1)
        task = asyncio.create_task(recorder.run())
        await asyncio.wait_for(recorder.recording.wait(), timeout=20)
        await write("after")

        async def recorded() -> list[dict[str, Any]] | None:
            rows = await changes.rows_of(TENANT)
            return rows if any(r["ironclad_id"] == "after" for r in rows) else None

        rows = await wait_for(recorded, timeout=20, what="the fallback and the new stream")
        actions = {r["ironclad_id"]: r["action"] for r in rows}
        assert actions == {
            "before-0": "deleted",
            **{f"before-{n}": "updated" for n in range(1, 5)},
            "after": "created",
        }
        assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await recorder_db.close()
        await db.close()


async def test_two_writers_from_the_same_head_cannot_both_number_a_change(stack: Stack) -> None:
    """Two recorders for a moment (a lease lapsed under a stalled one) both start after seq 3: the
    second is refused by the unique index, learns the new head and appends after it; no seq twice."""
    from contracts_common.storage.changes import SeqConflict
    from mapper.feed import Numbering, Observed

    db = Database.connect(stack.mongodb_url, stack.database, service="test")
    try:
        await db.ensure_indexes()
        changes = Changes(db)
        now = datetime.now(UTC)

        def seen(n: int) -> list[Observed]:
            return [Observed(TENANT, f"{i:024x}", f"r{i}", "updated", now) for i in range(n)]

        first, second = Numbering(changes), Numbering(changes)
        await first.learn({TENANT})
        await second.learn({TENANT})
        await changes.append(first.number(seen(3), timedelta(days=1)))
        stale = second.number(seen(2), timedelta(days=1))
        assert [r.seq for r in stale] == [1, 2]
        with pytest.raises(SeqConflict) as conflict:
            await changes.append(stale)
        assert conflict.value.inserted == 0
        second.forget({TENANT})
        await second.learn({TENANT})
        await changes.append(second.number(seen(2), timedelta(days=1)))
        rows = await changes.rows_of(TENANT)
        assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    finally:
        await db.close()
