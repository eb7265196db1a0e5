"""A contract travels: simulator → importer → RabbitMQ → mapper → MongoDB → gateway API."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.support.api import AdminApi


async def test_connect_import_and_read_back(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await sim.seed(company["company_id"], count=30, seed=7, document_ratio=0.5)
    answer = await api.connect("acme", company["apps"][0], "admin@acme.example")
    assert answer.status == 200, answer.body
    assert answer.body["message"] == "Ironclad connected successfully!"
    assert answer.body["missing_scopes"] == []

    run_id = await api.start_import("acme", max_contracts=20)
    run = await api.wait_run("acme", run_id)
    assert run["status"] == "succeeded", run
    assert run["fetched"] == 20
    assert run["created"] == 20

    contracts = await api.all_contracts("acme")
    assert len(contracts) == 20
    records = {r["id"]: r for r in await sim.list_records(company["company_id"])}
    newest = sorted(records.values(), key=lambda r: r["lastUpdated"], reverse=True)[:20]
    assert {c["ironclad"]["id"] for c in contracts} == {r["id"] for r in newest}

    with_document = [c for c in contracts if c["attachments"]]
    assert with_document, "the seed gives half the records a document"
    contract = with_document[0]
    one = await api.call("GET", f"/api/v1/tenants/acme/contracts/{contract['ironclad']['id']}")
    assert one.status == 200
    assert one.body["contract_id"] == contract["contract_id"]
    attachment = contract["attachments"][0]
    raw = await api.call(
        "GET", f"/api/v1/tenants/acme/contracts/{contract['contract_id']}/attachments/{attachment['key']}"
    )
    assert raw.status == 200
    assert hashlib.sha256(raw.body).hexdigest() == attachment["sha256"]
    assert len(raw.body) == attachment["size"]
