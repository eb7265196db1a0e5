"""Documents: from Ironclad into GridFS with their sha256, never held whole in memory.

A record's documents are downloaded again only when the record changed (its lastUpdated moved);
a document whose bytes are already stored for that record and key (same sha256) is not stored twice.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from bson import Binary, ObjectId
from pymongo.errors import DuplicateKeyError

from contracts_common.fairness import TenantCap
from contracts_common.ironclad import IroncladClient, IroncladError
from contracts_common.messages import DocumentFailure, StoredDocument
from contracts_common.metrics import DOCUMENTS
from contracts_common.storage.database import DOCUMENTS_BUCKET, Database, Document

FILES = f"{DOCUMENTS_BUCKET}.files"
CHUNKS = f"{DOCUMENTS_BUCKET}.chunks"
CHUNK_SIZE = 255 * 1024  # GridFS's default, so any GridFS reader reads these files
CHUNKS_PER_INSERT = 8  # ~2 MiB per insert_many: few round trips, bounded memory
SPOOL_IN_MEMORY = 1024 * 1024  # larger bodies spill to a temporary file

log = structlog.get_logger(__name__)


def document_keys(record: dict[str, Any]) -> list[str]:
    """Attachment keys of a record: `attachments.*` and properties of type `document`."""
    keys = list((record.get("attachments") or {}).keys())
    for key, prop in (record.get("properties") or {}).items():
        if isinstance(prop, dict) and prop.get("type") == "document" and key not in keys:
            keys.append(key)
    return keys


@dataclass
class DocumentResult:
    stored: list[StoredDocument]
    failures: list[DocumentFailure]
    downloaded: int
    reused: int


class DocumentStore:
    def __init__(self, db: Database, *, writes_per_tenant: int) -> None:
        self._db = db
        # GridFS writes are most of an import's database work: one tenant's backfill writing many
        # documents at once would queue every other tenant's reads and writes behind its chunks in the
        # database. A few at a time per tenant keep the database as busy (it serves one at a time) and
        # leave the others' work a short queue.
        self._writes = TenantCap(writes_per_tenant)

    async def fetch_all(
        self, tenant: str, client: IroncladClient, record: dict[str, Any], known: Document | None
    ) -> DocumentResult | None:
        """Download a record's documents; None when the stored ones are still current."""
        keys = document_keys(record)
        if known is not None and known.get("ironclad", {}).get("lastUpdated") == record["lastUpdated"]:
            have = {a["key"] for a in known.get("attachments", [])}
            if set(keys) <= have:
                DOCUMENTS.labels(outcome="reused").inc(len(keys))
                return None
        result = DocumentResult(stored=[], failures=[], downloaded=0, reused=0)
        for key in keys:
            try:
                doc, new_bytes = await self._download(tenant, client, record["id"], key)
            except IroncladError as exc:
                # A failed download fails this document, not the record or the run.
                DOCUMENTS.labels(outcome="failed").inc()
                log.warning("document_failed", record_id=record["id"], key=key, error=str(exc))
                result.failures.append(DocumentFailure(key=key, error=f"{type(exc).__name__}: {exc}"))
                continue
            result.stored.append(doc)
            if new_bytes:
                result.downloaded += 1
                DOCUMENTS.labels(outcome="downloaded").inc()
            else:
                result.reused += 1
                DOCUMENTS.labels(outcome="reused").inc()
        return result

    async def _download(
        self, tenant: str, client: IroncladClient, record_id: str, key: str
    ) -> tuple[StoredDocument, bool]:
        """Store one document in GridFS; (stored document, whether these bytes were new).

        The body is spooled first (in memory up to SPOOL_IN_MEMORY, then a temporary file) while its
        sha256 is computed, so the HTTP request, and its concurrency slot, ends before the database is
        touched. Bytes already stored for this record and key are then recognised with one read and
        not written again; new ones are written in GridFS's own format, a few chunks per insert, files
        document last.
        """
        digest = hashlib.sha256()
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            async with client.download_attachment(record_id, key) as stream:
                filename = stream.filename or key
                content_type = stream.content_type
                async for chunk in stream.iter_chunks():
                    digest.update(chunk)
                    size += len(chunk)
                    spool.write(chunk)
            sha256 = digest.hexdigest()
            metadata = {
                "source": "ironclad",
                "tenant": tenant,
                "record_id": record_id,
                "key": key,
                "sha256": sha256,
                "size": size,
                "content_type": content_type,
            }
            async with self._writes.hold(tenant):
                existing = await self._stored_file(metadata)
                if existing is not None:
                    return stored_document(key, existing, filename, content_type, size, sha256), False
                spool.seek(0)
                file_id = await self._write_file(spool, filename, size, metadata)
        if file_id is None:
            # The same bytes were stored concurrently (a redelivery): use that copy.
            existing = await self._stored_file(metadata)
            if existing is None:
                raise RuntimeError(f"document {record_id}/{key} neither stored nor found")
            return stored_document(key, existing, filename, content_type, size, sha256), False
        return stored_document(key, file_id, filename, content_type, size, sha256), True

    async def _stored_file(self, metadata: dict[str, Any]) -> ObjectId | None:
        found = await self._db.db[FILES].find_one(
            {f"metadata.{k}": metadata[k] for k in ("source", "tenant", "record_id", "key", "sha256")},
            {"_id": 1},
        )
        return None if found is None else ObjectId(found["_id"])

    async def _write_file(
        self, spool: Any, filename: str, size: int, metadata: dict[str, Any]
    ) -> ObjectId | None:
        """Chunks, then the files document; None if the unique index refused it (same bytes stored)."""
        file_id = ObjectId()
        n = 0
        while True:
            batch = []
            for _ in range(CHUNKS_PER_INSERT):
                data = spool.read(CHUNK_SIZE)
                if not data:
                    break
                batch.append({"files_id": file_id, "n": n, "data": Binary(data)})
                n += 1
            if not batch:
                break
            await self._db.db[CHUNKS].insert_many(batch, ordered=True)
        try:
            await self._db.db[FILES].insert_one(
                {
                    "_id": file_id,
                    "length": size,
                    "chunkSize": CHUNK_SIZE,
                    "uploadDate": datetime.now(UTC),
                    "filename": filename,
                    "metadata": metadata,
                }
            )
        except DuplicateKeyError:
            await self._db.db[CHUNKS].delete_many({"files_id": file_id})
            return None
        return file_id


def stored_document(
    key: str, file_id: ObjectId, filename: str, content_type: str, size: int, sha256: str
) -> StoredDocument:
    """What a contract records of one of its documents in GridFS (an import's or a write-back's)."""
    return StoredDocument(
        key=key, file_id=str(file_id), filename=filename, content_type=content_type, size=size, sha256=sha256
    )
