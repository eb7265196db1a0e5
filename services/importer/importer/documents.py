"""Documents: streamed from Ironclad into GridFS with their sha256, never held whole in memory.

A record's documents are downloaded again only when the record changed (its lastUpdated moved);
a document whose bytes are already stored for that record and key (same sha256) is not stored twice.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any

import structlog
from gridfs.errors import FileExists, NoFile
from pymongo.errors import DuplicateKeyError

from contracts_common.ironclad import IroncladClient, IroncladError
from contracts_common.messages import DocumentFailure, StoredDocument
from contracts_common.metrics import DOCUMENTS
from contracts_common.storage.database import DOCUMENTS_BUCKET, Database, Document

FILES = f"{DOCUMENTS_BUCKET}.files"

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
    def __init__(self, db: Database) -> None:
        self._db = db

    async def fetch_all(
        self, tenant: str, client: IroncladClient, record: dict[str, Any], stored: Document | None
    ) -> DocumentResult | None:
        """Download a record's documents; None when the stored ones are still current."""
        keys = document_keys(record)
        if stored is not None and stored.get("ironclad", {}).get("lastUpdated") == record["lastUpdated"]:
            have = {a["key"] for a in stored.get("attachments", [])}
            if set(keys) <= have:
                DOCUMENTS.labels(outcome="reused").inc(len(keys))
                return None
        result = DocumentResult(stored=[], failures=[], downloaded=0, reused=0)
        for key in keys:
            try:
                doc, fresh = await self._download(tenant, client, record["id"], key)
            except IroncladError as exc:
                # A failed download fails this document, not the record or the run.
                DOCUMENTS.labels(outcome="failed").inc()
                log.warning("document_failed", record_id=record["id"], key=key, error=str(exc))
                result.failures.append(DocumentFailure(key=key, error=f"{type(exc).__name__}: {exc}"))
                continue
            result.stored.append(doc)
            if fresh:
                result.downloaded += 1
                DOCUMENTS.labels(outcome="downloaded").inc()
            else:
                result.reused += 1
                DOCUMENTS.labels(outcome="reused").inc()
        return result

    async def _download(
        self, tenant: str, client: IroncladClient, record_id: str, key: str
    ) -> tuple[StoredDocument, bool]:
        """Stream one document into GridFS; (stored document, whether these bytes were new)."""
        bucket = self._db.documents
        digest = hashlib.sha256()
        size = 0
        async with client.download_attachment(record_id, key) as stream:
            filename = stream.filename or key
            content_type = stream.content_type
            upload = bucket.open_upload_stream(filename)
            try:
                async for chunk in stream.iter_chunks():
                    digest.update(chunk)
                    size += len(chunk)
                    await upload.write(chunk)
            except BaseException:
                await upload.abort()
                raise
        sha256 = digest.hexdigest()
        # The files document is written at close, with the hash already in it: the unique index on
        # (tenant, record, key, sha256) then refuses a second copy of the same bytes atomically.
        await upload.set(
            "metadata",
            {
                "source": "ironclad",
                "tenant": tenant,
                "record_id": record_id,
                "key": key,
                "sha256": sha256,
                "size": size,
                "content_type": content_type,
            },
        )
        fresh = True
        try:
            await upload.close()
            file_id = upload._id
        except (DuplicateKeyError, FileExists):
            # GridFS reports any duplicate key on its files document as FileExists.
            fresh = False
            with contextlib.suppress(NoFile):
                await bucket.delete(upload._id)  # its chunks; its files document was refused
            existing = await self._db.db[FILES].find_one(
                {
                    "metadata.source": "ironclad",
                    "metadata.tenant": tenant,
                    "metadata.record_id": record_id,
                    "metadata.key": key,
                    "metadata.sha256": sha256,
                },
                {"_id": 1},
            )
            if existing is None:
                raise
            file_id = existing["_id"]
        return (
            StoredDocument(
                key=key,
                file_id=str(file_id),
                filename=filename,
                content_type=content_type,
                size=size,
                sha256=sha256,
            ),
            fresh,
        )
