"""Each reason of sync health, and the status they make, from what is stored (health_status.derive)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts_common.health_status import HealthRules, HealthStatus, derive

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RULES = HealthRules(failing_runs=3, stalled_seconds=900, rate_limited_window_seconds=3600)


def _connection(**more: Any) -> dict[str, Any]:
    return {
        "tenant": "acme",
        "status": "connected",
        "missing_scopes": [],
        "connected_at": NOW - timedelta(days=1),
        "last_success_at": NOW - timedelta(minutes=5),
        "schedule": {"reconcile": {"due_at": NOW + timedelta(hours=1)}, "delta": {"due_at": NOW}},
        **more,
    }


def _run(minutes_ago: float, status: str = "succeeded", **more: Any) -> dict[str, Any]:
    at = NOW - timedelta(minutes=minutes_ago)
    return {"kind": "import", "status": status, "created_at": at, "updated_at": at, "finished_at": at, **more}


def _codes(connection: dict[str, Any] | None, runs: list[dict[str, Any]], dead: int = 0) -> list[str]:
    health = derive(connection, runs, (dead, NOW if dead else None), now=NOW, rules=RULES)
    return health.codes


def test_no_connection_is_disconnected_with_no_reason() -> None:
    for connection in (None, {"tenant": "acme", "status": "disconnected"}):
        health = derive(connection, [], (0, None), now=NOW, rules=RULES)
        assert health.status is HealthStatus.DISCONNECTED
        assert health.public() == {
            "status": "disconnected",
            "reasons": [],
            "last_success_at": None,
            "next": {"reconcile": None, "delta": None, "webhook_health": None},
        }


def test_healthy_shows_the_next_due_times_of_the_schedule() -> None:
    health = derive(_connection(), [_run(10)], (0, None), now=NOW, rules=RULES)
    assert health.public() == {
        "status": "healthy",
        "reasons": [],
        "last_success_at": "2026-12-07T11:55:00Z",
        "next": {
            "reconcile": "2026-12-07T13:00:00Z",
            "delta": "2026-12-07T12:00:00Z",
            "webhook_health": None,
        },
    }


def test_credentials_rejected_are_failing() -> None:
    connection = _connection(status="needs_reauth", status_reason="invalid_client.", updated_at=NOW)
    health = derive(connection, [], (0, None), now=NOW, rules=RULES)
    assert (health.status, health.codes) == (HealthStatus.FAILING, ["needs_reauth"])
    assert health.reasons[0].since == NOW


def test_runs_failing_needs_that_many_failures_in_a_row_since_the_first() -> None:
    two = [_run(1, "failed", error="boom"), _run(2, "failed"), _run(3)]
    assert _codes(_connection(), two) == []
    three = [_run(1, "failed", error="boom"), _run(2, "failed"), _run(3, "failed"), _run(4)]
    health = derive(_connection(), three, (0, None), now=NOW, rules=RULES)
    assert (health.status, health.codes) == (HealthStatus.FAILING, ["runs_failing"])
    assert health.reasons[0].since == NOW - timedelta(minutes=3)
    assert "boom" in health.reasons[0].message
    # An active run does not break the row; a partial success does.
    assert _codes(_connection(), [_run(0, "running"), *three]) == ["runs_failing"]
    assert _codes(_connection(), [_run(1, "failed"), _run(2, "partially_succeeded"), *three[1:]]) == []


def test_degraded_reasons_in_their_order() -> None:
    connection = _connection(
        missing_scopes=["public.webhooks.createWebhooks"],
        automatic_sync={
            "enabled": True,
            "webhook_state": "disabledBySystem",
            "last_problem": {"detected_at": "2026-12-07T11:00:00Z", "reason": "no scope to re-register"},
        },
    )
    runs = [_run(30, "running", updated_at=NOW - timedelta(minutes=20)), _run(40, ironclad_rate_limited=4)]
    health = derive(connection, runs, (2, NOW - timedelta(hours=2)), now=NOW, rules=RULES)
    assert health.status is HealthStatus.DEGRADED
    assert health.codes == [
        "missing_scopes",
        "webhook_disabled",
        "run_stalled",
        "rate_limited",
        "dead_letters",
    ]
    by_code = {r.code.value: r for r in health.reasons}
    assert by_code["webhook_disabled"].since == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    assert "polling fallback" in by_code["webhook_disabled"].message
    assert "No scope to re-register." in by_code["webhook_disabled"].message
    assert health.public()["next"]["reconcile"] == "2026-12-07T13:00:00Z"  # the fallback's next pass
    assert by_code["run_stalled"].since == NOW - timedelta(minutes=20)
    assert "4 time(s)" in by_code["rate_limited"].message
    assert by_code["dead_letters"].message.startswith("2 message(s)")


def test_what_no_longer_holds_is_no_reason() -> None:
    connection = _connection(automatic_sync={"enabled": True, "webhook_state": "enabled"})
    old_429 = _run(120, ironclad_rate_limited=9)
    moving = _run(30, "running", updated_at=NOW - timedelta(minutes=1))
    assert _codes(connection, [moving, old_429]) == []
    assert _codes(_connection(automatic_sync={"enabled": False, "webhook_state": "deleted"}), []) == []
