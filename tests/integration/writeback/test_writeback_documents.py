"""Upload a processed document as an attachment of the contract's Ironclad record (multipart)."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp

from tests.integration.writeback.conftest import TENANT, imported, sim_record, wait_operation
from tests.support.api import AdminApi

PDF = b"%PDF-1.4\n" + b"processed by Contracts AI\n" * 4000 + b"%%EOF\n"


def _form(data: bytes, filename: str, key: str | None, **extra: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if key is not None:
        form.add_field("attachment_key", key)
    for name, value in extra.items():
        form.add_field(name, value)
    form.add_field("file", data, filename=filename, content_type="application/pdf")
    return form


async def test_upload_round_trip(
    api: AdminApi, workers: None, sim: Any, simulator: Any, company: dict[str, Any]
) -> None:
    contracts = await imported(api, sim, company)
    contract = next(c for c in contracts if not c["attachments"])
    record_id = contract["ironclad"]["id"]
    path = f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}/writeback/documents"

    answer = await api.call("POST", path, data=_form(PDF, "Résumé MSA.pdf", "signedCopy"))
    assert answer.status == 202, answer.body
    op = await wait_operation(api, answer.body["operation_id"])
    assert op["status"] == "succeeded", op
    assert op["result"]["sha256"] == hashlib.sha256(PDF).hexdigest()

    # The simulator serves the uploaded bytes under the key, with the filename we gave.
    stored_record = simulator.companies[company["company_id"]].records.get(record_id)
    attachment = stored_record.attachments["signedCopy"]
    assert attachment.data == PDF
    assert attachment.filename == "Résumé MSA.pdf"
    record = await sim_record(sim, company, record_id)
    assert record["attachments"]["signedCopy"]["filename"] == "Résumé MSA.pdf"

    # The contract has it too, with the record's new lastUpdated.
    contract_now = (
        await api.call("GET", f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}")
    ).body
    assert contract_now["ironclad"]["lastUpdated"] == record["lastUpdated"]
    assert [a["key"] for a in contract_now["attachments"]] == ["signedCopy"]
    raw = await api.call(
        "GET", f"/api/v1/tenants/{TENANT}/contracts/{contract['contract_id']}/attachments/signedCopy"
    )
    assert raw.status == 200
    assert raw.body == PDF

    # Ironclad does not overwrite: the same key again is refused before anything is queued.
    taken = await api.call("POST", path, data=_form(PDF, "again.pdf", "signedCopy"))
    assert taken.status == 409, taken.body
    assert taken.body["error"]["code"] == "ATTACHMENT_EXISTS", taken.body

    # A sync sees our own upload as unchanged and downloads nothing.
    reconcile = await api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/reconcile")
    run = await api.wait_run(TENANT, reconcile.body["run_id"])
    assert run["status"] == "succeeded", run
    assert run["updated"] == 0, run
    assert run["documents_downloaded"] == 0, run


async def test_upload_is_checked_before_it_is_queued(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    contracts = await imported(api, sim, company, count=2)
    path = f"/api/v1/tenants/{TENANT}/contracts/{contracts[0]['contract_id']}/writeback/documents"
    cases = [
        (_form(PDF, "notes.exe", "fileAttachment"), 422, "UNSUPPORTED_FILE_TYPE"),
        (_form(PDF, "ok.pdf", "someRandomKey"), 422, "INVALID_ATTACHMENT_KEY"),
        (_form(PDF, "ok.pdf", None), 422, "INVALID_ATTACHMENT_KEY"),
        (_form(b"", "ok.pdf", "fileAttachment"), 422, "VALIDATION_FAILED"),
    ]
    for form, status, code in cases:
        answer = await api.call("POST", path, data=form)
        assert answer.status == status, answer.body
        assert answer.body["error"]["code"] == code, answer.body
    as_json = await api.call("POST", path, {"attachment_key": "fileAttachment"})
    assert as_json.status == 415
    listed = await api.call("GET", f"/api/v1/tenants/{TENANT}/writebacks")
    assert listed.body["items"] == []
