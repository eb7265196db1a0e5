"""Update an Ironclad record's metadata from mapped fields, and sync it back without a loop."""

from __future__ import annotations

from typing import Any

from tests.integration.writeback.conftest import TENANT, imported, sim_record, wait_operation
from tests.support.api import AdminApi


async def test_update_record_round_trip_and_sync_sees_it_unchanged(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    contracts = await imported(api, sim, company)
    contract = contracts[0]
    record_id = contract["ironclad"]["id"]
    # Give the record a note, so the write-back has a property to remove.
    await sim.edit_record(
        company["company_id"],
        record_id,
        set_properties={"additionalNotes": {"type": "string", "value": "old"}},
    )
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["status"] == "succeeded", run

    fields = {
        "counterparty_name": "Globex Ltd",
        "expiration_date": "2031-06-30",
        "contract_value": {"amount": "1234.5", "currency": "EUR"},
        "notes": None,
        "last_updated": "2020-01-01T00:00:00Z",
        "not_a_field": "x",
    }
    answer = await api.call(
        "POST",
        f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}/writeback/update-record",
        {"fields": fields},
    )
    assert answer.status == 202, answer.body
    op = await wait_operation(api, answer.body["operation_id"])
    assert op["status"] == "succeeded", op
    assert op["ironclad_record_id"] == record_id
    written = op["result"]["written"]
    assert written["removeProperties"] == ["additionalNotes"]
    skipped = {s["target"] for s in op["result"]["skipped"]}
    assert skipped == {"last_updated", "not_a_field"}, op["result"]["skipped"]

    record = await sim_record(sim, company, record_id)
    props = record["properties"]
    assert props["counterpartyName"] == {"type": "string", "value": "Globex Ltd"}
    assert props["expirationDate"]["type"] == "date"
    assert props["expirationDate"]["value"].startswith("2031-06-30")
    assert props["contractValue"] == {
        "type": "monetary_amount",
        "value": {"amount": 1234.5, "currency": "EUR"},
    }
    assert "additionalNotes" not in props

    # Ironclad's answer is already on the contract: same lastUpdated, fields mapped from it.
    stored = (await api.call("GET", f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}")).body
    assert stored["ironclad"]["lastUpdated"] == record["lastUpdated"]
    assert stored["fields"]["counterparty_name"] == "Globex Ltd"
    assert stored["fields"]["expiration_date"] == "2031-06-30"
    assert "notes" not in stored["fields"]

    # Our own write coming back through a sync is unchanged, and nothing is written back again.
    reconcile = await api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/reconcile")
    assert reconcile.status == 202, reconcile.body
    run = await api.wait_run(TENANT, reconcile.body["run_id"])
    assert run["status"] == "succeeded", run
    assert run["unchanged"] == run["fetched"] == len(contracts), run
    assert run["updated"] == 0
    assert (await sim_record(sim, company, record_id))["lastUpdated"] == record["lastUpdated"]
    listed = await api.call("GET", f"/api/v1/tenants/{TENANT}/writebacks")
    assert [o["operation_id"] for o in listed.body["items"]] == [op["operation_id"]]


async def test_update_record_needs_a_linked_contract_and_a_valid_body(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    contracts = await imported(api, sim, company, count=2)
    base = f"/api/v1/tenants/{TENANT}/contracts"
    missing = await api.call("POST", f"{base}/000000000000000000000000/writeback/update-record", {})
    assert missing.status == 404
    assert missing.body["error"]["code"] == "CONTRACT_NOT_FOUND"
    bad = await api.call(
        "POST", f"{base}/{contracts[0]['contract_id']}/writeback/update-record", {"fields": [1, 2]}
    )
    assert bad.status == 422
    assert bad.body["error"]["code"] == "VALIDATION_FAILED"
    linked = await api.call(
        "POST",
        f"{base}/{contracts[0]['contract_id']}/writeback/create-record",
        {"record_type": "everyFieldType"},
    )
    assert linked.status == 409
    assert linked.body["error"]["code"] == "CONTRACT_ALREADY_LINKED"
    unknown = await api.call("GET", f"/api/v1/tenants/{TENANT}/writebacks/nope")
    assert unknown.status == 404
    assert unknown.body["error"]["code"] == "OPERATION_NOT_FOUND"


async def test_update_record_from_the_stored_fields_writes_them_back_unchanged(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    contracts = await imported(api, sim, company, count=8)
    for contract in contracts:
        before = await sim_record(sim, company, contract["ironclad"]["id"])
        answer = await api.call(
            "POST", f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}/writeback/update-record"
        )
        assert answer.status == 202, answer.body
        op = await wait_operation(api, answer.body["operation_id"])
        assert op["status"] == "succeeded", op
        after = await sim_record(sim, company, contract["ironclad"]["id"])
        assert after["name"] == before["name"]
        for key, prop in before["properties"].items():
            if prop["type"] in ("string", "email", "number", "boolean", "duration"):
                assert after["properties"][key] == prop, (key, op["result"])
        stored = await api.call("GET", f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}")
        assert stored.body["fields"] == contract["fields"] | {
            "last_updated": stored.body["fields"]["last_updated"]
        }


async def test_update_record_for_a_tenant_with_a_custom_field_maps_like_the_mapper(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    """Issue 13: write-back compiled the mapping strictly with built-in targets only and raised, after
    Ironclad had accepted the write, for a tenant whose mapping uses a custom field."""
    contracts = await imported(api, sim, company)
    custom = {"name": "deal_code", "type": "string", "description": "Our internal deal code."}
    answer = await api.call("PUT", f"/api/v1/tenants/{TENANT}/contract-fields/custom", {"fields": [custom]})
    assert answer.status == 200, answer.body
    mapping = await api.call("GET", f"/api/v1/tenants/{TENANT}/field-mapping")
    rules = [*mapping.body["rules"], {"source": "ironcladId", "target": "deal_code"}]
    saved = await api.call("PUT", f"/api/v1/tenants/{TENANT}/field-mapping", {"rules": rules})
    assert saved.status == 200, saved.body
    assert (await api.wait_run(TENANT, saved.body["remap_run_id"]))["status"] == "succeeded"

    contract = contracts[0]
    answer = await api.call(
        "POST",
        f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}/writeback/update-record",
        {"fields": {"counterparty_name": "Initech"}},
    )
    assert answer.status == 202, answer.body
    op = await wait_operation(api, answer.body["operation_id"])
    assert op["status"] == "succeeded", op
    stored = (await api.call("GET", f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}")).body
    record = await sim_record(sim, company, contract["ironclad"]["id"])
    assert stored["ironclad"]["lastUpdated"] == record["lastUpdated"]
    assert stored["fields"]["counterparty_name"] == "Initech"
    # Mapped exactly as the mapper maps it: the custom field is there too.
    assert stored["fields"]["deal_code"] == record["ironcladId"]
    assert stored["mapping_version"] == saved.body["version"]
