"""Value converters: Ironclad values in, Contracts AI representations out.

Every public function here takes an arbitrary JSON value and either returns the representation of
one target type or raises :class:`ConversionError`. Nothing else escapes: a converter that meets a
value it does not understand says so instead of guessing, because a garbled date or amount is
worse than no value at all.

Representations (what ends up in a contract's ``fields``; all JSON and BSON safe):

========== ==================================================================================
type       representation
========== ==================================================================================
string     ``str``
text       ``str``
enum       ``str`` (one option of the target when the target lists options)
date       ``str`` ``YYYY-MM-DD``. From a date-time with an offset the *calendar date in that
           offset* is taken: ``2018-05-08T00:00:00-07:00`` is ``2018-05-08`` (Ironclad stores a
           date as midnight in the company's zone; converting to UTC first would move
           ``...T00:00:00+02:00`` to the previous day).
datetime   ``str`` ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z``, always UTC; a value without an offset
           is taken as UTC, a date alone as midnight UTC. The fraction is written only when
           non-zero: 3 digits when whole milliseconds, else 6.
number     ``int`` when the value is integral and fits in 64 bits, else ``float`` (finite).
boolean    ``bool``
duration   ``str``, ISO-8601 duration normalised: upper case, zero parts dropped, ``,`` decimal
           mark written ``.``, weeks kept as weeks (``P10Y3M2W1D`` stays), zero is ``P0D``.
money      ``{"amount": str, "currency": str}``. ``amount`` is an exact decimal string in plain
           notation with no exponent and no trailing zeros (``"150000.55"``, ``"1200"``,
           ``"-3.5"``); ``currency`` is the upper-case ISO 4217 code. A string never loses
           precision, whereas a double would (and BSON has no portable decimal for JSON clients).
email      ``str``, trimmed and lower-cased, shape-checked.
address    ``{"lines": [str, ...], "locality": str|None, "region": str|None,
           "postcode": str|None, "country": str|None, "raw": str|None}`` (all six keys always).
           An address given as a string becomes ``raw`` plus its non-empty lines.
string_list ``list[str]``
========== ==================================================================================

One file on purpose: one converter per Contracts AI field type, with the parsers they share (numbers,
money, dates, durations); the transforms and the type conversion both use them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from contracts_common.emails import normalized_email

__all__ = [
    "ConversionError",
    "coerce_address",
    "coerce_boolean",
    "coerce_date",
    "coerce_datetime",
    "coerce_duration",
    "coerce_email",
    "coerce_money",
    "coerce_number",
    "coerce_string",
    "coerce_string_list",
    "decimal_to_json_number",
    "describe_type",
    "format_decimal",
    "is_empty",
    "parse_decimal",
    "sample_of",
]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
# Largest magnitude of decimal exponent accepted from text; beyond it a value is not an amount
# anyone means, and formatting it in plain notation would produce a huge string.
_MAX_EXPONENT: Final = 40
_MAX_NUMERIC_TEXT: Final = 100


class ConversionError(ValueError):
    """A value that cannot be converted to the wanted type. ``message`` is a sentence for an admin."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- helpers


def describe_type(value: Any) -> str:
    """The JSON type name of a value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def sample_of(value: Any, limit: int = 100) -> str:
    """A short text form of a value for error reports (JSON where possible, cut to ``limit``)."""
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    if len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def is_empty(value: Any) -> bool:
    """None, a blank string, an empty list or an empty object: treated as "no value"."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return len(value) == 0
    return False


# --------------------------------------------------------------------------- numbers

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED_DOT = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")  # 1,234,567.89
_GROUPED_COMMA = re.compile(r"[+-]?\d{1,3}(?:[. ]\d{3})+(?:,\d+)?")  # 1.234.567,89 / 1 234 567,89
_PLAIN_COMMA = re.compile(r"[+-]?\d+(?:,\d+)?")  # 1234,5


def _checked_decimal(d: Decimal, original: Any) -> Decimal:
    if not d.is_finite():
        raise ConversionError(f"{sample_of(original)!r} is not a finite number")
    if d.is_zero():
        return Decimal(0)
    if abs(d.adjusted()) > _MAX_EXPONENT:
        raise ConversionError(f"{sample_of(original)!r} is out of the supported range (10^±{_MAX_EXPONENT})")
    return d


def parse_decimal(value: Any, decimal_separator: str = ".") -> Decimal:
    """An exact Decimal from a JSON number or a numeric string.

    Strings: surrounding spaces ignored; with ``decimal_separator="."`` (default) thousands may be
    grouped with ``,`` in threes (``"1,234.50"``); with ``","`` groups use ``.`` or a space
    (``"1.234,50"``). Anything else (``"12abc"``, ``"1,2,3"``, ``""``) is an error. Floats go
    through their shortest repr, so ``150000.55`` stays ``150000.55``.
    """
    if isinstance(value, bool):
        raise ConversionError(f"a boolean ({value!r}) is not a number")
    if isinstance(value, int):
        return _checked_decimal(Decimal(value), value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConversionError(f"{value!r} is not a finite number")
        return _checked_decimal(Decimal(repr(value)), value)
    if isinstance(value, Decimal):
        return _checked_decimal(value, value)
    if not isinstance(value, str):
        raise ConversionError(f"expected a number or a numeric string, got {describe_type(value)}")
    text = value.strip().replace("\u00a0", " ").replace("\u202f", " ")
    if not text or len(text) > _MAX_NUMERIC_TEXT:
        raise ConversionError(f"{sample_of(value)!r} is not a number")
    if decimal_separator == ",":
        if _GROUPED_COMMA.fullmatch(text):
            normal = text.replace(".", "").replace(" ", "").replace(",", ".")
        elif _PLAIN_COMMA.fullmatch(text):
            normal = text.replace(",", ".")
        else:
            raise ConversionError(f"{sample_of(value)!r} is not a number (decimal separator ',')")
    else:
        if _PLAIN_NUMBER.fullmatch(text):
            normal = text
        elif _GROUPED_DOT.fullmatch(text):
            normal = text.replace(",", "")
        else:
            raise ConversionError(f"{sample_of(value)!r} is not a number")
    try:
        d = Decimal(normal)
    except InvalidOperation as exc:  # pragma: no cover - the patterns above only let numbers through
        raise ConversionError(f"{sample_of(value)!r} is not a number") from exc
    return _checked_decimal(d, value)


def format_decimal(d: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros, no negative zero."""
    if d.is_zero():
        return "0"
    text = format(d, "f")  # not normalize(): that rounds to the context's 28 digits
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def decimal_to_json_number(d: Decimal) -> int | float:
    """``int`` when integral and within 64 bits, else ``float``."""
    if d == d.to_integral_value():
        i = int(d)
        if INT64_MIN <= i <= INT64_MAX:
            return i
    return float(d)


def coerce_number(value: Any, decimal_separator: str = ".") -> int | float:
    """The ``number`` representation."""
    if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return value
    return decimal_to_json_number(parse_decimal(value, decimal_separator))


# --------------------------------------------------------------------------- money

_CURRENCY = re.compile(r"[A-Z]{3}")
_SYMBOLS: Final[dict[str, str]] = {
    "$": "USD",
    "US$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "CHF": "CHF",
    "₩": "KRW",
    "R$": "BRL",
    "C$": "CAD",
    "A$": "AUD",
}
# Currencies written with a bare "$": a rule's ``currency`` parameter may say which one is meant.
_DOLLAR_CURRENCIES: Final = frozenset(
    {"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "TWD", "CLP", "COP", "ARS", "BRL"}
)
_MONEY_TEXT = re.compile(
    r"(?P<pre>[A-Za-z]{3}|US\$|R\$|C\$|A\$|[$€£¥₹₩])?\s*"
    r"(?P<sign>[+-])?\s*"
    r"(?P<pre2>[$€£¥₹₩])?\s*"
    r"(?P<num>[0-9][0-9.,\u00a0\u202f ]*)"
    r"\s*(?P<post>[A-Za-z]{3}|[$€£¥₹₩])?"
)


def _currency(code: Any) -> str:
    if not isinstance(code, str) or not _CURRENCY.fullmatch(code.strip().upper()):
        raise ConversionError(f"{sample_of(code)!r} is not an ISO 4217 currency code")
    return code.strip().upper()


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"amount": format_decimal(amount), "currency": currency}


def coerce_money(value: Any, currency: str | None = None, decimal_separator: str = ".") -> dict[str, Any]:
    """The ``money`` representation.

    Accepts an Ironclad ``monetary_amount`` ``{amount, currency}`` (also this library's own
    representation with a string amount), a number or numeric string together with ``currency``,
    or text such as ``"USD 1,200.00"``, ``"1200 EUR"``, ``"$1,200"`` (a ``$`` means ``currency``
    when that is a dollar currency, else USD; other symbols map to their one currency).
    """
    if isinstance(value, dict):
        if "amount" not in value:
            raise ConversionError("a monetary amount needs an 'amount'")
        amount = parse_decimal(value["amount"], decimal_separator)
        code = value.get("currency")
        if code is None or code == "":
            if currency is None:
                raise ConversionError("the monetary amount has no currency and the rule sets none")
            return _money(amount, currency)
        return _money(amount, _currency(code))
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if currency is None:
            raise ConversionError("a bare number needs the rule's 'currency' to become an amount")
        return _money(parse_decimal(value), currency)
    if not isinstance(value, str):
        raise ConversionError(f"expected a monetary amount, got {describe_type(value)}")
    text = value.strip()
    m = _MONEY_TEXT.fullmatch(text) if len(text) <= _MAX_NUMERIC_TEXT else None
    if m is None:
        raise ConversionError(f"{sample_of(value)!r} is not an amount of money")
    marks = [x for x in (m.group("pre"), m.group("pre2"), m.group("post")) if x]
    if len(marks) > 1:
        raise ConversionError(f"{sample_of(value)!r} names its currency more than once")
    number = m.group("num").strip()
    amount = parse_decimal(number, decimal_separator)
    if m.group("sign") == "-":
        amount = -amount
    if not marks:
        if currency is None:
            raise ConversionError(f"{sample_of(value)!r} has no currency and the rule sets none")
        return _money(amount, currency)
    mark = marks[0]
    if mark in _SYMBOLS:
        code = _SYMBOLS[mark]
        if mark == "$" and currency in _DOLLAR_CURRENCIES:
            code = currency
    else:
        code = _currency(mark)
    return _money(amount, code)


# --------------------------------------------------------------------------- dates

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}")


def _parse_datetime(value: Any, fmt: str | None) -> datetime | date:
    if not isinstance(value, str):
        raise ConversionError(f"expected a date as text, got {describe_type(value)}")
    text = value.strip()
    try:
        if fmt is not None:
            parsed = datetime.strptime(text, fmt)
            has_time = any(d in fmt for d in ("%H", "%I", "%M", "%S", "%z", "%X", "%c"))
            return parsed if has_time else parsed.date()
        if _DATE_ONLY.fullmatch(text):
            return date.fromisoformat(text)
        if _DATETIME_PREFIX.match(text):
            return datetime.fromisoformat(text)
    except (ValueError, OverflowError, TypeError) as exc:
        raise ConversionError(f"{sample_of(value)!r} is not a valid date: {exc}") from exc
    expected = f"the format {fmt!r}" if fmt else "ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS±HH:MM)"
    raise ConversionError(f"{sample_of(value)!r} is not a date in {expected}")


def coerce_date(value: Any, fmt: str | None = None) -> str:
    """The ``date`` representation; a date-time keeps the calendar date of its own offset."""
    parsed = _parse_datetime(value, fmt)
    d = parsed.date() if isinstance(parsed, datetime) else parsed
    return d.isoformat()


def format_datetime(dt: datetime) -> str:
    """UTC ISO form with ``Z``; fraction only when non-zero (ms when whole ms)."""
    base = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    us = dt.microsecond
    if us == 0:
        return base + "Z"
    if us % 1000 == 0:
        return f"{base}.{us // 1000:03d}Z"
    return f"{base}.{us:06d}Z"


def coerce_datetime(value: Any, fmt: str | None = None) -> str:
    """The ``datetime`` representation (UTC, ``Z``)."""
    parsed = _parse_datetime(value, fmt)
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    try:
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ConversionError(f"{sample_of(value)!r} is out of the supported date range") from exc
    return format_datetime(parsed)


# --------------------------------------------------------------------------- durations

_NUM = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?",
    re.IGNORECASE,
)
_DATE_DESIGNATORS: Final = ("Y", "M", "W", "D")
_TIME_DESIGNATORS: Final = ("H", "M", "S")
DURATION_UNITS: Final[dict[str, tuple[str, bool]]] = {
    # unit -> (designator, is a time part)
    "years": ("Y", False),
    "months": ("M", False),
    "weeks": ("W", False),
    "days": ("D", False),
    "hours": ("H", True),
    "minutes": ("M", True),
    "seconds": ("S", True),
}
_UNIT_WORDS: Final[dict[str, str]] = {
    "y": "years", "yr": "years", "yrs": "years", "year": "years", "years": "years",
    "mo": "months", "mos": "months", "month": "months", "months": "months",
    "w": "weeks", "wk": "weeks", "wks": "weeks", "week": "weeks", "weeks": "weeks",
    "d": "days", "day": "days", "days": "days",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "s": "seconds", "sec": "seconds", "secs": "seconds", "second": "seconds", "seconds": "seconds",
}  # fmt: skip
_HUMAN_DURATION = re.compile(r"(\d+(?:[.,]\d+)?)\s*([A-Za-z]+)")


def _duration_part(text: str | None) -> str | None:
    if text is None:
        return None
    d = Decimal(text.replace(",", "."))
    if d.is_zero():
        return None
    if d.adjusted() > _MAX_EXPONENT:
        raise ConversionError(f"{text!r} is too large for a duration")
    return format_decimal(d)


def _format_duration(date_parts: list[str | None], time_parts: list[str | None]) -> str:
    out = "P" + "".join(f"{p}{d}" for p, d in zip(date_parts, _DATE_DESIGNATORS, strict=True) if p)
    time = "".join(f"{p}{d}" for p, d in zip(time_parts, _TIME_DESIGNATORS, strict=True) if p)
    if time:
        out += "T" + time
    return "P0D" if out == "P" else out


def _duration_from_amount(amount: Decimal, unit: str) -> str:
    if amount < 0:
        raise ConversionError("a duration cannot be negative")
    designator, is_time = DURATION_UNITS[unit]
    part = _duration_part(format(amount, "f")) if not amount.is_zero() else None
    if part is None:
        return "P0D"
    return f"PT{part}{designator}" if is_time else f"P{part}{designator}"


def coerce_duration(value: Any, unit: str | None = None) -> str:
    """The ``duration`` representation.

    Accepts ISO-8601 durations (``P1Y2M``, ``p30d``, ``PT36H``; at least one part; only the
    last part may have a fraction), a number of ``unit`` (``12`` with ``unit="months"`` →
    ``P12M``) and short text like ``"12 months"`` / ``"30 days"``.
    """
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if unit is None:
            raise ConversionError("a bare number needs the rule's 'unit' to become a duration")
        return _duration_from_amount(parse_decimal(value), unit)
    if not isinstance(value, str):
        raise ConversionError(f"expected an ISO-8601 duration, got {describe_type(value)}")
    text = value.strip()
    if len(text) > _MAX_NUMERIC_TEXT:
        raise ConversionError(f"{sample_of(value)!r} is not an ISO-8601 duration")
    m = _DURATION.fullmatch(text)
    if m is not None:
        groups = m.groups()
        if all(g is None for g in groups) or text.upper().endswith("T"):
            raise ConversionError(f"{sample_of(value)!r} is not an ISO-8601 duration (no parts)")
        present = [g for g in groups if g is not None]
        if any(("." in g or "," in g) for g in present[:-1]):
            raise ConversionError(
                f"{sample_of(value)!r}: only the last part of a duration may have a fraction"
            )
        parts = [_duration_part(g) for g in groups]
        return _format_duration(parts[:4], parts[4:])
    if unit is not None:
        try:
            return _duration_from_amount(parse_decimal(text), unit)
        except ConversionError:
            pass
    h = _HUMAN_DURATION.fullmatch(text)
    if h is not None and h.group(2).lower() in _UNIT_WORDS:
        return _duration_from_amount(Decimal(h.group(1).replace(",", ".")), _UNIT_WORDS[h.group(2).lower()])
    raise ConversionError(f"{sample_of(value)!r} is not an ISO-8601 duration (e.g. P1Y, P6M, P30D)")


def parse_duration_parts(iso: str) -> dict[str, Decimal]:
    """``{"years": 1, "months": 6}`` for a normalised duration (used by reverse transforms)."""
    m = _DURATION.fullmatch(iso)
    if m is None:
        raise ConversionError(f"{sample_of(iso)!r} is not an ISO-8601 duration")
    names = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")
    return {n: Decimal(g.replace(",", ".")) for n, g in zip(names, m.groups(), strict=True) if g is not None}


# --------------------------------------------------------------------------- booleans

TRUE_WORDS: Final = frozenset({"yes", "true", "1", "y"})
FALSE_WORDS: Final = frozenset({"no", "false", "0", "n"})


def coerce_boolean(
    value: Any,
    true_values: frozenset[str] = frozenset(),
    false_values: frozenset[str] = frozenset(),
) -> bool:
    """The ``boolean`` representation: a bool, 0/1, or yes/no/true/false/1/0/y/n (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            raise ConversionError(f"{value!r} is not a yes/no value")
        if value == 1:
            return True
        if value == 0:
            return False
        raise ConversionError(f"{sample_of(value)!r} is not a yes/no value (only 0 and 1 are)")
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in TRUE_WORDS or word in true_values:
            return True
        if word in FALSE_WORDS or word in false_values:
            return False
        raise ConversionError(f"{sample_of(value)!r} is not a yes/no value (yes/no, true/false, y/n, 1/0)")
    raise ConversionError(f"expected a yes/no value, got {describe_type(value)}")


# --------------------------------------------------------------------------- text


def coerce_email(value: Any) -> str:
    """The ``email`` representation: trimmed, lower-cased, valid by the project's one email rule."""
    if not isinstance(value, str):
        raise ConversionError(f"expected an email address, got {describe_type(value)}")
    text = value.strip().lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:") :]
    try:
        return normalized_email(text).lower()
    except ValueError as exc:
        raise ConversionError(f"{sample_of(value)!r} is not an email address: {exc}") from exc


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ConversionError(f"a yes/no value ({value!r}) is not text")
    if isinstance(value, int | float | Decimal):
        return format_decimal(parse_decimal(value))
    raise ConversionError(f"expected text, got {describe_type(value)}")


def coerce_string(value: Any) -> str:
    """The ``string``/``text``/``enum`` representation; numbers become their plain decimal text."""
    return _scalar_text(value)


def coerce_string_list(value: Any) -> list[str]:
    """The ``string_list`` representation; a single string becomes a one-item list."""
    if isinstance(value, list | tuple):
        return [_scalar_text(v) for v in value]
    return [_scalar_text(value)]


_ADDRESS_KEYS: Final = ("locality", "region", "postcode", "country", "raw")


def _opt_text(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a numeric postcode
    raise ConversionError(f"address part {key!r} must be text, got {describe_type(value)}")


def coerce_address(value: Any) -> dict[str, Any]:
    """The ``address`` representation (see the module docstring)."""
    if isinstance(value, str):
        raw = value.strip()
        if not raw:
            raise ConversionError("an empty address")
        raw_lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
        return {
            "lines": raw_lines,
            "locality": None,
            "region": None,
            "postcode": None,
            "country": None,
            "raw": raw,
        }
    if not isinstance(value, dict):
        raise ConversionError(f"expected an address (object or text), got {describe_type(value)}")
    lines_in = value.get("lines")
    lines: list[str] = []
    if lines_in is None:
        pass
    elif isinstance(lines_in, list):
        for ln in lines_in:
            if not isinstance(ln, str):
                raise ConversionError(f"address lines must be text, got {describe_type(ln)}")
            if ln.strip():
                lines.append(ln.strip())
    elif isinstance(lines_in, str):
        lines = [ln.strip() for ln in lines_in.splitlines() if ln.strip()]
    else:
        raise ConversionError(f"address lines must be a list of text, got {describe_type(lines_in)}")
    out: dict[str, Any] = {"lines": lines}
    for key in _ADDRESS_KEYS:
        out[key] = _opt_text(value.get(key), key)
    if not lines and all(out[k] is None for k in _ADDRESS_KEYS):
        raise ConversionError("an address with no parts")
    return out


COERCERS: Final[dict[str, Callable[[Any], Any]]] = {
    "string": coerce_string,
    "text": coerce_string,
    "enum": coerce_string,
    "date": coerce_date,
    "datetime": coerce_datetime,
    "number": coerce_number,
    "boolean": coerce_boolean,
    "duration": coerce_duration,
    "money": coerce_money,
    "email": coerce_email,
    "address": coerce_address,
    "string_list": coerce_string_list,
}
