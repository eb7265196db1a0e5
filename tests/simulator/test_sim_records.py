"""Records API: listing, sorting, pagination, get by id, create / replace / patch / delete and validation."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from pathlib import Path

import pytest

RECORDED = Path("/work/shared/reference/ironclad-recorded")
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def recorded(name: str):
    return json.loads((RECORDED / f"{name}.json").read_text())["exchanges"][0]


async def _all_pages(api, **params):
    out, page = [], 0
    while True:
        body = (await api.get("/records", params={**params, "page": str(page), "pageSize": "100"})).json()
        out.extend(body["list"])
        if (page + 1) * body["pageSize"] >= body["count"]:
            return out, body["count"]
        page += 1


async def test_metadata_is_the_recorded_schema(sim, company):
    r = await company.api.get("/records/metadata")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == recorded("list-records-metadata")["response"]


async def test_create_get_matches_recorded_shape(sim, company):
    ex = recorded("create-record")
    r = await company.api.post("/records", json=ex["request"]["data"])
    assert r.status == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    uuid.UUID(r.headers["x-ironclad-requestid"])
    created = r.json()
    want = ex["response"]
    assert list(created) == list(want)
    assert created["properties"] == want["properties"]
    assert created["attachments"] == {}
    assert created["links"] == []
    assert created["childIds"] == []
    assert ISO_MS.match(created["lastUpdated"])
    assert created["ironcladId"] == "IC-1"
    by_uuid = (await company.api.get(f"/records/{created['id']}")).json()
    by_ic = (await company.api.get("/records/IC-1")).json()
    assert by_uuid == by_ic == created
    # Same shape as the recorded GET.
    assert list(by_uuid) == list(recorded("get-record")["response"])


async def test_not_found(sim, company):
    r = await company.api.get("/records/00000000-0000-4000-8000-000000000000")
    assert (r.status, r.json()) == (404, {"code": "NOT_FOUND", "message": "not found"})
    assert (await company.api.get("/records/IC-999")).status == 404
    assert (await company.api.delete("/records/IC-999")).status == 404
    r = await company.api.patch("/records/IC-999", json={"name": "x"})
    assert r.status == 404
    assert r.json()["code"] == "NOT_FOUND"


async def test_list_envelope_and_pagination(sim, company):
    await sim.control.seed(company.company_id, 45, seed=3)
    r = await company.api.get("/records")
    body = r.json()
    assert list(body) == list(recorded("list-records")["response"])  # page, pageSize, count, list
    assert (body["page"], body["pageSize"], body["count"], len(body["list"])) == (0, 20, 45, 20)
    last = (await company.api.get("/records", params={"page": "2"})).json()
    assert len(last["list"]) == 5
    beyond = (await company.api.get("/records", params={"page": "9"})).json()
    assert beyond["list"] == []
    assert beyond["count"] == 45
    for bad in ("0", "101", "x"):
        r = await company.api.get("/records", params={"pageSize": bad})
        assert r.status == 400
        assert r.json()["code"] == "INVALID_PARAM"
        assert r.json()["param"] == "pageSize"
    r = await company.api.get("/records", params={"page": "-1"})
    assert r.status == 400
    assert r.json()["param"] == "page"
    assert len((await company.api.get("/records", params={"pageSize": "100"})).json()["list"]) == 45
    r = await company.api.get("/records", params={"sortField": "created"})
    assert r.status == 400
    assert r.json()["param"] == "sortField"
    r = await company.api.get("/records", params={"sortDirection": "UP"})
    assert r.status == 400


async def test_sorting_is_stable_and_complete(sim, company):
    await sim.control.seed(company.company_id, 250, seed=9)
    asc, count = await _all_pages(company.api, sortField="lastUpdated", sortDirection="ASC")
    assert count == 250
    assert len({r["id"] for r in asc}) == 250
    stamps = [r["lastUpdated"] for r in asc]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 250
    desc, _ = await _all_pages(company.api, sortField="lastUpdated", sortDirection="DESC")
    assert [r["id"] for r in desc] == [r["id"] for r in reversed(asc)]
    again, _ = await _all_pages(company.api, sortField="lastUpdated", sortDirection="ASC")
    assert [r["id"] for r in again] == [r["id"] for r in asc]
    by_name, _ = await _all_pages(company.api, sortField="name", sortDirection="ASC")
    names = [r["name"].casefold() for r in by_name]
    assert names == sorted(names)
    default, _ = await _all_pages(company.api)  # agreementDate DESC; undated last
    dated = [r for r in default if "agreementDate" in r["properties"]]
    assert default[: len(dated)] == dated
    values = [r["properties"]["agreementDate"]["value"] for r in dated]
    assert values == sorted(values, reverse=True)


async def test_filters(sim, company):
    await sim.control.seed(company.company_id, 120, seed=5)
    everything, _ = await _all_pages(company.api, sortField="lastUpdated", sortDirection="ASC")
    cutoff = everything[100]["lastUpdated"]
    recent = (await company.api.get("/records", params={"lastUpdated": cutoff, "pageSize": "100"})).json()
    assert recent["count"] == 20
    assert all(r["lastUpdated"] >= cutoff for r in recent["list"])
    some_type = everything[0]["type"]
    typed = (await company.api.get("/records", params={"types": some_type, "pageSize": "100"})).json()
    assert typed["count"] == sum(1 for r in everything if r["type"] == some_type)
    name = everything[3]["properties"]["counterpartyName"]["value"]
    flt = (
        await company.api.get("/records", params={"filter": f"Equals([counterpartyName], '{name}')"})
    ).json()
    want = sum(1 for r in everything if r["properties"].get("counterpartyName", {}).get("value") == name)
    assert flt["count"] == want >= 1
    r = await company.api.get("/records", params={"filter": 'Equals([counterpartyName], "x")'})
    assert r.status == 400
    assert r.json()["param"] == "filter"
    r = await company.api.get("/records", params={"lastUpdated": "yesterday"})
    assert r.status == 400
    assert r.json()["param"] == "lastUpdated"


async def test_create_validation(sim, company):
    api = company.api
    r = await api.post("/records", json={"type": "my_nonexistent_record_type", "name": "x", "properties": {}})
    assert r.json() == {
        "code": "INVALID_PARAM",
        "message": "unknown record type my_nonexistent_record_type",
        "param": "type",
    }
    r = await api.post(
        "/records",
        json={
            "type": "everyFieldType",
            "name": "x",
            "properties": {"my_nonexistent_record_property": {"type": "string", "value": "v"}},
        },
    )
    assert r.status == 400
    assert r.json() == {
        "code": "INVALID_PARAM",
        "message": "unknown property my_nonexistent_record_property",
        "param": "properties.my_nonexistent_record_property",
    }
    r = await api.post("/records", json={"type": "everyFieldType", "name": "x"})
    assert r.status == 400
    assert r.json()["code"] == "MISSING_PARAM"
    assert r.json()["param"] == "properties"
    r = await api.post(
        "/records",
        json={
            "type": "everyFieldType",
            "name": "x",
            "properties": {"agreementDate": {"type": "string", "value": "2024-01-01"}},
        },
    )
    assert r.status == 400
    assert r.json()["param"] == "properties.agreementDate"
    r = await api.post(
        "/records",
        json={
            "type": "everyFieldType",
            "name": "x",
            "properties": {
                "contractValue": {"type": "monetary_amount", "value": {"amount": "lots", "currency": "USD"}}
            },
        },
    )
    assert r.status == 400
    r = await api.post(
        "/records",
        json={
            "type": "everyFieldType",
            "name": "x",
            "properties": {"signedCopy": {"type": "document", "value": "x"}},
        },
    )
    assert r.status == 400
    r = await api.post("/records", json={"type": "everyFieldType", "name": "x", "properties": {}, "bogus": 1})
    assert r.status == 400
    assert r.json()["param"] == "bogus"


async def test_every_type_roundtrips(sim, company):
    props = {
        "counterpartyName": {"type": "string", "value": "Acme"},
        "agreementDate": {"type": "date", "value": "2018-05-08T00:00:00-07:00"},
        "contractValue": {"type": "monetary_amount", "value": {"amount": 1234.56, "currency": "EUR"}},
        "standard_initialTermLength": {"type": "duration", "value": "P10Y3M2W1D"},
        "contractOwner": {"type": "email", "value": "owner@example.com"},
        "standard_renewalsAllowed": {"type": "number", "value": 3},
        "standard_contractExtending": {"type": "boolean", "value": False},
        "counterpartyAddress": {
            "type": "address",
            "value": {
                "lines": ["1 Main St"],
                "locality": "Austin",
                "region": "TX",
                "postcode": "73301",
                "country": "United States",
                "raw": "1 Main St, Austin, TX 73301, United States",
            },
        },
        "entity_references": {"type": "array", "value": ["a", "b"]},
        "entity_reference": {
            "type": "reference",
            "value": {"recordId": "41be8f7d-c016-4d32-8b9a-441469321c8f"},
        },
    }
    r = await company.api.post(
        "/records", json={"type": "everyFieldType", "name": "All", "properties": props}
    )
    assert r.status == 200, r.body
    got = r.json()["properties"]
    assert got["counterpartyAddress"] == {
        "type": "address",
        "value": "1 Main St, Austin, TX 73301, United States",
    }
    for key in props:
        if key != "counterpartyAddress":
            assert got[key] == props[key]
    rid = r.json()["id"]
    obj = (await company.api.get(f"/records/{rid}", params={"addressAsObject": "true"})).json()
    assert obj["properties"]["counterpartyAddress"] == props["counterpartyAddress"]


async def test_patch_put_delete(sim, company):
    api = company.api
    created = (await api.post("/records", json=recorded("create-record")["request"]["data"])).json()
    rid = created["id"]
    r = await api.patch(f"/records/{rid}", json={"name": "Renamed"})
    assert r.status == 200
    assert r.json()["name"] == "Renamed"
    assert r.json()["lastUpdated"] > created["lastUpdated"]
    r = await api.patch(f"/records/{rid}", json={"properties": {}})
    assert r.status == 400
    assert r.json()["param"] == "properties"
    r = await api.patch(
        f"/records/{rid}",
        json={
            "addProperties": {"counterpartyName": {"type": "string", "value": "Jane Doe"}},
            "removeProperties": ["additionalNotes"],
            "type": "counterpartyPaperType1",
        },
    )
    body = r.json()
    assert body["properties"] == {"counterpartyName": {"type": "string", "value": "Jane Doe"}}
    assert body["type"] == "counterpartyPaperType1"
    r = await api.patch(f"/records/{rid}", json={"type": "nope"})
    assert r.status == 400
    assert r.json()["param"] == "type"

    other = (
        await api.post("/records", json={"type": "everyFieldType", "name": "Parent", "properties": {}})
    ).json()
    r = await api.patch(
        f"/records/{rid}",
        json={
            "setParent": {"recordId": other["ironcladId"], "parentLinkType": "amendment"},
            "addLinks": [{"recordId": other["id"]}],
        },
    )
    child = r.json()
    assert child["parentId"] == other["id"]
    assert child["parentLinkType"] == "amendment"
    assert child["links"] == [{"recordId": other["id"]}]
    parent = (await api.get(f"/records/{other['id']}")).json()
    assert parent["childIds"] == [rid]
    assert parent["amendments"] == [child["ironcladId"]]

    ex = recorded("replace-record")
    r = await api.put(f"/records/{rid}", json=ex["request"]["data"])
    assert r.status == 200
    assert r.json()["properties"] == ex["response"]["properties"]
    assert r.json()["name"] == ex["response"]["name"]
    r = await api.put(f"/records/{rid}", json={"name": "x", "properties": {}})
    assert r.status == 400
    assert r.json()["code"] == "MISSING_PARAM"

    r = await api.delete(f"/records/{rid}")
    assert r.status == 204
    assert r.body == b""
    assert (await api.get(f"/records/{rid}")).status == 404
    assert (await api.get(f"/records/{other['id']}")).json()["childIds"] == []


async def test_last_updated_strictly_increasing(sim, company):
    api = company.api
    stamps = []
    rid = (await api.post("/records", json={"type": "everyFieldType", "name": "x", "properties": {}})).json()[
        "id"
    ]
    for i in range(30):
        stamps.append((await api.patch(f"/records/{rid}", json={"name": f"n{i}"})).json()["lastUpdated"])
    assert all(a < b for a, b in itertools.pairwise(stamps))
    edited = await sim.control.edit_record(company.company_id, rid, set_properties={"counterpartyName": "Z"})
    assert edited["lastUpdated"] > stamps[-1]
    assert edited["properties"]["counterpartyName"] == {"type": "string", "value": "Z"}


@pytest.mark.parametrize("path", ["/records/metadata", "/records"])
async def test_json_content_type(sim, company, path):
    r = await company.api.get(path)
    assert r.headers["content-type"] == "application/json; charset=utf-8"
