"""What the gateway (which checks a write-back before queueing it) and the importer (which makes the
Ironclad calls) share: the scope each action needs, the problems either can find with their codes and
sentences, the contract lookup and the attachment keys Ironclad's schema allows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from contracts_common.ironclad.scopes import CREATE_ATTACHMENTS, CREATE_RECORDS, SCOPES, UPDATE_RECORDS
from contracts_common.problems import Problem
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.database import Document

Action = Literal["create_record", "update_record", "upload_document"]


@dataclass(frozen=True)
class ActionNeeds:
    scope: str
    words: str  # "Contracts AI needs to <words> in Ironclad"


ACTIONS: dict[str, ActionNeeds] = {
    "create_record": ActionNeeds(CREATE_RECORDS, "create records"),
    "update_record": ActionNeeds(UPDATE_RECORDS, "update records"),
    "upload_document": ActionNeeds(CREATE_ATTACHMENTS, "upload documents"),
}
# Ironclad's own attachment keys when its schema names no document property.
DEFAULT_ATTACHMENT_KEYS = ("signedCopy", "fileAttachment")


class WritebackProblem(Problem):
    """Why a write-back cannot go on as asked: the gateway answers it with `status`, the importer settles
    the operation as failed with it."""


def scope_missing(action: str, *, ironclad: str | None = None) -> WritebackProblem:
    needs = ACTIONS[action]
    purpose = next((s.purpose for s in SCOPES if s.scope == needs.scope), "")
    details: dict[str, Any] = {"missing_scope": needs.scope, "purpose": purpose}
    if ironclad is not None:
        details["ironclad"] = ironclad
    return WritebackProblem(
        403,
        "IRONCLAD_SCOPE_MISSING",
        f"The Ironclad app is missing the scope {needs.scope}, which Contracts AI needs to {needs.words}"
        " in Ironclad. Add it in Company Settings → API → your app → Requested Resource Scopes, then"
        " connect again.",
        details,
    )


def contract_not_linked(then: str) -> WritebackProblem:
    return WritebackProblem(
        409,
        "CONTRACT_NOT_LINKED",
        f"This contract has no Ironclad record (never created there, or deleted in Ironclad); {then}.",
    )


def contract_already_linked(record_id: str) -> WritebackProblem:
    return WritebackProblem(
        409,
        "CONTRACT_ALREADY_LINKED",
        "This contract already belongs to an Ironclad record; use writeback/update-record instead.",
        {"ironclad_record_id": record_id},
    )


def unknown_record_type(record_type: str | None, known: list[str]) -> WritebackProblem:
    return WritebackProblem(
        422,
        "UNKNOWN_RECORD_TYPE",
        f"Ironclad has no record type {record_type!r}.",
        {"field": "record_type", "record_types": known},
    )


def attachment_exists(key: str, **details: Any) -> WritebackProblem:
    return WritebackProblem(
        409,
        "ATTACHMENT_EXISTS",
        f"The Ironclad record already has a document under '{key}', and Ironclad does not overwrite "
        "uploads. Choose another key (for example fileAttachment) or delete that document in Ironclad "
        "first.",
        {"attachment_key": key, **details},
    )


async def find_contract(contracts: Contracts, tenant: str, contract_id: str) -> Document:
    """The contract by our id, its Ironclad record id or its IC-n id."""
    doc = await contracts.get(tenant, contract_id)
    if doc is None:
        raise WritebackProblem(404, "CONTRACT_NOT_FOUND", "No contract with this id in this workspace.")
    return doc


def linked_record_id(contract: Document) -> str | None:
    """The Ironclad record the contract stands for; None if it never had one or it was deleted."""
    record_id = (contract.get("ironclad") or {}).get("id")
    return None if not record_id or contract.get("deleted") else str(record_id)


def attachment_keys(metadata: dict[str, Any]) -> list[str]:
    """The keys Ironclad takes an upload under: its document properties and attachment slots."""
    props = metadata.get("properties") or {}
    keys = [k for k, spec in props.items() if isinstance(spec, dict) and spec.get("type") == "document"]
    keys += [k for k in (metadata.get("attachments") or {}) if k not in keys]
    return keys or list(DEFAULT_ATTACHMENT_KEYS)
