"""Mapping rules and their validation (what ``PUT .../field-mapping`` checks before storing)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .compat import compatible, source_kind, target_coercer, transform_for
from .convert import ConversionError, is_empty, sample_of
from .sources import ATTRIBUTE_SOURCES, SourceField, property_id_of
from .targets import BUILTIN_TARGET_FIELDS, TARGET_NAME_PATTERN, TargetField
from .transforms import UNKNOWN, AnyTransform, EnumMapTransform, Transform, chain_kinds

__all__ = ["Mapping", "MappingRule", "RuleError", "RuleErrorCode", "validate_mapping"]


# A record attribute, or a property written properties.<propertyId>.
SOURCE_PATTERN = "^(?:" + "|".join(re.escape(a) for a in ATTRIBUTE_SOURCES) + r"|properties\..+)$"


class MappingRule(BaseModel):
    """``{source, target, transform?, default?}``.

    ``transform`` is one transform, a list applied in order, or None (the target type's own
    conversion only). A transform may be written as its bare kind: ``"trim"``. ``default`` is used
    when the source is absent or empty (and by ``enum_map`` with ``fallback="default"``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The patterns document what `validate_mapping` checks (INVALID_SOURCE, UNKNOWN_TARGET), which answers
    # each problem with its rule's index and code; whether the field exists is checked there too.
    source: str = Field(min_length=1, max_length=300, json_schema_extra={"pattern": SOURCE_PATTERN})
    target: str = Field(min_length=1, max_length=64, json_schema_extra={"pattern": TARGET_NAME_PATTERN})
    transform: Transform | list[Transform] | None = None
    default: Any | None = None

    def transforms(self) -> list[AnyTransform]:
        """The transforms as a list (empty for none)."""
        if self.transform is None:
            return []
        if isinstance(self.transform, list):
            return list(self.transform)
        return [self.transform]


class Mapping(BaseModel):
    """A tenant's mapping: ``{version, rules}``."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(default=0, ge=0)
    rules: list[MappingRule] = Field(default_factory=list, max_length=500)


RuleErrorCode = Literal[
    "INVALID_RULE",
    "INVALID_SOURCE",
    "UNKNOWN_SOURCE",
    "UNKNOWN_TARGET",
    "DUPLICATE_TARGET",
    "TYPE_MISMATCH",
    "INVALID_TRANSFORM",
    "INVALID_DEFAULT",
]


class RuleError(BaseModel):
    """One problem of one rule. ``index`` is the rule's position (0-based) in the submitted list."""

    model_config = ConfigDict(frozen=True)

    index: int
    source: str | None
    target: str | None
    code: RuleErrorCode
    message: str


_TYPE_WORDS: dict[str, str] = {
    "string": "text",
    "text": "long text",
    "enum": "pick-list",
    "playbookClause": "playbook clause",
    "number": "number",
    "boolean": "yes/no",
    "date": "date",
    "datetime": "date-time",
    "duration": "duration",
    "monetary_amount": "monetary amount",
    "money": "money",
    "email": "email",
    "address": "address",
    "array": "list",
    "string_list": "list of text",
    "reference": "reference",
    "clause": "clause",
    "workflow": "workflow",
}


def _words(kind: str) -> str:
    return _TYPE_WORDS.get(kind, kind)


def _rules_of(
    rules: Mapping | Sequence[MappingRule | dict[str, Any]],
) -> Sequence[MappingRule | dict[str, Any]]:
    return rules.rules if isinstance(rules, Mapping) else rules


def _loc(loc: tuple[int | str, ...]) -> str:
    """A readable location: pydantic's internal union/validator names left out."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and any(c in p for c in "[](),"))]
    return ".".join(parts)


_TRANSFORM_ADAPTER: TypeAdapter[AnyTransform] = TypeAdapter(Transform)


def _parse_rule(index: int, raw: dict[str, Any], add: Any) -> tuple[MappingRule | None, bool]:
    """The rule without its transform if that is broken (then False: skip type checks)."""
    n = index + 1
    src_raw, tgt_raw = raw.get("source"), raw.get("target")
    src = src_raw if isinstance(src_raw, str) else None
    tgt = tgt_raw if isinstance(tgt_raw, str) else None
    base = {k: v for k, v in raw.items() if k != "transform"}
    rule: MappingRule | None
    try:
        rule = MappingRule.model_validate(base)
    except ValidationError as exc:
        rule = None
        for err in exc.errors(include_url=False):
            where = _loc(err["loc"]) or "rule"
            add("INVALID_RULE", f"Rule {n}: {where}: {err['msg']}.", src, tgt)
    spec = raw.get("transform")
    if spec is None:
        return rule, True
    items = spec if isinstance(spec, list) else [spec]
    parsed: list[AnyTransform] = []
    for i, item in enumerate(items):
        label = f"transform {i + 1}" if isinstance(spec, list) else "transform"
        kind = item.get("kind") if isinstance(item, dict) else item
        if isinstance(kind, str):
            label += f" ({kind})"
        try:
            parsed.append(_TRANSFORM_ADAPTER.validate_python(item))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                where = _loc(err["loc"][1:] if isinstance(kind, str) else err["loc"])
                add(
                    "INVALID_TRANSFORM",
                    f"Rule {n}: {label}{': ' + where if where else ''}: {err['msg']}.",
                    src,
                    tgt,
                )
    if rule is None:
        return None, False
    if len(parsed) != len(items):
        return rule, False
    return rule.model_copy(update={"transform": parsed if isinstance(spec, list) else parsed[0]}), True


def validate_mapping(
    rules: Mapping | Sequence[MappingRule | dict[str, Any]],
    targets: Sequence[TargetField] = BUILTIN_TARGET_FIELDS,
    sources: Sequence[SourceField] | None = None,
) -> list[RuleError]:
    """Every problem of every rule, in rule order; an empty list means the mapping can be stored.

    ``rules`` may hold raw dicts (a request body): each is parsed on its own so that one bad rule
    does not hide the problems of the others. ``sources`` (from :func:`source_fields`) enables
    ``UNKNOWN_SOURCE`` and type checks of properties; without it only attribute types are known.
    """
    by_target = {t.name: t for t in targets}
    by_source = {s.name: s for s in sources} if sources is not None else None
    first_index: dict[str, int] = {}
    errors: list[RuleError] = []

    for index, raw in enumerate(_rules_of(rules)):
        found: list[RuleError] = []

        def add(code: RuleErrorCode, message: str, src: str | None, tgt: str | None) -> None:
            found.append(RuleError(index=index, source=src, target=tgt, code=code, message=message))  # noqa: B023

        rule: MappingRule | None = None
        types_ok = True
        if isinstance(raw, MappingRule):
            rule = raw
        elif isinstance(raw, dict):
            rule, types_ok = _parse_rule(index, raw, add)
            if rule is None and isinstance(raw.get("target"), str):
                src_raw = raw.get("source")
                _check_target(
                    index,
                    raw["target"],
                    src_raw if isinstance(src_raw, str) else None,
                    by_target,
                    first_index,
                    add,
                )
        else:
            add("INVALID_RULE", f"Rule {index + 1} is not an object with source and target.", None, None)

        if rule is not None:
            _check_rule(index, rule, by_target, by_source, first_index, add, check_types=types_ok)
        errors.extend(found)
    return errors


def _check_target(
    index: int,
    target: str,
    source: str | None,
    by_target: dict[str, TargetField],
    first_index: dict[str, int],
    add: Any,
) -> TargetField | None:
    field = by_target.get(target)
    if field is None:
        close = difflib.get_close_matches(target, list(by_target), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        add(
            "UNKNOWN_TARGET",
            f"Rule {index + 1} fills {target!r}, which is not a Contracts AI field.{hint}",
            source,
            target,
        )
    if target in first_index:
        add(
            "DUPLICATE_TARGET",
            f"Rule {index + 1} fills {target!r}, which rule {first_index[target] + 1} already fills; "
            "a field can have only one rule.",
            source,
            target,
        )
    else:
        first_index[target] = index
    return field


def _check_rule(
    index: int,
    rule: MappingRule,
    by_target: dict[str, TargetField],
    by_source: dict[str, SourceField] | None,
    first_index: dict[str, int],
    add: Any,
    *,
    check_types: bool = True,
) -> None:
    src, tgt = rule.source, rule.target
    n = index + 1
    source_ok = True
    if src not in ATTRIBUTE_SOURCES and property_id_of(src) is None:
        source_ok = False
        attrs = ", ".join(ATTRIBUTE_SOURCES)
        add(
            "INVALID_SOURCE",
            f"Rule {n} reads {src!r}; a source is a record attribute ({attrs}) "
            "or a property written properties.<propertyId>.",
            src,
            tgt,
        )
    elif by_source is not None and src not in ATTRIBUTE_SOURCES and src not in by_source:
        source_ok = False
        add(
            "UNKNOWN_SOURCE",
            f"Rule {n} reads {src!r}, which is not a field of this Ironclad schema "
            "(documents and attachments cannot be mapped).",
            src,
            tgt,
        )

    field = _check_target(index, tgt, src, by_target, first_index, add)
    if field is None:
        return

    kind = source_kind(src, by_source) if source_ok else UNKNOWN
    transforms = rule.transforms()
    if not check_types:
        return
    shown_source = src if src in ATTRIBUTE_SOURCES else f"property {property_id_of(src)!r}"
    if not transforms:
        if not compatible(kind, field.type):
            fix = transform_for(kind, field.type)
            hint = f" Add the transform {fix.kind!r}" if fix is not None else " Add a transform"
            add(
                "TYPE_MISMATCH",
                f"Rule {n} maps the {_words(kind)} {shown_source} to the {_words(field.type)} "
                f"field {tgt!r}; these types do not match.{hint} or choose another field.",
                src,
                tgt,
            )
    else:
        kinds, bad = chain_kinds(transforms, kind)
        if bad is not None:
            t = transforms[bad]
            add(
                "TYPE_MISMATCH",
                f"Rule {n}: the transform {t.kind!r} cannot make a value from the "
                f"{_words(kinds[-1])} {shown_source}{_needs(t, kinds[-1])}.",
                src,
                tgt,
            )
        elif not compatible(kinds[-1], field.type):
            add(
                "TYPE_MISMATCH",
                f"Rule {n}: the transforms make a {_words(kinds[-1])}, which cannot fill "
                f"the {_words(field.type)} field {tgt!r}.",
                src,
                tgt,
            )
        last = transforms[-1]
        if isinstance(last, EnumMapTransform) and field.options:
            stray = [v for v in last.values.values() if isinstance(v, str) and v not in field.options]
            if stray:
                add(
                    "INVALID_TRANSFORM",
                    f"Rule {n}: the value map gives {sample_of(stray)} which "
                    f"{'is' if len(stray) == 1 else 'are'} not options of {tgt!r}.",
                    src,
                    tgt,
                )

    if rule.default is not None:
        _check_default(n, rule, field, add)


def _needs(t: AnyTransform, kind: str) -> str:
    if kind == "number" and t.kind == "money":
        return " without a 'currency' parameter"
    if kind == "number" and t.kind == "duration":
        return " without a 'unit' parameter"
    return ""


def _check_default(n: int, rule: MappingRule, field: TargetField, add: Any) -> None:
    src, tgt = rule.source, rule.target
    if is_empty(rule.default):
        add("INVALID_DEFAULT", f"Rule {n}: the default is empty; leave it out instead.", src, tgt)
        return
    try:
        target_coercer(field)(rule.default)
    except ConversionError as exc:
        add(
            "INVALID_DEFAULT",
            f"Rule {n}: the default {sample_of(rule.default)!r} is not a valid "
            f"{_words(field.type)} for {tgt!r}: {exc.message}",
            src,
            tgt,
        )
