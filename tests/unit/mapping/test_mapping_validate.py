"""Targets, sources and mapping validation (every RuleError code)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts_common.mapping import (
    BUILTIN_TARGET_FIELDS,
    InvalidTargetFieldsError,
    Mapping,
    MappingRule,
    SourceField,
    TargetField,
    TargetType,
    source_fields,
    target_fields,
    validate_mapping,
)

AGREEMENT = "properties.agreementDate"
NUMBER = "properties.number_6372fcf6-8ef8-4cf8-8ec1-c53d7ff7a8e6_number"
MONEY = "properties.monetaryAmount_6372fcf6-8ef8-4cf8-8ec1-c53d7ff7a8e6_monetaryAmount"


@pytest.fixture(scope="module")
def sources(metadata: dict[str, Any]) -> list[SourceField]:
    return source_fields(metadata)


def codes(
    rules: list[Any], sources: list[SourceField] | None = None, targets: Any = BUILTIN_TARGET_FIELDS
) -> list[tuple[int, str]]:
    return [(e.index, e.code) for e in validate_mapping(rules, targets, sources)]


# ------------------------------------------------------------------ targets


def test_builtin_targets() -> None:
    names = [f.name for f in BUILTIN_TARGET_FIELDS]
    for required in [
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
    ]:
        assert required in names
    assert len(names) == len(set(names))
    types = {f.name: f.type for f in BUILTIN_TARGET_FIELDS}
    assert types["contract_value"] is TargetType.MONEY
    assert types["term"] is TargetType.DURATION
    assert types["tags"] is TargetType.STRING_LIST
    assert all(not f.custom for f in BUILTIN_TARGET_FIELDS)


def test_custom_targets() -> None:
    custom = [
        TargetField(name="po_number", type=TargetType.STRING),
        TargetField(name="risk", type=TargetType.ENUM, options=("low", "high")),
    ]
    fields = target_fields(custom)
    assert fields[-2].name == "po_number"
    assert fields[-1].custom
    with pytest.raises(InvalidTargetFieldsError, match="title"):
        target_fields([TargetField(name="title", type=TargetType.STRING)])
    with pytest.raises(InvalidTargetFieldsError, match="more than once"):
        target_fields(
            [TargetField(name="x", type=TargetType.STRING), TargetField(name="x", type=TargetType.DATE)]
        )
    with pytest.raises(InvalidTargetFieldsError, match="options"):
        target_fields([TargetField(name="x", type=TargetType.STRING, options=("a",))])
    for bad in ("PO Number", "poNumber", "_x", "x__y", ""):
        with pytest.raises(ValidationError):
            TargetField(name=bad, type=TargetType.STRING)


# ------------------------------------------------------------------ sources


def test_source_fields_of_recorded_schema(metadata: dict[str, Any], sources: list[SourceField]) -> None:
    by_name = {s.name: s for s in sources}
    attributes = [s.name for s in sources if s.is_attribute]
    assert attributes == ["name", "type", "lastUpdated", "contractStatus.status", "ironcladId", "id"]
    props = [s for s in sources if not s.is_attribute]
    documents = [k for k, v in metadata["properties"].items() if v["type"] == "document"]
    assert sorted(documents) == ["fileAttachment", "signedCopy"]
    assert len(props) == 118 - len(documents)
    assert "properties.signedCopy" not in by_name
    side = by_name["properties.standard_contractSide"]
    assert side.options == ("Vendor", "Partner", "Customer", "Other")
    assert side.ironclad_type == "string"
    assert by_name[MONEY].ironclad_type == "monetary_amount"
    assert by_name[AGREEMENT].tags == ("purpose:agreementDate",)
    assert by_name["type"].options == ("counterpartyPaperType1", "counterpartyPaperType2", "everyFieldType")
    assert by_name["properties.entity_reference"].ironclad_type == "reference"


def test_source_fields_tolerates_odd_schemas() -> None:
    assert [s.name for s in source_fields({})] == [
        "name",
        "type",
        "lastUpdated",
        "contractStatus.status",
        "ironcladId",
        "id",
    ]
    odd = {
        "properties": {"a": "x", "b": {"displayName": "B"}, "c": {"type": "string", "recordTypes": ["nda"]}}
    }
    props = [s for s in source_fields(odd) if not s.is_attribute]
    assert [(p.name, p.display_name, p.record_types) for p in props] == [("properties.c", "c", ("nda",))]


# ------------------------------------------------------------------ rules


def test_rule_model() -> None:
    rule = MappingRule.model_validate(
        {"source": "name", "target": "title", "transform": ["trim", {"kind": "case", "mode": "title"}]}
    )
    assert [t.kind for t in rule.transforms()] == ["trim", "case"]
    with pytest.raises(ValidationError):
        MappingRule.model_validate({"source": "name", "target": "title", "typo": 1})
    mapping = Mapping.model_validate({"version": 3, "rules": [{"source": "name", "target": "title"}]})
    assert mapping.rules[0].transform is None
    assert MappingRule.model_validate(rule.model_dump(mode="json")) == rule


def test_valid_mapping(sources: list[SourceField]) -> None:
    rules: list[Any] = [
        {"source": "name", "target": "title", "transform": "trim"},
        {"source": AGREEMENT, "target": "agreement_date"},
        {"source": AGREEMENT, "target": "last_updated"},  # date -> datetime directly
        {"source": MONEY, "target": "contract_value", "default": {"amount": 0, "currency": "USD"}},
        {"source": NUMBER, "target": "renewal_term", "transform": {"kind": "duration", "unit": "months"}},
        {"source": "properties.standard_contractSide", "target": "business_relationship"},
        {"source": "properties.governingLaw", "target": "tags", "transform": "split"},
        {
            "source": "properties.singleSelectDropdown_6372fcf6-8ef8-4cf8-8ec1-c53d7ff7a8e6_string",
            "target": "notes",
            "transform": {"kind": "join"},
        },
        {"source": "contractStatus.status", "target": "status"},
    ]
    assert validate_mapping(rules, BUILTIN_TARGET_FIELDS, sources) == []
    assert validate_mapping(Mapping.model_validate({"rules": rules}), BUILTIN_TARGET_FIELDS, sources) == []


def test_unknown_target() -> None:
    errors = validate_mapping([{"source": "name", "target": "titel"}])
    assert [(e.index, e.code, e.target) for e in errors] == [(0, "UNKNOWN_TARGET", "titel")]
    assert "'title'" in errors[0].message  # did-you-mean


def test_duplicate_target() -> None:
    rules = [
        {"source": "name", "target": "title"},
        {"source": "id", "target": "counterparty_name"},
        {"source": "ironcladId", "target": "title"},
    ]
    errors = validate_mapping(rules)
    assert [(e.index, e.code) for e in errors] == [(2, "DUPLICATE_TARGET")]
    assert "rule 1" in errors[0].message


def test_type_mismatch(sources: list[SourceField]) -> None:
    rules = [
        {"source": AGREEMENT, "target": "auto_renew"},
        {"source": MONEY, "target": "renewal_date", "transform": "date"},
        {"source": NUMBER, "target": "contract_value", "transform": "money"},  # no currency
        {"source": NUMBER, "target": "term", "transform": "duration"},  # no unit
        {"source": "properties.governingLaw", "target": "agreement_date"},  # text without transform
        {"source": "properties.venue", "target": "executed_date", "transform": "trim"},  # chain ends in text
        {"source": "properties.entity_reference", "target": "notes"},
        {"source": "lastUpdated", "target": "owner_email"},  # attribute types known without a schema
        {"source": "properties.entity_references", "target": "department", "transform": "join"},  # references
    ]
    assert codes(rules, sources) == [(i, "TYPE_MISMATCH") for i in range(9)]
    msg = validate_mapping(rules[4:5], BUILTIN_TARGET_FIELDS, sources)[0].message
    assert "'date'" in msg  # suggests the transform
    # Without a schema only attributes are checked.
    assert codes(rules[4:5]) == []
    assert codes(rules[7:8]) == [(0, "TYPE_MISMATCH")]


def test_unknown_and_invalid_source(sources: list[SourceField]) -> None:
    rules = [
        {"source": "properties.nope", "target": "title"},
        {"source": "properties.signedCopy", "target": "notes"},  # a document
        {"source": "foo", "target": "counterparty_name"},
        {"source": "properties.", "target": "department"},
    ]
    assert codes(rules, sources) == [
        (0, "UNKNOWN_SOURCE"),
        (1, "UNKNOWN_SOURCE"),
        (2, "INVALID_SOURCE"),
        (3, "INVALID_SOURCE"),
    ]
    # UNKNOWN_SOURCE only when the schema is known.
    assert codes(rules) == [(2, "INVALID_SOURCE"), (3, "INVALID_SOURCE")]


def test_invalid_transform() -> None:
    rules: list[Any] = [
        {"source": "name", "target": "title", "transform": {"kind": "shout"}},
        {"source": "name", "target": "notes", "transform": [{"kind": "trim"}, {"kind": "case"}]},
        {"source": "name", "target": "tags", "transform": {"kind": "enum_map", "values": {"a": 1, "b": "x"}}},
        {"source": "name", "target": "agreement_date", "transform": {"kind": "date", "format": "nope"}},
        {"source": "name", "target": "counterparty_name", "transform": {"kind": "trim", "x": 1}},
    ]
    errors = validate_mapping(rules)
    assert [(e.index, e.code) for e in errors] == [(i, "INVALID_TRANSFORM") for i in range(5)]
    assert "transform 2 (case)" in errors[1].message
    assert "mode" in errors[1].message


def test_enum_map_into_enum_with_options() -> None:
    targets = target_fields([TargetField(name="risk", type=TargetType.ENUM, options=("low", "high"))])
    ok = {"source": "name", "target": "risk", "transform": {"kind": "enum_map", "values": {"L": "low"}}}
    targets = target_fields(
        [*targets[-1:], TargetField(name="risk2", type=TargetType.ENUM, options=("low",))]
    )
    bad = {"source": "id", "target": "risk2", "transform": {"kind": "enum_map", "values": {"M": "medium"}}}
    assert codes([ok, bad], targets=targets) == [(1, "INVALID_TRANSFORM")]


def test_invalid_default() -> None:
    rules: list[Any] = [
        {"source": "properties.x", "target": "agreement_date", "default": "soon"},
        {"source": "properties.x", "target": "contract_value", "default": 5},  # no currency
        {"source": "properties.x", "target": "title", "default": ""},
        {"source": "properties.x", "target": "tags", "default": []},
        {"source": "properties.x", "target": "auto_renew", "default": "perhaps"},
        {"source": "properties.x", "target": "owner_email", "default": "nobody"},
        {"source": "properties.x", "target": "term", "default": "P1Y"},  # fine
        {"source": "properties.x", "target": "renewal_date", "default": "2030-01-01"},  # fine
    ]
    assert codes(rules) == [(i, "INVALID_DEFAULT") for i in range(6)]


def test_invalid_rule_and_collects_every_problem() -> None:
    rules: list[Any] = [
        {"source": "name"},
        "title",
        {"source": "name", "target": "title", "extra": True},
        {"source": "foo", "target": "nope", "transform": "shout"},
    ]
    got = codes(rules)
    assert got == [
        (0, "INVALID_RULE"),
        (1, "INVALID_RULE"),
        (2, "INVALID_RULE"),
        (3, "INVALID_TRANSFORM"),
        (3, "INVALID_SOURCE"),
        (3, "UNKNOWN_TARGET"),
    ]
    for e in validate_mapping(rules):
        assert e.message.startswith("Rule ")


def test_messages_name_the_rule() -> None:
    errors = validate_mapping([{"source": "name", "target": "title"}, {"source": "id", "target": "bogus"}])
    assert errors[0].message.startswith("Rule 2 ")
    assert errors[0].model_dump() == {
        "index": 1,
        "source": "id",
        "target": "bogus",
        "code": "UNKNOWN_TARGET",
        "message": errors[0].message,
    }
