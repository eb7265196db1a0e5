"""Sync health at a glance: the derived health with its reasons, and run statistics for the charts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from contracts_common.health_status import HealthRules, HealthService
from contracts_common.messages import RunKind
from contracts_common.storage.runs import STATS_RECORDS, RunStatus
from contracts_common.timeutil import iso, utcnow
from gateway.auth import Access
from gateway.deps import deps
from gateway.errors import parse_query
from gateway.models import RunStats, SyncHealth
from gateway.openapi import Api, respond

api = Api("Health")


@api.get("/api/v1/tenants/{tenant}/ironclad/health", SyncHealth, errors=(400, 401), access=Access.READ)
async def get_health(request: web.Request) -> web.Response:
    """The workspace's sync health: a status, the reasons for it, and when periodic work is next due.

    healthy (no reason), degraded (missing_scopes, webhook_disabled, run_stalled, rate_limited,
    dead_letters), failing (needs_reauth, runs_failing) or disconnected (no connection). Each reason has
    a code, a sentence and since when it holds.
    """
    d = deps(request)
    health = await HealthService(d.db, HealthRules.of(d.settings)).compute(request.match_info["tenant"])
    return respond(SyncHealth, health.public())


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    days: int = Field(default=7, ge=1, le=90, description="how many days back, today included")
    bucket: Literal["hour", "day"] = Field(default="day", description="bucket width (UTC)")


def _bucket_starts(now: datetime, days: int, bucket: str) -> list[datetime]:
    if bucket == "day":
        last = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    last = now.replace(minute=0, second=0, microsecond=0)
    hours = days * 24
    return [last - timedelta(hours=n) for n in range(hours - 1, -1, -1)]


def _empty_bucket(start: datetime) -> dict[str, Any]:
    return {
        "start": iso(start),
        "runs": {kind.value: {status.value: 0 for status in RunStatus} for kind in RunKind},
        "records": dict.fromkeys(STATS_RECORDS, 0),
        "duration_seconds": {"avg": None, "max": None},
        "ironclad": {"requests": 0, "rate_limited": 0},
        "_duration_ms_sum": 0,
        "_duration_n": 0,
    }


@api.get(
    "/api/v1/tenants/{tenant}/ironclad/runs/stats",
    RunStats,
    query=StatsQuery,
    errors=(400, 401, 422),
    access=Access.READ,
)
async def run_stats(request: web.Request) -> web.Response:
    """Runs per time bucket: by kind and status, records by outcome, durations, Ironclad requests and 429s.

    Buckets are UTC hours or days of the runs' creation, every bucket of the range present (zero-filled),
    oldest first; `days` is 1..90 (today included). Computed by one aggregation on the runs' (tenant,
    created_at) index.
    """
    # 422: a well-formed request asking for a range or bucket that is not offered.
    query = parse_query(request, StatsQuery, status=422)
    now = utcnow()
    starts = _bucket_starts(now, query.days, query.bucket)
    rows = await deps(request).runs.stats(
        request.match_info["tenant"],
        start=starts[0],
        end=now + timedelta(microseconds=1),
        bucket=query.bucket,
    )
    buckets = {start: _empty_bucket(start) for start in starts}
    for row in rows:
        bucket = buckets.get(row["_id"]["start"])
        if bucket is None:
            continue  # a run created at the very edge of the range, in no listed bucket
        by_kind = bucket["runs"].setdefault(str(row["_id"]["kind"]), {})
        status = str(row["_id"]["status"])
        by_kind[status] = by_kind.get(status, 0) + int(row["runs"])
        for name in STATS_RECORDS:
            bucket["records"][name] += int(row[name])
        bucket["ironclad"]["requests"] += int(row["ironclad_requests"])
        bucket["ironclad"]["rate_limited"] += int(row["ironclad_rate_limited"])
        bucket["_duration_ms_sum"] += row["duration_ms_sum"]
        bucket["_duration_n"] += int(row["duration_n"])
        if row["duration_ms_max"] is not None:
            longest = row["duration_ms_max"] / 1000
            current = bucket["duration_seconds"]["max"]
            bucket["duration_seconds"]["max"] = longest if current is None else max(current, longest)
    out = []
    for bucket in buckets.values():
        total, n = bucket.pop("_duration_ms_sum"), bucket.pop("_duration_n")
        if n:
            bucket["duration_seconds"]["avg"] = round(total / n / 1000, 3)
        out.append(bucket)
    return respond(
        RunStats,
        {"days": query.days, "bucket": query.bucket, "from": iso(starts[0]), "to": iso(now), "buckets": out},
    )
