"""Record validation, writes (create / replace / patch) and rendering to Ironclad's `RecordModel` JSON.

One file on purpose: Ironclad's record rules (validation, properties, attachments, listing order), as
ironclad-api.md states them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ironclad_simulator.clock import parse_iso
from ironclad_simulator.errors import ApiError, invalid, missing, not_found
from ironclad_simulator.schema import WRITABLE_TYPES, RecordsSchema
from ironclad_simulator.state import Company, Record, SimulatorState

API_PREFIX = "/public/api/v1"
DURATION_RE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PATCH_KEYS = frozenset(
    {
        "type",
        "name",
        "addProperties",
        "removeProperties",
        "addLinks",
        "removeLinks",
        "setParent",
        "removeParent",
        "addChildren",
        "removeChildren",
        "addPropertiesToAmend",
        "removePropertiesToAmend",
    }
)
CREATE_KEYS = frozenset({"type", "name", "properties", "links", "parent", "children", "propertiesToAmend"})
PARENT_LINK_TYPES = ("amendment", "obligation")


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------
def address_to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        raw = value.get("raw")
        if isinstance(raw, str) and raw:
            return raw
        parts = [*list(value.get("lines") or [])]
        tail = " ".join(str(p) for p in (value.get("region"), value.get("postcode")) if p)
        parts += [str(p) for p in (value.get("locality"), tail, value.get("country")) if p]
        return ", ".join(parts)
    return str(value)


def render_value(prop_type: str, value: Any, address_as_object: bool) -> Any:
    if prop_type == "address":
        if address_as_object:
            return value if isinstance(value, dict) else {"lines": [], "raw": value}
        return address_to_string(value)
    return value


def render_record(
    rec: Record, schema: RecordsSchema, origin: str, address_as_object: bool = False
) -> dict[str, Any]:
    types = schema.prop_types
    props: dict[str, Any] = {}
    for key, value in rec.properties.items():
        ptype = types.get(key, "string")
        props[key] = {"type": ptype, "value": render_value(ptype, value, address_as_object)}
    out: dict[str, Any] = {
        "id": rec.id,
        "ironcladId": rec.ironclad_id,
        "type": rec.type,
        "name": rec.name,
        "lastUpdated": rec.last_updated,
        "properties": props,
        "attachments": {
            key: {
                "filename": att.filename,
                "contentType": att.content_type,
                "href": f"{origin}{API_PREFIX}/records/{rec.id}/attachments/{key}",
            }
            for key, att in rec.attachments.items()
        },
        "links": [{"recordId": rid} for rid in rec.links],
        "childIds": list(rec.child_ids),
    }
    if rec.parent_id is not None:
        out["parentId"] = rec.parent_id
        out["parentLinkType"] = rec.parent_link_type
    if rec.contract_status is not None:
        out["contractStatus"] = rec.contract_status
    if rec.source is not None:
        out["source"] = rec.source
    if rec.amendments:
        out["amendments"] = list(rec.amendments)
    return out


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def validate_value(key: str, ptype: str, value: Any, param: str) -> Any:
    """Check one property value against its schema type; returns the value to store."""

    def bad(expected: str) -> ApiError:
        return invalid(f"invalid value for property {key}: expected {expected}", param)

    if value is None:
        raise bad("a value (use removeProperties to unset a property)")
    if ptype in ("string", "playbookClause"):
        if not isinstance(value, str):
            raise bad("a string")
    elif ptype == "email":
        if not isinstance(value, str) or not EMAIL_RE.match(value):
            raise bad("an email address")
    elif ptype == "number":
        if not _is_number(value):
            raise bad("a number")
    elif ptype == "boolean":
        if not isinstance(value, bool):
            raise bad("a boolean")
    elif ptype == "date":
        if not isinstance(value, str):
            raise bad("an ISO 8601 date-time string")
        try:
            parse_iso(value)
        except ValueError:
            raise bad("an ISO 8601 date-time string") from None
    elif ptype == "duration":
        if not isinstance(value, str) or not DURATION_RE.match(value):
            raise bad("an ISO 8601 duration")
    elif ptype == "monetary_amount":
        if (
            not isinstance(value, dict)
            or not _is_number(value.get("amount"))
            or not isinstance(value.get("currency"), str)
            or not re.fullmatch(r"[A-Z]{3}", value["currency"])
        ):
            raise bad("an object {amount: number, currency: ISO 4217 code}")
        value = {"amount": value["amount"], "currency": value["currency"]}
    elif ptype == "address":
        if isinstance(value, dict):
            lines = value.get("lines", [])
            if not isinstance(lines, list) or len(lines) > 4:
                raise bad("an address object with at most 4 lines")
        elif not isinstance(value, str):
            raise bad("an address")
    elif ptype == "array":
        if not isinstance(value, list) or not value:
            raise bad("a non-empty array")
    elif ptype == "reference":
        if not isinstance(value, dict) or not isinstance(value.get("recordId"), str):
            raise bad("a reference object {recordId}")
    elif ptype == "clause" and not isinstance(value, dict):
        raise bad("a clause object")
    return value


def validate_properties(schema: RecordsSchema, props: Any, param_prefix: str) -> dict[str, Any]:
    """Validate a `{key: {type, value}}` map; returns `{key: value}`."""
    if not isinstance(props, dict):
        raise invalid(f"{param_prefix} must be an object", param_prefix)
    out: dict[str, Any] = {}
    for key, wrapper in props.items():
        param = f"{param_prefix}.{key}"
        ptype = schema.prop_types.get(key)
        if ptype is None:
            raise invalid(f"unknown property {key}", param)
        if ptype not in WRITABLE_TYPES:
            raise invalid(f"property {key} of type {ptype} cannot be set through properties", param)
        if not isinstance(wrapper, dict) or "value" not in wrapper:
            raise invalid(f"property {key} must be an object with type and value", param)
        given = wrapper.get("type")
        if given is not None and given != ptype:
            raise invalid(f"invalid type {given} for property {key}; expected {ptype}", param)
        out[key] = validate_value(key, ptype, wrapper["value"], param)
    return out


def agreement_ts(props: dict[str, Any]) -> float | None:
    v = props.get("agreementDate")
    if isinstance(v, str):
        try:
            return parse_iso(v)
        except ValueError:
            return None
    return None


def _record_ref(company: Company, ref: Any, param: str) -> Record:
    if not isinstance(ref, dict) or not isinstance(ref.get("recordId"), str):
        raise invalid(f"{param} must be an object with a recordId", param)
    rec = company.records.get(ref["recordId"])
    if rec is None:
        raise invalid(f"couldn't find a record matching the id {ref['recordId']}", f"{param}.recordId")
    return rec


def _ref_list(company: Company, refs: Any, param: str) -> list[Record]:
    if not isinstance(refs, list):
        raise invalid(f"{param} must be an array", param)
    return [_record_ref(company, r, f"{param}[{i}]") for i, r in enumerate(refs)]


# --------------------------------------------------------------------------------------------------
# Relationship helpers
# --------------------------------------------------------------------------------------------------
def _touch(state: SimulatorState, company: Company, rec: Record) -> None:
    rec.last_updated, rec.last_updated_ts = state.next_timestamp()
    company.records.put(rec)


def set_parent(
    state: SimulatorState, company: Company, child: Record, parent: Record, link_type: str
) -> None:
    if parent.id == child.id:
        raise invalid("a record cannot be its own parent", "setParent.recordId")
    if child.parent_id is not None and child.parent_id != parent.id:
        remove_parent(state, company, child)
    child.parent_id = parent.id
    child.parent_link_type = link_type
    changed = False
    if child.id not in parent.child_ids:
        parent.child_ids.append(child.id)
        changed = True
    if link_type == "amendment" and child.ironclad_id not in parent.amendments:
        parent.amendments.append(child.ironclad_id)
        changed = True
    if changed:
        _touch(state, company, parent)


def remove_parent(state: SimulatorState, company: Company, child: Record) -> None:
    if child.parent_id is None:
        return
    parent = company.records.get(child.parent_id)
    child.parent_id = None
    child.parent_link_type = None
    if parent is not None:
        if child.id in parent.child_ids:
            parent.child_ids.remove(child.id)
        if child.ironclad_id in parent.amendments:
            parent.amendments.remove(child.ironclad_id)
        _touch(state, company, parent)


def _parse_parent(company: Company, body: Any, param: str) -> tuple[Record, str]:
    parent = _record_ref(company, body, param)
    link_type = body.get("parentLinkType", "amendment")
    if link_type not in PARENT_LINK_TYPES:
        raise invalid(f"invalid parentLinkType {link_type}", f"{param}.parentLinkType")
    return parent, str(link_type)


# --------------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------------
def _check_body(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    for key in body:
        if key not in allowed:
            raise invalid(f"unknown parameter {key}", key)
    return body


def _check_core(schema: RecordsSchema, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    for req in ("type", "name", "properties"):
        if req not in body:
            raise missing(req)
    rtype, name = body["type"], body["name"]
    if not isinstance(rtype, str) or rtype not in schema.record_types:
        raise invalid(f"unknown record type {rtype}", "type")
    if not isinstance(name, str) or not name.strip():
        raise invalid("name must be a non-empty string", "name")
    props = validate_properties(schema, body["properties"], "properties")
    return rtype, name, props


def create_record(state: SimulatorState, company: Company, body: Any) -> Record:
    body = _check_body(body, CREATE_KEYS)
    rtype, name, props = _check_core(state.schema, body)
    links = _ref_list(company, body.get("links", []), "links")
    children = _ref_list(company, body.get("children", []), "children")
    parent = _parse_parent(company, body["parent"], "parent") if body.get("parent") is not None else None
    num, ic = company.records.allocate_ic()
    ts, tsf = state.next_timestamp()
    rec = Record(
        id=str(uuid.uuid4()),
        ironclad_id=ic,
        ic_num=num,
        type=rtype,
        name=name,
        last_updated=ts,
        last_updated_ts=tsf,
        properties=props,
        links=[r.id for r in links],
        agreement_ts=agreement_ts(props),
    )
    if isinstance(body.get("propertiesToAmend"), dict):
        rec.properties_to_amend = dict(body["propertiesToAmend"])
    company.records.put(rec)
    if parent is not None:
        set_parent(state, company, rec, parent[0], parent[1])
    for child in children:
        set_parent(state, company, child, rec, "amendment")
    if parent is not None or children:
        _touch(state, company, rec)
    return rec


def replace_record(state: SimulatorState, company: Company, rec: Record, body: Any) -> Record:
    body = _check_body(body, CREATE_KEYS)
    rtype, name, props = _check_core(state.schema, body)
    links = _ref_list(company, body.get("links", []), "links")
    rec.type, rec.name, rec.properties = rtype, name, props
    rec.agreement_ts = agreement_ts(props)
    rec.links = [r.id for r in links]
    if body.get("parent") is not None:
        parent, link_type = _parse_parent(company, body["parent"], "parent")
        set_parent(state, company, rec, parent, link_type)
    for child in _ref_list(company, body.get("children", []), "children"):
        set_parent(state, company, child, rec, "amendment")
    _touch(state, company, rec)
    return rec


def patch_record(state: SimulatorState, company: Company, rec: Record, body: Any) -> Record:
    body = _check_body(body, PATCH_KEYS)
    schema = state.schema
    # Validate everything before mutating anything.
    new_type = body.get("type")
    if new_type is not None and new_type not in schema.record_types:
        raise invalid(f"unknown record type {new_type}", "type")
    new_name = body.get("name")
    if new_name is not None and (not isinstance(new_name, str) or not new_name.strip()):
        raise invalid("name must be a non-empty string", "name")
    add_props = validate_properties(schema, body.get("addProperties", {}), "addProperties")
    remove_props = body.get("removeProperties", [])
    if not isinstance(remove_props, list) or not all(isinstance(k, str) for k in remove_props):
        raise invalid("removeProperties must be an array of property ids", "removeProperties")
    for key in remove_props:
        if key not in schema.prop_types:
            raise invalid(f"unknown property {key}", f"removeProperties.{key}")
    add_links = _ref_list(company, body.get("addLinks", []), "addLinks")
    remove_links = _ref_list(company, body.get("removeLinks", []), "removeLinks")
    add_children = _ref_list(company, body.get("addChildren", []), "addChildren")
    remove_children = _ref_list(company, body.get("removeChildren", []), "removeChildren")
    new_parent = None
    if body.get("setParent") is not None:
        new_parent = _parse_parent(company, body["setParent"], "setParent")
    remove_parent_flag = body.get("removeParent", False)
    if not isinstance(remove_parent_flag, bool):
        raise invalid("removeParent must be a boolean", "removeParent")
    amend_add = body.get("addPropertiesToAmend")
    if amend_add is not None and not isinstance(amend_add, dict):
        raise invalid("addPropertiesToAmend must be an object", "addPropertiesToAmend")
    amend_remove = body.get("removePropertiesToAmend")
    if amend_remove is not None and not isinstance(amend_remove, list):
        raise invalid("removePropertiesToAmend must be an array", "removePropertiesToAmend")

    if new_type is not None:
        rec.type = new_type
    if new_name is not None:
        rec.name = new_name
    for key in remove_props:
        rec.properties.pop(key, None)
    rec.properties.update(add_props)
    rec.agreement_ts = agreement_ts(rec.properties)
    for other in add_links:
        if other.id not in rec.links:
            rec.links.append(other.id)
    for other in remove_links:
        if other.id in rec.links:
            rec.links.remove(other.id)
    if remove_parent_flag:
        remove_parent(state, company, rec)
    if new_parent is not None:
        set_parent(state, company, rec, new_parent[0], new_parent[1])
    for child in add_children:
        set_parent(state, company, child, rec, "amendment")
    for child in remove_children:
        if child.parent_id == rec.id:
            remove_parent(state, company, child)
    if amend_add:
        rec.properties_to_amend = {**(rec.properties_to_amend or {}), **amend_add}
    if amend_remove and rec.properties_to_amend:
        for key in amend_remove:
            rec.properties_to_amend.pop(key, None)
    _touch(state, company, rec)
    return rec


def delete_record(state: SimulatorState, company: Company, rec: Record) -> None:
    if rec.parent_id is not None:
        remove_parent(state, company, rec)
    for cid in list(rec.child_ids):
        child = company.records.get(cid)
        if child is not None:
            child.parent_id = None
            child.parent_link_type = None
            _touch(state, company, child)
    company.records.remove(rec)


def get_record_or_404(company: Company, ident: str) -> Record:
    rec = company.records.get(ident)
    if rec is None:
        raise not_found("not found")
    return rec


def sim_edit_record(state: SimulatorState, company: Company, rec: Record, body: dict[str, Any]) -> Record:
    """Control-API edit: `{name?, set_properties?, remove_properties?}`; values may be bare or wrapped."""
    schema = state.schema
    set_props = body.get("set_properties") or {}
    if not isinstance(set_props, dict):
        raise invalid("set_properties must be an object", "set_properties")
    wrapped = {
        k: (v if isinstance(v, dict) and "value" in v and set(v) <= {"type", "value"} else {"value": v})
        for k, v in set_props.items()
    }
    patch: dict[str, Any] = {"addProperties": wrapped}
    if body.get("remove_properties"):
        patch["removeProperties"] = body["remove_properties"]
    if body.get("name") is not None:
        patch["name"] = body["name"]
    if body.get("type") is not None:
        patch["type"] = body["type"]
    del schema
    return patch_record(state, company, rec, patch)
