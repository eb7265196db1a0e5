"""A default mapping suggested from an Ironclad schema, so a first import fills the obvious fields.

Candidates, strongest first:
1. Ironclad's ``purpose:`` tags (``purpose:agreementDate`` → ``agreement_date``...);
2. the record attributes ``name`` → title, ``type`` → contract_type, ``contractStatus.status`` →
   status, ``lastUpdated`` → last_updated;
3. property ids, then display names, normalised (``standard_``/``smartImportProperty_`` prefixes and
   custom ``_<uuid>_<type>`` suffixes dropped, case and punctuation ignored) against known names
   of each field and the field's own name;
4. types: the only ``monetary_amount`` property becomes contract_value.

A candidate needs a type path: direct, or one parameter-free transform (text → date, text →
yes/no...). Each target and each source is used at most once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from .compat import compatible, source_kind, transform_for
from .rules import MappingRule
from .sources import SourceField, source_fields
from .targets import BUILTIN_TARGET_FIELDS, TargetField
from .transforms import AnyTransform

__all__ = ["DEFAULT_RULES_WITHOUT_METADATA", "PURPOSE_TARGETS", "SuggestedRule", "suggest_mapping"]


class SuggestedRule(BaseModel):
    """A suggested rule and why it was suggested."""

    model_config = ConfigDict(frozen=True)

    rule: MappingRule
    reason: str


# purpose tag (without "purpose:") -> (target, score)
PURPOSE_TARGETS: Final[dict[str, tuple[str, int]]] = {
    "agreementDate": ("agreement_date", 100),
    "effectiveDate": ("effective_date", 100),
    "expirationDate": ("expiration_date", 100),
    "contractOwner": ("owner_email", 100),
    "executedDate": ("executed_date", 100),
    "initialTermLength": ("term", 100),
    "renewalTermLength": ("renewal_term", 100),
    "terminationNoticePeriod": ("termination_notice_period", 100),
    "renewalType": ("renewal_type", 100),
    "renewalOptOutDate": ("renewal_opt_out_date", 100),
    "terminatedDate": ("termination_date", 100),
    "counterpartyName": ("counterparty_name", 100),
    "contractValue": ("contract_value", 100),
    "governingLaw": ("governing_law", 100),
    "autoRenew": ("auto_renew", 100),
    "renewalDate": ("renewal_date", 100),
    # Ironclad's anniversary date is the date an auto-renewing contract renews; a property
    # actually named "renewal date" wins over it.
    "anniversaryDate": ("renewal_date", 60),
}

_ATTRIBUTE_TARGETS: Final[dict[str, tuple[str, str]]] = {
    "name": ("title", "the record's name is the contract's title"),
    "type": ("contract_type", "the record type is the kind of contract"),
    "contractStatus.status": ("status", "Ironclad's contract status"),
    "lastUpdated": ("last_updated", "the record's last update time"),
}

# normalised name -> target
_NAMES: Final[dict[str, str]] = {
    **dict.fromkeys(["counterpartyname", "counterparty", "counterpartylegalname"], "counterparty_name"),
    **dict.fromkeys(["contracttype", "agreementtype"], "contract_type"),
    **dict.fromkeys(["agreementdate", "signeddate", "signaturedate"], "agreement_date"),
    **dict.fromkeys(["effectivedate", "startdate", "commencementdate"], "effective_date"),
    **dict.fromkeys(["expirationdate", "expirydate", "enddate"], "expiration_date"),
    **dict.fromkeys(["renewaldate", "nextrenewaldate"], "renewal_date"),
    **dict.fromkeys(
        ["autorenew", "autorenewal", "autorenews", "automaticrenewal", "autorenewing", "isautorenew"],
        "auto_renew",
    ),
    **dict.fromkeys(["term", "contractterm", "termlength", "initialterm", "initialtermlength"], "term"),
    **dict.fromkeys(["contractvalue", "totalcontractvalue", "totalvalue", "dealvalue"], "contract_value"),
    **dict.fromkeys(["governinglaw", "jurisdiction", "governinglawjurisdiction"], "governing_law"),
    **dict.fromkeys(["contractowner", "owneremail", "contractowneremail"], "owner_email"),
    "counterpartyaddress": "counterparty_address",
    **dict.fromkeys(["tags", "labels"], "tags"),
    **dict.fromkeys(["additionalnotes", "notes"], "notes"),
    **dict.fromkeys(["counterpartysigner", "counterpartysignername"], "counterparty_signer_name"),
    "counterpartysigneremail": "counterparty_signer_email",
    "executeddate": "executed_date",
    **dict.fromkeys(["terminateddate", "terminationdate"], "termination_date"),
    **dict.fromkeys(["renewaltermlength", "renewalterm"], "renewal_term"),
    **dict.fromkeys(["terminationnoticeperiod", "noticeperiod"], "termination_notice_period"),
    "renewaltype": "renewal_type",
    **dict.fromkeys(["renewaloptoutdate", "optoutdate"], "renewal_opt_out_date"),
    **dict.fromkeys(["contractside", "businessrelationship"], "business_relationship"),
    "department": "department",
}

_CUSTOM_ID = re.compile(
    r"^(?P<name>.+?)_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_[A-Za-z]+$", re.IGNORECASE
)
_PREFIXES: Final = ("standard_", "smartImportProperty_")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


def _id_core(prop_id: str) -> str:
    m = _CUSTOM_ID.match(prop_id)
    core = m.group("name") if m else prop_id
    for prefix in _PREFIXES:
        if core.startswith(prefix):
            core = core[len(prefix) :]
    return core


def _rule(source: str, target: str, transform: AnyTransform | None) -> MappingRule:
    return MappingRule(source=source, target=target, transform=transform)


def suggest_mapping(
    metadata: dict[str, Any], targets: Sequence[TargetField] = BUILTIN_TARGET_FIELDS
) -> list[SuggestedRule]:
    """Rules for the fields a schema obviously fills (see the module docstring), in target order."""
    sources = source_fields(metadata)
    by_name = {s.name: s for s in sources}
    by_target = {t.name: t for t in targets}
    order = {t.name: i for i, t in enumerate(targets)}
    own_names = {_norm(t.name): t.name for t in targets}
    # (score, target, source, reason)
    candidates: list[tuple[int, str, str, str]] = []

    for src in sources:
        if src.is_attribute:
            if src.name in _ATTRIBUTE_TARGETS:
                target, why = _ATTRIBUTE_TARGETS[src.name]
                candidates.append((90, target, src.name, why))
            continue
        pid = src.property_id or ""
        for tag in src.tags:
            if tag.startswith("purpose:") and tag[len("purpose:") :] in PURPOSE_TARGETS:
                target, score = PURPOSE_TARGETS[tag[len("purpose:") :]]
                candidates.append((score, target, src.name, f"Ironclad tags {pid!r} with {tag!r}"))
        core = _norm(_id_core(pid))
        for names, score, what in ((_NAMES, 80, "id"), (own_names, 80, "id")):
            if core in names:
                candidates.append(
                    (score, names[core], src.name, f"the property {what} {pid!r} names this field")
                )
        display = _norm(src.display_name)
        for names in (_NAMES, own_names):
            if display in names:
                candidates.append(
                    (
                        70,
                        names[display],
                        src.name,
                        f"the property's display name {src.display_name!r} names this field",
                    )
                )

    money = [s for s in sources if s.ironclad_type == "monetary_amount"]
    if len(money) == 1:
        candidates.append((30, "contract_value", money[0].name, "the only monetary amount in the schema"))

    used_targets: set[str] = set()
    used_sources: set[str] = set()
    out: list[SuggestedRule] = []
    for score, target, source, reason in sorted(
        candidates, key=lambda c: (-c[0], order.get(c[1], 1 << 30), c[2])
    ):
        field = by_target.get(target)
        if field is None or target in used_targets or source in used_sources:
            continue
        rule = _fit(source, field, by_name)
        if rule is None:
            continue
        used_targets.add(target)
        used_sources.add(source)
        t = rule.transforms()
        how = f"; transform {t[0].kind!r}" if t else ""
        out.append(SuggestedRule(rule=rule, reason=f"{reason} (score {score}{how})"))
    out.sort(key=lambda s: order[s.rule.target])
    return out


def _fit(source: str, field: TargetField, by_name: dict[str, SourceField]) -> MappingRule | None:
    kind = source_kind(source, by_name)
    if compatible(kind, field.type):
        if field.options and kind == "enum":
            return None  # a closed set into another closed set needs a value map from the admin
        return _rule(source, field.name, None)
    transform = transform_for(kind, field.type)
    return None if transform is None else _rule(source, field.name, transform)


def _default_rules() -> tuple[MappingRule, ...]:
    pairs = [
        ("name", "title"),
        ("type", "contract_type"),
        ("contractStatus.status", "status"),
        ("properties.counterpartyName", "counterparty_name"),
        ("properties.agreementDate", "agreement_date"),
        ("properties.effectiveDate", "effective_date"),
        ("properties.expirationDate", "expiration_date"),
        ("properties.standard_anniversaryDate", "renewal_date"),
        ("properties.standard_initialTermLength", "term"),
        ("properties.contractValue", "contract_value"),
        ("properties.governingLaw", "governing_law"),
        ("properties.contractOwner", "owner_email"),
        ("properties.counterpartyAddress", "counterparty_address"),
        ("properties.additionalNotes", "notes"),
        ("properties.counterpartySigner", "counterparty_signer_name"),
        ("properties.counterpartySignerEmail", "counterparty_signer_email"),
        ("properties.standard_executedDate", "executed_date"),
        ("properties.standard_terminatedDate", "termination_date"),
        ("properties.standard_renewalTermLength", "renewal_term"),
        ("properties.standard_renewalType", "renewal_type"),
        ("properties.standard_renewalOptOutDate", "renewal_opt_out_date"),
        ("properties.standard_terminationNoticePeriod", "termination_notice_period"),
        ("properties.standard_contractSide", "business_relationship"),
        ("properties.standard_department", "department"),
        ("lastUpdated", "last_updated"),
    ]
    return tuple(MappingRule(source=s, target=t) for s, t in pairs)


# When the schema cannot be read: record attributes and Ironclad's standard property ids, each
# converted by its target type's own conversion (absent properties simply leave fields absent).
DEFAULT_RULES_WITHOUT_METADATA: Final[tuple[MappingRule, ...]] = _default_rules()
