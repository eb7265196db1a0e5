"""A write-back is in the audit trail with its contract and operation, once however often it is asked."""

from __future__ import annotations

from typing import Any

from tests.integration.writeback.conftest import TENANT, imported, wait_operation
from tests.support.api import AdminApi


async def test_a_write_back_is_audited_with_its_operation(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    contract = (await imported(api, sim, company, count=2))[0]
    path = f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}/writeback/update-record"
    body = {"fields": {"counterparty_name": "Initech"}, "operation_id": "op-audit-0001"}
    first = await api.call("POST", path, body)
    assert first.status == 202, first.body
    again = await api.call("POST", path, body)
    assert again.body["already_queued"] is True
    assert (await wait_operation(api, "op-audit-0001"))["status"] == "succeeded"
    audit = await api.call("GET", f"/api/v1/tenants/{TENANT}/audit")
    writebacks = [i for i in audit.body["items"] if i["action"] == "writeback.update_record"]
    details = [{k: v for k, v in w["details"].items() if k != "status"} for w in writebacks]
    expected = {"contract_id": contract["contract_id"], "operation_id": "op-audit-0001"}
    assert details == [{**expected, "already_queued": True}, expected]  # newest first
    assert {w["actor"]["kind"] for w in writebacks} == {"platform"}
