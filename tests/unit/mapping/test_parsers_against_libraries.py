"""Why durations and locale numbers keep the project's own parsers (and emails do not): each test shows
the field's library getting a value we must handle wrong, next to ours getting it right."""

from __future__ import annotations

from decimal import Decimal

import isodate
import pytest
from babel.numbers import NumberFormatError
from babel.numbers import parse_decimal as babel_parse_decimal

from contracts_common.emails import normalized_email
from contracts_common.mapping.convert import ConversionError, coerce_duration, coerce_email, parse_decimal


def test_isodate_rewrites_ironclads_own_duration_example() -> None:
    """ironclad-api.md's example duration mixes weeks with the other parts: isodate folds the weeks
    into days, so a value written back would not be the one Ironclad holds."""
    assert isodate.duration_isoformat(isodate.parse_duration("P10Y3M2W1D")) == "P10Y3M15D"
    assert coerce_duration("P10Y3M2W1D") == "P10Y3M2W1D"


def test_isodate_takes_an_empty_time_part_and_refuses_lower_case() -> None:
    assert isodate.parse_duration("PT").total_seconds() == 0
    with pytest.raises(ConversionError):
        coerce_duration("PT")
    with pytest.raises(isodate.ISO8601Error):
        isodate.parse_duration("p30d")
    assert coerce_duration("p30d") == "P30D"


def test_babel_needs_a_locale_and_refuses_space_grouped_numbers() -> None:
    """A rule states its decimal separator, not a locale; and babel refuses "1 234,50" typed with an
    ordinary space, as exports and admins write it."""
    with pytest.raises(NumberFormatError):
        babel_parse_decimal("1 234,50", locale="fr", strict=True)
    assert parse_decimal("1 234,50", decimal_separator=",") == Decimal("1234.50")
    assert parse_decimal("1.234,50", decimal_separator=",") == Decimal("1234.50")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("jane.doe@example.com", True),
        ("Jane.Doe@Example.COM", True),
        ("üñí@exämple.de", True),
        ("a..b@example.com", False),
        ("no-at-sign.example.com", False),
        ("x@localhost", False),
        ("two@@example.com", False),
    ],
)
def test_one_email_rule_for_the_connection_and_the_mapping(text: str, valid: bool) -> None:
    if valid:
        assert normalized_email(text)
        assert coerce_email(text) == normalized_email(text).lower()
    else:
        with pytest.raises(ValueError):
            normalized_email(text)
        with pytest.raises(ConversionError):
            coerce_email(text)
