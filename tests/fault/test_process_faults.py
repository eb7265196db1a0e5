"""Workers killed or stopped mid-import (R4, R9, R19): real child processes, the real broker and MongoDB."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from typing import Any

import pytest

from tests.fault.support import (
    TENANT,
    Mongo,
    Workers,
    assert_exact,
    assert_no_duplicate_documents,
    company_stats,
    connect,
    kill9,
    sigterm,
    wait_pages,
)
from tests.support.api import TERMINAL, AdminApi
from tests.support.services import Stack

pytestmark = pytest.mark.fault

# Enough kills to hit the workers at several random points; more only makes the suite slower.
MAX_KILLS = 6


async def test_r9_killed_import_resumes_from_checkpoint(
    api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any]
) -> None:
    """R9: after kill -9 the pages checkpointed before the kill are never requested again."""
    cid = company["company_id"]
    await sim.seed(cid, count=400, seed=11, document_ratio=0.0)
    await sim.set_config(latency_ms=120)
    await connect(api, company)
    settings = {"PAGE_SIZE": 20, "IRONCLAD_CONCURRENCY": 2}
    importer = await procs.start("importer", **settings)
    await procs.start("mapper")
    await sim.reset_stats()

    run_id = await api.start_import(TENANT)
    await wait_pages(db, run_id, at_least=5)
    await kill9(importer)
    done_before = await db.pages_done(run_id)
    requested_before = len((await company_stats(sim, cid))["listings"])
    run = await db.run(run_id)
    assert run["pages_total"] == 20
    assert len(done_before) < 20, "the import finished before the kill; make it slower"

    await procs.start("importer", **settings)
    run = await api.wait_run(TENANT, run_id, timeout=60)
    await assert_exact(db, sim, cid, run)

    listings = (await company_stats(sim, cid))["listings"][requested_before:]
    # The offset pages of the listing; the closing pass's ascending windows come after them.
    after = [int(str(q["page"])) for q in listings if q["sortDirection"] == "DESC"]
    again = sorted(set(after) & done_before)
    assert not again, f"pages {again} were checkpointed before the kill and fetched again"
    assert 0 not in after, "the resumed import started over at page 0"
    # Only the pages not yet done, each at most twice (once in flight when killed, once after).
    assert set(after) <= set(range(20)) - done_before
    assert len(after) <= 2 * (20 - len(done_before)), after


@pytest.fixture
def roomy_deliveries(stack: Stack) -> None:
    """Kills come every second or so, and each counts as a delivery of every message the victim held.
    R4 is about redelivery, not the dead-letter limit (R6): give deliveries room, in every service."""
    stack.shared_settings["DELIVERY_LIMIT"] = "20"


async def test_r4_kill9_importer_and_mapper_at_random_points(
    roomy_deliveries: None, api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any]
) -> None:
    """R4: after kill -9 and redelivery: one contract per record, newest version, one file per document."""
    cid = company["company_id"]
    await sim.seed(
        cid, count=300, seed=4, document_ratio=0.6, min_document_bytes=2_000, max_document_bytes=20_000
    )
    await sim.set_config(latency_ms=15)
    await connect(api, company)
    settings = {"PAGE_SIZE": 25, "IRONCLAD_CONCURRENCY": 4, "PREFETCH_COUNT": 8}
    importer = await procs.start("importer", **settings)
    mapper = await procs.start("mapper", **settings)

    rng = random.Random(20240601)
    run_id = await api.start_import(TENANT)
    kills = 0
    deadline = time.monotonic() + 90
    while (
        (await db.run(run_id))["status"] not in TERMINAL and time.monotonic() < deadline and kills < MAX_KILLS
    ):
        await asyncio.sleep(rng.uniform(0.3, 1.2))
        if (await db.run(run_id))["status"] in TERMINAL:
            break
        victim = rng.choice(["importer", "mapper", "both"])
        if victim in ("importer", "both"):
            await kill9(importer)
        if victim in ("mapper", "both"):
            await kill9(mapper)
        kills += 1
        # Edit a record while the import runs: the newest version must win.
        records = await sim.list_records(cid)
        await sim.edit_record(cid, rng.choice(records)["id"], name=f"edited during kill {kills}")
        if victim in ("importer", "both"):
            importer = await procs.start("importer", **settings)
        if victim in ("mapper", "both"):
            mapper = await procs.start("mapper", **settings)
    assert kills >= 2, "the import ended before the workers could be killed twice"

    run = await api.wait_run(TENANT, run_id, timeout=60)
    assert run["status"] == "succeeded", run
    # Records edited after their page was listed are caught by the next incremental pass; run one
    # import more (the workers now untouched) so every record is at its newest version.
    second = await api.wait_run(TENANT, await api.start_import(TENANT), timeout=60)
    assert second["status"] == "succeeded", second
    await assert_exact(db, sim, cid)
    files = await assert_no_duplicate_documents(db, sim, cid)
    assert files > 0
    # The bytes behind each stored file hash to the sha256 the contract names.
    async for meta in db.db["documents.files"].find({"metadata.tenant": TENANT}):
        digest = hashlib.sha256()
        async for chunk in db.db["documents.chunks"].find({"files_id": meta["_id"]}).sort("n", 1):
            digest.update(chunk["data"])
        assert digest.hexdigest() == meta["metadata"]["sha256"], meta


async def test_r19_sigterm_mid_import_exits_cleanly_and_resumes(
    api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any]
) -> None:
    """R19: SIGTERM mid-import → exit code 0 within the grace period; after a restart the import completes."""
    cid = company["company_id"]
    await sim.seed(
        cid, count=300, seed=19, document_ratio=0.3, min_document_bytes=1_000, max_document_bytes=8_000
    )
    await sim.set_config(latency_ms=80)
    await connect(api, company)
    settings = {"PAGE_SIZE": 20, "IRONCLAD_CONCURRENCY": 2}
    importer = await procs.start("importer", **settings)
    mapper = await procs.start("mapper", **settings)

    run_id = await api.start_import(TENANT)
    await wait_pages(db, run_id, at_least=3)
    (importer_code, importer_took), (mapper_code, mapper_took) = await asyncio.gather(
        sigterm(importer, timeout=30), sigterm(mapper, timeout=30)
    )
    assert importer_code == 0, f"importer exit code {importer_code}:\n{importer.logs()[-3000:]}"
    assert mapper_code == 0, f"mapper exit code {mapper_code}:\n{mapper.logs()[-3000:]}"
    # The services' grace period is 25 s; handlers here take well under a second.
    assert importer_took < 25, importer_took
    assert mapper_took < 25, mapper_took
    assert "worker_stopped" in importer.logs()
    assert "worker_stopped" in mapper.logs()
    run = await db.run(run_id)
    assert run["status"] not in TERMINAL, "the import finished before SIGTERM; make it slower"

    await procs.start("importer", **settings)
    await procs.start("mapper", **settings)
    run = await api.wait_run(TENANT, run_id, timeout=60)
    await assert_exact(db, sim, cid, run)
    await assert_no_duplicate_documents(db, sim, cid)
