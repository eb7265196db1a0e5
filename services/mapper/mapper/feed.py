"""The change feed's recorder: tails the `contracts` change stream and appends each tenant's changes to
the `changes` log with a per-tenant seq (storage/changes.py).

Why a reader following the cursor misses nothing: exactly one recorder is active (a lease in `leases`,
renewed every third of its length; a replica that cannot renew stops recording). It reads the changes
in the order MongoDB committed them, however many mappers wrote them, and gives each tenant's changes
consecutive seqs in that order, appending each group with one ordered `insert_many`. So a row with seq
n is visible only once every row below n is; a reader asking for `seq > cursor` can never see n + 1
while n is still to come, which a cursor on a timestamp or an id written by concurrent writers cannot
promise (a write that commits after a later one lands behind a cursor that already passed it). Two
recorders for a moment (a lease that lapsed under a stalled one) cannot give one seq twice: the unique
(tenant, seq) index refuses the second, which re-reads the tenant's head and appends after it.

Duplicates: the resume token and heads are saved about once a second, not per group; a recorder that
dies records again what it had recorded since the last save (new rows, the same changes). A reader may
see a change twice, never zero times.

If the stream cannot resume (the oplog no longer holds the saved token), the recorder opens a fresh
stream first and then records every contract whose `updated_at` is after the last recorded change
(minus a margin for writers' clocks) as `updated` (`deleted` if it is marked deleted): duplicates
again, no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel
from pymongo.errors import OperationFailure, PyMongoError

from contracts_common.messaging import Broker
from contracts_common.notifications import EventType, Notifier
from contracts_common.storage.changes import ACTIONS, Action, ChangeRow, Changes, SeqConflict, StreamState
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.database import Database, Document
from contracts_common.storage.leases import Leases
from contracts_common.timeutil import utcnow

log = structlog.get_logger(__name__)

LEASE_TENANT = "_system"
LEASE_NAME = "change_feed_recorder"

# What makes a stored contract change for a reader. A reconciliation's `last_seen_run` (set on every
# listed contract) and the run bookkeeping fields are not changes.
WATCHED_FIELDS = ("source_last_updated", "deleted", "fields", "attachments")
GROUP_MAX_EVENTS = 500
GROUP_MAX_SECONDS = 0.25
GROUP_MAX_WAIT_SECONDS = 1.0
# The stream is asked for new changes at most this often (an empty ask waits this long at most on
# MongoDB: maxAwaitTimeMS).
POLL_SECONDS = 0.2
SAVE_EVERY_SECONDS = 1.0
# A quiet stream's token moves too (the server's cluster time): saved now and then, so a long quiet
# spell does not leave a token the oplog has forgotten.
IDLE_SAVE_SECONDS = 60.0
# The fallback scan starts this long before the last recorded change: a writer stamps updated_at
# before its write commits.
FALLBACK_MARGIN = timedelta(minutes=10)
# The saved token cannot be resumed: ChangeStreamHistoryLost (286), ChangeStreamFatalError (280),
# InvalidResumeToken (260), FailedToParse (9: a token the server cannot read; the pipeline is fixed).
HISTORY_LOST_CODES = {9, 260, 280, 286}


def _top(path: str) -> dict[str, Any]:
    return {"$arrayElemAt": [{"$split": [path, "."]}, 0]}


def _touches_watched(array: Any, key: str) -> dict[str, Any]:
    touched = {"$filter": {"input": array, "cond": {"$in": [_top(key), list(WATCHED_FIELDS)]}}}
    return {"$gt": [{"$size": touched}, 0]}


UPDATED_PATHS = {"$objectToArray": "$updateDescription.updatedFields"}
REMOVED_PATHS = {"$ifNull": ["$updateDescription.removedFields", []]}


# Updated or removed paths are matched by their first segment: a pipeline update reports a changed
# sub-field as `fields.amount`, a removed one in removedFields.
PIPELINE: list[dict[str, Any]] = [
    {
        "$match": {
            "$or": [
                {"operationType": {"$in": ["insert", "replace"]}},
                {
                    "operationType": "update",
                    "$expr": {
                        "$or": [
                            _touches_watched(UPDATED_PATHS, "$$this.k"),
                            _touches_watched(REMOVED_PATHS, "$$this"),
                        ]
                    },
                },
            ]
        }
    },
    # Only what a row needs: not the record, the fields or the attachments of each contract.
    {
        "$project": {
            "operationType": 1,
            "documentKey": 1,
            "wallTime": 1,
            "fullDocument.tenant": 1,
            "fullDocument.ironclad.id": 1,
            "fullDocument.deleted": 1,
            "updateDescription.updatedFields.deleted": 1,
        }
    },
]


def _buffered(stream: Any) -> int:
    """Changes the driver holds already (the next one costs no round trip); 0 when the next asks the
    server, or when this driver's stream does not say (then every poll is paced)."""
    data = getattr(getattr(stream, "_cursor", None), "_data", None)
    return len(data) if data is not None else 0


def classify(event: Mapping[str, Any]) -> Action | None:
    """The action of a change event: insert → created; an update that set `deleted: true` (or a
    replace by a deleted contract) → deleted; any other update or replace → updated. None for what
    the feed does not record (a drop, an invalidation, an unknown kind)."""
    kind = event.get("operationType")
    if kind == "insert":
        return "created"
    if kind == "update":
        updated = (event.get("updateDescription") or {}).get("updatedFields") or {}
        return "deleted" if updated.get("deleted") is True else "updated"
    if kind == "replace":
        return "deleted" if (event.get("fullDocument") or {}).get("deleted") is True else "updated"
    return None


@dataclass(frozen=True)
class Observed:
    """One change, before it has a seq."""

    tenant: str
    contract_id: str
    ironclad_id: str
    action: Action
    changed_at: datetime


def observe(event: Mapping[str, Any]) -> Observed | None:
    action = classify(event)
    doc = event.get("fullDocument")
    if action is None or not doc or "tenant" not in doc:
        # An update whose contract is gone by the lookup: contracts are never deleted, so this is an
        # erasure, nothing to tell a reader.
        return None
    when = event.get("wallTime")
    return Observed(
        tenant=doc["tenant"],
        contract_id=str(event["documentKey"]["_id"]),
        ironclad_id=str((doc.get("ironclad") or {}).get("id", "")),
        action=action,
        changed_at=when if isinstance(when, datetime) else utcnow(),
    )


class ChangesNotice(BaseModel):
    """What `<prefix>.changes` carries, routing key `<tenant>.<action>`: one per tenant and action of a
    recorded group. The cursors are those of GET .../changes: the tenant's rows of this group lie in
    (cursor_from - 1, cursor_to], read them with `cursor=<cursor_from - 1>`."""

    tenant: str
    action: Action
    counts: dict[str, int]
    cursor_from: str
    cursor_to: str


def notices(rows: Sequence[ChangeRow]) -> list[ChangesNotice]:
    by_key: dict[tuple[str, Action], list[int]] = defaultdict(list)
    for row in rows:
        by_key[(row.tenant, row.action)].append(row.seq)
    return [
        ChangesNotice(
            tenant=tenant,
            action=action,
            counts={action: len(seqs)},
            cursor_from=str(min(seqs)),
            cursor_to=str(max(seqs)),
        )
        for (tenant, action), seqs in by_key.items()
    ]


def contracts_changed(rows: Sequence[ChangeRow]) -> dict[str, dict[str, Any]]:
    """Per tenant: `counts` by action, `cursor_from`/`cursor_to` (its lowest and highest seq here)."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        group = groups.setdefault(
            row.tenant, {"counts": dict.fromkeys(ACTIONS, 0), "cursor_from": row.seq, "cursor_to": row.seq}
        )
        group["counts"][row.action] += 1
        group["cursor_from"] = min(group["cursor_from"], row.seq)
        group["cursor_to"] = max(group["cursor_to"], row.seq)
    for group in groups.values():
        group["cursor_from"], group["cursor_to"] = str(group["cursor_from"]), str(group["cursor_to"])
    return groups


@dataclass
class Numbering:
    """The next seq of each tenant, learned at first sight from its head and then kept here."""

    changes: Changes
    next_seq: dict[str, int] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)

    async def learn(self, tenants: set[str]) -> None:
        unknown = tenants - self.next_seq.keys()
        if unknown:
            heads = await self.changes.heads(unknown)
            for tenant, head in heads.items():
                self.next_seq[tenant] = head + 1

    def forget(self, tenants: set[str]) -> None:
        for tenant in tenants:
            self.next_seq.pop(tenant, None)

    def number(self, observed: Sequence[Observed], retention: timedelta) -> list[ChangeRow]:
        rows = []
        for change in observed:
            seq = self.next_seq[change.tenant]
            self.next_seq[change.tenant] = seq + 1
            rows.append(
                ChangeRow(
                    tenant=change.tenant,
                    seq=seq,
                    contract_id=change.contract_id,
                    ironclad_id=change.ironclad_id,
                    action=change.action,
                    changed_at=change.changed_at,
                    expires_at=change.changed_at + retention,
                )
            )
        return rows

    def written(self, rows: Sequence[ChangeRow]) -> None:
        for row in rows:
            self.moved[row.tenant] = max(self.moved.get(row.tenant, 0), row.seq)


class FeedRecorder:
    """Records while it holds the lease; tries to take it again every lease period otherwise."""

    def __init__(
        self,
        *,
        db: Database,
        broker: Broker | None,
        owner: str,
        retention_days: float,
        lease_seconds: float = 10.0,
        notifier: Notifier | None = None,
    ) -> None:
        self._db = db
        self._broker = broker
        self._notifier = notifier
        self._changes = Changes(db)
        self._contracts = Contracts(db)
        self._leases = Leases(db, owner)
        self._retention = timedelta(days=retention_days)
        self._lease_seconds = lease_seconds
        self.recording = asyncio.Event()
        self._last_poll = 0.0
        self.groups_written = 0
        self.rows_written = 0

    async def run(self) -> None:
        try:
            while True:
                try:
                    if await self._leases.acquire(LEASE_TENANT, LEASE_NAME, self._lease_seconds):
                        await self._hold_and_record()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("feed_recorder_failed")
                await asyncio.sleep(self._lease_seconds / 3)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._leases.release(LEASE_TENANT, LEASE_NAME))

    async def _hold_and_record(self) -> None:
        log.info("feed_recorder_started", owner=self._leases.owner)
        recording = asyncio.create_task(self._record(), name="feed-recorder")
        try:
            while True:
                done, _ = await asyncio.wait({recording}, timeout=self._lease_seconds / 3)
                if done:
                    recording.result()  # its exception, if it failed
                    return
                if not await self._leases.acquire(LEASE_TENANT, LEASE_NAME, self._lease_seconds):
                    log.warning("feed_recorder_lease_lost", owner=self._leases.owner)
                    return
        finally:
            self.recording.clear()
            recording.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await recording

    async def _record(self) -> None:
        state = await self._changes.load_stream()
        numbering = Numbering(self._changes)
        try:
            stream = await self._open(state.resume_token)
        except OperationFailure as exc:
            if exc.code not in HISTORY_LOST_CODES:
                raise
            log.warning("feed_history_lost", code=exc.code, since=str(state.recorded_until))
            stream = await self._open(None)
            await self._catch_up(numbering, state.recorded_until)
        async with stream:
            if state.resume_token is None:
                # The feed starts here: save where, so a restart resumes instead of starting anew.
                await self._changes.save(StreamState(resume_token=stream.resume_token), {})
            self.recording.set()
            last_save = time.monotonic()
            recorded_until = state.recorded_until
            while True:
                events = await self._identified(await self._gather(stream))
                observed = [o for o in (observe(e) for e in events) if o is not None]
                if observed:
                    await self._append(numbering, observed)
                    recorded_until = observed[-1].changed_at
                since_save = time.monotonic() - last_save
                if (numbering.moved and since_save >= SAVE_EVERY_SECONDS) or since_save >= IDLE_SAVE_SECONDS:
                    await self._changes.save(
                        StreamState(resume_token=stream.resume_token, recorded_until=recorded_until),
                        numbering.moved,
                    )
                    numbering.moved = {}
                    last_save = time.monotonic()

    async def _identified(self, events: list[Document]) -> list[Document]:
        """Give each update event the tenant and record id of its contract, looked up for the whole group
        in one read. The stream does not look them up itself (`updateLookup`): that is one read per
        changed contract on the server, which slowed imports on the test server. Neither field ever
        changes, so reading them a moment after the change is as good as at it."""
        bare = {e["documentKey"]["_id"] for e in events if not e.get("fullDocument")}
        if not bare:
            return events
        owners = await self._contracts.owners(bare)
        for event in events:
            if not event.get("fullDocument"):
                event["fullDocument"] = owners.get(event["documentKey"]["_id"])
        return events

    async def _open(self, token: dict[str, Any] | None) -> Any:
        return await self._db.contracts.watch(
            PIPELINE,
            resume_after=token,
            max_await_time_ms=int(POLL_SECONDS * 1000),
        )

    async def _gather(self, stream: Any) -> list[Document]:
        """One group: up to GROUP_MAX_EVENTS events; closed once GROUP_MAX_SECONDS have passed since its
        first event and a poll finds nothing more, or GROUP_MAX_WAIT_SECONDS after its first event
        whatever comes. A bulk write's changes commit one by one (on a slow server over hundreds of
        milliseconds): they make one group, not several.

        Round trips to the server (getMore) are spaced POLL_SECONDS apart, whether they bring changes or
        not: each brings everything committed since the last one, so the stream costs at most
        1 / POLL_SECONDS reads a second whatever the write load (polled as fast as events come, it
        took a hundred a second from the test server during an import and slowed the import)."""
        events: list[Document] = []
        started = time.monotonic()
        first_at = 0.0
        while len(events) < GROUP_MAX_EVENTS:
            if _buffered(stream) == 0:
                wait = self._last_poll + POLL_SECONDS - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._last_poll = time.monotonic()
            event = await stream.try_next()
            now = time.monotonic()
            if event is not None:
                if not events:
                    first_at = now
                events.append(event)
                if now - first_at >= GROUP_MAX_WAIT_SECONDS:
                    break
                continue
            if events and now - first_at >= GROUP_MAX_SECONDS:
                break
            if not events and now - started >= 1.0:
                break  # a quiet second: back to the caller, which saves the state now and then
        return events

    async def _append(self, numbering: Numbering, observed: Sequence[Observed]) -> None:
        """One insert_many for the group; on a seq another recorder took, number the rest again."""
        # A tenant's changes side by side (in their order): one document per tenant, and the changes
        # that went in before a conflict are a prefix.
        pending = sorted(observed, key=lambda o: o.tenant)
        for _ in range(10):
            await numbering.learn({o.tenant for o in pending})
            rows = numbering.number(pending, self._retention)
            try:
                await self._changes.append(rows)
            except SeqConflict as conflict:
                log.warning("feed_seq_conflict", tenants=sorted(conflict.tenants))
                numbering.written(rows[: conflict.inserted])
                pending = pending[conflict.inserted :]
                numbering.forget({o.tenant for o in pending})
                continue
            except PyMongoError:
                # Unknown how much went in: learn the heads again (a retry may duplicate, never skip).
                numbering.forget({o.tenant for o in pending})
                raise
            numbering.written(rows)
            self.groups_written += 1
            self.rows_written += len(rows)
            await self._announce(rows)
            await self._notify(rows)
            return
        raise RuntimeError("the change feed's seq kept being taken by another writer")

    async def _announce(self, rows: Sequence[ChangeRow]) -> None:
        if self._broker is None:
            return
        pending = notices(rows)
        for index, notice in enumerate(pending):
            try:
                await self._broker.announce_changes(
                    f"{notice.tenant}.{notice.action}", notice.model_dump_json().encode(), timeout=5.0
                )
            except Exception as exc:
                # The pull API is the source of truth; a lost notice delays nobody who polls. The rest of
                # this group's notices are dropped too, so a broker outage does not stall recording.
                log.warning(
                    "feed_notices_dropped",
                    tenant=notice.tenant,
                    dropped=len(pending) - index,
                    error=repr(exc),
                )
                return

    async def _notify(self, rows: Sequence[ChangeRow]) -> None:
        """contracts.changed: one notification per tenant and recorded group, with its counts by action and
        the cursors to read it from the feed (GET .../changes?cursor=<cursor_from - 1>)."""
        if self._notifier is None:
            return
        for tenant, group in contracts_changed(rows).items():
            await self._notifier.announce(tenant, EventType.CONTRACTS_CHANGED, group)

    async def _catch_up(self, numbering: Numbering, since: datetime | None) -> None:
        """The stream could not resume: record every contract changed since the last recorded change."""
        query: dict[str, Any] = {}
        if since is not None:
            query["updated_at"] = {"$gte": since - FALLBACK_MARGIN}
        batch: list[Observed] = []
        now = utcnow()
        async for doc in self._db.contracts.find(query, {"tenant": 1, "ironclad.id": 1, "deleted": 1}).sort(
            "updated_at", 1
        ):
            batch.append(
                Observed(
                    tenant=doc["tenant"],
                    contract_id=str(doc["_id"]),
                    ironclad_id=str(doc["ironclad"]["id"]),
                    action="deleted" if doc.get("deleted") else "updated",
                    changed_at=now,
                )
            )
            if len(batch) >= GROUP_MAX_EVENTS:
                await self._append(numbering, batch)
                batch = []
        if batch:
            await self._append(numbering, batch)
