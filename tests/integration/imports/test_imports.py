"""Issue 4: the import pipeline — limit, pages, documents, re-import, reconciliation, counters."""

from __future__ import annotations

from typing import Any

from tests.support.api import AdminApi
from tests.support.services import messages_handled, wait_for

EMAIL = "admin@acme.example"


async def _connected(api: AdminApi, sim: Any, company: dict[str, Any], count: int, **seed: Any) -> None:
    await sim.seed(company["company_id"], count=count, seed=seed.pop("seed", 1), **seed)
    answer = await api.connect("acme", company["apps"][0], EMAIL)
    assert answer.status == 200, answer.body
    await sim.reset_stats()  # count only what the import asks of Ironclad


async def test_max_contracts_is_honoured_exactly_and_takes_the_newest(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await _connected(api, sim, company, 250)
    run = await api.wait_run("acme", await api.start_import("acme", max_contracts=137))
    assert run["status"] == "succeeded"
    assert run["fetched"] == run["created"] == run["total"] == 137
    assert run["pages_total"] == 2
    contracts = await api.all_contracts("acme")
    records = await sim.list_records(company["company_id"])
    newest = sorted(records, key=lambda r: r["lastUpdated"], reverse=True)[:137]
    assert sorted(c["ironclad"]["id"] for c in contracts) == sorted(r["id"] for r in newest)
    stats = await sim.company_stats(company["company_id"])
    offset_pages = [
        int(str(q["page"]))
        for q in stats["listings"]
        if q["sortDirection"] == "DESC" and q["lastUpdated"] is None
    ]
    assert sorted(offset_pages) == [0, 1], "page 0 once (it plans the run and is used), then page 1 once"
    closing = [q for q in stats["listings"] if q["sortDirection"] == "ASC"]
    assert closing, "the closing pass reads what changed during the listing"
    assert all(q["lastUpdated"] and q["sortField"] == "lastUpdated" for q in closing)


async def test_reimport_changes_nothing_and_downloads_no_document_again(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await _connected(api, sim, company, 40, document_ratio=0.5)
    first = await api.wait_run("acme", await api.start_import("acme"))
    assert first["created"] == 40
    assert first["documents_downloaded"] > 0
    downloads = (await sim.company_stats(company["company_id"]))["requests"][
        "GET /records/{id}/attachments/{key}"
    ]
    assert downloads == first["documents_downloaded"]

    changed = (await sim.list_records(company["company_id"]))[0]
    await sim.edit_record(company["company_id"], changed["id"], name="Renamed in Ironclad")
    second = await api.wait_run("acme", await api.start_import("acme"))
    assert second["status"] == "succeeded"
    assert second["updated"] == 1
    assert second["unchanged"] == 39
    assert second["created"] == 0
    stats = await sim.company_stats(company["company_id"])
    expected = downloads + (1 if changed.get("attachments") else 0)
    assert stats["requests"]["GET /records/{id}/attachments/{key}"] == expected
    contract = (await api.call("GET", f"/api/v1/tenants/acme/contracts/{changed['id']}")).body
    assert contract["ironclad"]["name"] == "Renamed in Ironclad"
    assert contract["fields"]["title"] == "Renamed in Ironclad"


async def test_a_failed_download_fails_that_document_not_the_run(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await _connected(api, sim, company, 10, document_ratio=1.0)
    await sim.add_fault(path_regex=r"/attachments/", status=404, times=1)
    run = await api.wait_run("acme", await api.start_import("acme"))
    assert run["status"] == "succeeded"
    assert run["created"] == 10
    assert run["documents_failed"] == 1
    failed = [c for c in await api.all_contracts("acme") if c["document_failures"]]
    assert len(failed) == 1
    failed_key = failed[0]["document_failures"][0]["key"]
    assert failed_key not in {a["key"] for a in failed[0]["attachments"]}


async def test_reconciliation_repairs_changes_and_marks_deletions(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await _connected(api, sim, company, 30)
    await api.wait_run("acme", await api.start_import("acme"))
    records = await sim.list_records(company["company_id"])
    gone, edited = records[0], records[1]
    await sim.delete_record(company["company_id"], gone["id"])
    await sim.edit_record(company["company_id"], edited["id"], name="Edited while webhooks were lost")

    answer = await api.call("POST", "/api/v1/tenants/acme/ironclad/reconcile")
    assert answer.status == 202
    run = await api.wait_run("acme", answer.body["run_id"])
    assert run["kind"] == "reconcile"
    assert run["status"] == "succeeded"
    assert run["deleted"] == 1, run
    assert run["updated"] == 1
    assert run["unchanged"] == 28
    assert run["repaired"] == 2
    deleted = (await api.call("GET", f"/api/v1/tenants/acme/contracts/{gone['id']}")).body
    assert deleted["deleted"] is True
    fixed = (await api.call("GET", f"/api/v1/tenants/acme/contracts/{edited['id']}")).body
    assert fixed["ironclad"]["name"] == "Edited while webhooks were lost"


async def test_one_reconciliation_per_tenant_at_a_time(
    api: AdminApi, sim: Any, company: dict[str, Any], gateway: str
) -> None:
    # No workers: the first run stays queued, so the second request must return it.
    await _connected(api, sim, company, 3)
    first = await api.call("POST", "/api/v1/tenants/acme/ironclad/reconcile")
    second = await api.call("POST", "/api/v1/tenants/acme/ironclad/reconcile")
    assert first.status == second.status == 202
    assert second.body["run_id"] == first.body["run_id"]
    assert second.body["already_running"] is True


async def test_import_input_is_validated(api: AdminApi, sim: Any, company: dict[str, Any]) -> None:
    await _connected(api, sim, company, 1)
    for body in ({"max_contracts": 0}, {"max_contracts": "5"}, {"max_contracts": 1.5}, {"limit": 3}):
        answer = await api.call("POST", "/api/v1/tenants/acme/ironclad/imports", body)
        assert answer.status == 422, body
        assert answer.body["error"]["code"] == "VALIDATION_FAILED"
    runs = await api.call("GET", "/api/v1/tenants/acme/ironclad/runs")
    assert runs.body["items"] == []


async def test_a_redelivered_batch_counts_its_document_failures_once(
    api: AdminApi, workers: None, stack: Any, sim: Any, company: dict[str, Any]
) -> None:
    """Issue 13: documents_failed was counted again on every redelivery. The counts ride on the slot's
    run_items row now: the same batch delivered three times counts its documents once."""
    from contracts_common.messages import DocumentFailure, FetchedBatch, FetchedItem, RunKind
    from contracts_common.messaging import Broker, Topology
    from contracts_common.storage.database import Database
    from contracts_common.storage.runs import Runs

    await _connected(api, sim, company, 2)
    records = await sim.list_records(company["company_id"])
    db = Database.connect(stack.mongodb_url, stack.database)
    broker = Broker(stack.amqp_url, Topology(stack.prefix, 5), prefetch=1, name="test-redelivery")
    await broker.connect()
    try:
        runs = Runs(db)
        run = await runs.create("acme", RunKind.WEBHOOK)
        await runs.start("acme", run["_id"])
        await runs.plan("acme", run["_id"], total=2, pages_total=0)
        items = [
            FetchedItem(
                slot=r["id"],
                record=r,
                document_failures=[DocumentFailure(key="doc", error="IroncladServerError: 500")],
                documents_downloaded=1,
            )
            for r in records
        ]
        batch = FetchedBatch(tenant="acme", run_id=run["_id"], items=items)
        handled = messages_handled("mapper.records")
        for _ in range(3):  # a delivery and two redeliveries of the same batch
            await broker.publish_with_retry(batch)
        await api.wait_run("acme", run["_id"])

        async def all_three_handled() -> bool:
            return messages_handled("mapper.records") - handled >= 3

        await wait_for(all_three_handled, what="the three deliveries handled")
        done = await api.run("acme", run["_id"])
    finally:
        await broker.close()
        await db.close()
    assert done["status"] == "succeeded", done
    assert done["fetched"] == 2
    assert done["documents_failed"] == 2
    assert done["documents_downloaded"] == 2
