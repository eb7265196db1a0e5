"""Every Ironclad value type through the transforms it allows, with edge cases."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts_common.mapping import ConversionError, Transform
from contracts_common.mapping.convert import (
    coerce_address,
    coerce_boolean,
    coerce_date,
    coerce_datetime,
    coerce_duration,
    coerce_email,
    coerce_money,
    coerce_number,
    coerce_string,
    coerce_string_list,
    sample_of,
)

ADAPTER: TypeAdapter[Any] = TypeAdapter(Transform)


def run(spec: Any, value: Any) -> Any:
    return ADAPTER.validate_python(spec).forward()(value)


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-05-08T00:00:00-07:00", "2018-05-08"),  # calendar date in the value's own offset
        ("2018-05-08T23:30:00-07:00", "2018-05-08"),  # UTC would be the 9th: not taken
        ("2018-05-08T00:00:00+02:00", "2018-05-08"),  # UTC would be the 7th: not taken
        ("2018-05-08T00:00:00Z", "2018-05-08"),
        ("2018-05-08T00:00:00.000Z", "2018-05-08"),
        ("2018-05-08", "2018-05-08"),
        (" 2018-05-08 ", "2018-05-08"),
        ("2024-02-29T12:00:00Z", "2024-02-29"),
    ],
)
def test_date(value: str, expected: str) -> None:
    assert coerce_date(value) == expected
    assert run({"kind": "date"}, value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2023-02-29",
        "08/05/2018",
        "tomorrow",
        "",
        "2018-13-01",
        20180508,
        True,
        None,
        {"a": 1},
        ["2018-05-08"],
    ],
)
def test_date_rejects(value: Any) -> None:
    with pytest.raises(ConversionError):
        coerce_date(value)


def test_date_with_format() -> None:
    assert run({"kind": "date", "format": "%d/%m/%Y"}, "08/05/2018") == "2018-05-08"
    with pytest.raises(ConversionError):
        run({"kind": "date", "format": "%d/%m/%Y"}, "2018-05-08")
    with pytest.raises(ValidationError):
        ADAPTER.validate_python({"kind": "date", "format": "%H:%M"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-05-08T00:00:00-07:00", "2018-05-08T07:00:00Z"),
        ("2018-05-08T17:28:10Z", "2018-05-08T17:28:10Z"),
        ("2026-07-30T12:18:33.210Z", "2026-07-30T12:18:33.210Z"),
        ("2026-07-30T12:18:33.210123+00:00", "2026-07-30T12:18:33.210123Z"),
        ("2018-05-08T10:00:00", "2018-05-08T10:00:00Z"),  # no offset: UTC
        ("2018-05-08", "2018-05-08T00:00:00Z"),
    ],
)
def test_datetime(value: str, expected: str) -> None:
    assert coerce_datetime(value) == expected
    assert run({"kind": "datetime"}, value) == expected


def test_datetime_out_of_range() -> None:
    with pytest.raises(ConversionError):
        coerce_datetime("0001-01-01T00:00:00+01:00")


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (5.0, 5),
        (150000.55, 150000.55),
        ("1,234.50", 1234.5),
        ("1234", 1234),
        (" -12.5 ", -12.5),
        ("1e3", 1000),
        ("0.1", 0.1),
        ("1,234,567", 1234567),
        (2**70, float(2**70)),
    ],
)
def test_number(value: Any, expected: Any) -> None:
    got = coerce_number(value)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    "value",
    ["12abc", "1,2,3", "", "1.2.3", "12,34", True, None, [1], {"amount": 1}, float("nan"), "inf", "1e999"],
)
def test_number_rejects(value: Any) -> None:
    with pytest.raises(ConversionError):
        coerce_number(value)


def test_number_comma_decimal() -> None:
    assert run({"kind": "number", "decimal_separator": ","}, "1.234,50") == 1234.5
    assert run({"kind": "number", "decimal_separator": ","}, "1 234,5") == 1234.5
    with pytest.raises(ConversionError):
        run({"kind": "number", "decimal_separator": ","}, "1,234.50")


# ------------------------------------------------------------------ money


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ({"amount": 150000, "currency": "USD"}, None, {"amount": "150000", "currency": "USD"}),
        ({"amount": 150000.55, "currency": "USD"}, None, {"amount": "150000.55", "currency": "USD"}),
        ({"amount": 0.1, "currency": "eur"}, None, {"amount": "0.1", "currency": "EUR"}),
        ({"amount": "1,200.50", "currency": "GBP"}, None, {"amount": "1200.5", "currency": "GBP"}),
        ({"amount": 12}, "JPY", {"amount": "12", "currency": "JPY"}),
        (1200, "EUR", {"amount": "1200", "currency": "EUR"}),
        (99.99, "USD", {"amount": "99.99", "currency": "USD"}),
        ("USD 1,200.00", None, {"amount": "1200", "currency": "USD"}),
        ("1200 EUR", None, {"amount": "1200", "currency": "EUR"}),
        ("$1,200", None, {"amount": "1200", "currency": "USD"}),
        ("$1,200", "CAD", {"amount": "1200", "currency": "CAD"}),
        ("€1.5", None, {"amount": "1.5", "currency": "EUR"}),
        ("-$5", None, {"amount": "-5", "currency": "USD"}),
        ("1200", "USD", {"amount": "1200", "currency": "USD"}),
        (
            {"amount": 12345678901234567.89, "currency": "USD"},
            None,
            {"amount": "12345678901234568", "currency": "USD"},
        ),
        (
            {"amount": "12345678901234567.89", "currency": "USD"},
            None,
            {"amount": "12345678901234567.89", "currency": "USD"},
        ),
    ],
)
def test_money(value: Any, currency: str | None, expected: dict[str, str]) -> None:
    assert coerce_money(value, currency) == expected
    assert run({"kind": "money", "currency": currency}, value) == expected


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        (1200, None),  # a bare number needs a currency
        ("1200", None),
        ({"currency": "USD"}, None),
        ({"amount": "abc", "currency": "USD"}, None),
        ({"amount": 1, "currency": "dollars"}, None),
        ("USD 1,2", None),
        ("USD 5 EUR", None),
        (True, "USD"),
        ([1], "USD"),
    ],
)
def test_money_rejects(value: Any, currency: str | None) -> None:
    with pytest.raises(ConversionError):
        coerce_money(value, currency)


def test_money_keeps_every_digit() -> None:
    amount = "123456789012345678901234567890123.45"  # more digits than Decimal's default context
    assert coerce_money({"amount": amount, "currency": "USD"}) == {"amount": amount, "currency": "USD"}
    assert coerce_money({"amount": "1E+3", "currency": "USD"})["amount"] == "1000"
    assert coerce_money({"amount": "-0.00", "currency": "USD"})["amount"] == "0"
    assert coerce_money({"amount": "2.50", "currency": "USD"})["amount"] == "2.5"


def test_money_comma_decimal() -> None:
    assert coerce_money("EUR 1.234,56", None, ",") == {"amount": "1234.56", "currency": "EUR"}


def test_money_currency_param_is_validated() -> None:
    with pytest.raises(ValidationError):
        ADAPTER.validate_python({"kind": "money", "currency": "usd"})


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("P10Y3M2W1D", None, "P10Y3M2W1D"),
        ("p1y0m", None, "P1Y"),
        ("P0D", None, "P0D"),
        ("PT0S", None, "P0D"),
        ("P1DT12H", None, "P1DT12H"),
        ("P1.50D", None, "P1.5D"),
        ("P0,5Y", None, "P0.5Y"),
        ("P26D", None, "P26D"),
        (12, "months", "P12M"),
        (30, "days", "P30D"),
        (1.5, "days", "P1.5D"),
        (36, "hours", "PT36H"),
        ("12", "months", "P12M"),
        ("12 months", None, "P12M"),
        ("1 year", None, "P1Y"),
        ("30 Days", None, "P30D"),
        (0, "days", "P0D"),
    ],
)
def test_duration(value: Any, unit: str | None, expected: str) -> None:
    assert coerce_duration(value, unit) == expected
    assert run({"kind": "duration", "unit": unit}, value) == expected


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("P", None),
        ("PT", None),
        ("P1DT", None),
        ("1M", None),
        ("P1.5Y2M", None),
        ("P-1D", None),
        ("forever", None),
        (12, None),
        (-3, "days"),
        (True, "days"),
        ("", None),
        ("12 fortnights", None),
        ({"P": 1}, None),
    ],
)
def test_duration_rejects(value: Any, unit: str | None) -> None:
    with pytest.raises(ConversionError):
        coerce_duration(value, unit)


# ------------------------------------------------------------------ booleans


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("yes", True),
        ("No", False),
        ("TRUE", True),
        ("false", False),
        ("1", True),
        ("0", False),
        ("Y", True),
        ("n", False),
        (" yes ", True),
        (1, True),
        (0, False),
    ],
)
def test_boolean(value: Any, expected: bool) -> None:
    assert coerce_boolean(value) is expected
    assert run({"kind": "boolean"}, value) is expected


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, 0.5, None, [True], {"v": 1}, "yess"])
def test_boolean_rejects(value: Any) -> None:
    with pytest.raises(ConversionError):
        coerce_boolean(value)


def test_boolean_extra_words() -> None:
    spec = {"kind": "boolean", "true_values": ["Auto-Renew"], "false_values": ["Fixed Term"]}
    assert run(spec, "auto-renew") is True
    assert run(spec, "Fixed term") is False
    with pytest.raises(ValidationError):
        ADAPTER.validate_python({"kind": "boolean", "true_values": ["no"]})


# ------------------------------------------------------------------ emails


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" Bob@Example.COM ", "bob@example.com"),
        ("a.b+c@x.co.uk", "a.b+c@x.co.uk"),
        ("mailto:x@y.io", "x@y.io"),
    ],
)
def test_email(value: str, expected: str) -> None:
    assert coerce_email(value) == expected
    assert run({"kind": "email"}, value) == expected


@pytest.mark.parametrize(
    "value", ["bob", "bob@", "@x.com", "a@b", "a b@c.com", "a@@b.com", "Bob <bob@x.com>", "a@b..com", 5, None]
)
def test_email_rejects(value: Any) -> None:
    with pytest.raises(ConversionError):
        coerce_email(value)


# ------------------------------------------------------------------ text, lists, enums


def test_join_split() -> None:
    assert run({"kind": "join"}, ["a", "b"]) == "a, b"
    assert run({"kind": "join", "separator": ";"}, ["a", 2]) == "a;2"
    assert run({"kind": "join"}, []) == ""
    assert run({"kind": "split"}, " a, b ,, c ") == ["a", "b", "c"]
    assert run({"kind": "split", "separator": ";"}, "a;b") == ["a", "b"]
    assert run({"kind": "split"}, ["x ", " ", "y"]) == ["x", "y"]
    assert run({"kind": "split"}, "") == []
    with pytest.raises(ConversionError):
        run({"kind": "join"}, {"a": 1})
    with pytest.raises(ConversionError):
        run({"kind": "join"}, [{"a": 1}])
    with pytest.raises(ConversionError):
        run({"kind": "split"}, 5)


def test_trim_case() -> None:
    assert run({"kind": "trim"}, "  x  ") == "x"
    assert run("trim", [" a ", "  "]) == ["a"]
    assert run({"kind": "case", "mode": "upper"}, "abc") == "ABC"
    assert run({"kind": "case", "mode": "lower"}, "ABC") == "abc"
    assert run({"kind": "case", "mode": "title"}, "new york law") == "New York Law"
    assert run({"kind": "case", "mode": "upper"}, ["a", "b"]) == ["A", "B"]
    with pytest.raises(ConversionError):
        run("trim", 5)
    with pytest.raises(ValidationError):
        ADAPTER.validate_python({"kind": "case", "mode": "snake"})


def test_enum_map() -> None:
    spec = {"kind": "enum_map", "values": {"Vendor": "supplier", "Customer": "client"}}
    assert run(spec, "Vendor") == "supplier"
    assert run(spec, " customer ") == "client"  # case and spaces ignored by default
    assert run(spec, ["Vendor", "Customer"]) == ["supplier", "client"]
    with pytest.raises(ConversionError, match="Partner"):
        run(spec, "Partner")  # default fallback: error
    assert run({**spec, "fallback": "keep"}, "Partner") == "Partner"
    from contracts_common.mapping.transforms import USE_DEFAULT

    assert run({**spec, "fallback": "default"}, "Partner") is USE_DEFAULT
    assert run({**spec, "fallback": "default"}, ["Partner", "Vendor"]) == ["supplier"]
    strict = {**spec, "case_sensitive": True}
    with pytest.raises(ConversionError):
        run(strict, "vendor")


def test_enum_map_keys_and_values() -> None:
    assert run({"kind": "enum_map", "values": {"true": "yes", "false": "no"}}, True) == "yes"
    assert run({"kind": "enum_map", "values": {"1": "one"}}, 1) == "one"
    assert run({"kind": "enum_map", "values": {"Auto-Renew": True, "Fixed": False}}, "auto-renew") is True
    with pytest.raises(ValidationError):
        ADAPTER.validate_python({"kind": "enum_map", "values": {"a": "x", "b": True}})  # mixed output types
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(
            {"kind": "enum_map", "values": {"A": "x", "a": "y"}}
        )  # ambiguous ignoring case
    with pytest.raises(ValidationError):
        ADAPTER.validate_python({"kind": "enum_map", "values": {}})
    with pytest.raises(ConversionError):
        run({"kind": "enum_map", "values": {"a": "x"}}, {"a": 1})


def test_address() -> None:
    obj = {
        "lines": ["1 Main St", " ", "Suite 2"],
        "locality": "Springfield",
        "region": "IL",
        "postcode": "62701",
        "country": "US",
    }
    assert coerce_address(obj) == {
        "lines": ["1 Main St", "Suite 2"],
        "locality": "Springfield",
        "region": "IL",
        "postcode": "62701",
        "country": "US",
        "raw": None,
    }
    assert run("address", "1 Main St\nSpringfield, IL") == {
        "lines": ["1 Main St", "Springfield, IL"],
        "locality": None,
        "region": None,
        "postcode": None,
        "country": None,
        "raw": "1 Main St\nSpringfield, IL",
    }
    bad: Any
    for bad in ({}, {"lines": [1]}, {"locality": ["x"]}, 5, [], "  "):
        with pytest.raises(ConversionError):
            coerce_address(bad)


def test_identity_and_strings() -> None:
    assert run("identity", {"x": 1}) == {"x": 1}
    assert coerce_string(150000.55) == "150000.55"
    assert coerce_string_list("a") == ["a"]
    assert coerce_string_list(["a", 1]) == ["a", "1"]
    with pytest.raises(ConversionError):
        coerce_string(True)
    with pytest.raises(ConversionError):
        coerce_string({"a": 1})


def test_transform_shorthand_and_unknown_kind() -> None:
    assert ADAPTER.validate_python("email").kind == "email"
    with pytest.raises(ValidationError):
        ADAPTER.validate_python({"kind": "uppercase"})
    with pytest.raises(ValidationError):
        ADAPTER.validate_python({"kind": "trim", "extra": 1})


def test_sample_is_truncated() -> None:
    assert len(sample_of("x" * 500)) == 100
    assert sample_of({"a": 1}) == '{"a": 1}'
