"""Which Ironclad types fill which target types, directly or through which transform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .convert import COERCERS, ConversionError, sample_of
from .sources import ATTRIBUTE_SOURCES, SourceField, property_id_of
from .targets import TargetField, TargetType
from .transforms import (
    UNKNOWN,
    AddressTransform,
    AnyTransform,
    BooleanTransform,
    DatetimeTransform,
    DateTransform,
    DurationTransform,
    EmailTransform,
    JoinTransform,
    MoneyTransform,
    NumberTransform,
    SplitTransform,
)

__all__ = ["DIRECT", "compatible", "source_kind", "target_coercer", "transform_for"]

T = TargetType
_TEXTUAL: Final = frozenset({T.STRING, T.TEXT})

# Kinds (Ironclad types and the kinds transforms make) -> target types they fill with no transform.
DIRECT: Final[dict[str, frozenset[TargetType]]] = {
    "string": _TEXTUAL,
    "text": _TEXTUAL,
    "playbookClause": _TEXTUAL,
    "enum": _TEXTUAL | {T.ENUM},
    "number": frozenset({T.NUMBER, T.STRING, T.TEXT}),
    "boolean": frozenset({T.BOOLEAN}),
    "date": frozenset({T.DATE, T.DATETIME}),
    "datetime": frozenset({T.DATETIME, T.DATE}),
    "duration": frozenset({T.DURATION}),
    "monetary_amount": frozenset({T.MONEY}),
    "money": frozenset({T.MONEY}),
    "email": _TEXTUAL | {T.EMAIL},
    "address": frozenset({T.ADDRESS}),
    "array": frozenset({T.STRING_LIST}),
    "string_list": frozenset({T.STRING_LIST}),
    "reference": frozenset(),
    "clause": frozenset(),
    "workflow": frozenset(),
}


def source_kind(source: str, by_name: dict[str, SourceField] | None) -> str:
    """The kind a rule's source has: from the attribute table, the schema, or ``unknown``."""
    if source in ATTRIBUTE_SOURCES:
        return ATTRIBUTE_SOURCES[source][0]
    if by_name is None or property_id_of(source) is None:
        return UNKNOWN
    field = by_name.get(source)
    if field is None:
        return UNKNOWN
    if field.ironclad_type == "string" and field.options:
        return "enum"
    if field.ironclad_type == "array" and "reference" in (field.full_type_name or ""):
        return "reference"  # a list of entity references is not a list of text
    return field.ironclad_type


def compatible(kind: str, target: TargetType) -> bool:
    """Whether a value of ``kind`` fills ``target`` without (further) transform."""
    return kind == UNKNOWN or target in DIRECT.get(kind, frozenset())


_TEXT_TO: Final[dict[TargetType, Callable[[], AnyTransform]]] = {
    T.DATE: lambda: DateTransform(kind="date"),
    T.DATETIME: lambda: DatetimeTransform(kind="datetime"),
    T.NUMBER: lambda: NumberTransform(kind="number"),
    T.MONEY: lambda: MoneyTransform(kind="money"),
    T.BOOLEAN: lambda: BooleanTransform(kind="boolean"),
    T.EMAIL: lambda: EmailTransform(kind="email"),
    T.DURATION: lambda: DurationTransform(kind="duration"),
    T.STRING_LIST: lambda: SplitTransform(kind="split"),
    T.ADDRESS: lambda: AddressTransform(kind="address"),
}


def transform_for(kind: str, target: TargetType) -> AnyTransform | None:
    """A parameter-free transform that turns ``kind`` into ``target``, if one exists."""
    if kind in ("string", "text", "playbookClause", "enum") and target in _TEXT_TO:
        return _TEXT_TO[target]()
    if kind in ("array", "string_list") and target in _TEXTUAL:
        return JoinTransform(kind="join")
    return None


def target_coercer(field: TargetField) -> Callable[[Any], Any]:
    """The function that makes a value into ``field``'s representation (checks enum options)."""
    base = COERCERS[field.type.value]
    if field.type is not TargetType.ENUM or not field.options:
        return base
    exact = frozenset(field.options)
    folded = {o.strip().casefold(): o for o in field.options}
    shown = ", ".join(repr(o) for o in field.options[:10])

    def enum(value: Any) -> Any:
        text = base(value)
        if text in exact:
            return text
        hit = folded.get(text.strip().casefold())
        if hit is None:
            raise ConversionError(f"{sample_of(value)!r} is not one of the options of {field.name} ({shown})")
        return hit

    return enum
