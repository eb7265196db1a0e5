"""Create an Ironclad record from a contract; a redelivered or repeated operation never makes two."""

from __future__ import annotations

from typing import Any

from contracts_common.messages import WritebackTask
from contracts_common.messaging import Broker, Topology
from tests.integration.writeback.conftest import TENANT, imported, sim_record, wait_operation
from tests.support.api import AdminApi
from tests.support.services import Stack, messages_handled, wait_for

FIELDS = {
    "title": "Globex Master Services Agreement",
    "counterparty_name": "Globex Corporation",
    "agreement_date": "2030-02-01",
    "contract_value": {"amount": "99000", "currency": "USD"},
    "term": "P2Y",
    "owner_email": "owner@acme.example",
    "notes": None,
}


async def _orphan(api: AdminApi, sim: Any, company: dict[str, Any], db: Any) -> dict[str, Any]:
    """A contract whose Ironclad record was deleted there.

    The contract is marked deleted as a reconciliation would mark it (set directly, so this test does
    not depend on the reconciliation's timing).
    """
    contracts = await imported(api, sim, company, count=3)
    contract = contracts[0]
    await sim.delete_record(company["company_id"], contract["ironclad"]["id"])
    await db.contracts.update_one(
        {"tenant": TENANT, "ironclad.id": contract["ironclad"]["id"]}, {"$set": {"deleted": True}}
    )
    update = await api.call(
        "POST", f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}/writeback/update-record", {}
    )
    assert update.status == 409
    assert update.body["error"]["code"] == "CONTRACT_NOT_LINKED"
    return contract


async def _republish(stack: Stack, task: WritebackTask) -> None:
    broker = Broker(stack.amqp_url, Topology(stack.prefix, 5), prefetch=1, name="test-redelivery")
    await broker.connect()
    try:
        await broker.publish(task)
    finally:
        await broker.close()


async def test_create_record_links_the_contract(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any], db: Any
) -> None:
    contract = await _orphan(api, sim, company, db)
    path = f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}/writeback/create-record"
    unknown = await api.call("POST", path, {"record_type": "noSuchType"})
    assert unknown.status == 422
    assert unknown.body["error"]["code"] == "UNKNOWN_RECORD_TYPE"

    answer = await api.call(
        "POST", path, {"record_type": "everyFieldType", "fields": FIELDS, "operation_id": "create-op-0001"}
    )
    assert answer.status == 202, answer.body
    assert answer.body["operation_id"] == "create-op-0001"
    op = await wait_operation(api, "create-op-0001")
    assert op["status"] == "succeeded", op
    new_id = op["ironclad_record_id"]
    assert new_id != contract["ironclad"]["id"]

    record = await sim_record(sim, company, new_id)
    assert record["type"] == "everyFieldType"
    assert record["name"] == FIELDS["title"]
    props = record["properties"]
    # Types come from /records/metadata.
    assert props["counterpartyName"] == {"type": "string", "value": "Globex Corporation"}
    assert props["agreementDate"]["type"] == "date"
    assert props["agreementDate"]["value"].startswith("2030-02-01")
    assert props["contractValue"] == {
        "type": "monetary_amount",
        "value": {"amount": 99000, "currency": "USD"},
    }
    assert props["standard_initialTermLength"] == {"type": "duration", "value": "P2Y"}
    assert props["contractOwner"] == {"type": "email", "value": "owner@acme.example"}
    assert "additionalNotes" not in props

    # The contract keeps its id and now stands for the new record.
    by_record = await api.call("GET", f"/api/v1/tenants/{TENANT}/contracts/{new_id}")
    assert by_record.status == 200, by_record.body
    assert by_record.body["contract_id"] == contract["contract_id"]
    assert by_record.body["deleted"] is False
    assert by_record.body["ironclad"]["lastUpdated"] == record["lastUpdated"]
    assert by_record.body["fields"]["counterparty_name"] == "Globex Corporation"

    # The same operation id again: the same operation, nothing new.
    again = await api.call("POST", path, {"record_type": "everyFieldType", "operation_id": "create-op-0001"})
    assert again.status == 202
    assert again.body.get("already_queued") is True
    # Now linked: a second create is refused; an import sees the record unchanged (no second contract).
    refused = await api.call("POST", path, {"record_type": "everyFieldType"})
    assert refused.status == 409
    assert refused.body["error"]["code"] == "CONTRACT_ALREADY_LINKED"
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["status"] == "succeeded", run
    assert run["created"] == 0, run
    contracts = await api.all_contracts(TENANT)
    assert [c["contract_id"] for c in contracts if c["ironclad"]["id"] == new_id] == [contract["contract_id"]]
    names = [r["name"] for r in await sim.list_records(company["company_id"])]
    assert names.count(FIELDS["title"]) == 1


async def test_redelivered_create_makes_one_record(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any], stack: Stack, db: Any
) -> None:
    contract = await _orphan(api, sim, company, db)
    path = f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}/writeback/create-record"
    answer = await api.call("POST", path, {"record_type": "everyFieldType", "fields": FIELDS, "name": "Once"})
    assert answer.status == 202, answer.body
    operation_id = answer.body["operation_id"]
    op = await wait_operation(api, operation_id)
    assert op["status"] == "succeeded", op
    task = WritebackTask(
        tenant=TENANT,
        operation_id=operation_id,
        action="create_record",
        contract_id=contract["contract_id"],
        record_type="everyFieldType",
    )

    # 1. A worker that died after Ironclad created the record but before it stored the outcome:
    #    the redelivery finds the record it created instead of creating another.
    await db.writebacks.update_one(
        {"tenant": TENANT, "operation_id": operation_id},
        {
            "$set": {"status": "running"},
            "$unset": {"ironclad_record_id": "", "result": "", "finished_at": ""},
        },
    )
    await db.contracts.update_one(
        {"ironclad.id": op["ironclad_record_id"]},
        {"$set": {"ironclad.id": contract["ironclad"]["id"], "deleted": True}},
    )
    await _republish(stack, task)
    again = await wait_operation(api, operation_id)
    assert again["status"] == "succeeded", again
    assert again["ironclad_record_id"] == op["ironclad_record_id"]
    assert again["attempts"] == 2
    # 2. A plain redelivery of a settled operation does nothing (judged once it has been handled).
    handled = messages_handled("importer.writeback")
    await _republish(stack, task)

    async def redelivery_handled() -> bool:
        return messages_handled("importer.writeback") - handled >= 1

    await wait_for(redelivery_handled, what="the redelivery handled")
    settled = await wait_operation(api, operation_id)
    assert settled["attempts"] == 2
    assert settled["finished_at"] == again["finished_at"]
    names = [r["name"] for r in await sim.list_records(company["company_id"])]
    assert names.count("Once") == 1
    linked = await api.call("GET", f"/api/v1/tenants/{TENANT}/contracts/{op['ironclad_record_id']}")
    assert linked.status == 200
    assert linked.body["contract_id"] == contract["contract_id"]


async def test_create_record_from_a_contract_that_never_was_in_ironclad(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any], db: Any
) -> None:
    await imported(api, sim, company, count=2)
    native = await db.contracts.insert_one(
        {"tenant": TENANT, "fields": FIELDS, "attachments": [], "deleted": False, "mapping_version": None}
    )
    contract_id = str(native.inserted_id)
    path = f"/api/v1/tenants/{TENANT}/contracts/{contract_id}/writeback/create-record"
    answer = await api.call(
        "POST", path, {"record_type": "counterpartyPaperType1", "name": "From Contracts AI"}
    )
    assert answer.status == 202, answer.body
    op = await wait_operation(api, answer.body["operation_id"])
    assert op["status"] == "succeeded", op
    record = await sim_record(sim, company, op["ironclad_record_id"])
    assert record["name"] == "From Contracts AI"
    assert record["type"] == "counterpartyPaperType1"
    assert record["properties"]["counterpartyName"]["value"] == "Globex Corporation"
    stored = await api.call("GET", f"/api/v1/tenants/{TENANT}/contracts/{contract_id}")
    assert stored.status == 200
    assert stored.body["ironclad"]["id"] == record["id"]
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["status"] == "succeeded", run
    assert run["created"] == 0, run
    assert len(await api.all_contracts(TENANT)) == 3
