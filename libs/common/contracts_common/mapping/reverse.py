"""Write-back: mapped fields to an Ironclad ``PATCH /records/{id}`` body.

Each rule is undone: its transforms in reverse order, then the value is shaped for the property's
Ironclad type taken from ``/records/metadata``. Dates go back as ``YYYY-MM-DDT00:00:00Z``
(date-times as their UTC ``...Z`` text), money as ``{amount: number, currency}``, durations as ISO
strings, addresses as ``{lines, locality, region, postcode, country, raw}`` (parts that are set).
A field set to ``None`` removes the property. What cannot be written is listed in ``skipped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .compat import source_kind, target_coercer
from .convert import (
    ConversionError,
    coerce_boolean,
    coerce_datetime,
    coerce_duration,
    coerce_email,
    coerce_money,
    coerce_number,
    coerce_string_list,
    decimal_to_json_number,
    describe_type,
    format_decimal,
    parse_decimal,
)
from .rules import Mapping, MappingRule
from .sources import ATTRIBUTE_SOURCES, NON_FIELD_TYPES, property_id_of, source_fields
from .targets import BUILTIN_TARGET_FIELDS, TargetField
from .transforms import NotReversibleError, address_text, chain_kinds

__all__ = ["ReversePatch", "SkippedField", "reverse_fields", "to_ironclad_value"]


class SkippedField(BaseModel):
    """A mapped field that write-back leaves alone, and why."""

    model_config = ConfigDict(frozen=True)

    target: str
    source: str
    reason: str


class ReversePatch(BaseModel):
    """The parts of an Ironclad PATCH body; :meth:`body` gives the JSON to send."""

    name: str | None = None
    add_properties: dict[str, dict[str, Any]] = Field(default_factory=dict)
    remove_properties: list[str] = Field(default_factory=list)
    skipped: list[SkippedField] = Field(default_factory=list)

    def body(self) -> dict[str, Any]:
        """``{name?, addProperties?, removeProperties?}`` with only the non-empty parts."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.add_properties:
            out["addProperties"] = self.add_properties
        if self.remove_properties:
            out["removeProperties"] = self.remove_properties
        return out


def _money_out(value: Any) -> dict[str, Any]:
    money = coerce_money(value)
    return {"amount": decimal_to_json_number(Decimal(money["amount"])), "currency": money["currency"]}


def _address_out(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        lines = [ln.strip() for ln in value.splitlines() if ln.strip()]
        return {"lines": [*lines[:3], ", ".join(lines[3:])] if len(lines) > 4 else lines}
    if not isinstance(value, dict):
        raise ConversionError(f"expected an address, got {describe_type(value)}")
    lines = [str(x) for x in value.get("lines") or []]
    if len(lines) > 4:
        lines = [*lines[:3], ", ".join(lines[3:])]
    out: dict[str, Any] = {"lines": lines}
    for key in ("locality", "region", "postcode", "country", "raw"):
        if value.get(key) is not None:
            out[key] = value[key]
    return out


def _text_out(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ConversionError("a yes/no value cannot be written to a text property")
    if isinstance(value, int | float | Decimal):
        return format_decimal(parse_decimal(value))
    if isinstance(value, dict) and "amount" in value and "currency" in value:
        return f"{value['currency']} {value['amount']}"
    if isinstance(value, dict):
        return address_text(value)
    if isinstance(value, list):
        return ", ".join(_text_out(v) for v in value)
    raise ConversionError(f"cannot write {describe_type(value)} as text")


def _date_out(value: Any) -> str:
    return coerce_datetime(value)  # YYYY-MM-DD -> YYYY-MM-DDT00:00:00Z; date-times -> UTC ...Z


def to_ironclad_value(value: Any, ironclad_type: str) -> Any:
    """``value`` shaped as Ironclad's ``value`` for a property of ``ironclad_type``."""
    if ironclad_type in ("string", "playbookClause"):
        return _text_out(value)
    if ironclad_type == "number":
        return coerce_number(value)
    if ironclad_type == "boolean":
        return coerce_boolean(value)
    if ironclad_type == "date":
        return _date_out(value)
    if ironclad_type == "duration":
        return coerce_duration(value)
    if ironclad_type == "email":
        return coerce_email(value)
    if ironclad_type == "monetary_amount":
        return _money_out(value)
    if ironclad_type == "address":
        return _address_out(value)
    if ironclad_type == "array":
        return coerce_string_list(value)
    raise NotReversibleError(f"Ironclad properties of type {ironclad_type!r} cannot be written")


def _rules_of(rules: Mapping | Sequence[MappingRule]) -> Sequence[MappingRule]:
    return rules.rules if isinstance(rules, Mapping) else rules


def reverse_fields(
    fields: dict[str, Any],
    rules: Mapping | Sequence[MappingRule],
    metadata: dict[str, Any],
    targets: Sequence[TargetField] = BUILTIN_TARGET_FIELDS,
) -> ReversePatch:
    """The PATCH that writes ``fields`` (mapped values, e.g. edited in Contracts AI) back to Ironclad.

    Only fields present in ``fields`` are written; ``None`` removes the property. The title goes
    to the record ``name`` when its rule reads ``name``; other attributes, unknown or document
    properties, and non-reversible transforms (``case``, a value map sending two values to one)
    are listed in ``skipped``.
    """
    by_target = {t.name: t for t in targets}
    sources = source_fields(metadata)
    by_source = {s.name: s for s in sources}
    props = metadata.get("properties") if isinstance(metadata.get("properties"), dict) else {}
    assert isinstance(props, dict)
    patch = ReversePatch()

    for rule in _rules_of(rules):
        if rule.target not in fields:
            continue
        value = fields[rule.target]

        def skip(reason: str) -> None:
            patch.skipped.append(SkippedField(target=rule.target, source=rule.source, reason=reason))  # noqa: B023

        if rule.source in ATTRIBUTE_SOURCES and rule.source != "name":
            skip(f"the record attribute {rule.source!r} is set by Ironclad and cannot be written")
            continue
        prop_id = property_id_of(rule.source)
        ic_type: str
        if prop_id is None:
            if rule.source != "name":
                skip(f"{rule.source!r} is not a record attribute or property")
                continue
            ic_type = "string"
        else:
            spec = props.get(prop_id)
            if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
                skip(f"the property {prop_id!r} is not in the Ironclad schema")
                continue
            ic_type = spec["type"]
            if ic_type in NON_FIELD_TYPES:
                skip(f"the property {prop_id!r} is a document, not a field")
                continue

        if value is None:
            if prop_id is None:
                skip("a record's name cannot be removed")
            else:
                patch.remove_properties.append(prop_id)
            continue

        field = by_target.get(rule.target)
        transforms = rule.transforms()
        reasons = [r for r in (t.reversible() for t in transforms) if r is not None]
        if field is None:
            skip(f"{rule.target!r} is not a Contracts AI field")
            continue
        if reasons:
            skip(f"the transform cannot be undone: {reasons[0]}")
            continue
        try:
            value = target_coercer(field)(value)
            kinds, bad = chain_kinds(transforms, source_kind(rule.source, by_source))
            if bad is not None:
                skip("the rule's transforms do not fit the property's type")
                continue
            for i in range(len(transforms) - 1, -1, -1):
                value = transforms[i].reverse(value, kinds[i])
            ironclad_value = to_ironclad_value(value, ic_type)
        except NotReversibleError as exc:
            skip(exc.reason)
            continue
        except (ConversionError, ValueError, TypeError, KeyError, AttributeError) as exc:
            skip(f"the value cannot be written as an Ironclad {ic_type}: {exc}")
            continue
        if prop_id is None:
            patch.name = str(ironclad_value)
        else:
            patch.add_properties[prop_id] = {"type": ic_type, "value": ironclad_value}
    return patch
