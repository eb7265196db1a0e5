"""Issue 5: fields, target fields, versioned mappings with validation, preview, and re-mapping."""

from __future__ import annotations

from typing import Any

from tests.support.api import AdminApi

EMAIL = "admin@acme.example"
MAPPING = "/api/v1/tenants/acme/field-mapping"


async def _imported(api: AdminApi, sim: Any, company: dict[str, Any], count: int) -> dict[str, Any]:
    await sim.seed(company["company_id"], count=count, seed=21)
    assert (await api.connect("acme", company["apps"][0], EMAIL)).status == 200
    return await api.wait_run("acme", await api.start_import("acme"))


async def test_ironclad_fields_and_contract_fields(api: AdminApi, sim: Any, company: dict[str, Any]) -> None:
    assert (await api.connect("acme", company["apps"][0], EMAIL)).status == 200
    fields = await api.call("GET", "/api/v1/tenants/acme/ironclad/fields")
    assert fields.status == 200
    names = {f["name"]: f for f in fields.body["fields"]}
    assert "properties.agreementDate" in names
    assert names["properties.agreementDate"]["ironclad_type"] == "date"
    assert "properties.signedCopy" not in names, "document properties are attachments, not fields"
    assert {"name", "type", "lastUpdated", "contractStatus.status", "ironcladId"} <= set(names)
    assert fields.body["record_types"]
    targets = await api.call("GET", "/api/v1/contract-fields")
    wanted = {
        "title",
        "counterparty_name",
        "contract_type",
        "status",
        "agreement_date",
        "effective_date",
        "expiration_date",
        "renewal_date",
        "auto_renew",
        "term",
        "contract_value",
        "governing_law",
        "owner_email",
        "counterparty_address",
        "tags",
    }
    assert wanted <= {t["name"] for t in targets.body}
    assert all(t["type"] and t["description"] for t in targets.body)


async def test_connect_stores_a_suggested_mapping(api: AdminApi, sim: Any, company: dict[str, Any]) -> None:
    assert (await api.connect("acme", company["apps"][0], EMAIL)).status == 200
    mapping = (await api.call("GET", MAPPING)).body
    assert mapping["version"] == 1
    assert mapping["suggested"] is True
    targets = {r["target"] for r in mapping["rules"]}
    assert {"title", "counterparty_name", "agreement_date", "contract_value"} <= targets


async def test_invalid_mapping_names_each_bad_rule_and_stores_nothing(
    api: AdminApi, sim: Any, company: dict[str, Any]
) -> None:
    assert (await api.connect("acme", company["apps"][0], EMAIL)).status == 200
    before = (await api.call("GET", MAPPING)).body
    rules = [
        {"source": "name", "target": "title"},
        {"source": "name", "target": "no_such_field"},
        {"source": "properties.counterpartyName", "target": "title"},
        {"source": "properties.agreementDate", "target": "auto_renew"},
        {"source": "properties.nope", "target": "notes"},
    ]
    answer = await api.call("PUT", MAPPING, {"rules": rules})
    assert answer.status == 422
    assert answer.body["error"]["code"] == "INVALID_MAPPING"
    codes = {(p["index"], p["code"]) for p in answer.body["error"]["details"]["rules"]}
    assert (1, "UNKNOWN_TARGET") in codes
    assert (2, "DUPLICATE_TARGET") in codes
    assert (3, "TYPE_MISMATCH") in codes
    assert (4, "UNKNOWN_SOURCE") in codes
    assert (await api.call("GET", MAPPING)).body == before
    unknown = await api.call(
        "PUT", MAPPING, {"rules": [{"source": "name", "target": "title", "colour": "red"}]}
    )
    assert unknown.status == 422


async def test_preview_stores_nothing_and_shows_per_field_errors(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await _imported(api, sim, company, 5)
    before = (await api.call("GET", MAPPING)).body
    rules = [
        {"source": "name", "target": "title", "transform": {"kind": "case", "mode": "upper"}},
        {"source": "name", "target": "agreement_date", "transform": {"kind": "date"}},
    ]
    answer = await api.call("POST", MAPPING + "/preview", {"rules": rules, "sample_size": 3})
    assert answer.status == 200, answer.body
    assert len(answer.body["items"]) == 3
    for item in answer.body["items"]:
        assert item["fields"]["title"] == item["name"].upper()
        assert [e["target"] for e in item["errors"]] == ["agreement_date"]
        assert item["errors"][0]["sample"]
    assert (await api.call("GET", MAPPING)).body == before
    contracts = await api.all_contracts("acme")
    assert all(
        c["fields"]["title"] != c["fields"]["title"].upper() or c["fields"]["title"].isupper()
        for c in contracts
    )


async def test_mapping_change_remaps_every_contract_once_per_version(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    run = await _imported(api, sim, company, 12)
    assert run["created"] == 12
    for version, mode in ((2, "upper"), (3, "lower")):
        rules = [
            {"source": "name", "target": "title", "transform": {"kind": "case", "mode": mode}},
            {"source": "name", "target": "effective_date", "transform": {"kind": "date"}, "default": None},
        ]
        answer = await api.call("PUT", MAPPING, {"rules": rules})
        assert answer.status == 200, answer.body
        assert answer.body["version"] == version
        remap = await api.wait_run("acme", answer.body["remap_run_id"])
        assert remap["kind"] == "remap"
        assert remap["status"] == "succeeded"
        assert remap["updated"] == 12
        assert remap["fetched"] == 12
        assert remap["mapping_errors"] == 12, "every name fails to be a date: one error per contract"
        for contract in await api.all_contracts("acme"):
            assert contract["mapping_version"] == version
            title = contract["fields"]["title"]
            assert title == (
                contract["ironclad"]["name"].upper()
                if mode == "upper"
                else contract["ironclad"]["name"].lower()
            )
            assert [e["target"] for e in contract["field_errors"]] == ["effective_date"]


async def test_custom_target_fields_can_be_mapped(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any]
) -> None:
    await _imported(api, sim, company, 3)
    custom = {"name": "deal_code", "type": "string", "description": "Our internal deal code."}
    answer = await api.call("PUT", "/api/v1/tenants/acme/contract-fields/custom", {"fields": [custom]})
    assert answer.status == 200, answer.body
    listed = (await api.call("GET", "/api/v1/tenants/acme/contract-fields")).body
    deal_code = next(f for f in listed if f["name"] == "deal_code")
    assert (deal_code["type"], deal_code["custom"]) == ("string", True)
    clash = await api.call(
        "PUT", "/api/v1/tenants/acme/contract-fields/custom", {"fields": [{**custom, "name": "title"}]}
    )
    assert clash.status == 422
    rules = [{"source": "name", "target": "title"}, {"source": "ironcladId", "target": "deal_code"}]
    saved = await api.call("PUT", MAPPING, {"rules": rules})
    assert saved.status == 200, saved.body
    assert (await api.wait_run("acme", saved.body["remap_run_id"]))["status"] == "succeeded"
    for contract in await api.all_contracts("acme"):
        assert contract["fields"]["deal_code"] == contract["ironclad"]["ironcladId"]


async def test_a_remap_batch_delivered_again_is_counted_once(
    api: AdminApi, workers: None, sim: Any, company: dict[str, Any], stack: Any, monkeypatch: Any
) -> None:
    """R16 for re-maps: the batch's contracts carry the run that re-mapped them, so a redelivery
    (here: the same batch handled once more after it was counted) splits them as the first did."""
    from contracts_common.messages import RemapTask
    from contracts_common.messaging import Delivery
    from contracts_common.runtime import connected
    from contracts_common.settings import MapperSettings
    from mapper.bootstrap import build_handlers

    await _imported(api, sim, company, 7)
    rules = [{"source": "name", "target": "title", "transform": {"kind": "case", "mode": "upper"}}]
    answer = await api.call("PUT", MAPPING, {"rules": rules})
    assert answer.status == 200, answer.body
    run_id = answer.body["remap_run_id"]
    remap = await api.wait_run("acme", run_id)
    assert (remap["status"], remap["updated"], remap["unchanged"], remap["fetched"]) == ("succeeded", 7, 0, 7)
    contracts = await api.all_contracts("acme")
    again = RemapTask(
        tenant="acme",
        run_id=run_id,
        mapping_version=answer.body["version"],
        batch=0,
        record_ids=[c["ironclad"]["id"] for c in contracts],
    )
    stack.apply_env(monkeypatch)
    async with connected(MapperSettings(), "mapper") as runtime:
        await build_handlers(runtime).remap(again, Delivery(message_id="again", delivery_count=2))
    after = await api.wait_run("acme", run_id)
    assert (after["updated"], after["unchanged"], after["fetched"]) == (7, 0, 7)
    assert await api.all_contracts("acme") == contracts
