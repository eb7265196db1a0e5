"""Contracts: one document per (tenant, Ironclad record id), never overwritten by an older record.

A write changes a stored contract only when the incoming `lastUpdated` is newer, and the check is
inside the update itself (see Contracts.upsert_batch), so concurrent writers cannot undo each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from contracts_common.storage.database import Database, Document
from contracts_common.storage.runs import Outcome
from contracts_common.timeutil import iso, utcnow


def parse_timestamp(value: str) -> datetime:
    """Ironclad's `lastUpdated` (ISO-8601, `Z` or offset) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def ironclad_summary(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "ironcladId": record.get("ironcladId"),
        "type": record.get("type"),
        "name": record.get("name"),
        "lastUpdated": record["lastUpdated"],
    }


@dataclass(frozen=True)
class ContractWrite:
    """A fetched record and what the mapper made of it, ready to be stored."""

    record: dict[str, Any]
    fields: dict[str, Any]
    field_errors: list[dict[str, Any]]
    # None: leave the stored attachments as they are (the record's documents did not change).
    attachments: list[dict[str, Any]] | None
    document_failures: list[dict[str, Any]]
    # The run's slot this write counts in (a listing position, `c:<id>`, a webhook record), if any.
    slot: str | None = None


class Contracts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert_batch(
        self, tenant: str, items: Sequence[ContractWrite], *, mapping_version: int, run_id: str | None
    ) -> list[Outcome]:
        """Store fetched records; for each: created, updated, unchanged (same lastUpdated) or skipped_stale.

        Two round trips per batch: one `$in` read of what is stored, which decides each item's outcome,
        and one `bulk_write(ordered=False)` of the items that are newer. Each write matches by equality
        on the unique (tenant, ironclad.id) index and keeps the stale-write rule inside the update
        itself (a pipeline that changes nothing unless the incoming `lastUpdated` is newer), so a
        newer version written concurrently by another mapper is never overwritten. A range predicate
        in the filter would say the same, but the test server scans the collection for it.
        """
        if not items:
            return []
        now = utcnow()
        ids = list({item.record["id"] for item in items})
        stored = await self._stored_versions(tenant, ids)
        outcomes: list[Outcome | None] = [None] * len(items)
        # The newest version of each record in this batch is the one written; the others are stale.
        newest: dict[str, int] = {}
        for index, item in enumerate(items):
            rid, incoming = item.record["id"], parse_timestamp(item.record["lastUpdated"])
            best = newest.get(rid)
            if best is None or parse_timestamp(items[best].record["lastUpdated"]) < incoming:
                newest[rid] = index
        writes: list[int] = []
        revive: list[Any] = []
        for index, item in enumerate(items):
            rid, incoming = item.record["id"], parse_timestamp(item.record["lastUpdated"])
            known = stored.get(rid)
            if newest[rid] != index:
                reference = parse_timestamp(items[newest[rid]].record["lastUpdated"])
                if known is not None:
                    reference = max(reference, known["source_last_updated"])
                outcomes[index] = Outcome.UNCHANGED if reference == incoming else Outcome.SKIPPED_STALE
            elif known is None or known["source_last_updated"] < incoming:
                writes.append(index)
            else:
                outcomes[index] = _settled(known, incoming, run_id, item.slot)
                if outcomes[index] == Outcome.UPDATED and known.get("deleted"):
                    revive.append(known["_id"])
        if writes:
            await self._write(tenant, items, writes, outcomes, stored, mapping_version, run_id, now)
        if revive:
            # Seen again after a reconciliation marked it deleted: it exists after all.
            await self._db.contracts.update_many(
                {"_id": {"$in": revive}}, {"$set": {"deleted": False, "deleted_at": None, "updated_at": now}}
            )
        return [o if o is not None else Outcome.UNCHANGED for o in outcomes]

    async def _stored_versions(self, tenant: str, ids: list[str]) -> dict[str, Document]:
        cursor = self._db.contracts.find(
            {"tenant": tenant, "ironclad.id": {"$in": ids}},
            {
                "ironclad.id": 1,
                "source_last_updated": 1,
                "deleted": 1,
                "last_run_id": 1,
                "last_slot": 1,
                "created_by_run": 1,
            },
        )
        return {doc["ironclad"]["id"]: doc async for doc in cursor}

    async def _write(
        self,
        tenant: str,
        items: Sequence[ContractWrite],
        writes: list[int],
        outcomes: list[Outcome | None],
        stored: dict[str, Document],
        mapping_version: int,
        run_id: str | None,
        now: datetime,
    ) -> None:
        operations = [self._upsert(tenant, items[i], mapping_version, run_id, now) for i in writes]
        try:
            result = await self._db.contracts.bulk_write(operations, ordered=False)
            upserted = set(result.upserted_ids or {})
            modified = result.modified_count
        except BulkWriteError as exc:
            write_errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in write_errors):
                raise
            # Two mappers inserted the same new record at once: ours lost, and becomes an update.
            raced = [e["index"] for e in write_errors]
            upserted = {u["index"] for u in exc.details.get("upserted", [])}
            retried = await self._db.contracts.bulk_write([operations[i] for i in raced], ordered=False)
            modified = int(exc.details.get("nModified", 0)) + retried.modified_count
        updated = [index for position, index in enumerate(writes) if position not in upserted]
        for position, index in enumerate(writes):
            if position in upserted:
                outcomes[index] = Outcome.CREATED
        if modified >= len(updated):
            for index in updated:
                outcomes[index] = Outcome.UPDATED
            return
        # Some guarded updates changed nothing: another writer stored this version (or a newer one)
        # between the read and the write. One more read tells which (rare: only on such a race).
        after = await self._stored_versions(tenant, list({items[i].record["id"] for i in updated}))
        for index in updated:
            incoming = parse_timestamp(items[index].record["lastUpdated"])
            known = after.get(items[index].record["id"])
            outcomes[index] = (
                Outcome.UPDATED if known is None else _settled(known, incoming, run_id, items[index].slot)
            )

    @staticmethod
    def _upsert(
        tenant: str, item: ContractWrite, mapping_version: int, run_id: str | None, now: datetime
    ) -> UpdateOne:
        record = item.record
        incoming = parse_timestamp(record["lastUpdated"])
        values: dict[str, Any] = {
            "ironclad": ironclad_summary(record),
            "source_last_updated": incoming,
            "raw": record,
            "fields": item.fields,
            "field_errors": item.field_errors,
            "mapping_version": mapping_version,
            "document_failures": item.document_failures,
            "deleted": False,
            "deleted_at": None,
            "updated_at": now,
            "last_run_id": run_id,
            "last_slot": item.slot,
        }
        if item.attachments is not None:
            values["attachments"] = item.attachments
        newer = "$_incoming_is_newer"
        return UpdateOne(
            {"tenant": tenant, "ironclad.id": record["id"]},
            [
                {
                    "$set": {
                        "_incoming_is_newer": {
                            "$or": [
                                {"$eq": [{"$type": "$source_last_updated"}, "missing"]},
                                {"$lt": ["$source_last_updated", {"$literal": incoming}]},
                            ]
                        },
                        "created_by_run": {
                            "$cond": [
                                {"$eq": [{"$type": "$created_at"}, "missing"]},
                                {"$literal": run_id},
                                "$created_by_run",
                            ]
                        },
                        "created_at": {"$ifNull": ["$created_at", {"$literal": now}]},
                        "attachments": {"$ifNull": ["$attachments", {"$literal": []}]},
                    }
                },
                {
                    "$set": {
                        key: {"$cond": [newer, {"$literal": value}, f"${key}"]}
                        for key, value in values.items()
                    }
                },
                {"$unset": "_incoming_is_newer"},
            ],
            upsert=True,
        )

    async def get(self, tenant: str, contract_id: str) -> Document | None:
        """By our id, Ironclad's record id or its `IC-n` id."""
        try:
            oid = ObjectId(contract_id)
        except (InvalidId, TypeError):
            oid = None
        if oid is not None:
            doc = await self._db.contracts.find_one({"tenant": tenant, "_id": oid})
            if doc is not None:
                return doc
        doc = await self._db.contracts.find_one({"tenant": tenant, "ironclad.id": contract_id})
        if doc is None:
            doc = await self._db.contracts.find_one({"tenant": tenant, "ironclad.ironcladId": contract_id})
        return doc

    async def by_ids(self, tenant: str, contract_ids: Sequence[str]) -> dict[str, Document]:
        """Contracts by our ids (one `$in` read), without Ironclad's record; unknown ids are left out."""
        oids = [ObjectId(c) for c in set(contract_ids) if ObjectId.is_valid(c)]
        cursor = self._db.contracts.find({"tenant": tenant, "_id": {"$in": oids}}, {"raw": 0})
        return {str(doc["_id"]): doc async for doc in cursor}

    async def owners(self, ids: Iterable[Any]) -> dict[Any, Document]:
        """The tenant and Ironclad record id of contracts by `_id`, whatever their tenant (one `$in` read):
        what the change feed's recorder needs of an update event, which carries neither."""
        cursor = self._db.contracts.find({"_id": {"$in": list(ids)}}, {"tenant": 1, "ironclad.id": 1})
        return {doc["_id"]: doc async for doc in cursor}

    async def page(
        self,
        tenant: str,
        *,
        limit: int,
        cursor: str | None,
        search: str | None = None,
        include_deleted: bool = True,
    ) -> tuple[list[Document], str | None]:
        query: dict[str, Any] = {"tenant": tenant}
        if cursor:
            query["_id"] = {"$gt": ObjectId(cursor)}
        if not include_deleted:
            query["deleted"] = False
        if search:
            import re

            pattern = re.compile(re.escape(search), re.IGNORECASE)
            query["$or"] = [
                {"ironclad.name": pattern},
                {"ironclad.ironcladId": pattern},
                {"fields.counterparty_name": pattern},
            ]
        docs = [d async for d in self._db.contracts.find(query, {"raw": 0}).sort("_id", 1).limit(limit + 1)]
        next_cursor = str(docs[limit - 1]["_id"]) if len(docs) > limit else None
        return docs[:limit], next_cursor

    async def known_versions(self, tenant: str, record_ids: Sequence[str]) -> dict[str, Document]:
        """What MongoDB knows of each of these records: its lastUpdated, attachments and deleted flag."""
        cursor = self._db.contracts.find(
            {"tenant": tenant, "ironclad.id": {"$in": list(record_ids)}},
            {
                "ironclad.id": 1,
                "ironclad.lastUpdated": 1,
                "source_last_updated": 1,
                "attachments": 1,
                "deleted": 1,
            },
        )
        return {doc["ironclad"]["id"]: doc async for doc in cursor}

    async def mark_seen(self, tenant: str, record_ids: Sequence[str], run_id: str) -> None:
        await self._db.contracts.update_many(
            {"tenant": tenant, "ironclad.id": {"$in": list(record_ids)}}, {"$set": {"last_seen_run": run_id}}
        )

    async def unseen(self, tenant: str, run_id: str, listing_started: datetime) -> list[str]:
        """Record ids of live contracts a reconciliation's listing did not contain: deletion candidates,
        to be confirmed one by one in Ironclad before anything is marked deleted."""
        cursor = self._db.contracts.find(
            {
                "tenant": tenant,
                "deleted": False,
                "last_seen_run": {"$ne": run_id},
                "created_at": {"$lt": listing_started},
            },
            {"ironclad.id": 1},
        )
        return [doc["ironclad"]["id"] async for doc in cursor]

    async def mark_deleted(self, tenant: str, record_ids: Sequence[str], run_id: str) -> int:
        """Mark contracts deleted whose records Ironclad confirmed gone, unless a write saw them since."""
        if not record_ids:
            return 0
        now = utcnow()
        result = await self._db.contracts.update_many(
            {
                "tenant": tenant,
                "ironclad.id": {"$in": list(record_ids)},
                "deleted": False,
                "last_seen_run": {"$ne": run_id},
            },
            # updated_at moves with every change (the change feed's fallback scan reads it).
            {"$set": {"deleted": True, "deleted_at": now, "updated_at": now}},
        )
        return result.modified_count


def _settled(known: Document, incoming: datetime, run_id: str | None, slot: str | None) -> Outcome:
    """The outcome of a record MongoDB already holds at this version or a newer one."""
    if known["source_last_updated"] != incoming:
        return Outcome.SKIPPED_STALE
    if known.get("deleted"):
        return Outcome.UPDATED  # revived: a reconciliation had marked it deleted
    if run_id is not None and known.get("last_run_id") == run_id and known.get("last_slot", slot) == slot:
        # An earlier delivery of this same slot wrote it (its batch was redelivered): report what that
        # write did, so whichever delivery counts the slot counts the same outcome. Another slot of the
        # same run with the same version (a record listed twice as pages shift under edits, or read
        # again by the closing pass) found it stored: unchanged, or the run would count it created twice.
        return Outcome.CREATED if known.get("created_by_run") == run_id else Outcome.UPDATED
    return Outcome.UNCHANGED


def public_contract(doc: Document, *, with_raw: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "contract_id": str(doc["_id"]),
        "ironclad": doc["ironclad"],
        "fields": doc.get("fields", {}),
        "field_errors": doc.get("field_errors", []),
        "mapping_version": doc.get("mapping_version"),
        "attachments": [
            {k: a[k] for k in ("key", "filename", "content_type", "size", "sha256")}
            for a in doc.get("attachments", [])
        ],
        "document_failures": doc.get("document_failures", []),
        "deleted": doc.get("deleted", False),
        "created_at": iso(doc.get("created_at")),
        "updated_at": iso(doc.get("updated_at")),
    }
    if with_raw:
        out["raw"] = doc.get("raw")
    return out
