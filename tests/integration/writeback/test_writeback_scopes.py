"""A missing scope gives a clear error naming the scope: at the gateway when the connection shows it,
on the operation when Ironclad refuses (403, or a token refused for the scope)."""

from __future__ import annotations

from typing import Any

import aiohttp

from contracts_common.ironclad import ALL_SCOPES
from contracts_common.ironclad.scopes import CREATE_ATTACHMENTS, CREATE_RECORDS, UPDATE_RECORDS
from tests.integration.writeback.conftest import TENANT, imported, wait_operation
from tests.support.api import AdminApi


def _upload_form() -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("attachment_key", "fileAttachment")
    form.add_field("file", b"%PDF-1.4", filename="a.pdf", content_type="application/pdf")
    return form


async def test_app_without_create_records_fails_the_create_naming_the_scope(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any], db: Any
) -> None:
    contracts = await imported(api, sim, company, count=2)
    native = await db.contracts.insert_one(
        {"tenant": TENANT, "fields": {"title": "Native"}, "attachments": []}
    )
    # The Ironclad admin takes createRecords away from the app after we connected.
    app = company["apps"][0]
    await sim.update_app(app["client_id"], scopes=[s for s in ALL_SCOPES if s != CREATE_RECORDS])
    await sim.expire_tokens(app["client_id"])

    answer = await api.call(
        "POST",
        f"/api/v1/tenants/{TENANT}/contracts/{native.inserted_id}/writeback/create-record",
        {"record_type": "everyFieldType"},
    )
    assert answer.status == 202, answer.body
    op = await wait_operation(api, answer.body["operation_id"])
    assert op["status"] == "failed", op
    assert op["error"]["code"] == "IRONCLAD_SCOPE_MISSING"
    assert CREATE_RECORDS in op["error"]["message"]
    assert op["error"]["details"]["missing_scope"] == CREATE_RECORDS
    assert len(await sim.list_records(company["company_id"])) == len(contracts)


async def test_ironclad_403_on_update_fails_naming_the_scope(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    contracts = await imported(api, sim, company, count=2)
    record_id = contracts[0]["ironclad"]["id"]
    await sim.add_fault(
        f"/records/{record_id}$",
        403,
        method="PATCH",
        body={"code": "FORBIDDEN", "message": "access forbidden"},
    )
    answer = await api.call(
        "POST",
        f"/api/v1/tenants/{TENANT}/contracts/{contracts[0]['contract_id']}/writeback/update-record",
        {"fields": {"counterparty_name": "Initech"}},
    )
    assert answer.status == 202, answer.body
    op = await wait_operation(api, answer.body["operation_id"])
    assert op["status"] == "failed", op
    assert op["error"]["code"] == "IRONCLAD_SCOPE_MISSING"
    assert UPDATE_RECORDS in op["error"]["message"]
    assert op["error"]["details"]["missing_scope"] == UPDATE_RECORDS


async def test_gateway_refuses_early_when_the_connection_lacks_the_scope(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any], db: Any
) -> None:
    contracts = await imported(api, sim, company, count=2)
    # A connection granted without createAttachments (as stored at connect).
    await db.connections.update_one({"tenant": TENANT}, {"$pull": {"granted_scopes": CREATE_ATTACHMENTS}})
    answer = await api.call(
        "POST",
        f"/api/v1/tenants/{TENANT}/contracts/{contracts[0]['contract_id']}/writeback/documents",
        data=_upload_form(),
    )
    assert answer.status == 403, answer.body
    assert answer.body["error"]["code"] == "IRONCLAD_SCOPE_MISSING"
    assert CREATE_ATTACHMENTS in answer.body["error"]["message"]
    assert answer.body["error"]["details"]["missing_scope"] == CREATE_ATTACHMENTS
    listed = await api.call("GET", f"/api/v1/tenants/{TENANT}/writebacks")
    assert listed.body["items"] == []
