"""Attachments: generated downloads, uploads with the whitelist and exact error messages, deletes."""

from __future__ import annotations

import json
from typing import Any

import aiohttp


def _form(
    content: bytes | None, metadata: dict[str, Any] | None, part_filename: str = "upload.bin"
) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if content is not None:
        form.add_field("attachment", content, filename=part_filename, content_type="application/octet-stream")
    if metadata is not None:
        form.add_field("metadata", json.dumps(metadata), content_type="application/json")
    return form


async def test_generated_document_download(sim, company):
    await sim.control.seed(
        company.company_id,
        20,
        seed=11,
        document_ratio=1.0,
        min_document_bytes=5_000,
        max_document_bytes=9_000,
    )
    rec = (await company.api.get("/records", params={"pageSize": "1"})).json()["list"][0]
    att = rec["attachments"]["signedCopy"]
    assert att["contentType"] == "application/pdf"
    assert att["filename"].endswith(".pdf")
    assert att["href"] == f"{sim.base_url}/public/api/v1/records/{rec['id']}/attachments/signedCopy"
    r1 = await company.api.get(att["href"][len(sim.base_url) + len("/public/api/v1") :])
    assert r1.status == 200
    assert r1.headers["Content-Type"] == "application/pdf"
    assert r1.headers["Content-Disposition"] == f'attachment; filename="{att["filename"]}"'
    assert r1.body.startswith(b"%PDF-1.4")
    assert r1.body.rstrip().endswith(b"%%EOF")
    assert 4_000 <= len(r1.body) <= 10_000
    r2 = await sim.raw(
        "GET",
        att["href"][len(sim.base_url) :],
        headers={"Authorization": f"Bearer {company.api.token}", "x-as-user-email": company.user_email},
    )
    assert r2.body == r1.body  # deterministic
    stats = await sim.control.company_stats(company.company_id)
    assert stats["requests"]["GET /records/{id}/attachments/{key}"] == 2


async def test_upload_rules(sim, company):
    api = company.api
    rec = (await api.post("/records", json={"type": "everyFieldType", "name": "x", "properties": {}})).json()
    path = f"/records/{rec['id']}/attachments/signedCopy"

    r = await api.post(path, data=_form(b"%PDF-1.4 hi", {"filename": "NDA - Acme LLC"}))
    assert r.status == 400
    assert r.json() == {
        "code": "INVALID_PARAM",
        "message": 'filename "NDA - Acme LLC" does not have an accepted extension. Only the following '
        "extensions are allowed: .adoc, .asice, .bdoc, .csv, .ddoc, .doc, .docx, .edoc, .eml, .gif, .htm, "
        ".jpeg, .jpg, .msg, .pdf, .png, .ppt, .pptx, .rtf, .tif, .tif, .txt, .xls, .xlsx, .xml",
        "param": "metadata.filename",
    }
    r = await api.post(path, data=_form(b"x", None))
    assert r.json()["message"] == "missing required form-data part 'metadata'"
    r = await api.post(
        f"/records/{rec['id']}/attachments/someRandomKey", data=_form(b"x", {"filename": "a.pdf"})
    )
    assert r.status == 400
    assert r.json()["message"] == "unknown record attachment key 'someRandomKey'"
    r = await api.post("/records/IC-999/attachments/signedCopy", data=_form(b"x", {"filename": "a.pdf"}))
    assert r.status == 400
    assert r.json() == {"code": "NOT_FOUND", "message": "couldn't find a record matching the id IC-999"}

    content = b"%PDF-1.4\nuploaded\n%%EOF\n"
    r = await api.post(path, data=_form(content, {"filename": "NDA - Acme LLC.pdf"}))
    assert (r.status, r.json()) == (200, {})
    r = await api.post(path, data=_form(content, {"filename": "again.pdf"}))
    assert r.status == 400
    assert r.json()["message"] == "record attachment key 'signedCopy' already exists for record"

    got = (await api.get(f"/records/{rec['id']}")).json()
    assert got["attachments"]["signedCopy"]["filename"] == "NDA - Acme LLC.pdf"
    assert got["lastUpdated"] > rec["lastUpdated"]
    r = await api.get(path)
    assert r.body == content
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == 'attachment; filename="NDA - Acme LLC.pdf"'

    r = await api.post(
        f"/records/{rec['id']}/attachments/fileAttachment",
        data=_form(b"a,b\n1,2\n", {"filename": "data.csv"}),
    )
    assert r.status == 200
    r = await api.get(f"/records/{rec['id']}/attachments/fileAttachment")
    assert r.headers["Content-Type"].startswith("text/csv")

    assert (await api.delete(path)).status == 204
    r = await api.get(path)
    assert r.status == 404
    assert r.json()["message"] == (
        f"couldn't find an attachment matching the key signedCopy for record with id {rec['id']}"
    )
    assert (await api.delete(path)).status == 404
    assert "signedCopy" not in (await api.get(f"/records/{rec['id']}")).json()["attachments"]


async def test_attachment_scopes(sim):
    c = await sim.company(scopes=["public.records.readRecords", "public.records.createRecords"])
    rec = (
        await c.api.post("/records", json={"type": "everyFieldType", "name": "x", "properties": {}})
    ).json()
    r = await c.api.post(
        f"/records/{rec['id']}/attachments/signedCopy", data=_form(b"x", {"filename": "a.pdf"})
    )
    assert r.status == 403
    assert (await c.api.get(f"/records/{rec['id']}/attachments/signedCopy")).status == 403
