"""The audit trail never keeps a secret, whatever an operation's answer or path held."""

from __future__ import annotations

from contracts_common.storage.audit import AuditAction, without_secrets


def test_secret_keys_are_dropped_and_secret_looking_values_masked() -> None:
    details = {
        "region": "na1",
        "client_secret": "s3cr3t",
        "secret": "whsec_abc",
        "Authorization": "Bearer x",
        "nested": {"api_token": "t", "url": "https://example.com/hook", "signing": "whsec_zzz"},
        "echo": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
        "ids": ["w1", "whsec_in_a_list"],
    }
    assert without_secrets(details) == {
        "region": "na1",
        "nested": {"url": "https://example.com/hook", "signing": "[redacted]"},
        "echo": "[redacted]",
        "ids": ["w1", "[redacted]"],
    }


def test_adding_an_action_is_one_line() -> None:
    # Each action is a value of one enum; the operation that does it names it in its declaration.
    assert AuditAction("notifications.changed") is AuditAction.NOTIFICATIONS_CHANGED
    assert len({a.value for a in AuditAction}) == len(AuditAction)
