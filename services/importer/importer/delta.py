"""The incremental pass: with Automatic Sync on, every change reaches MongoDB within minutes.

Ironclad sends no webhook for an edit of a record's properties. So every `delta_sync_interval_seconds`
each such tenant's records updated since the pass's cursor are listed (ascending windows, see
changes.py), and those newer than what is stored are published to the mapper like any other fetched record,
as a run of kind `delta` per page of changes. A quiet tenant costs one request per pass.

The cursor (`schedule.delta.cursor` on the connection) moves only after every change up to it was
confirmed published, and each pass starts `delta_sync_overlap_seconds` before it, for clock skew and
for records written in the same millisecond as the cursor. Reading a change twice is harmless: the
mapper's stale-write rule keeps the newest version.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from contracts_common.ironclad.client import MAX_PAGE_SIZE
from contracts_common.ironclad_access import IroncladAccess, Lane
from contracts_common.messages import RunKind
from contracts_common.metrics import RECORDS
from contracts_common.storage.connections import Schedule
from contracts_common.storage.contracts import Contracts, parse_timestamp
from contracts_common.storage.database import Document
from contracts_common.storage.runs import Runs
from contracts_common.timeutil import utcnow
from importer.changes import changed_since
from importer.publishing import RecordPublisher, is_current

log = structlog.get_logger(__name__)


def _sync_enabled_at(connection: Document) -> datetime | None:
    """Changes flow in from when Automatic Sync was switched on (an import brings what came before)."""
    enabled_at = (connection.get("automatic_sync") or {}).get("enabled_at")
    if isinstance(enabled_at, str):
        return parse_timestamp(enabled_at)
    connected: datetime | None = connection.get("connected_at")
    return connected


class DeltaSync:
    def __init__(
        self,
        *,
        access: IroncladAccess,
        runs: Runs,
        contracts: Contracts,
        publisher: RecordPublisher,
        overlap_seconds: float,
    ) -> None:
        self._access = access
        self._runs = runs
        self._contracts = contracts
        self._publisher = publisher
        self._overlap = timedelta(seconds=overlap_seconds)

    async def run(self, connection: Document) -> list[str]:
        """One pass for the connection's tenant; returns the ids of the runs it started."""
        tenant = connection["tenant"]
        cursor: datetime = Schedule.of(connection).delta.cursor or _sync_enabled_at(connection) or utcnow()
        client = self._access.connected_client(tenant, connection, Lane.LIVE)
        newest = cursor
        run_ids: list[str] = []
        async for records in changed_since(client, cursor - self._overlap, page_size=MAX_PAGE_SIZE):
            newest = max(newest, *(parse_timestamp(r["lastUpdated"]) for r in records))
            known = await self._contracts.known_versions(tenant, [r["id"] for r in records])
            changed = [r for r in records if not is_current(known.get(r["id"]), r)]
            if not changed:
                continue
            RECORDS.labels(outcome="fetched").inc(len(changed))
            run = await self._runs.create_running(tenant, RunKind.DELTA, total=len(changed))
            run_id = str(run["_id"])
            await self._publisher.publish(
                client, tenant, run_id, [(r["id"], r) for r in changed], known, lane=Lane.LIVE
            )
            run_ids.append(run_id)
        if newest > cursor:
            await self._access.connections.advance_delta_cursor(tenant, connection.get("generation"), newest)
        if run_ids:
            log.info("delta_sync_published", tenant=tenant, runs=len(run_ids), cursor=newest.isoformat())
        await self._access.connections.touch_success(tenant)
        return run_ids
