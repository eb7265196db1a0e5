"""Contracts AI's target fields: the built-in ones and a tenant's custom ones."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BUILTIN_TARGET_FIELDS",
    "InvalidTargetFieldsError",
    "TargetField",
    "TargetType",
    "target_fields",
]


class TargetType(StrEnum):
    """Types of Contracts AI fields. See :mod:`contracts_common.mapping.convert` for each representation."""

    STRING = "string"
    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DURATION = "duration"
    MONEY = "money"
    EMAIL = "email"
    ADDRESS = "address"
    STRING_LIST = "string_list"
    ENUM = "enum"


TARGET_NAME_PATTERN = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"


class TargetField(BaseModel):
    """One Contracts AI field. ``options`` (enum only, optional) restricts the values a field takes."""

    # Options only on an enum (checked by `target_fields`), stated in the schema too.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "if": {"properties": {"type": {"not": {"const": "enum"}}}, "required": ["type"]},
            "then": {"properties": {"options": {"type": "null"}}},
        },
    )

    name: str = Field(pattern=TARGET_NAME_PATTERN, max_length=64)
    type: TargetType
    description: str = ""
    custom: bool = Field(default=False, strict=True)
    options: tuple[str, ...] | None = None


def _b(name: str, type_: TargetType, description: str) -> TargetField:
    return TargetField(name=name, type=type_, description=description)


T = TargetType
BUILTIN_TARGET_FIELDS: tuple[TargetField, ...] = (
    _b("title", T.STRING, "The contract's title (Ironclad record name)."),
    _b("counterparty_name", T.STRING, "The other party to the contract."),
    _b("contract_type", T.STRING, "The kind of contract (Ironclad record type)."),
    _b("status", T.ENUM, "Lifecycle status, e.g. active, expired, terminated."),
    _b("agreement_date", T.DATE, "The date the agreement was signed."),
    _b("effective_date", T.DATE, "The date the contract takes effect."),
    _b("expiration_date", T.DATE, "The date the contract ends unless renewed."),
    _b("renewal_date", T.DATE, "The next date the contract renews."),
    _b("auto_renew", T.BOOLEAN, "Whether the contract renews automatically."),
    _b("term", T.DURATION, "Length of the (initial) term, ISO-8601 duration."),
    _b("contract_value", T.MONEY, "Total value of the contract: amount and currency."),
    _b("governing_law", T.STRING, "Jurisdiction whose law governs the contract."),
    _b("owner_email", T.EMAIL, "Email of the person who owns the contract internally."),
    _b("counterparty_address", T.ADDRESS, "The counterparty's address."),
    _b("tags", T.STRING_LIST, "Free labels."),
    _b("notes", T.TEXT, "Additional notes."),
    _b("counterparty_signer_name", T.STRING, "Name of the person signing for the counterparty."),
    _b("counterparty_signer_email", T.EMAIL, "Email of the person signing for the counterparty."),
    _b("executed_date", T.DATE, "The date the contract was executed (fully signed)."),
    _b("termination_date", T.DATE, "The date the contract was terminated."),
    _b("renewal_term", T.DURATION, "Length of each renewal term, ISO-8601 duration."),
    _b("renewal_type", T.STRING, "How the contract renews (e.g. auto-renew, optional, fixed term)."),
    _b("renewal_opt_out_date", T.DATE, "Last date to give notice of non-renewal."),
    _b("termination_notice_period", T.DURATION, "Notice needed to terminate, ISO-8601 duration."),
    _b("business_relationship", T.STRING, "Our side of the contract (vendor, customer, partner...)."),
    _b("department", T.STRING, "Internal department responsible for the contract."),
    _b("last_updated", T.DATETIME, "When the source record last changed (UTC)."),
)
del T

_BUILTIN_NAMES = frozenset(f.name for f in BUILTIN_TARGET_FIELDS)


class InvalidTargetFieldsError(ValueError):
    """Custom target fields that collide with built-in ones or with each other."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def target_fields(custom: Sequence[TargetField] = ()) -> list[TargetField]:
    """Built-in fields followed by the tenant's custom fields (marked ``custom=True``).

    Raises :class:`InvalidTargetFieldsError` (a ``ValueError``) naming every custom field whose
    name is a built-in one or repeats another custom field, or that has options without being an enum.
    """
    problems: list[str] = []
    seen: set[str] = set()
    out = list(BUILTIN_TARGET_FIELDS)
    for i, field in enumerate(custom):
        if field.name in _BUILTIN_NAMES:
            problems.append(f"custom field {i} {field.name!r} has the name of a built-in field")
        elif field.name in seen:
            problems.append(f"custom field {i} {field.name!r} is defined more than once")
        if field.options is not None and field.type is not TargetType.ENUM:
            problems.append(f"custom field {i} {field.name!r} has options but is not an enum")
        seen.add(field.name)
        out.append(field if field.custom else field.model_copy(update={"custom": True}))
    if problems:
        raise InvalidTargetFieldsError(problems)
    return out
