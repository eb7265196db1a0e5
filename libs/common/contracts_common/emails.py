"""The project's one email rule: email-validator's syntax check (RFC 5321/5322, internationalised
addresses), without a DNS lookup. The admin's User Email and mapped email fields both go through it."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalized_email(text: str) -> str:
    """`text` as a normalised address (domain lower-cased); ValueError saying what is wrong."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
