"""Contracts: one document per (tenant, Ironclad record id), never overwritten by an older record.

The upsert matches only a stored contract whose `ironclad.lastUpdated` is older than the incoming one;
when nothing matches, the insert hits the unique (tenant, ironclad.id) index if a contract exists, which
tells a stale (or equal) write from a new contract without a read-modify-write race.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    """A fresh record and what the mapper made of it, ready to be stored."""

    record: dict[str, Any]
    fields: dict[str, Any]
    field_errors: list[dict[str, Any]]
    # None: leave the stored attachments as they are (the record's documents did not change).
    attachments: list[dict[str, Any]] | None
    document_failures: list[dict[str, Any]]


class Contracts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert_batch(
        self, tenant: str, items: Sequence[ContractWrite], *, mapping_version: int, run_id: str | None
    ) -> list[Outcome]:
        """Store fresh records; for each: created, updated, unchanged (same lastUpdated) or skipped_stale.

        One `bulk_write(ordered=False)` of conditional upserts, and one read only when some of them hit
        the unique index (an equal or newer version is stored), to tell those apart.
        """
        if not items:
            return []
        now = utcnow()
        operations = [self._upsert(tenant, item, mapping_version, run_id, now) for item in items]
        outcomes: list[Outcome | None] = [Outcome.UPDATED] * len(items)
        refused: list[int] = []
        try:
            result = await self._db.contracts.bulk_write(operations, ordered=False)
            upserted = set(result.upserted_ids or {})
        except BulkWriteError as exc:
            write_errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in write_errors):
                raise
            refused = sorted(e["index"] for e in write_errors)
            upserted = {u["index"] for u in exc.details.get("upserted", [])}
        for index in upserted:
            outcomes[index] = Outcome.CREATED
        for index in refused:
            outcomes[index] = None
        if refused:
            await self._classify_refused(tenant, items, refused, outcomes, run_id)
        return [o if o is not None else Outcome.UNCHANGED for o in outcomes]

    @staticmethod
    def _upsert(
        tenant: str, item: ContractWrite, mapping_version: int, run_id: str | None, now: datetime
    ) -> UpdateOne:
        record = item.record
        incoming = parse_timestamp(record["lastUpdated"])
        fields_set: dict[str, Any] = {
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
        }
        if item.attachments is not None:
            fields_set["attachments"] = item.attachments
        return UpdateOne(
            {"tenant": tenant, "ironclad.id": record["id"], "source_last_updated": {"$lt": incoming}},
            {
                "$set": fields_set,
                "$setOnInsert": {
                    "tenant": tenant,
                    "created_at": now,
                    "created_by_run": run_id,
                    **({} if item.attachments is not None else {"attachments": []}),
                },
            },
            upsert=True,
        )

    async def _classify_refused(
        self,
        tenant: str,
        items: Sequence[ContractWrite],
        refused: list[int],
        outcomes: list[Outcome | None],
        run_id: str | None,
    ) -> None:
        """Upserts that hit the unique index: an equal or newer version is stored (one `$in` read)."""
        ids = list({items[i].record["id"] for i in refused})
        existing = {
            doc["ironclad"]["id"]: doc
            async for doc in self._db.contracts.find(
                {"tenant": tenant, "ironclad.id": {"$in": ids}},
                {
                    "ironclad.id": 1,
                    "source_last_updated": 1,
                    "deleted": 1,
                    "last_run_id": 1,
                    "created_by_run": 1,
                },
            )
        }
        revive: list[Any] = []
        for index in refused:
            record = items[index].record
            stored = existing.get(record["id"])
            if stored is None:
                # Deleted between the write and this read: the redelivery will settle it.
                raise RuntimeError(f"contract {record['id']} vanished while being stored")
            if stored["source_last_updated"] != parse_timestamp(record["lastUpdated"]):
                outcomes[index] = Outcome.SKIPPED_STALE
            elif stored.get("deleted"):
                # Seen again after a reconciliation marked it deleted: it exists after all.
                revive.append(stored["_id"])
                outcomes[index] = Outcome.UPDATED
            elif run_id is not None and stored.get("last_run_id") == run_id:
                # Another delivery of this record in this same run wrote it: report what that write
                # did, so whichever delivery counts the slot counts the same outcome.
                outcomes[index] = (
                    Outcome.CREATED if stored.get("created_by_run") == run_id else Outcome.UPDATED
                )
            else:
                outcomes[index] = Outcome.UNCHANGED
        if revive:
            await self._db.contracts.update_many(
                {"_id": {"$in": revive}}, {"$set": {"deleted": False, "deleted_at": None}}
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

    async def last_updated_of(self, tenant: str, record_ids: Sequence[str]) -> dict[str, Document]:
        """For each known record id: its stored lastUpdated, attachments and deleted flag."""
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
        result = await self._db.contracts.update_many(
            {
                "tenant": tenant,
                "ironclad.id": {"$in": list(record_ids)},
                "deleted": False,
                "last_seen_run": {"$ne": run_id},
            },
            {"$set": {"deleted": True, "deleted_at": utcnow()}},
        )
        return result.modified_count


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
