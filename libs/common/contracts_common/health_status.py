"""Sync health: one definition of each reason a workspace is not healthy, and of the status they make.

Used by the API (GET .../ironclad/health), the admin page (which shows the API's answer) and the
`health.changed` notifications (HealthMonitor below), so the three can never disagree about what, say,
"runs failing" means. Health is derived on demand from what is stored anyway (the connection, the newest
runs, the kept dead letters): three bounded, indexed reads, no state of its own to drift. Only the last
*announced* health is stored (storage/health_state.py), to announce each change once.

Named `health_status`, not `health`: contracts_common.health is every service's probe server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog

from contracts_common.settings import SharedSettings
from contracts_common.storage.connections import ConnectionStatus, Schedule
from contracts_common.storage.database import Database, Document
from contracts_common.storage.dead_letters import DeadLetters
from contracts_common.storage.health_state import UNANNOUNCED, HealthStates
from contracts_common.storage.runs import ACTIVE, Runs, RunStatus
from contracts_common.timeutil import iso, utcnow

log = structlog.get_logger(__name__)


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    DISCONNECTED = "disconnected"


class ReasonCode(StrEnum):
    NEEDS_REAUTH = "needs_reauth"
    MISSING_SCOPES = "missing_scopes"
    WEBHOOK_DISABLED = "webhook_disabled"
    RUNS_FAILING = "runs_failing"
    RUN_STALLED = "run_stalled"
    RATE_LIMITED = "rate_limited"
    DEAD_LETTERS = "dead_letters"


# Nothing reaches MongoDB while one of these holds; the others slow sync down or need a look.
FAILING_REASONS = frozenset({ReasonCode.NEEDS_REAUTH, ReasonCode.RUNS_FAILING})
# The order reasons are listed in: the one to act on first comes first.
REASON_ORDER = tuple(ReasonCode)


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    message: str
    since: datetime | None

    def public(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "since": iso(self.since)}


@dataclass(frozen=True)
class HealthRules:
    failing_runs: int = 3
    stalled_seconds: float = 900.0
    rate_limited_window_seconds: float = 3600.0
    runs_considered: int = 50

    @classmethod
    def of(cls, settings: SharedSettings) -> HealthRules:
        return cls(
            failing_runs=settings.health_failing_runs,
            stalled_seconds=settings.health_run_stalled_seconds,
            rate_limited_window_seconds=settings.health_rate_limited_window_seconds,
            runs_considered=max(settings.health_runs_considered, settings.health_failing_runs),
        )


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    reasons: list[Reason]
    last_success_at: datetime | None = None
    next: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def codes(self) -> list[str]:
        return [r.code.value for r in self.reasons]

    def public(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reasons": [r.public() for r in self.reasons],
            "last_success_at": iso(self.last_success_at),
            "next": {task: iso(self.next.get(task)) for task in ("reconcile", "delta", "webhook_health")},
        }


# ---------------------------------------------------------------------------------------------- reasons
# Each reason from what is stored; None when it does not hold.


def needs_reauth(connection: Document) -> Reason | None:
    if connection.get("status") != ConnectionStatus.NEEDS_REAUTH.value:
        return None
    message = connection.get("status_reason") or "Ironclad rejected the stored credentials."
    advice = "Reconnect in the Ironclad panel."
    if advice not in message:  # the importer's reasons already say it (importer/failures.py)
        message = f"{message} {advice}"
    return Reason(ReasonCode.NEEDS_REAUTH, message, connection.get("updated_at"))


def missing_scopes(connection: Document) -> Reason | None:
    missing = [str(s) for s in connection.get("missing_scopes") or []]
    if not missing:
        return None
    return Reason(
        ReasonCode.MISSING_SCOPES,
        f"The Ironclad app lacks {len(missing)} scope(s): {', '.join(missing)}; "
        "what needs them does not work.",
        connection.get("connected_at"),
    )


def webhook_disabled(connection: Document) -> Reason | None:
    """Automatic Sync is on and Ironclad disabled or deleted our webhook (importer/webhook_health.py
    records it): changes then arrive only through the reconciliation, run more often meanwhile."""
    sync = connection.get("automatic_sync") or {}
    state = sync.get("webhook_state")
    if not sync.get("enabled") or state in (None, "enabled"):
        return None
    problem = sync.get("last_problem") or {}
    since = _parsed(problem.get("detected_at")) or sync.get("checked_at")
    reason = str(problem.get("reason") or "").rstrip(".")
    why = f" {reason[:1].upper()}{reason[1:]}." if reason else ""
    return Reason(
        ReasonCode.WEBHOOK_DISABLED,
        # The due time itself is in the health's `next.reconcile`, where a page formats it for its reader.
        f"Ironclad reports our webhook {state}; changes arrive by the polling fallback, the reconciliation"
        f" on its shorter interval.{why}",
        since,
    )


def runs_failing(runs: Sequence[Document], rules: HealthRules) -> Reason | None:
    """The newest finished runs failed `failing_runs` times or more in a row (partial successes break the
    row: some work landed)."""
    streak: list[Document] = []
    for run in runs:  # newest first
        if run.get("status") in ACTIVE:
            continue
        if run.get("status") != RunStatus.FAILED.value:
            break
        streak.append(run)
    if len(streak) < rules.failing_runs:
        return None
    first = streak[-1]
    last_error = streak[0].get("error") or "no error recorded"
    return Reason(
        ReasonCode.RUNS_FAILING,
        f"The last {len(streak)} runs failed; the latest: {last_error}",
        first.get("finished_at") or first.get("created_at"),
    )


def run_stalled(runs: Sequence[Document], now: datetime, rules: HealthRules) -> Reason | None:
    limit = now - timedelta(seconds=rules.stalled_seconds)
    stalled = [
        r for r in runs if r.get("status") in ACTIVE and r.get("updated_at") and r["updated_at"] < limit
    ]
    if not stalled:
        return None
    oldest = min(r["updated_at"] for r in stalled)
    minutes = int((now - oldest).total_seconds() // 60)
    kinds = ", ".join(sorted({str(r.get("kind")) for r in stalled}))
    return Reason(
        ReasonCode.RUN_STALLED,
        f"{len(stalled)} active run(s) ({kinds}) have not moved for {minutes} min; some of their messages "
        "may be dead-lettered.",
        oldest,
    )


def rate_limited(runs: Sequence[Document], now: datetime, rules: HealthRules) -> Reason | None:
    """Ironclad answered 429 to a run's requests lately (runs count them with their pages)."""
    window = now - timedelta(seconds=rules.rate_limited_window_seconds)
    limited = [
        r
        for r in runs
        if int(r.get("ironclad_rate_limited") or 0) > 0 and (r.get("updated_at") or r["created_at"]) >= window
    ]
    if not limited:
        return None
    answers = sum(int(r["ironclad_rate_limited"]) for r in limited)
    return Reason(
        ReasonCode.RATE_LIMITED,
        f"Ironclad answered 429 (too many requests) {answers} time(s) in the last "
        f"{int(rules.rate_limited_window_seconds // 60)} min; requests are paced and retried, "
        "sync is slower.",
        min(r["created_at"] for r in limited),
    )


def dead_letters(count: int, since: datetime | None) -> Reason | None:
    if count <= 0:
        return None
    return Reason(
        ReasonCode.DEAD_LETTERS,
        f"{count} message(s) of this workspace failed their delivery limit and were set aside; an operator "
        "can replay them.",
        since,
    )


def derive(
    connection: Document | None,
    runs: Sequence[Document],
    dead_lettered: tuple[int, datetime | None],
    *,
    now: datetime,
    rules: HealthRules,
) -> Health:
    """The status and its reasons (pure: what is stored in, health out)."""
    if connection is None or connection.get("status") == ConnectionStatus.DISCONNECTED.value:
        return Health(HealthStatus.DISCONNECTED, [])
    found = [
        needs_reauth(connection),
        missing_scopes(connection),
        webhook_disabled(connection),
        runs_failing(runs, rules),
        run_stalled(runs, now, rules),
        rate_limited(runs, now, rules),
        dead_letters(*dead_lettered),
    ]
    reasons = sorted((r for r in found if r is not None), key=lambda r: REASON_ORDER.index(r.code))
    if any(r.code in FAILING_REASONS for r in reasons):
        status = HealthStatus.FAILING
    elif reasons:
        status = HealthStatus.DEGRADED
    else:
        status = HealthStatus.HEALTHY
    schedule = Schedule.of(connection)
    return Health(
        status,
        reasons,
        last_success_at=connection.get("last_success_at"),
        next={task: schedule.task(task).due_at for task in ("reconcile", "delta", "webhook_health")},
    )


def _parsed(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


class HealthService:
    """A tenant's health, computed from the store."""

    def __init__(self, db: Database, rules: HealthRules, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._rules = rules
        self._clock = clock

    async def compute(self, tenant: str) -> Health:
        connection = await self._db.connections.find_one({"tenant": tenant}, {"client_secret_encrypted": 0})
        if connection is None or connection.get("status") == ConnectionStatus.DISCONNECTED.value:
            return derive(connection, [], (0, None), now=self._clock(), rules=self._rules)
        runs = await Runs(self._db).latest(tenant, self._rules.runs_considered)
        dead = await DeadLetters(self._db).of_tenant(tenant)
        return derive(connection, runs, dead, now=self._clock(), rules=self._rules)


# ---------------------------------------------------------------------------------------------- changes


@dataclass(frozen=True)
class HealthChange:
    """A transition of a tenant's health, announced once (as `health.changed`)."""

    tenant: str
    status: HealthStatus
    previous_status: str
    reasons: list[Reason]
    # Reason codes that held before and no longer do (a resolution names what cleared).
    resolved: list[str]
    changed_at: datetime

    def public(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "status": self.status.value,
            "previous_status": self.previous_status,
            "reasons": [r.public() for r in self.reasons],
            "resolved": self.resolved,
            "changed_at": iso(self.changed_at),
        }

    @classmethod
    def from_public(cls, payload: dict[str, Any]) -> HealthChange:
        def when(text: str | None) -> datetime | None:
            return datetime.fromisoformat(text) if text else None

        return cls(
            tenant=payload["tenant"],
            status=HealthStatus(payload["status"]),
            previous_status=payload["previous_status"],
            reasons=[
                Reason(code=ReasonCode(r["code"]), message=r["message"], since=when(r.get("since")))
                for r in payload["reasons"]
            ],
            resolved=list(payload["resolved"]),
            changed_at=when(payload["changed_at"]) or utcnow(),
        )


# Told of each change once; answering False (not confirmed) leaves it for the sweep to announce again.
OnHealthChange = Callable[[str, HealthChange], Awaitable[bool | None]]


def _millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class HealthMonitor:
    """Recomputes a tenant's health where it may have changed and records each transition once.

    Called by whatever may change health (a run reaching its terminal status, credentials rejected, a
    webhook found down, a dead letter kept), never by walking all tenants. A change is the status or the
    set of reason codes: a fourth failed run in a row is no change, its resolution is one. `on_change` is
    the composition root's (the `health.changed` notification); without it a change is only logged.
    """

    def __init__(
        self, service: HealthService, states: HealthStates, on_change: OnHealthChange | None = None
    ) -> None:
        self._service = service
        self._states = states
        self._on_change = on_change

    async def observe_health(self, tenant: str) -> HealthChange | None:
        health = await self._service.compute(tenant)
        stored = await self._states.get(tenant)
        before = stored or UNANNOUNCED
        codes = sorted(health.codes)
        if before.status == health.status.value and sorted(before.reasons) == codes:
            return None
        change = HealthChange(
            tenant=tenant,
            status=health.status,
            previous_status=before.status,
            reasons=health.reasons,
            resolved=sorted(set(before.reasons) - set(codes)),
            # As MongoDB keeps it (milliseconds): the confirmation finds the transition by this time.
            changed_at=_millis(utcnow()),
        )
        recorded = await self._states.transition(
            tenant,
            stored,
            health.status.value,
            codes,
            changed_at=change.changed_at,
            announcement=change.public() if self._on_change is not None else None,
        )
        if recorded is None:
            return None  # another process recorded (and announces) this transition
        log.info(
            "health_changed",
            tenant=tenant,
            status=change.status.value,
            previous=change.previous_status,
            reasons=codes,
            resolved=change.resolved,
        )
        await self._announce(change, change.public())
        return change

    async def _announce(self, change: HealthChange | None, payload: dict[str, Any]) -> None:
        if self._on_change is None:
            return
        tenant, changed_at = str(payload["tenant"]), _millis(datetime.fromisoformat(payload["changed_at"]))
        if await self._on_change(tenant, change or HealthChange.from_public(payload)) is not False:
            await self._states.announced(tenant, changed_at)

    async def announce_overdue(self, changed_before: datetime) -> int:
        """Announce transitions whose announcement was never confirmed (the importer's run supervisor
        sweeps them); returns how many were found."""
        pending = await self._states.overdue(changed_before)
        for item in pending:
            await self._announce(None, item.announcement)
        return len(pending)

    async def observe_quietly(self, tenant: str) -> None:
        """observe_health for callers whose own work must not fail because health could not be judged."""
        try:
            await self.observe_health(tenant)
        except Exception:
            log.exception("health_observe_failed", tenant=tenant)

    async def run_finished(self, run: Document) -> None:
        """Runs(on_terminal=...): a run reached its terminal status."""
        await self.observe_quietly(str(run["tenant"]))


def build_monitor(
    db: Database, settings: SharedSettings, on_change: OnHealthChange | None = None
) -> HealthMonitor:
    return HealthMonitor(HealthService(db, HealthRules.of(settings)), HealthStates(db), on_change)
