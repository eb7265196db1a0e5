"""Ironclad source fields: record attributes and the properties of a ``/records/metadata`` schema.

A rule's ``source`` is either a record attribute (:data:`ATTRIBUTE_SOURCES`) or a property id
written ``properties.<propertyId>``. Properties of type ``document`` are attachments, not
fields, and are never sources (nor is anything under the schema's ``attachments``).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ATTRIBUTE_SOURCES",
    "NON_FIELD_TYPES",
    "PROPERTY_PREFIX",
    "SourceField",
    "property_id_of",
    "source_fields",
]

PROPERTY_PREFIX: Final = "properties."

# attribute -> (ironclad-like type, display name). ``enum`` marks a string from a closed set.
ATTRIBUTE_SOURCES: Final[dict[str, tuple[str, str]]] = {
    "name": ("string", "Record name"),
    "type": ("enum", "Record type"),
    "lastUpdated": ("datetime", "Last updated"),
    "contractStatus.status": ("enum", "Contract status"),
    "ironcladId": ("string", "Ironclad ID"),
    "id": ("string", "Record ID"),
}

# Property types that hold no mappable value.
NON_FIELD_TYPES: Final = frozenset({"document"})


class SourceField(BaseModel):
    """One possible rule source.

    ``name`` is what a rule's ``source`` says (``"name"``, ``"properties.agreementDate"``);
    ``ironclad_type`` is the property's Ironclad type (``string``, ``date``, ``monetary_amount``...)
    or, for attributes, ``string``/``enum``/``datetime``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    display_name: str
    ironclad_type: str
    options: tuple[str, ...] | None = None
    record_types: tuple[str, ...] | None = None
    is_attribute: bool = False
    property_id: str | None = None
    tags: tuple[str, ...] = ()
    multi_select: bool = False
    full_type_name: str | None = None


def property_id_of(source: str) -> str | None:
    """``"agreementDate"`` for ``"properties.agreementDate"``, else None."""
    if source.startswith(PROPERTY_PREFIX) and len(source) > len(PROPERTY_PREFIX):
        return source[len(PROPERTY_PREFIX) :]
    return None


def _options(spec: dict[str, Any]) -> tuple[str, ...] | None:
    ic = spec.get("ironcladType")
    if not isinstance(ic, dict):
        return None
    for holder in (ic, ic.get("optionType"), ic.get("elementType")):
        if isinstance(holder, dict) and isinstance(holder.get("options"), list):
            values = [o.get("value") if isinstance(o, dict) else o for o in holder["options"]]
            return tuple(str(v) for v in values if v is not None)
    return None


def _record_types(spec: dict[str, Any]) -> tuple[str, ...] | None:
    for key in ("recordTypes", "recordTypeIds", "recordTypeKeys"):
        value = spec.get(key)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    return None


def source_fields(metadata: dict[str, Any]) -> list[SourceField]:
    """Attributes, then the schema's properties (sorted by id), without ``document`` properties.

    ``record_types`` of the ``type`` attribute are the schema's record types; for a property they
    are filled only when the schema says which record types carry it.
    """
    record_types = metadata.get("recordTypes")
    type_keys = tuple(sorted(record_types)) if isinstance(record_types, dict) else None
    out: list[SourceField] = []
    for attr, (ic_type, display) in ATTRIBUTE_SOURCES.items():
        out.append(
            SourceField(
                name=attr,
                display_name=display,
                ironclad_type=ic_type,
                options=type_keys if attr == "type" else None,
                is_attribute=True,
            )
        )
    properties = metadata.get("properties")
    if not isinstance(properties, dict):
        return out
    for prop_id in sorted(properties):
        spec = properties[prop_id]
        if not isinstance(spec, dict):
            continue
        ic_type_raw = spec.get("type")
        if not isinstance(ic_type_raw, str) or ic_type_raw in NON_FIELD_TYPES:
            continue
        tags = spec.get("tags")
        display_raw = spec.get("displayName")
        out.append(
            SourceField(
                name=PROPERTY_PREFIX + prop_id,
                display_name=display_raw if isinstance(display_raw, str) and display_raw else prop_id,
                ironclad_type=ic_type_raw,
                options=_options(spec),
                record_types=_record_types(spec),
                property_id=prop_id,
                tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
                multi_select=spec.get("picklistSelectionType") == "multi-select",
                full_type_name=spec.get("fullTypeName")
                if isinstance(spec.get("fullTypeName"), str)
                else None,
            )
        )
    return out
