"""Hypothesis property tests of converters, apply and reverse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from contracts_common.mapping import (
    BUILTIN_TARGET_FIELDS,
    ConversionError,
    MappingRule,
    Transform,
    compile_mapping,
    reverse_fields,
)
from contracts_common.mapping.compat import target_coercer
from contracts_common.mapping.transforms import USE_DEFAULT

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Strings that look almost like the things converters parse.
near_miss = st.from_regex(
    r"[ $€£A-Za-z]{0,3}[-+]?[0-9.,]{0,12}[ A-Za-z]{0,4}"
    r"|P[0-9.,YMWDTHS]{0,10}"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.+Z-]{0,20})?",
    fullmatch=True,
)
money_like = st.fixed_dictionaries(
    {"amount": json_scalars | near_miss},
    optional={"currency": json_scalars | st.sampled_from(["USD", "eur", "X"])},
)


def record(**props: tuple[str, Any]) -> dict[str, Any]:
    """A record shaped like Ironclad's ``RecordModel``, properties given as ``id=(type, value)``."""
    return {
        "id": "22e2ff72-56a1-4711-a4ca-41328d311e9f",
        "ironcladId": "IC-1",
        "type": "consultingAgreement",
        "name": "Consulting Agreement with Jane Doe",
        "lastUpdated": "2018-05-08T17:28:10Z",
        "properties": {k: {"type": t, "value": v} for k, (t, v) in props.items()},
        "attachments": {},
        "links": [],
        "contractStatus": {"status": "active"},
    }


anything = json_values | near_miss | money_like

TRANSFORM_SPECS: list[Any] = [
    "date",
    {"kind": "date", "format": "%d/%m/%Y"},
    "datetime",
    "number",
    {"kind": "number", "decimal_separator": ","},
    "money",
    {"kind": "money", "currency": "EUR"},
    "duration",
    {"kind": "duration", "unit": "days"},
    {"kind": "enum_map", "values": {"a": "x", "1": "y", "true": "z"}},
    {"kind": "enum_map", "values": {"a": True}, "fallback": "keep"},
    {"kind": "enum_map", "values": {"a": 1}, "fallback": "default"},
    "boolean",
    {"kind": "boolean", "true_values": ["on"]},
    "email",
    "join",
    "split",
    "trim",
    {"kind": "case", "mode": "title"},
    "address",
    "identity",
]
FORWARDS = [TypeAdapter(Transform).validate_python(s).forward() for s in TRANSFORM_SPECS]
COERCERS = [target_coercer(f) for f in BUILTIN_TARGET_FIELDS]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(anything)
def test_transforms_raise_only_conversion_errors(value: Any) -> None:
    for forward in [*FORWARDS, *COERCERS]:
        try:
            forward(value)
        except ConversionError:
            pass


@SETTINGS
@given(anything)
def test_target_representations_are_fixed_points(value: Any) -> None:
    """Converting a converted value again changes nothing (re-mapping is idempotent)."""
    for field, coerce in zip(BUILTIN_TARGET_FIELDS, COERCERS, strict=True):
        try:
            once = coerce(value)
        except ConversionError:
            continue
        assert coerce(once) == once, field.name


# ------------------------------------------------------------------ round trips through apply and reverse

METADATA = {
    "properties": {
        "d": {"type": "date"},
        "m": {"type": "monetary_amount"},
        "u": {"type": "duration"},
        "n": {"type": "number"},
        "s": {"type": "string"},
        "t": {"type": "string"},
    }
}
ROUND_RULES = [
    MappingRule(source="properties.d", target="agreement_date"),
    MappingRule(source="properties.m", target="contract_value"),
    MappingRule(source="properties.u", target="term"),
    MappingRule.model_validate(
        {
            "source": "properties.n",
            "target": "renewal_term",
            "transform": {"kind": "duration", "unit": "days"},
        }
    ),
    MappingRule.model_validate({"source": "properties.s", "target": "expiration_date", "transform": "date"}),
    MappingRule.model_validate({"source": "properties.t", "target": "tags", "transform": "split"}),
]
ROUND = compile_mapping(ROUND_RULES)

offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
dates_with_offsets = st.builds(
    lambda d, tz, h, mi: (
        datetime(d.year, d.month, d.day, h, mi, tzinfo=tz).isoformat().replace("+00:00", "Z")
    ),
    st.dates(min_value=date(1900, 1, 2), max_value=date(2200, 12, 30)),
    offsets,
    st.integers(0, 23),
    st.integers(0, 59),
) | st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)).map(date.isoformat)
amounts = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False).map(
    lambda d: float(d)
) | st.integers(min_value=-(10**15), max_value=10**15)
currencies = st.sampled_from(["USD", "EUR", "JPY", "gbp"])
durations = st.builds(
    lambda y, mo, w, d, h: (
        "P"
        + "".join(f"{v}{k}" for v, k in ((y, "Y"), (mo, "M"), (w, "W"), (d, "D")) if v)
        + (f"T{h}H" if h else "")
        if any((y, mo, w, d, h))
        else "P0D"
    ),
    *(st.integers(0, 50) for _ in range(5)),
)


@SETTINGS
@given(
    d=dates_with_offsets,
    amount=amounts,
    currency=currencies,
    duration=durations,
    days=st.integers(0, 10_000),
    s=dates_with_offsets,
    tags=st.lists(st.text("abc xyz-", min_size=1, max_size=6).map(str.strip).filter(bool), max_size=4),
)
def test_round_trip_apply_reverse_apply(
    d: str, amount: float, currency: str, duration: str, days: int, s: str, tags: list[str]
) -> None:
    rec = record(
        d=("date", d),
        m=("monetary_amount", {"amount": amount, "currency": currency}),
        u=("duration", duration),
        n=("number", days),
        s=("string", s),
        t=("string", ",".join(tags)),
    )
    first = ROUND.apply(rec)
    assert first.errors == []
    # Money keeps the exact decimal of the JSON number.
    assert Decimal(first.fields["contract_value"]["amount"]) == Decimal(repr(amount))
    patch = reverse_fields(first.fields, ROUND_RULES, METADATA)
    assert patch.skipped == []
    back = record()
    back["properties"] = patch.add_properties
    second = ROUND.apply(back)
    assert second.errors == []
    assert second.fields == first.fields
    assert patch.add_properties["d"]["value"].endswith("T00:00:00Z")


@SETTINGS
@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9))
def test_number_round_trip(n: Decimal) -> None:
    """Numbers, from JSON numbers or numeric text, come back as the same Ironclad number."""
    rules = [
        MappingRule.model_validate(
            {
                "source": "properties.n",
                "target": "renewal_term",
                "transform": {"kind": "duration", "unit": "days"},
            }
        ),
        MappingRule.model_validate({"source": "properties.t", "target": "notes", "transform": "number"}),
    ]
    value = int(n) if n == int(n) else float(n)
    rec = record(n=("number", abs(value)), t=("string", f"{n:,}"))
    first = compile_mapping(rules).apply(rec)
    assert first.errors == []
    patch = reverse_fields(first.fields, rules, METADATA)
    assert patch.add_properties["n"]["value"] == abs(value)
    assert Decimal(patch.add_properties["t"]["value"]) == n


# ------------------------------------------------------------------ apply: deterministic, failure isolation

ALL_RULES = [
    MappingRule(source="properties.a", target="agreement_date"),
    MappingRule(source="properties.b", target="contract_value"),
    MappingRule(source="properties.c", target="term"),
    MappingRule.model_validate({"source": "properties.d", "target": "auto_renew", "transform": "boolean"}),
    MappingRule(source="properties.e", target="owner_email"),
    MappingRule(source="properties.f", target="tags"),
    MappingRule(source="properties.g", target="counterparty_address"),
    MappingRule(source="properties.h", target="title", default="Untitled"),
    MappingRule(source="properties.i", target="last_updated"),
    MappingRule.model_validate(
        {"source": "properties.j", "target": "renewal_date", "transform": ["trim", "date"]}
    ),
]
ALL = compile_mapping(ALL_RULES)
SINGLE = [compile_mapping([r]) for r in ALL_RULES]
props = st.dictionaries(
    st.sampled_from("abcdefghij"),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["string", "date", "number", "monetary_amount"]), "value": anything}
    ),
)


@SETTINGS
@given(props)
def test_apply_is_deterministic_and_failures_are_isolated(properties: dict[str, Any]) -> None:
    rec = record()
    rec["properties"] = properties
    result = ALL.apply(rec)
    assert ALL.apply(rec) == result
    assert len(result.errors) + len(result.fields) <= len(ALL_RULES)
    merged: dict[str, Any] = {}
    error_targets: list[str] = []
    for single in SINGLE:
        alone = single.apply(rec)
        merged.update(alone.fields)
        error_targets += [e.target for e in alone.errors]
    # A failing field never removes (or changes) another field.
    assert result.fields == merged
    assert [e.target for e in result.errors] == error_targets
    for e in result.errors:
        assert e.target not in result.fields
        assert e.sample is None or len(e.sample) <= 100
    assert USE_DEFAULT not in result.fields.values()


@SETTINGS
@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_datetime_round_trip(dt: datetime) -> None:
    rules = [MappingRule(source="properties.d", target="last_updated")]
    first = compile_mapping(rules).apply(record(d=("date", dt.isoformat())))
    assert first.errors == []
    got = datetime.fromisoformat(first.fields["last_updated"])
    assert got == dt
    patch = reverse_fields(first.fields, rules, METADATA)
    back = record()
    back["properties"] = patch.add_properties
    assert compile_mapping(rules).apply(back).fields == first.fields
