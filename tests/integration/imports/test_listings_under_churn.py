"""Listings under concurrent edits (issue 13): people edit, delete and create records in Ironclad
between our page requests. An import or a reconciliation still ends with every live record at its
newest version, and nothing live is marked deleted."""

from __future__ import annotations

from typing import Any

from tests.support.api import AdminApi

EMAIL = "admin@acme.example"
TENANT = "acme"


async def _connected(api: AdminApi, sim: Any, company: dict[str, Any], count: int) -> str:
    cid = str(company["company_id"])
    await sim.seed(cid, count=count, seed=13, document_ratio=0.0)
    answer = await api.connect(TENANT, company["apps"][0], EMAIL)
    assert answer.status == 200, answer.body
    return cid


async def _assert_mirrors_ironclad(api: AdminApi, sim: Any, cid: str) -> list[dict[str, Any]]:
    """MongoDB holds exactly Ironclad's live records, each at its newest version."""
    records = {r["id"]: r for r in await sim.list_records(cid)}
    contracts = await api.all_contracts(TENANT)
    live = {c["ironclad"]["id"]: c for c in contracts if not c["deleted"]}
    falsely_deleted = sorted(
        c["ironclad"]["id"] for c in contracts if c["deleted"] and c["ironclad"]["id"] in records
    )
    assert not falsely_deleted, f"live records marked deleted: {falsely_deleted}"
    assert sorted(live) == sorted(records), "live contracts differ from Ironclad's records"
    stale = [rid for rid, c in live.items() if c["ironclad"]["lastUpdated"] != records[rid]["lastUpdated"]]
    assert not stale, f"contracts not at their newest version: {stale}"
    return contracts


async def test_an_import_under_churn_ends_at_the_newest_version_of_every_record(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    cid = await _connected(api, sim, company, 250)
    # Before each of the first 3 page requests: 4 records edited (they jump to the top of the
    # lastUpdated order, moving every other record a place) and 2 created.
    await sim.set_churn(cid, edits=4, creates=2, seed=1, max_requests=3)
    run = await api.wait_run(TENANT, await api.start_import(TENANT), timeout=90)
    churn = await sim.stop_churn(cid)
    assert churn is not None
    assert churn["requests"] == 3
    assert len(churn["edited"]) == 12
    assert run["status"] == "succeeded", run
    assert run["fetched"] == run["created"] + run["updated"] + run["unchanged"] + run["skipped_stale"]
    await _assert_mirrors_ironclad(api, sim, cid)


async def test_a_reconciliation_under_churn_marks_only_deleted_records_deleted(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    cid = await _connected(api, sim, company, 250)
    first = await api.wait_run(TENANT, await api.start_import(TENANT), timeout=90)
    assert first["status"] == "succeeded", first
    # Deletions shift every later record a place towards page 0, so a record can slip between two
    # pages already read: it is missing from the listing, yet alive.
    await sim.set_churn(cid, edits=3, deletes=2, creates=1, seed=2, max_requests=3)
    run = await _reconcile(api)
    churn = await sim.stop_churn(cid)
    assert churn is not None
    assert len(churn["deleted"]) == 6
    assert run["status"] == "succeeded", run
    records = {r["id"] for r in await sim.list_records(cid)}
    contracts = await api.all_contracts(TENANT)
    marked = {c["ironclad"]["id"] for c in contracts if c["deleted"]}
    assert not marked & records, f"live records marked deleted: {sorted(marked & records)}"
    # Those deleted before the listing reached them are marked now; one deleted after the listing
    # had read it cannot be told from a live one until the next reconciliation.
    assert marked <= set(churn["deleted"])
    assert run["deleted"] == len(marked)
    edited = {
        c["ironclad"]["id"]: c for c in contracts if c["ironclad"]["id"] in set(churn["edited"]) & records
    }
    newest = {r["id"]: r for r in await sim.list_records(cid)}
    assert all(c["ironclad"]["lastUpdated"] == newest[rid]["lastUpdated"] for rid, c in edited.items())

    again = await _reconcile(api)
    assert again["status"] == "succeeded", again
    assert again["deleted"] == 6 - len(marked)
    contracts = await _assert_mirrors_ironclad(api, sim, cid)
    assert sorted(c["ironclad"]["id"] for c in contracts if c["deleted"]) == sorted(churn["deleted"])


async def _reconcile(api: AdminApi) -> dict[str, Any]:
    answer = await api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/reconcile")
    assert answer.status == 202, answer.body
    return await api.wait_run(TENANT, answer.body["run_id"], timeout=90)
