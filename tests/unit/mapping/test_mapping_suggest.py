"""Suggested mappings on the recorded 118-property schema and on small schemas."""

from __future__ import annotations

from collections import Counter
from typing import Any

from contracts_common.mapping import (
    BUILTIN_TARGET_FIELDS,
    DEFAULT_RULES_WITHOUT_METADATA,
    TargetField,
    TargetType,
    source_fields,
    suggest_mapping,
    target_fields,
    validate_mapping,
)


def by_target(metadata: dict[str, Any], targets: Any = BUILTIN_TARGET_FIELDS) -> dict[str, Any]:
    return {s.rule.target: s for s in suggest_mapping(metadata, targets)}


def test_recorded_schema_fills_the_obvious_fields(metadata: dict[str, Any]) -> None:
    suggested = suggest_mapping(metadata)
    targets = [s.rule.target for s in suggested]
    assert len(targets) == len(set(targets)), Counter(targets).most_common(3)
    sources = [s.rule.source for s in suggested]
    assert len(sources) == len(set(sources))
    got = {s.rule.target: s.rule.source for s in suggested}
    assert got["title"] == "name"
    assert got["contract_type"] == "type"
    assert got["status"] == "contractStatus.status"
    assert got["agreement_date"] == "properties.agreementDate"
    assert got["effective_date"] == "properties.effectiveDate"
    assert got["expiration_date"] == "properties.expirationDate"
    assert got["renewal_date"] == "properties.standard_anniversaryDate"
    assert got["term"] == "properties.standard_initialTermLength"
    assert got["contract_value"] == "properties.contractValue"
    assert got["governing_law"] == "properties.governingLaw"
    assert got["owner_email"] == "properties.contractOwner"
    assert got["counterparty_name"] == "properties.counterpartyName"
    assert got["counterparty_address"] == "properties.counterpartyAddress"
    assert got["counterparty_signer_email"] == "properties.counterpartySignerEmail"
    assert got["executed_date"] == "properties.standard_executedDate"
    assert got["business_relationship"] == "properties.standard_contractSide"
    # No property in this schema says auto-renew or tags: better absent than guessed.
    assert "auto_renew" not in got
    assert "tags" not in got
    # Nothing mapped from documents or references.
    assert not any("signedCopy" in s or "fileAttachment" in s or "entity_" in s for s in sources)
    assert all(s.reason for s in suggested)
    assert "purpose:agreementDate" in {s.rule.target: s for s in suggested}["agreement_date"].reason
    # The suggestion is a valid mapping for this schema.
    assert validate_mapping([s.rule for s in suggested], BUILTIN_TARGET_FIELDS, source_fields(metadata)) == []


def test_suggestion_does_not_depend_on_the_order_ironclad_lists_properties_in(
    metadata: dict[str, Any],
) -> None:
    """Ironclad's metadata is a JSON object whose key order is not promised: shuffled, it must give the
    same suggestion (ties between candidates are broken by name, not by position)."""
    import random

    expected = suggest_mapping(metadata)
    for seed in range(5):
        names = list(metadata["properties"])
        random.Random(seed).shuffle(names)
        shuffled = {**metadata, "properties": {n: metadata["properties"][n] for n in names}}
        assert suggest_mapping(shuffled) == expected


def prop(type_: str, display: str, tags: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "displayName": display, "tags": tags or [], **extra}


def test_names_types_and_transforms() -> None:
    meta = {
        "properties": {
            "renewalDate": prop("date", "Renewal Date"),
            "standard_anniversaryDate": prop("date", "Anniversary Date", ["purpose:anniversaryDate"]),
            "autoRenew_11111111-2222-3333-4444-555555555555_string": prop("string", "Auto Renew?"),
            "ContractValueText": prop("string", "Total Contract Value"),
            "labels": prop("array", "Labels"),
            "jurisdiction": prop("string", "Jurisdiction"),
            "signerMail": prop("string", "Counterparty Signer Email"),
            "poNumber_11111111-2222-3333-4444-555555555555_string": prop("string", "PO Number"),
            "deal": prop("monetary_amount", "Deal"),
            "start": prop("string", "Start Date"),
        }
    }
    targets = target_fields([TargetField(name="po_number", type=TargetType.STRING)])
    got = by_target(meta, targets)
    assert got["renewal_date"].rule.source == "properties.renewalDate"  # a real name beats anniversary
    auto = got["auto_renew"].rule
    assert auto.source.startswith("properties.autoRenew_")
    assert auto.transform is not None
    assert auto.transforms()[0].kind == "boolean"
    assert got["contract_value"].rule.source == "properties.ContractValueText"
    assert got["contract_value"].rule.transforms()[0].kind == "money"
    assert got["tags"].rule.source == "properties.labels"
    assert got["tags"].rule.transform is None
    assert got["governing_law"].rule.source == "properties.jurisdiction"
    assert got["counterparty_signer_email"].rule.transforms()[0].kind == "email"
    assert got["po_number"].rule.source.startswith("properties.poNumber_")
    assert got["effective_date"].rule.transforms()[0].kind == "date"
    assert "deal" not in {s.rule.source for s in got.values()}  # contract value taken by name, not type


def test_only_monetary_amount_becomes_contract_value() -> None:
    got = by_target({"properties": {"deal": prop("monetary_amount", "Deal")}})
    assert got["contract_value"].rule.source == "properties.deal"
    assert "only monetary amount" in got["contract_value"].reason


def test_incompatible_candidates_are_skipped() -> None:
    meta = {
        "properties": {"agreementDate": prop("boolean", "Agreement Date"), "term": prop("number", "Term")}
    }
    got = by_target(meta)
    assert "agreement_date" not in got
    assert "term" not in got  # a number needs a unit the schema does not give


def test_empty_schema_still_maps_attributes() -> None:
    got = by_target({})
    assert {t: s.rule.source for t, s in got.items()} == {
        "title": "name",
        "contract_type": "type",
        "status": "contractStatus.status",
        "last_updated": "lastUpdated",
    }


def test_default_rules_without_metadata_are_valid() -> None:
    targets = [r.target for r in DEFAULT_RULES_WITHOUT_METADATA]
    assert len(targets) == len(set(targets))
    assert validate_mapping(list(DEFAULT_RULES_WITHOUT_METADATA)) == []
    for needed in (
        "title",
        "counterparty_name",
        "agreement_date",
        "expiration_date",
        "contract_value",
        "status",
    ):
        assert needed in targets
