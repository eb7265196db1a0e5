"""End to end: 50 simulated contracts with documents, through the three services as real processes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import aiohttp
import pytest

from contracts_common.mapping import DEFAULT_RULES_WITHOUT_METADATA, compile_mapping
from tests.support.api import AdminApi

pytestmark = pytest.mark.e2e


async def _ironclad_get(sim_url: str, app: dict[str, Any], email: str, url: str) -> bytes:
    """What Ironclad (the simulator) itself answers, through its public API."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            sim_url + "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
        ) as response:
            token = (await response.json())["access_token"]
        async with session.get(
            url, headers={"Authorization": f"Bearer {token}", "x-as-user-email": email}
        ) as r:
            assert r.status == 200
            return await r.read()


async def test_fifty_contracts_every_field_and_byte(
    running_stack: AdminApi, sim: Any, company: dict[str, Any], stack: Any
) -> None:
    api = running_stack
    email = "admin@acme.example"
    await sim.seed(company["company_id"], count=50, seed=2026, document_ratio=0.4)
    connected = await api.connect("acme", company["apps"][0], email)
    assert connected.status == 200, connected.body

    run = await api.wait_run("acme", await api.start_import("acme"), timeout=120)
    assert run["status"] == "succeeded", run
    assert run["fetched"] == 50
    assert run["created"] == 50

    listing = json.loads(
        await _ironclad_get(
            stack.simulator_url,
            company["apps"][0],
            email,
            stack.simulator_url + "/public/api/v1/records?pageSize=100&sortField=lastUpdated",
        )
    )
    records = {r["id"]: r for r in listing["list"]}
    mapping = (await api.call("GET", "/api/v1/tenants/acme/field-mapping")).body
    contracts = await api.all_contracts("acme")
    assert {c["ironclad"]["id"] for c in contracts} == set(records)

    documents = 0
    for summary in contracts:
        record = records[summary["ironclad"]["id"]]
        full = (await api.call("GET", f"/api/v1/tenants/acme/contracts/{summary['contract_id']}?raw=1")).body
        assert full["raw"] == record, "the raw Ironclad record is kept as Ironclad sent it"
        assert full["ironclad"] == {
            k: record.get(k) for k in ("id", "ironcladId", "type", "name", "lastUpdated")
        }
        assert full["mapping_version"] == mapping["version"]
        assert full["fields"]["title"] == record["name"]
        assert {a["key"] for a in full["attachments"]} == set(record["attachments"])
        for attachment in full["attachments"]:
            ours = await api.call(
                "GET",
                f"/api/v1/tenants/acme/contracts/{summary['contract_id']}/attachments/{attachment['key']}",
            )
            theirs = await _ironclad_get(
                stack.simulator_url,
                company["apps"][0],
                email,
                record["attachments"][attachment["key"]]["href"],
            )
            assert ours.body == theirs
            assert hashlib.sha256(theirs).hexdigest() == attachment["sha256"]
            assert attachment["content_type"] == record["attachments"][attachment["key"]]["contentType"]
            documents += 1
    assert documents == run["documents_downloaded"] > 0

    # The suggested mapping was applied to every contract: re-applying it gives the stored fields.
    compiled = compile_mapping(
        [type(DEFAULT_RULES_WITHOUT_METADATA[0]).model_validate(r) for r in mapping["rules"]], strict=False
    )
    for summary in contracts:
        assert summary["fields"] == compiled.apply(records[summary["ironclad"]["id"]]).fields

    # Prometheus counters moved in the services that did the work.
    importer_metrics = await _metrics(f"http://127.0.0.1:{stack.shared_settings['IMPORTER_PROBE_PORT']}")
    mapper_metrics = await _metrics(f"http://127.0.0.1:{stack.shared_settings['MAPPER_PROBE_PORT']}")
    assert importer_metrics['contracts_records_total{outcome="fetched"}'] == 50
    assert importer_metrics['contracts_documents_total{outcome="downloaded"}'] == documents
    assert importer_metrics['contracts_ironclad_requests_total{endpoint="GET /records",status="200"}'] >= 2
    assert mapper_metrics['contracts_records_total{outcome="created"}'] == 50
    assert (
        mapper_metrics['contracts_messages_handled_total{outcome="ok",queue="mapper.records"}'] == 1
    )  # one page, one batch
    gateway_metrics = await _metrics(api.base)
    assert (
        gateway_metrics['contracts_ironclad_requests_total{endpoint="POST /oauth/token",status="200"}'] >= 1
    )


async def _metrics(base: str) -> dict[str, float]:
    """A service's Prometheus samples by name and labels."""
    async with aiohttp.ClientSession() as session, session.get(base + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
