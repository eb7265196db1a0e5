"""Applying a mapping to Ironclad records (R14: a bad value is a per-field error, never a stop).

:func:`compile_mapping` turns rules into plain closures once; :meth:`CompiledMapping.apply` then
maps one record with no pydantic work on the happy path, so tens of thousands of records per
second are possible. Values in ``fields`` follow the representations in
:mod:`contracts_common.mapping.convert`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from .compat import target_coercer
from .convert import ConversionError, is_empty, sample_of
from .rules import Mapping, MappingRule, RuleError, validate_mapping
from .sources import ATTRIBUTE_SOURCES, property_id_of
from .targets import BUILTIN_TARGET_FIELDS, TargetField
from .transforms import USE_DEFAULT, Forward

__all__ = [
    "CompiledMapping",
    "FieldError",
    "InvalidMappingError",
    "MappingResult",
    "PreviewItem",
    "apply_mapping",
    "compile_mapping",
    "preview_mapping",
]


class FieldError(BaseModel):
    """A value that could not be converted: stored on the contract, the other fields go on."""

    model_config = ConfigDict(frozen=True)

    target: str
    source: str
    source_type: str
    target_type: str
    message: str
    sample: str | None = None


class MappingResult(BaseModel):
    """Mapped ``fields`` (JSON/BSON-safe) and per-field ``errors`` of one record."""

    fields: dict[str, Any]
    errors: list[FieldError]


class PreviewItem(BaseModel):
    """What a mapping makes of one stored record."""

    record_id: str | None
    ironclad_id: str | None
    name: str | None
    fields: dict[str, Any]
    errors: list[FieldError]


class InvalidMappingError(ValueError):
    """Raised by :func:`compile_mapping` (strict) for a mapping that does not validate."""

    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


_ABSENT: Final = object()
Getter = Callable[[dict[str, Any]], tuple[Any, str]]


def _attribute_getter(source: str) -> Getter:
    ic_type = ATTRIBUTE_SOURCES[source][0]
    if "." in source:
        outer, inner = source.split(".", 1)

        def nested(record: dict[str, Any]) -> tuple[Any, str]:
            holder = record.get(outer)
            if not isinstance(holder, dict):
                return _ABSENT, ic_type
            return holder.get(inner, _ABSENT), ic_type

        return nested

    def flat(record: dict[str, Any]) -> tuple[Any, str]:
        return record.get(source, _ABSENT), ic_type

    return flat


def _property_getter(prop_id: str) -> Getter:
    def get(record: dict[str, Any]) -> tuple[Any, str]:
        props = record.get("properties")
        if not isinstance(props, dict):
            return _ABSENT, "unknown"
        wrapper = props.get(prop_id, _ABSENT)
        if wrapper is _ABSENT or wrapper is None:
            return _ABSENT, "unknown"
        if isinstance(wrapper, dict) and ("value" in wrapper or "type" in wrapper):
            t = wrapper.get("type")
            return wrapper.get("value", _ABSENT), t if isinstance(t, str) else "unknown"
        return wrapper, "unknown"  # a bare value instead of a {type, value} wrapper

    return get


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    target: str
    source: str
    target_type: str
    get: Getter
    steps: tuple[Forward, ...]
    coerce: Callable[[Any], Any]
    default: Any


class CompiledMapping:
    """Rules made ready to apply. ``skipped`` holds the problems of rules left out (non-strict)."""

    def __init__(self, rules: list[_CompiledRule], skipped: list[RuleError]) -> None:
        self._rules = tuple(rules)
        self.skipped = skipped
        self.targets = tuple(r.target for r in rules)

    def _default(self, rule: _CompiledRule, fields: dict[str, Any]) -> None:
        if rule.default is not _ABSENT:
            d = rule.default
            fields[rule.target] = copy.deepcopy(d) if isinstance(d, dict | list) else d

    def apply(self, record: dict[str, Any]) -> MappingResult:
        """Map one Ironclad record (``RecordModel`` shape). Never raises for a bad value."""
        fields: dict[str, Any] = {}
        errors: list[FieldError] = []
        for rule in self._rules:
            source_type = "unknown"
            try:
                value: Any
                value, source_type = rule.get(record)
                if value is _ABSENT or is_empty(value):
                    self._default(rule, fields)
                    continue
                for step in rule.steps:
                    value = step(value)
                    if value is USE_DEFAULT:
                        break
                if value is USE_DEFAULT or is_empty(value):
                    self._default(rule, fields)
                    continue
                fields[rule.target] = rule.coerce(value)
            except ConversionError as exc:
                errors.append(_error(rule, source_type, exc.message, record))
            except Exception as exc:  # a bug must not stop the other fields (R14)
                errors.append(_error(rule, source_type, f"unexpected {type(exc).__name__}: {exc}", record))
        return MappingResult.model_construct(fields=fields, errors=errors)

    __call__ = apply


def _error(rule: _CompiledRule, source_type: str, message: str, record: dict[str, Any]) -> FieldError:
    """The error, with the source value as Ironclad sent it as the sample (not a half-converted one)."""
    try:
        value, _ = rule.get(record)
    except Exception:
        value = _ABSENT
    return FieldError.model_construct(
        target=rule.target,
        source=rule.source,
        source_type=source_type,
        target_type=rule.target_type,
        message=message,
        sample=None if value is _ABSENT else sample_of(value),
    )


def _rules_of(rules: Mapping | Sequence[MappingRule]) -> Sequence[MappingRule]:
    return rules.rules if isinstance(rules, Mapping) else rules


def compile_mapping(
    rules: Mapping | Sequence[MappingRule],
    targets: Sequence[TargetField] = BUILTIN_TARGET_FIELDS,
    *,
    strict: bool = True,
) -> CompiledMapping:
    """Validate (without a schema) and compile rules.

    ``strict`` (default): an invalid mapping raises :class:`InvalidMappingError`. Otherwise bad
    rules are left out and listed in ``CompiledMapping.skipped`` (e.g. a stored mapping naming a
    custom field the tenant has since removed): the good rules still run.
    """
    rule_list = list(_rules_of(rules))
    problems = validate_mapping(rule_list, targets, None)
    if problems and strict:
        raise InvalidMappingError(problems)
    bad = {e.index for e in problems}
    by_target = {t.name: t for t in targets}
    compiled: list[_CompiledRule] = []
    for index, rule in enumerate(rule_list):
        if index in bad:
            continue
        field = by_target[rule.target]
        coerce = target_coercer(field)
        prop_id = property_id_of(rule.source)
        getter = _property_getter(prop_id) if prop_id is not None else _attribute_getter(rule.source)
        compiled.append(
            _CompiledRule(
                target=rule.target,
                source=rule.source,
                target_type=field.type.value,
                get=getter,
                steps=tuple(t.forward() for t in rule.transforms()),
                coerce=coerce,
                default=_ABSENT if rule.default is None else coerce(rule.default),
            )
        )
    return CompiledMapping(compiled, problems)


def apply_mapping(
    record: dict[str, Any],
    rules: Mapping | Sequence[MappingRule] | CompiledMapping,
    targets: Sequence[TargetField] = BUILTIN_TARGET_FIELDS,
) -> MappingResult:
    """Map one record; compiles the rules first (use :func:`compile_mapping` for many records)."""
    compiled = rules if isinstance(rules, CompiledMapping) else compile_mapping(rules, targets)
    return compiled.apply(record)


def preview_mapping(
    records: Iterable[dict[str, Any]],
    rules: Mapping | Sequence[MappingRule] | CompiledMapping,
    targets: Sequence[TargetField] = BUILTIN_TARGET_FIELDS,
) -> list[PreviewItem]:
    """What a (valid) proposed mapping makes of sample records, with per-field errors."""
    compiled = rules if isinstance(rules, CompiledMapping) else compile_mapping(rules, targets)
    out: list[PreviewItem] = []
    for record in records:
        result = compiled.apply(record)
        rid, iid, name = record.get("id"), record.get("ironcladId"), record.get("name")
        out.append(
            PreviewItem(
                record_id=rid if isinstance(rid, str) else None,
                ironclad_id=iid if isinstance(iid, str) else None,
                name=name if isinstance(name, str) else None,
                fields=result.fields,
                errors=result.errors,
            )
        )
    return out
