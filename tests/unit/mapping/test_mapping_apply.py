"""Applying mappings: representations, defaults, per-field errors (R14), speed, recorded records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts_common.mapping import (
    DEFAULT_RULES_WITHOUT_METADATA,
    InvalidMappingError,
    MappingRule,
    TargetField,
    TargetType,
    apply_mapping,
    compile_mapping,
    preview_mapping,
    suggest_mapping,
    target_fields,
)


def record(**props: tuple[str, Any]) -> dict[str, Any]:
    """A record shaped like Ironclad's ``RecordModel``, properties given as ``id=(type, value)``."""
    return {
        "id": "22e2ff72-56a1-4711-a4ca-41328d311e9f",
        "ironcladId": "IC-1",
        "type": "consultingAgreement",
        "name": "Consulting Agreement with Jane Doe",
        "lastUpdated": "2018-05-08T17:28:10Z",
        "properties": {k: {"type": t, "value": v} for k, (t, v) in props.items()},
        "attachments": {},
        "links": [],
        "contractStatus": {"status": "active"},
    }


def rules(*specs: dict[str, Any]) -> list[MappingRule]:
    return [MappingRule.model_validate(s) for s in specs]


def test_every_ironclad_type_direct() -> None:
    rec = record(
        counterpartyName=("string", "Acme Corporation Ltd"),
        contractValue=("monetary_amount", {"amount": 150000.55, "currency": "USD"}),
        agreementDate=("date", "2018-05-08T00:00:00-07:00"),
        expirationDate=("date", "2024-12-31T00:00:00Z"),
        term=("duration", "P10Y3M2W1D"),
        owner=("email", "Jane.Doe@Example.com"),
        address=(
            "address",
            {
                "lines": ["1 Main St"],
                "locality": "Springfield",
                "region": "IL",
                "postcode": "62701",
                "country": "US",
            },
        ),
        tags=("array", ["a", "b"]),
        autoRenew=("boolean", True),
        renewals=("number", 3),
    )
    mapping = rules(
        {"source": "name", "target": "title"},
        {"source": "type", "target": "contract_type"},
        {"source": "contractStatus.status", "target": "status"},
        {"source": "lastUpdated", "target": "last_updated"},
        {"source": "properties.counterpartyName", "target": "counterparty_name"},
        {"source": "properties.contractValue", "target": "contract_value"},
        {"source": "properties.agreementDate", "target": "agreement_date"},
        {"source": "properties.expirationDate", "target": "expiration_date"},
        {"source": "properties.term", "target": "term"},
        {"source": "properties.owner", "target": "owner_email"},
        {"source": "properties.address", "target": "counterparty_address"},
        {"source": "properties.tags", "target": "tags"},
        {"source": "properties.autoRenew", "target": "auto_renew"},
        {"source": "properties.renewals", "target": "department"},  # number -> string is exact
    )
    result = apply_mapping(rec, mapping)
    assert result.errors == []
    assert result.fields == {
        "title": "Consulting Agreement with Jane Doe",
        "contract_type": "consultingAgreement",
        "status": "active",
        "last_updated": "2018-05-08T17:28:10Z",
        "counterparty_name": "Acme Corporation Ltd",
        "contract_value": {"amount": "150000.55", "currency": "USD"},
        "agreement_date": "2018-05-08",
        "expiration_date": "2024-12-31",
        "term": "P10Y3M2W1D",
        "owner_email": "jane.doe@example.com",
        "counterparty_address": {
            "lines": ["1 Main St"],
            "locality": "Springfield",
            "region": "IL",
            "postcode": "62701",
            "country": "US",
            "raw": None,
        },
        "tags": ["a", "b"],
        "auto_renew": True,
        "department": "3",
    }
    json.dumps(result.fields)  # JSON-safe


def test_transforms_on_text_properties() -> None:
    rec = record(
        value=("string", "USD 1,200.00"),
        signed=("string", "08/05/2018"),
        auto=("string", "Yes"),
        owner=("string", "  BOB@X.COM "),
        term=("string", "12"),
        side=("string", "Vendor"),
        labels=("string", "a; b;;c"),
        law=("string", "  new york  "),
        count=("string", "1,234"),
    )
    mapping = rules(
        {"source": "properties.value", "target": "contract_value", "transform": "money"},
        {
            "source": "properties.signed",
            "target": "agreement_date",
            "transform": {"kind": "date", "format": "%d/%m/%Y"},
        },
        {"source": "properties.auto", "target": "auto_renew", "transform": "boolean"},
        {"source": "properties.owner", "target": "owner_email", "transform": "email"},
        {"source": "properties.term", "target": "term", "transform": {"kind": "duration", "unit": "months"}},
        {
            "source": "properties.side",
            "target": "business_relationship",
            "transform": {"kind": "enum_map", "values": {"Vendor": "supplier"}},
        },
        {"source": "properties.labels", "target": "tags", "transform": {"kind": "split", "separator": ";"}},
        {
            "source": "properties.law",
            "target": "governing_law",
            "transform": ["trim", {"kind": "case", "mode": "title"}],
        },
        {"source": "properties.count", "target": "notes", "transform": "number"},
    )
    result = apply_mapping(rec, mapping)
    assert result.errors == []
    assert result.fields == {
        "contract_value": {"amount": "1200", "currency": "USD"},
        "agreement_date": "2018-05-08",
        "auto_renew": True,
        "owner_email": "bob@x.com",
        "term": "P12M",
        "business_relationship": "supplier",
        "tags": ["a", "b", "c"],
        "governing_law": "New York",
        "notes": "1234",
    }


def test_absent_and_empty_use_default_or_leave_field_absent() -> None:
    rec = record(blank=("string", "   "), empty=("array", []))
    mapping = rules(
        {"source": "properties.missing", "target": "agreement_date", "default": "2020-01-01T00:00:00Z"},
        {
            "source": "properties.missing",
            "target": "contract_value",
            "default": {"amount": 0, "currency": "usd"},
        },
        {"source": "properties.blank", "target": "counterparty_name", "default": "Unknown"},
        {"source": "properties.empty", "target": "tags", "default": ["none"]},
        {"source": "properties.missing", "target": "governing_law"},
        {"source": "properties.empty", "target": "department"},
        {"source": "contractStatus.status", "target": "status"},
    )
    rec["contractStatus"] = None
    result = apply_mapping(rec, mapping)
    assert result.errors == []
    assert result.fields == {
        "agreement_date": "2020-01-01",  # defaults are stored in the target representation
        "contract_value": {"amount": "0", "currency": "USD"},
        "counterparty_name": "Unknown",
        "tags": ["none"],
    }
    # Defaults are copies: changing one result does not change the next.
    result.fields["tags"].append("x")
    assert apply_mapping(rec, mapping).fields["tags"] == ["none"]


def test_record_without_properties() -> None:
    mapping = rules({"source": "properties.a", "target": "title"}, {"source": "name", "target": "notes"})
    assert apply_mapping({"name": "N"}, mapping).fields == {"notes": "N"}
    assert apply_mapping({"name": "N", "properties": None}, mapping).fields == {"notes": "N"}


def test_enum_map_fallbacks() -> None:
    rec = record(side=("string", "Partner"))
    base = {"source": "properties.side", "target": "business_relationship"}
    values = {"Vendor": "supplier", "Customer": "client"}
    error = apply_mapping(rec, rules({**base, "transform": {"kind": "enum_map", "values": values}}))
    assert error.fields == {}
    assert error.errors[0].sample == "Partner"
    keep = apply_mapping(
        rec, rules({**base, "transform": {"kind": "enum_map", "values": values, "fallback": "keep"}})
    )
    assert keep.fields == {"business_relationship": "Partner"}
    default = {**base, "transform": {"kind": "enum_map", "values": values, "fallback": "default"}}
    assert apply_mapping(rec, rules(default)).fields == {}
    assert apply_mapping(rec, rules({**default, "default": "other"})).fields == {
        "business_relationship": "other"
    }


def test_enum_target_options() -> None:
    targets = target_fields([TargetField(name="risk", type=TargetType.ENUM, options=("Low", "High"))])
    mapping = compile_mapping(rules({"source": "properties.r", "target": "risk"}), targets)
    assert mapping.apply(record(r=("string", "high"))).fields == {"risk": "High"}  # canonical spelling
    bad = mapping.apply(record(r=("string", "Medium")))
    assert bad.fields == {}
    assert bad.errors[0].target_type == "enum"


def test_failing_field_is_reported_and_others_go_on() -> None:
    rec = record(
        agreementDate=("date", "not a date"),
        contractValue=("monetary_amount", {"amount": "lots", "currency": "USD"}),
        owner=("email", "nobody"),
        term=("duration", "forever"),
        auto=("string", "maybe"),
        counterpartyName=("string", "Acme"),
        count=("string", "12abc"),
    )
    mapping = rules(
        {"source": "properties.agreementDate", "target": "agreement_date", "default": "2020-01-01"},
        {"source": "properties.contractValue", "target": "contract_value"},
        {"source": "properties.owner", "target": "owner_email"},
        {"source": "properties.term", "target": "term"},
        {"source": "properties.auto", "target": "auto_renew", "transform": "boolean"},
        {"source": "properties.counterpartyName", "target": "counterparty_name"},
        {"source": "properties.count", "target": "notes", "transform": "number"},
        {"source": "name", "target": "title"},
    )
    result = apply_mapping(rec, mapping)
    assert result.fields == {"counterparty_name": "Acme", "title": "Consulting Agreement with Jane Doe"}
    errors = {e.target: e for e in result.errors}
    assert list(errors) == ["agreement_date", "contract_value", "owner_email", "term", "auto_renew", "notes"]
    e = errors["agreement_date"]
    assert (e.source, e.source_type, e.target_type, e.sample) == (
        "properties.agreementDate",
        "date",
        "date",
        "not a date",
    )
    assert "not a date" in e.message
    assert errors["contract_value"].sample == '{"amount": "lots", "currency": "USD"}'
    assert errors["contract_value"].source_type == "monetary_amount"
    assert errors["notes"].source_type == "string"
    assert errors["notes"].target_type == "text"
    stored = result.model_dump(mode="json")
    assert json.loads(json.dumps(stored)) == stored


def test_sample_is_truncated() -> None:
    result = apply_mapping(
        record(d=("date", "x" * 1000)), rules({"source": "properties.d", "target": "agreement_date"})
    )
    assert result.errors[0].sample is not None
    assert len(result.errors[0].sample) <= 100


def test_malformed_wrappers_and_unexpected_shapes() -> None:
    rec = record()
    rec["properties"] = {
        "a": "2018-05-08",
        "b": {"type": "date"},
        "c": None,
        "d": {"type": "number", "value": [1]},
    }
    mapping = rules(
        {"source": "properties.a", "target": "agreement_date"},
        {"source": "properties.b", "target": "effective_date"},
        {"source": "properties.c", "target": "expiration_date"},
        {"source": "properties.d", "target": "renewal_date"},
    )
    result = apply_mapping(rec, mapping)
    assert result.fields == {"agreement_date": "2018-05-08"}  # a bare value is read; no value is absent
    assert [(e.target, e.source_type) for e in result.errors] == [("renewal_date", "number")]


def test_a_bug_in_one_field_does_not_stop_the_others() -> None:
    mapping = compile_mapping(
        rules({"source": "name", "target": "title"}, {"source": "id", "target": "notes"})
    )
    broken = mapping._rules[0]

    def boom(_: Any) -> Any:
        raise RuntimeError("bug")

    object.__setattr__(broken, "coerce", boom)
    result = mapping.apply(record())
    assert result.fields == {"notes": "22e2ff72-56a1-4711-a4ca-41328d311e9f"}
    assert "RuntimeError" in result.errors[0].message


def test_compile_rejects_invalid_mapping_unless_lenient() -> None:
    bad = rules({"source": "name", "target": "gone"}, {"source": "name", "target": "title"})
    with pytest.raises(InvalidMappingError) as info:
        compile_mapping(bad)
    assert info.value.errors[0].code == "UNKNOWN_TARGET"
    lenient = compile_mapping(bad, strict=False)
    assert lenient.targets == ("title",)
    assert [e.code for e in lenient.skipped] == ["UNKNOWN_TARGET"]
    assert lenient.apply(record()).fields == {"title": "Consulting Agreement with Jane Doe"}


def test_custom_target_fields() -> None:
    targets = target_fields([TargetField(name="po_number", type=TargetType.STRING)])
    result = apply_mapping(
        record(po=("string", "PO-1")), rules({"source": "properties.po", "target": "po_number"}), targets
    )
    assert result.fields == {"po_number": "PO-1"}


def test_recorded_records(metadata: dict[str, Any], recorded_records: list[dict[str, Any]]) -> None:
    suggested = compile_mapping([s.rule for s in suggest_mapping(metadata)])
    for rec in recorded_records:
        result = suggested.apply(rec)
        assert result.errors == []
        assert result.fields["title"] == rec["name"]
        assert result.fields["contract_type"] == "everyFieldType"
        assert result.fields["last_updated"].endswith("Z")
        if "additionalNotes" in rec["properties"]:
            assert result.fields["notes"] == rec["properties"]["additionalNotes"]["value"]
    without = compile_mapping(DEFAULT_RULES_WITHOUT_METADATA)
    assert without.apply(recorded_records[0]).fields["notes"] == "Test notes"


def test_default_rules_without_metadata_fill_obvious_fields() -> None:
    rec = record(
        counterpartyName=("string", "Acme"),
        agreementDate=("date", "2018-05-08T00:00:00-07:00"),
        contractValue=("monetary_amount", {"amount": 10, "currency": "USD"}),
        counterpartyAddress=("address", "1 Main St"),
    )
    result = compile_mapping(DEFAULT_RULES_WITHOUT_METADATA).apply(rec)
    assert result.errors == []
    assert result.fields["counterparty_name"] == "Acme"
    assert result.fields["agreement_date"] == "2018-05-08"
    assert result.fields["contract_value"] == {"amount": "10", "currency": "USD"}
    assert result.fields["counterparty_address"]["raw"] == "1 Main St"
    assert result.fields["status"] == "active"


def test_preview() -> None:
    mapping = rules(
        {"source": "name", "target": "title"}, {"source": "properties.d", "target": "agreement_date"}
    )
    items = preview_mapping([record(d=("date", "bad")), record(d=("date", "2018-05-08"))], mapping)
    assert [i.record_id for i in items] == ["22e2ff72-56a1-4711-a4ca-41328d311e9f"] * 2
    assert items[0].errors[0].target == "agreement_date"
    assert items[1].fields["agreement_date"] == "2018-05-08"


def test_apply_is_deterministic_and_does_not_mutate(metadata: dict[str, Any]) -> None:
    rec = record(
        contractValue=("monetary_amount", {"amount": 1.1, "currency": "usd"}), tags=("array", [" a "])
    )
    before = json.dumps(rec, sort_keys=True)
    mapping = compile_mapping(
        rules(
            {"source": "properties.contractValue", "target": "contract_value"},
            {"source": "properties.tags", "target": "tags", "transform": "trim"},
        )
    )
    first = mapping.apply(rec)
    assert mapping.apply(rec) == first
    assert json.dumps(rec, sort_keys=True) == before


def test_ten_thousand_records_fifteen_rules_map_alike(metadata: dict[str, Any]) -> None:
    """Fifteen suggested rules over 10,000 records: every record mapped, alike. How fast is measured by
    bench/remap_bench.py (mapping throughput), not by a wall-clock bound here that a loaded CI machine
    would break or a fast one would never test."""
    mapping = compile_mapping([s.rule for s in suggest_mapping(metadata)][:15])
    assert len(mapping.targets) == 15
    rec = record(
        counterpartyName=("string", "Acme"),
        agreementDate=("date", "2018-05-08T00:00:00-07:00"),
        effectiveDate=("date", "2018-05-08T00:00:00-07:00"),
        expirationDate=("date", "2024-12-31T00:00:00Z"),
        standard_anniversaryDate=("date", "2025-01-01T00:00:00Z"),
        standard_initialTermLength=("duration", "P1Y"),
        contractValue=("monetary_amount", {"amount": 150000.55, "currency": "USD"}),
        governingLaw=("string", "Delaware"),
        contractOwner=("email", "owner@example.com"),
        counterpartyAddress=("address", "1 Main St"),
        additionalNotes=("string", "notes"),
        counterpartySigner=("string", "Jane"),
    )
    records = [rec] * 10_000
    results = [mapping.apply(r) for r in records]
    assert all(r == results[0] for r in results)
    assert len(results[0].fields) >= 10, results[0]
