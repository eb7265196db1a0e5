"""Transforms: the ``transform`` of a mapping rule, a pydantic union discriminated on ``kind``.

Each transform knows
* which kinds of value it reads (:attr:`_Transform.accepts`) and what kind it makes
  (:meth:`_Transform.output_kind`), so a mapping can be type-checked before it is stored;
* how to convert one value (:meth:`_Transform.forward`, raising only
  :class:`~contracts_common.mapping.convert.ConversionError`);
* how to undo itself for write-back (:meth:`_Transform.reverse`, raising
  :class:`NotReversibleError` when it cannot).

A *kind* is an Ironclad property type (``string``, ``number``, ``date``, ``monetary_amount``,
``array``...), a target type (``money``, ``string_list``, ``datetime``...), ``enum`` (a string
from a closed set) or ``unknown`` (a source whose type is not known: anything goes, checked at
apply time).

One file on purpose: the transforms are one discriminated union (`Transform`), each kind a small class
with its forward and reverse conversion; split, the union and its members would have to import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)
from pydantic import model_validator as _model_validator

from .convert import (
    FALSE_WORDS,
    TRUE_WORDS,
    ConversionError,
    coerce_address,
    coerce_boolean,
    coerce_date,
    coerce_datetime,
    coerce_duration,
    coerce_email,
    coerce_money,
    coerce_number,
    decimal_to_json_number,
    describe_type,
    format_decimal,
    parse_decimal,
    parse_duration_parts,
    sample_of,
)

__all__ = [
    "USE_DEFAULT",
    "AddressTransform",
    "BooleanTransform",
    "CaseTransform",
    "DateTransform",
    "DatetimeTransform",
    "DurationTransform",
    "EmailTransform",
    "EnumMapTransform",
    "IdentityTransform",
    "JoinTransform",
    "MoneyTransform",
    "NotReversibleError",
    "NumberTransform",
    "SplitTransform",
    "Transform",
    "TrimTransform",
    "chain_kinds",
]

UNKNOWN: Final = "unknown"
TEXT_KINDS: Final = frozenset({"string", "text", "enum", "playbookClause", UNKNOWN})
LIST_KINDS: Final = frozenset({"array", "string_list"})
DATE_KINDS: Final = frozenset({"date", "datetime"})


class _UseDefault:
    """Sentinel returned by a transform that wants the rule's default instead of a value."""

    def __repr__(self) -> str:
        return "USE_DEFAULT"


USE_DEFAULT: Final = _UseDefault()


class NotReversibleError(Exception):
    """A transform that cannot be undone for this value (or at all); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Forward = Callable[[Any], Any]


class _Transform(BaseModel):
    # Each transform's title is its name in the admin page's Transform list (read from the OpenAPI document).
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Kinds this transform can read; ``unknown`` is always accepted.
    accepts: ClassVar[frozenset[str]] = frozenset()

    def output_kind(self, in_kind: str) -> str | None:
        """The kind of value this makes from ``in_kind``, None when it cannot read it."""
        raise NotImplementedError

    def forward(self) -> Forward:
        """The conversion as a plain function (built once per compiled rule)."""
        raise NotImplementedError

    def reverse(self, value: Any, in_kind: str) -> Any:
        """The value (of kind ``in_kind``) from which :meth:`forward` makes ``value``."""
        raise NotImplementedError

    def reversible(self) -> str | None:
        """None when this transform can be undone, else the reason it cannot."""
        return None

    def _reads(self, in_kind: str) -> bool:
        return in_kind == UNKNOWN or in_kind in self.accepts


def _is_date_format(fmt: str) -> bool:
    """A strptime format that round-trips a sample date."""
    if "%" not in fmt:
        return False
    sample = datetime(2021, 11, 23, 13, 45, 56)
    try:
        return datetime.strptime(sample.strftime(fmt), fmt).date() == sample.date()
    except ValueError:
        return False


def _has_time(fmt: str) -> bool:
    return any(d in fmt for d in ("%H", "%I", "%M", "%S", "%X", "%c"))


class DateTransform(_Transform):
    """To ``YYYY-MM-DD``. ISO 8601 by default (a date-time keeps the calendar date of its own
    offset); ``format`` is a ``strptime`` format for other text, e.g. ``"%d/%m/%Y"``."""

    model_config = ConfigDict(title="Date")
    kind: Literal["date"]
    format: str | None = Field(default=None, min_length=2, max_length=64)

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | DATE_KINDS

    @_model_validator(mode="after")
    def _check(self) -> DateTransform:
        if self.format is not None and not _is_date_format(self.format):
            raise ValueError(f"{self.format!r} is not a strptime date format that keeps day, month and year")
        return self

    def output_kind(self, in_kind: str) -> str | None:
        return "date" if self._reads(in_kind) else None

    def forward(self) -> Forward:
        fmt = self.format
        return lambda v: coerce_date(v, fmt)

    def reverse(self, value: Any, in_kind: str) -> Any:
        d = date.fromisoformat(value)
        if self.format is not None and in_kind not in DATE_KINDS:
            return datetime(d.year, d.month, d.day).strftime(self.format)
        if in_kind in DATE_KINDS:
            return f"{d.isoformat()}T00:00:00Z"
        return d.isoformat()


class DatetimeTransform(_Transform):
    """To a UTC ``YYYY-MM-DDTHH:MM:SSZ``; no offset means UTC; ``format`` as for ``date``."""

    model_config = ConfigDict(title="Date and time")
    kind: Literal["datetime"]
    format: str | None = Field(default=None, min_length=2, max_length=64)

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | DATE_KINDS

    @_model_validator(mode="after")
    def _check(self) -> DatetimeTransform:
        if self.format is not None and not _is_date_format(self.format):
            raise ValueError(f"{self.format!r} is not a strptime date format that keeps day, month and year")
        return self

    def output_kind(self, in_kind: str) -> str | None:
        return "datetime" if self._reads(in_kind) else None

    def forward(self) -> Forward:
        fmt = self.format
        return lambda v: coerce_datetime(v, fmt)

    def reverse(self, value: Any, in_kind: str) -> Any:
        if self.format is not None and in_kind not in DATE_KINDS:
            dt = datetime.fromisoformat(value)
            if not _has_time(self.format):
                return dt.strftime(self.format)
            return dt.replace(tzinfo=None).strftime(self.format)
        return value


class NumberTransform(_Transform):
    """From a number or numeric text (``"1,234.50"``; with ``decimal_separator=","``: ``"1.234,50"``)."""

    model_config = ConfigDict(title="Number")
    kind: Literal["number"]
    decimal_separator: Literal[".", ","] = "."

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | {"number"}

    def output_kind(self, in_kind: str) -> str | None:
        return "number" if self._reads(in_kind) else None

    def forward(self) -> Forward:
        sep = self.decimal_separator
        return lambda v: coerce_number(v, sep)

    def reverse(self, value: Any, in_kind: str) -> Any:
        if in_kind == "number":
            return value
        text = format_decimal(parse_decimal(value))
        return text.replace(".", ",") if self.decimal_separator == "," else text


class MoneyTransform(_Transform):
    """To ``{amount, currency}`` from a monetary amount, a number (+ ``currency``) or text such as
    ``"USD 1,200.00"`` / ``"$1,200"``. ``currency`` also names what a bare ``$`` means."""

    model_config = ConfigDict(title="Money")
    kind: Literal["money"]
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    decimal_separator: Literal[".", ","] = "."

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | {"number", "monetary_amount", "money"}

    def output_kind(self, in_kind: str) -> str | None:
        if not self._reads(in_kind):
            return None
        if in_kind == "number" and self.currency is None:
            return None
        return "money"

    def forward(self) -> Forward:
        cur, sep = self.currency, self.decimal_separator
        return lambda v: coerce_money(v, cur, sep)

    def reverse(self, value: Any, in_kind: str) -> Any:
        if in_kind in ("monetary_amount", "money", UNKNOWN):
            return value
        amount = Decimal(value["amount"])
        if in_kind == "number":
            if value["currency"] != self.currency:
                raise NotReversibleError(
                    f"the amount is in {value['currency']} but the Ironclad number is read as {self.currency}"
                )
            return decimal_to_json_number(amount)
        text = format_decimal(amount)
        if self.decimal_separator == ",":
            text = text.replace(".", ",")
        return f"{value['currency']} {text}"


class DurationTransform(_Transform):
    """To a normalised ISO-8601 duration; a number (or numeric text) counts ``unit``s."""

    model_config = ConfigDict(title="Duration")
    kind: Literal["duration"]
    unit: Literal["years", "months", "weeks", "days", "hours", "minutes", "seconds"] | None = None

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | {"number", "duration"}

    def output_kind(self, in_kind: str) -> str | None:
        if not self._reads(in_kind) or (in_kind == "number" and self.unit is None):
            return None
        return "duration"

    def forward(self) -> Forward:
        unit = self.unit
        return lambda v: coerce_duration(v, unit)

    def reverse(self, value: Any, in_kind: str) -> Any:
        if in_kind != "number":
            return value
        parts = parse_duration_parts(value)
        if not parts:
            return 0
        if set(parts) != {self.unit}:
            raise NotReversibleError(f"{value} is not a whole number of {self.unit}")
        return decimal_to_json_number(parts[str(self.unit)])


EnumValue = StrictStr | StrictBool | StrictInt | StrictFloat


class EnumMapTransform(_Transform):
    """Maps values: ``values: {from: to}``. Text is matched exactly, then (unless
    ``case_sensitive``) ignoring case and surrounding spaces; booleans as ``"true"``/``"false"``,
    numbers by their plain decimal text. Arrays are mapped item by item. An unknown value:
    ``fallback="error"`` (default) reports it, ``"keep"`` passes it through, ``"default"`` uses
    the rule's default (or leaves the field absent; in an array the item is dropped)."""

    model_config = ConfigDict(title="Map values")
    kind: Literal["enum_map"]
    values: dict[str, EnumValue] = Field(min_length=1)
    fallback: Literal["keep", "error", "default"] = "error"
    case_sensitive: bool = False

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | LIST_KINDS | {"number", "boolean", "email"}

    @_model_validator(mode="after")
    def _check(self) -> EnumMapTransform:
        if self._value_kind() is None:
            raise ValueError("enum_map values must all be text, all yes/no or all numbers")
        if not self.case_sensitive:
            folded: dict[str, Any] = {}
            for key, to in self.values.items():
                k = key.strip().casefold()
                if k in folded and folded[k] != to:
                    raise ValueError(
                        f"enum_map keys {key!r} differ from another key only by case but map to "
                        "different values; set case_sensitive"
                    )
                folded[k] = to
        return self

    def _value_kind(self) -> str | None:
        vals = list(self.values.values())
        if all(isinstance(v, str) for v in vals):
            return "enum"
        if all(isinstance(v, bool) for v in vals):
            return "boolean"
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
            return "number"
        return None

    def output_kind(self, in_kind: str) -> str | None:
        if not self._reads(in_kind):
            return None
        out = self._value_kind()
        if in_kind in LIST_KINDS:
            return "string_list" if out == "enum" else None
        return out

    def forward(self) -> Forward:
        exact = dict(self.values)
        folded = {} if self.case_sensitive else {k.strip().casefold(): v for k, v in self.values.items()}
        fallback = self.fallback
        known = ", ".join(repr(k) for k in list(self.values)[:10])

        def key_of(v: Any) -> str:
            if isinstance(v, str):
                return v
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, int | float | Decimal):
                return format_decimal(parse_decimal(v))
            raise ConversionError(f"cannot look up {describe_type(v)} in a value map")

        def one(v: Any) -> Any:
            key = key_of(v)
            if key in exact:
                return exact[key]
            if folded:
                hit = folded.get(key.strip().casefold(), USE_DEFAULT)
                if hit is not USE_DEFAULT:
                    return hit
            if fallback == "keep":
                return v
            if fallback == "default":
                return USE_DEFAULT
            raise ConversionError(f"{sample_of(v)!r} is not one of the mapped values ({known})")

        def run(v: Any) -> Any:
            if isinstance(v, list):
                out = [one(x) for x in v]
                return [x for x in out if x is not USE_DEFAULT]
            return one(v)

        return run

    def reversible(self) -> str | None:
        seen: dict[Any, str] = {}
        for key, to in self.values.items():
            marker = (type(to).__name__, to)
            if marker in seen:
                return f"the value map sends both {seen[marker]!r} and {key!r} to {to!r}"
            seen[marker] = key
        return None

    def reverse(self, value: Any, in_kind: str) -> Any:
        reason = self.reversible()
        if reason is not None:
            raise NotReversibleError(reason)
        inverse = {(type(to).__name__, to): key for key, to in self.values.items()}

        def one(v: Any) -> Any:
            key = (type(v).__name__, v)
            if key in inverse:
                return inverse[key]
            if self.fallback == "keep":
                return v
            raise NotReversibleError(f"{sample_of(v)!r} is not a value of the value map")

        if isinstance(value, list):
            return [one(x) for x in value]
        return one(value)


class BooleanTransform(_Transform):
    """From a bool, 0/1 or text yes/no/true/false/1/0/y/n (any case); ``true_values`` and
    ``false_values`` add words (e.g. ``["auto-renew"]``)."""

    model_config = ConfigDict(title="Yes / no")
    kind: Literal["boolean"]
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | {"boolean", "number"}

    @_model_validator(mode="after")
    def _check(self) -> BooleanTransform:
        t = {w.strip().casefold() for w in self.true_values}
        f = {w.strip().casefold() for w in self.false_values}
        if t & (f | FALSE_WORDS) or f & TRUE_WORDS:
            raise ValueError("a word cannot mean both yes and no")
        return self

    def output_kind(self, in_kind: str) -> str | None:
        return "boolean" if self._reads(in_kind) else None

    def forward(self) -> Forward:
        t = frozenset(w.strip().casefold() for w in self.true_values)
        f = frozenset(w.strip().casefold() for w in self.false_values)
        return lambda v: coerce_boolean(v, t, f)

    def reverse(self, value: Any, in_kind: str) -> Any:
        if in_kind in ("boolean", UNKNOWN):
            return bool(value)
        if in_kind == "number":
            return 1 if value else 0
        if value:
            return self.true_values[0] if self.true_values else "true"
        return self.false_values[0] if self.false_values else "false"


class EmailTransform(_Transform):
    """Trim, lower-case and check the shape of an email address."""

    model_config = ConfigDict(title="Email")
    kind: Literal["email"]

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | {"email"}

    def output_kind(self, in_kind: str) -> str | None:
        return "email" if self._reads(in_kind) else None

    def forward(self) -> Forward:
        return coerce_email

    def reverse(self, value: Any, in_kind: str) -> Any:
        return value


def _text_item(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int | float | Decimal) and not isinstance(v, bool):
        return format_decimal(parse_decimal(v))
    raise ConversionError(f"expected text items, got {describe_type(v)}")


class JoinTransform(_Transform):
    """An array to one text, items joined with ``separator`` (default ``", "``)."""

    model_config = ConfigDict(title="Join list into text")
    kind: Literal["join"]
    separator: str = Field(default=", ", min_length=1, max_length=10)

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | LIST_KINDS

    def output_kind(self, in_kind: str) -> str | None:
        return "string" if self._reads(in_kind) else None

    def forward(self) -> Forward:
        sep = self.separator

        def run(v: Any) -> Any:
            if isinstance(v, str):
                return v
            if not isinstance(v, list):
                raise ConversionError(f"expected a list to join, got {describe_type(v)}")
            return sep.join(_text_item(x) for x in v)

        return run

    def reverse(self, value: Any, in_kind: str) -> Any:
        if in_kind not in LIST_KINDS and in_kind != UNKNOWN:
            return value
        sep = self.separator.strip() or self.separator
        return [p.strip() for p in value.split(sep) if p.strip()]


class SplitTransform(_Transform):
    """A text to a list: split on ``separator`` (default ``","``), items trimmed, empties dropped."""

    model_config = ConfigDict(title="Split text into list")
    kind: Literal["split"]
    separator: str = Field(default=",", min_length=1, max_length=10)

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | LIST_KINDS

    def output_kind(self, in_kind: str) -> str | None:
        return "string_list" if self._reads(in_kind) else None

    def forward(self) -> Forward:
        sep = self.separator

        def run(v: Any) -> Any:
            if isinstance(v, list):
                items = [_text_item(x).strip() for x in v]
            elif isinstance(v, str):
                items = [p.strip() for p in v.split(sep)]
            else:
                raise ConversionError(f"expected text to split, got {describe_type(v)}")
            return [p for p in items if p]

        return run

    def reverse(self, value: Any, in_kind: str) -> Any:
        if in_kind in LIST_KINDS:
            return list(value)
        for item in value:
            if self.separator in item:
                raise NotReversibleError(f"the item {item!r} contains the separator {self.separator!r}")
        return self.separator.join(value)


class TrimTransform(_Transform):
    """Strip surrounding white space (from text or each item of a list)."""

    model_config = ConfigDict(title="Trim spaces")
    kind: Literal["trim"]

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | LIST_KINDS | {"email"}

    def output_kind(self, in_kind: str) -> str | None:
        if not self._reads(in_kind):
            return None
        return "string_list" if in_kind in LIST_KINDS else in_kind

    def forward(self) -> Forward:
        def run(v: Any) -> Any:
            if isinstance(v, str):
                return v.strip()
            if isinstance(v, list):
                return [s for s in (_text_item(x).strip() for x in v) if s]
            raise ConversionError(f"expected text to trim, got {describe_type(v)}")

        return run

    def reverse(self, value: Any, in_kind: str) -> Any:
        return value


class CaseTransform(_Transform):
    """Upper, lower or title case (text or each item of a list). Not reversible."""

    model_config = ConfigDict(title="Change case")
    kind: Literal["case"]
    mode: Literal["upper", "lower", "title"]

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | LIST_KINDS | {"email"}

    def output_kind(self, in_kind: str) -> str | None:
        if not self._reads(in_kind):
            return None
        return "string_list" if in_kind in LIST_KINDS else in_kind

    def forward(self) -> Forward:
        def change(s: str) -> str:
            if self.mode == "upper":
                return s.upper()
            if self.mode == "lower":
                return s.lower()
            return s.title()

        def run(v: Any) -> Any:
            if isinstance(v, str):
                return change(v)
            if isinstance(v, list):
                return [change(_text_item(x)) for x in v]
            raise ConversionError(f"expected text to change case, got {describe_type(v)}")

        return run

    def reversible(self) -> str | None:
        return "a change of case loses the original spelling"

    def reverse(self, value: Any, in_kind: str) -> Any:
        raise NotReversibleError(self.reversible() or "")


class AddressTransform(_Transform):
    """An address object or text to the address representation."""

    model_config = ConfigDict(title="Address")
    kind: Literal["address"]

    accepts: ClassVar[frozenset[str]] = TEXT_KINDS | {"address"}

    def output_kind(self, in_kind: str) -> str | None:
        return "address" if self._reads(in_kind) else None

    def forward(self) -> Forward:
        return coerce_address

    def reverse(self, value: Any, in_kind: str) -> Any:
        if in_kind in ("address", UNKNOWN):
            return value
        return address_text(value)


class IdentityTransform(_Transform):
    """The value as it is (the target type's own conversion still applies)."""

    model_config = ConfigDict(title="As is")
    kind: Literal["identity"]

    def output_kind(self, in_kind: str) -> str | None:
        return in_kind

    def forward(self) -> Forward:
        return lambda v: v

    def reverse(self, value: Any, in_kind: str) -> Any:
        return value


def address_text(value: dict[str, Any]) -> str:
    """An address representation as text: ``raw`` when known, else its parts on lines."""
    if value.get("raw"):
        return str(value["raw"])
    parts = list(value.get("lines") or [])
    tail = " ".join(str(value[k]) for k in ("locality", "region", "postcode") if value.get(k))
    if tail:
        parts.append(tail)
    if value.get("country"):
        parts.append(str(value["country"]))
    return "\n".join(parts)


def _kind_shorthand(value: Any) -> Any:
    """Allow ``"trim"`` for ``{"kind": "trim"}``."""
    if isinstance(value, str):
        return {"kind": value}
    return value


AnyTransform = (
    DateTransform
    | DatetimeTransform
    | NumberTransform
    | MoneyTransform
    | DurationTransform
    | EnumMapTransform
    | BooleanTransform
    | EmailTransform
    | JoinTransform
    | SplitTransform
    | TrimTransform
    | CaseTransform
    | AddressTransform
    | IdentityTransform
)
Transform = Annotated[AnyTransform, Field(discriminator="kind"), BeforeValidator(_kind_shorthand)]


def chain_kinds(transforms: list[AnyTransform], source_kind: str) -> tuple[list[str], int | None]:
    """Kinds along a chain: ``[source_kind, after 1st, after 2nd, ...]``.

    The second item is the index of the first transform that cannot read its input (the list
    then stops there), or None when the whole chain fits.
    """
    kinds = [source_kind]
    for i, t in enumerate(transforms):
        out = t.output_kind(kinds[-1])
        if out is None:
            return kinds, i
        kinds.append(out)
    return kinds, None
