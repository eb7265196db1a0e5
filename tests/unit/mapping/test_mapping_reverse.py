"""Write-back: mapped fields to Ironclad PATCH bodies, and round trips."""

from __future__ import annotations

from typing import Any

from contracts_common.mapping import MappingRule, apply_mapping, reverse_fields, suggest_mapping


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


MONEY_ID = "monetaryAmount_6372fcf6-8ef8-4cf8-8ec1-c53d7ff7a8e6_monetaryAmount"
NUMBER_ID = "number_6372fcf6-8ef8-4cf8-8ec1-c53d7ff7a8e6_number"
DURATION_ID = "duration_6372fcf6-8ef8-4cf8-8ec1-c53d7ff7a8e6_duration"
ADDRESS_ID = "address_6372fcf6-8ef8-4cf8-8ec1-c53d7ff7a8e6_address"
BOOL_ID = "yesNoQuestion_6372fcf6-8ef8-4cf8-8ec1-c53d7ff7a8e6_boolean"
TEXT_ID = "shortResponseText_6372fcf6-8ef8-4cf8-8ec1-c53d7ff7a8e6_string"


def rules(*specs: dict[str, Any]) -> list[MappingRule]:
    return [MappingRule.model_validate(s) for s in specs]


def record_from(patch_body: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = record()
    rec["properties"] = dict(patch_body.get("addProperties", {}))
    if "name" in patch_body:
        rec["name"] = patch_body["name"]
    return rec


def test_patch_body(metadata: dict[str, Any]) -> None:
    mapping = rules(
        {"source": "name", "target": "title"},
        {"source": "type", "target": "contract_type"},
        {"source": "properties.agreementDate", "target": "agreement_date"},
        {"source": f"properties.{MONEY_ID}", "target": "contract_value"},
        {"source": "properties.standard_initialTermLength", "target": "term"},
        {"source": "properties.expirationDate", "target": "expiration_date"},
        {"source": "properties.contractOwner", "target": "owner_email"},
        {"source": f"properties.{ADDRESS_ID}", "target": "counterparty_address"},
        {"source": "properties.signedCopy", "target": "notes"},
        {
            "source": "properties.governingLaw",
            "target": "governing_law",
            "transform": {"kind": "case", "mode": "upper"},
        },
        {"source": "properties.nope", "target": "department"},
    )
    fields = {
        "title": "New title",
        "contract_type": "nda",
        "agreement_date": "2018-05-08",
        "contract_value": {"amount": "150000.55", "currency": "USD"},
        "term": "P1Y6M",
        "expiration_date": None,
        "owner_email": "Owner@Example.com",
        "counterparty_address": {
            "lines": ["1 Main St"],
            "locality": "Springfield",
            "region": None,
            "postcode": None,
            "country": "US",
            "raw": None,
        },
        "notes": "x",
        "governing_law": "DELAWARE",
        "department": "Legal",
        "not_mapped": 1,
    }
    patch = reverse_fields(fields, mapping, metadata)
    assert patch.body() == {
        "name": "New title",
        "addProperties": {
            "agreementDate": {"type": "date", "value": "2018-05-08T00:00:00Z"},
            MONEY_ID: {"type": "monetary_amount", "value": {"amount": 150000.55, "currency": "USD"}},
            "standard_initialTermLength": {"type": "duration", "value": "P1Y6M"},
            "contractOwner": {"type": "email", "value": "owner@example.com"},
            ADDRESS_ID: {
                "type": "address",
                "value": {"lines": ["1 Main St"], "locality": "Springfield", "country": "US"},
            },
        },
        "removeProperties": ["expirationDate"],
    }
    skipped = {s.target: s.reason for s in patch.skipped}
    assert set(skipped) == {"contract_type", "notes", "governing_law", "department"}
    assert "set by Ironclad" in skipped["contract_type"]
    assert "document" in skipped["notes"]
    assert "case" in skipped["governing_law"]
    assert "not in the Ironclad schema" in skipped["department"]


def test_money_amount_keeps_its_decimals(metadata: dict[str, Any]) -> None:
    mapping = rules({"source": f"properties.{MONEY_ID}", "target": "contract_value"})
    patch = reverse_fields({"contract_value": {"amount": "150000.55", "currency": "USD"}}, mapping, metadata)
    amount = patch.add_properties[MONEY_ID]["value"]["amount"]
    assert repr(amount) == "150000.55"
    import json

    assert json.dumps(amount) == "150000.55"


def test_reverse_transforms(metadata: dict[str, Any]) -> None:
    mapping = rules(
        {
            "source": f"properties.{NUMBER_ID}",
            "target": "contract_value",
            "transform": {"kind": "money", "currency": "EUR"},
        },
        {"source": f"properties.{DURATION_ID}", "target": "term"},
        {
            "source": f"properties.{TEXT_ID}",
            "target": "tags",
            "transform": {"kind": "split", "separator": ";"},
        },
        {
            "source": "properties.standard_contractSide",
            "target": "business_relationship",
            "transform": {"kind": "enum_map", "values": {"Vendor": "supplier", "Customer": "client"}},
        },
        {"source": f"properties.{BOOL_ID}", "target": "auto_renew"},
        {
            "source": "properties.governingLaw",
            "target": "renewal_date",
            "transform": {"kind": "date", "format": "%d/%m/%Y"},
        },
        {"source": "properties.venue", "target": "renewal_opt_out_date", "transform": "date"},
        {
            "source": "properties.counterpartySigner",
            "target": "counterparty_signer_email",
            "transform": "email",
        },
        {
            "source": "properties.standard_renewalsAllowed",
            "target": "renewal_term",
            "transform": {"kind": "duration", "unit": "months"},
        },
        {
            "source": "properties.counterpartySignerTitle",
            "target": "counterparty_address",
            "transform": "address",
        },
    )
    fields: dict[str, Any] = {
        "contract_value": {"amount": "12.5", "currency": "EUR"},
        "term": "P30D",
        "tags": ["a", "b"],
        "business_relationship": "client",
        "auto_renew": False,
        "renewal_date": "2018-05-08",
        "renewal_opt_out_date": "2018-05-09",
        "counterparty_signer_email": "a@b.co",
        "renewal_term": "P12M",
        "counterparty_address": {
            "lines": ["1 Main St", "Town"],
            "locality": None,
            "region": None,
            "postcode": None,
            "country": None,
            "raw": None,
        },
    }
    patch = reverse_fields(fields, mapping, metadata)
    assert patch.skipped == []
    values = {k: v["value"] for k, v in patch.add_properties.items()}
    assert values == {
        NUMBER_ID: 12.5,
        DURATION_ID: "P30D",
        TEXT_ID: "a;b",
        "standard_contractSide": "Customer",
        BOOL_ID: False,
        "governingLaw": "08/05/2018",
        "venue": "2018-05-09",
        "counterpartySigner": "a@b.co",
        "standard_renewalsAllowed": 12,
        "counterpartySignerTitle": "1 Main St\nTown",
    }
    # Forward again gives the same fields (an address written as text comes back with its ``raw``).
    again = apply_mapping(record_from(patch.body()), mapping).fields
    assert again.pop("counterparty_address") == {
        **fields.pop("counterparty_address"),
        "raw": "1 Main St\nTown",
    }
    assert again == fields


def test_not_reversible(metadata: dict[str, Any]) -> None:
    mapping = rules(
        {
            "source": "properties.standard_contractSide",
            "target": "business_relationship",
            "transform": {"kind": "enum_map", "values": {"Vendor": "other", "Partner": "other"}},
        },
        {
            "source": f"properties.{NUMBER_ID}",
            "target": "contract_value",
            "transform": {"kind": "money", "currency": "EUR"},
        },
        {
            "source": "properties.standard_renewalsAllowed",
            "target": "renewal_term",
            "transform": {"kind": "duration", "unit": "months"},
        },
        {
            "source": "properties.venue",
            "target": "department",
            "transform": {"kind": "enum_map", "values": {"a": "b"}},
        },
        {"source": "id", "target": "notes"},
        {"source": "name", "target": "title"},
        {
            "source": f"properties.{TEXT_ID}",
            "target": "tags",
            "transform": {"kind": "split", "separator": ";"},
        },
        {"source": "properties.entity_reference", "target": "counterparty_name"},
    )
    fields = {
        "business_relationship": "other",
        "contract_value": {"amount": "1", "currency": "USD"},  # not the rule's currency
        "renewal_term": "P1Y",  # not a whole number of months
        "department": "zzz",  # not a value of the map
        "notes": "x",
        "title": None,  # a name cannot be removed
        "tags": ["a;b"],  # contains the separator
        "counterparty_name": "Acme",  # references cannot be written
    }
    patch = reverse_fields(fields, mapping, metadata)
    assert patch.body() == {}
    assert [s.target for s in patch.skipped] == list(fields)
    assert "both" in patch.skipped[0].reason


def test_round_trip_with_suggested_mapping(metadata: dict[str, Any]) -> None:
    mapping = [s.rule for s in suggest_mapping(metadata)]
    rec = record(
        counterpartyName=("string", "Acme"),
        agreementDate=("date", "2018-05-08T00:00:00-07:00"),
        expirationDate=("date", "2024-12-31T00:00:00+02:00"),
        standard_initialTermLength=("duration", "p1y0m2w"),
        contractValue=("monetary_amount", {"amount": 150000.55, "currency": "USD"}),
        contractOwner=("email", " Owner@X.com"),
        counterpartyAddress=("address", {"lines": ["1 Main St"], "locality": "Springfield", "country": "US"}),
        standard_contractSide=("string", "Vendor"),
        standard_renewalsAllowed=("number", 3),
    )
    fields = apply_mapping(rec, mapping).fields
    patch = reverse_fields(fields, mapping, metadata)
    assert patch.add_properties["agreementDate"]["value"] == "2018-05-08T00:00:00Z"
    again = apply_mapping(record_from(patch.body()), mapping).fields
    writable = {k: v for k, v in fields.items() if k not in {s.target for s in patch.skipped}}
    assert {k: again[k] for k in writable} == writable
