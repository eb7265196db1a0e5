"""Issue 24 / R30: dead letters an operator can act on, and a replay that leaves a run's counters exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts_common.storage.database import Database
from contracts_common.storage.dead_letters import DeadLetters
from tests.support.api import AdminApi
from tests.support.dead_letters import dead_letter_a_poison_page_task
from tests.support.services import Stack, messages_handled, wait_for

EMAIL = "admin@acme.example"
RECORDS = 25


@pytest.fixture
def two_deliveries(stack: Stack) -> None:
    """Before the services start: a message is dead-lettered after two failed deliveries; pages of ten."""
    stack.shared_settings.update({"DELIVERY_LIMIT": "2", "PAGE_SIZE": "10"})


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Database]:
    database = Database.connect(stack.mongodb_url, stack.database)
    yield database
    await database.close()


async def _dead_letters(api: AdminApi, **params: str) -> dict[str, Any]:
    answer = await api.call("GET", "/api/v1/dead-letters", params=params)
    assert answer.status == 200, answer
    return dict(answer.body)


async def test_a_dead_lettered_page_is_replayed_and_the_run_counters_stay_exact(
    two_deliveries: None,
    api: AdminApi,
    workers: None,
    sim: Any,
    company: dict[str, Any],
    db: Database,
    stack: Stack,
) -> None:
    await sim.seed(company["company_id"], count=RECORDS, seed=5)
    assert (await api.connect("acme", company["apps"][0], EMAIL)).status == 200
    # The fault: a stored mapping the mapper cannot compile (as a corrupt write would leave it), so every
    # page's batch fails in the mapper until its delivery limit and is dead-lettered.
    corrupt = await db.mappings.insert_one({"tenant": "acme", "version": 1000, "rules": [{"bogus": True}]})
    run_id = await api.start_import("acme")

    async def kept() -> dict[str, Any] | None:
        listing = await _dead_letters(api, tenant="acme")
        return listing if len(listing["items"]) == 3 else None

    listing = await wait_for(kept, timeout=60, what="the three pages' batches kept as dead letters")
    queue = f"{stack.prefix}.mapper.records"
    assert listing["queues"] == [{"queue": queue, "count": 3}]
    for item in listing["items"]:
        assert set(item) == {
            "id",
            "queue",
            "tenant",
            "message_type",
            "reason",
            "dead_lettered_at",
            "age_seconds",
            "deaths",
        }
        assert (item["queue"], item["tenant"], item["message_type"]) == (queue, "acme", "FetchedBatch")
        assert item["reason"].startswith("failed 2 deliveries"), item
        assert item["deaths"] == 1
        assert item["age_seconds"] >= 0
    assert listing["next_cursor"] is None
    paged = await _dead_letters(api, limit="2")
    assert len(paged["items"]) == 2
    assert paged["next_cursor"] is not None
    rest = await _dead_letters(api, limit="2", cursor=paged["next_cursor"])
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert (await _dead_letters(api, tenant="globex")) == {"queues": [], "items": [], "next_cursor": None}
    assert (await _dead_letters(api, queue=f"{stack.prefix}.importer.pages"))["items"] == []

    health = (await api.call("GET", "/api/v1/tenants/acme/ironclad/health")).body
    assert health["status"] == "degraded", health
    assert [r["code"] for r in health["reasons"]] == ["dead_letters"]
    assert health["reasons"][0]["message"].startswith("3 message(s)")
    run = await api.run("acme", run_id)
    assert run["status"] == "running"
    assert run["fetched"] == 0

    # Clear the fault, replay: the run finishes with every record counted once.
    await db.mappings.delete_one({"_id": corrupt.inserted_id})
    kept_docs = [doc async for doc in db.dead_letters.find({})]
    ids = [item["id"] for item in listing["items"]]
    first, *others = ids
    assert (await api.call("POST", f"/api/v1/dead-letters/{first}/replay")).body == {"replayed": first}
    answer = await api.call("POST", "/api/v1/dead-letters/replay", {"ids": [*others, "no-such-id"]})
    assert answer.status == 200, answer
    assert answer.body == {"replayed": others, "not_found": ["no-such-id"]}
    run = await api.wait_run("acme", run_id)
    assert run["status"] == "succeeded", run
    exact = {name: run[name] for name in ("fetched", "created", "updated", "unchanged", "failed", "expected")}
    assert exact == {
        "fetched": RECORDS,
        "created": RECORDS,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
        "expected": RECORDS,
    }
    assert len(await api.all_contracts("acme")) == RECORDS
    assert (await _dead_letters(api))["items"] == []
    assert (await api.call("POST", f"/api/v1/dead-letters/{first}/replay")).status == 404
    health = (await api.call("GET", "/api/v1/tenants/acme/ironclad/health")).body
    assert health["status"] == "healthy", health

    # Replayed again (the same messages dead-lettered and kept once more): nothing is counted twice.
    store = DeadLetters(db)
    for doc in kept_docs:
        await store.keep(
            dead_letter_queue=f"{queue}.dlq",
            message_id=doc["_id"],
            body=doc["body"],
            headers=doc["headers"],
            content_type=doc.get("content_type"),
        )
    handled = messages_handled("mapper.records")
    answer = await api.call("POST", "/api/v1/dead-letters/replay", {"ids": ids})
    assert answer.body == {"replayed": ids, "not_found": []}

    async def stored_again() -> bool:
        return messages_handled("mapper.records") >= handled + 3

    await wait_for(stored_again, timeout=30, what="the three replayed batches handled again")
    again = await api.run("acme", run_id)
    assert {name: again[name] for name in exact} == exact
    assert again["status"] == "succeeded"
    audit = (await api.call("GET", "/api/v1/tenants/acme/audit")).body["items"]
    assert [i["action"] for i in audit].count("dead_letter.replayed") == 6


async def test_a_dead_letter_is_discarded_and_its_deaths_counted_across_replays(
    two_deliveries: None, api: AdminApi, workers: None, stack: Stack
) -> None:
    pages_queue = await dead_letter_a_poison_page_task(stack)

    async def kept() -> list[dict[str, Any]]:
        return list((await _dead_letters(api))["items"])

    [item] = await wait_for(kept, timeout=30, what="the message kept")
    assert item["id"] == "poison-1"
    assert item["reason"] == "invalid PageTask: page_size missing"
    assert item["queue"] == pages_queue
    # Replayed, it fails again (still invalid) and comes back once more, known to have died twice.
    assert (await api.call("POST", "/api/v1/dead-letters/poison-1/replay")).status == 200

    async def back() -> list[dict[str, Any]]:
        items = await kept()
        return items if items and items[0]["deaths"] == 2 else []

    [again] = await wait_for(back, timeout=30, what="the replayed message dead-lettered again")
    assert again["dead_lettered_at"] == item["dead_lettered_at"]
    answer = await api.call("POST", "/api/v1/dead-letters/discard", {"ids": ["poison-1", "other"]})
    assert answer.body == {"discarded": ["poison-1"], "not_found": ["other"]}
    assert (await api.call("POST", "/api/v1/dead-letters/poison-1/discard")).status == 404
    assert (await _dead_letters(api)) == {"queues": [], "items": [], "next_cursor": None}
    audit = (await api.call("GET", "/api/v1/tenants/acme/audit")).body["items"]
    assert [i["action"] for i in audit] == ["dead_letter.discarded", "dead_letter.replayed"]
