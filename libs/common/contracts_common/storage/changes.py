"""The change feed's log (`changes`) and the recorder's durable state (`feed_state`): this module is the
only reader and writer of both.

A change is `{tenant, seq, contract_id, ironclad_id, action, changed_at}`. `seq` is a per-tenant integer
given by the one active feed recorder (mapper/feed.py), in the order MongoDB committed the changes (the
change stream's order). The log keeps one document per tenant and recorded group, `{tenant, seq_from,
seq_to, items: [...], expires_at}`, and a group's documents are appended with one ordered `insert_many`:
a tenant's changes become visible in seq order, so a reader that asks for `seq > cursor` never steps over
a change that is still to come. One document per group rather than per change: the test database server
is the bound of an import, and a row per change cost it a quarter of the import's speed
(bench/results/feed.md). The unique (tenant, seq_from) index makes a second recorder that still believes
it holds the lease fail instead of numbering changes twice: every document starts right after the end
of one already written, so two writers starting from the same head collide on `seq_from`; the loser
re-reads the head and appends after it. A group's document expires as a whole.

`feed_state` holds the change stream's resume token (`_id: "stream"`) and one head per tenant
(`_id: "head:<tenant>"`, the highest seq written), so a reader whose changes have all expired is still
told 410 rather than "nothing new".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pymongo import DESCENDING, UpdateOne
from pymongo.errors import BulkWriteError

from contracts_common.storage.database import Database, Document

Action = Literal["created", "updated", "deleted"]
ACTIONS: tuple[Action, ...] = ("created", "updated", "deleted")

STREAM_ID = "stream"


class ChangeRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    seq: int
    contract_id: str
    ironclad_id: str
    action: Action
    changed_at: datetime
    expires_at: datetime


class StreamState(BaseModel):
    """Where the recorder stopped: the resume token after the last recorded group, and the wall time of
    the last recorded change (the fallback scan starts a margin before it)."""

    resume_token: dict[str, Any] | None = None
    recorded_until: datetime | None = None


class SeqConflict(Exception):
    """Another writer appended changes for these tenants meanwhile: re-read their heads and number
    again. `inserted`: how many of the rows (a prefix) went in before the conflict."""

    def __init__(self, inserted: int, tenants: set[str]) -> None:
        super().__init__(f"seq taken for {sorted(tenants)} after {inserted} rows")
        self.inserted = inserted
        self.tenants = tenants


class Changes:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the recorder ------------------------------------------------------------------------------

    async def append(self, rows: Sequence[ChangeRow]) -> None:
        """One ordered `insert_many` of one document per tenant: one round trip for the whole group.
        Each tenant's rows must be consecutive in `rows` (the recorder sorts them so), then the rows that
        went in before a conflict are a prefix. On a seq another writer took, raise SeqConflict."""
        if not rows:
            return
        chunks: list[list[ChangeRow]] = []
        for row in rows:
            if chunks and chunks[-1][0].tenant == row.tenant:
                chunks[-1].append(row)
            else:
                chunks.append([row])
        documents = [
            {
                "tenant": chunk[0].tenant,
                "seq_from": chunk[0].seq,
                "seq_to": chunk[-1].seq,
                "items": [
                    row.model_dump(include={"seq", "contract_id", "ironclad_id", "action", "changed_at"})
                    for row in chunk
                ],
                "expires_at": max(row.expires_at for row in chunk),
            }
            for chunk in chunks
        ]
        try:
            await self._db.changes.insert_many(documents, ordered=True)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") != 11000 for e in errors):
                raise
            done = int(exc.details.get("nInserted", 0))
            inserted = sum(len(chunk) for chunk in chunks[:done])
            raise SeqConflict(inserted, {chunk[0].tenant for chunk in chunks[done:]}) from exc

    async def heads(self, tenants: Iterable[str]) -> dict[str, int]:
        """Each tenant's highest seq written: the larger of its newest row and its persisted head (its
        rows may all have expired). 0 for a tenant never seen. One indexed read per tenant plus one."""
        wanted = sorted(set(tenants))
        found = {t: 0 for t in wanted}
        async for doc in self._db.feed_state.find({"_id": {"$in": [f"head:{t}" for t in wanted]}}):
            found[doc["tenant"]] = int(doc["last_seq"])
        for tenant in wanted:
            newest = await self._db.changes.find_one(
                {"tenant": tenant}, {"seq_to": 1}, sort=[("seq_to", DESCENDING)]
            )
            if newest is not None:
                found[tenant] = max(found[tenant], int(newest["seq_to"]))
        return found

    async def load_stream(self) -> StreamState:
        doc = await self._db.feed_state.find_one({"_id": STREAM_ID})
        if doc is None:
            return StreamState()
        return StreamState(resume_token=doc.get("resume_token"), recorded_until=doc.get("recorded_until"))

    async def save(self, stream: StreamState, heads: Mapping[str, int]) -> None:
        """The resume token and the heads that moved, in one `bulk_write` (one round trip)."""
        operations = [
            UpdateOne(
                {"_id": STREAM_ID},
                {"$set": {"resume_token": stream.resume_token, "recorded_until": stream.recorded_until}},
                upsert=True,
            )
        ]
        operations += [
            UpdateOne(
                {"_id": f"head:{tenant}"},
                {"$set": {"tenant": tenant}, "$max": {"last_seq": seq}},
                upsert=True,
            )
            for tenant, seq in heads.items()
        ]
        await self._db.feed_state.bulk_write(operations, ordered=False)

    # -- readers -----------------------------------------------------------------------------------

    async def from_seq(self, tenant: str, first: int, limit: int) -> list[ChangeRow]:
        """Changes with `seq >= first`, in seq order, at most `limit`: one indexed read of the documents
        that hold them (the one holding `first`, then the next ones)."""
        out: list[ChangeRow] = []
        cursor = self._db.changes.find({"tenant": tenant, "seq_to": {"$gte": first}}, {"_id": 0}).sort(
            "seq_from", 1
        )
        try:
            async for doc in cursor:
                for item in doc["items"]:
                    if item["seq"] >= first:
                        out.append(
                            ChangeRow.model_validate(
                                {**item, "tenant": tenant, "expires_at": doc["expires_at"]}
                            )
                        )
                        if len(out) >= limit:
                            return out
        finally:
            await cursor.close()
        return out

    async def head(self, tenant: str) -> int:
        return (await self.heads([tenant]))[tenant]

    async def rows_of(self, tenant: str) -> list[Document]:
        """Every retained change of a tenant (tests and operators)."""
        return [row.model_dump() for row in await self.from_seq(tenant, 0, 10**9)]


# -- the cursor's rules -----------------------------------------------------------------------------


class CursorGone(Exception):
    """The cursor is older than what is retained, or was never given out: answer 410."""

    def __init__(self, cursor: int, reason: str) -> None:
        super().__init__(reason)
        self.cursor = cursor
        self.reason = reason


def after_cursor(cursor: int, rows: Sequence[ChangeRow], limit: int, head: int | None) -> list[ChangeRow]:
    """What follows `cursor`, given the tenant's rows with `seq >= max(cursor, 1)` (at most limit + 1, in
    seq order) and, when there are none, its head. Refused (CursorGone) when a row after the cursor is
    gone (expired: the first retained row is beyond cursor + 1, or every row up to the head expired) or
    when the cursor is beyond the head (never given out)."""
    if rows and rows[0].seq == cursor:
        return list(rows[1 : limit + 1])
    if rows and rows[0].seq == cursor + 1:
        return list(rows[:limit])
    if rows:
        raise CursorGone(
            cursor,
            f"The changes after cursor {cursor} up to {rows[0].seq - 1} have expired (kept "
            "CHANGES_RETENTION_DAYS); start again without a cursor and reconcile from the contracts.",
        )
    assert head is not None, "the head is needed when nothing follows the cursor"
    if cursor > head:
        raise CursorGone(
            cursor, f"Cursor {cursor} was never given out: this workspace's feed ends at {head}."
        )
    if cursor < head:
        raise CursorGone(
            cursor,
            f"The changes after cursor {cursor} up to {head} have expired (kept CHANGES_RETENTION_DAYS); "
            "start again without a cursor and reconcile from the contracts.",
        )
    return []


async def read_page(
    changes: Changes, tenant: str, cursor: int | None, limit: int
) -> tuple[list[ChangeRow], int]:
    """A page of the feed and its next cursor: one indexed read; when nothing follows the cursor, the
    head and the rows once more.

    The second read of the rows closes a race: rows appended between the first read and the head's
    would otherwise make a head beyond the cursor look like rows that expired (a false 410) or, without
    a cursor, hand out the head as the next cursor and skip them. Rows only ever disappear by expiry,
    so rows below the head that are still missing after the head was read did expire."""
    first = 1 if cursor is None else max(cursor, 1)
    size = limit if cursor is None else limit + 1
    rows = await changes.from_seq(tenant, first, size)
    head = None
    if not rows:
        head = await changes.head(tenant)
        if head != (cursor or 0):
            rows = await changes.from_seq(tenant, first, size)
    if cursor is None:
        if rows:
            return rows, rows[-1].seq
        assert head is not None
        return [], head
    items = after_cursor(cursor, rows, limit, head)
    return items, (items[-1].seq if items else cursor)
