"""Write-back into Ironclad: create a record from a contract, update its metadata, upload a document.

The gateway stores each operation in `writebacks` (status `queued`, with what was asked) and queues a
`WritebackTask`; this consumer makes the Ironclad calls and settles the operation as `succeeded` or
`failed`, with an error `{code, message, details}` an admin can act on (a missing scope is named).

Idempotent by operation id: a settled operation is never run again; a record created by `POST /records`
has its id stored before anything else, and a redelivery after a crash in the middle of that call
looks for the record it may have created before creating one (see `_create_once`).

No loop: write-back is only ever triggered explicitly (through the gateway), never by a sync. After a
write the returned record (with its new `lastUpdated`) is stored onto the contract at once, through the
stale-write-safe `Contracts.upsert_record`, so the next sync or webhook sees an unchanged record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import structlog
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts_common.current_mapping import MappingCache
from contracts_common.ironclad import (
    IroncladAuthError,
    IroncladBadRequest,
    IroncladClient,
    IroncladError,
    IroncladForbidden,
    IroncladNotFound,
    IroncladRateLimited,
    IroncladServerError,
    IroncladUnreachable,
    OAuthError,
    OAuthInvalidClient,
    OAuthInvalidScope,
)
from contracts_common.ironclad.scopes import CREATE_ATTACHMENTS, CREATE_RECORDS, SCOPES, UPDATE_RECORDS
from contracts_common.ironclad_access import IroncladAccess, NotConnected
from contracts_common.mapping import (
    DEFAULT_RULES_WITHOUT_METADATA,
    MappingRule,
    ReversePatch,
    SkippedField,
    reverse_fields,
)
from contracts_common.messages import StoredDocument, WritebackTask
from contracts_common.messaging import Delivery
from contracts_common.storage.contracts import Contracts, ContractWrite, ironclad_summary, parse_timestamp
from contracts_common.storage.database import DOCUMENTS_BUCKET, Database, Document
from contracts_common.storage.mappings import Mappings
from contracts_common.timeutil import iso, utcnow

log = structlog.get_logger(__name__)

FILES = f"{DOCUMENTS_BUCKET}.files"
TERMINAL = ("succeeded", "failed")
# The scope each action needs, for the error that names it.
ACTION_SCOPES: dict[str, str] = {
    "create_record": CREATE_RECORDS,
    "update_record": UPDATE_RECORDS,
    "upload_document": CREATE_ATTACHMENTS,
}
ACTION_WORDS: dict[str, str] = {
    "create_record": "create records",
    "update_record": "update records",
    "upload_document": "upload documents",
}
# Documents up to this size are sent as bytes (the client may retry them); larger ones are streamed once.
REPLAYABLE_UPLOAD_BYTES = 8 * 1024 * 1024
TRANSIENT: tuple[type[Exception], ...] = (IroncladRateLimited, IroncladServerError, IroncladUnreachable)
# Answers after which Ironclad certainly did not create a record: a new attempt may create it.
NOT_CREATED: tuple[type[Exception], ...] = (
    IroncladBadRequest,
    IroncladForbidden,
    IroncladNotFound,
    IroncladRateLimited,
    IroncladAuthError,
    OAuthError,
)


class WritebackFailed(Exception):
    """The operation cannot succeed as asked; settles it as failed with this error."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


def scope_error(action: str, cause: str) -> WritebackFailed:
    """The clear error of a missing scope, the same the gateway gives when it can tell beforehand."""
    scope = ACTION_SCOPES[action]
    purpose = next((s.purpose for s in SCOPES if s.scope == scope), "")
    return WritebackFailed(
        "IRONCLAD_SCOPE_MISSING",
        f"The Ironclad app is missing the scope {scope}, which Contracts AI needs to {ACTION_WORDS[action]}"
        f" in Ironclad. Add it in Company Settings → API → your app → Requested Resource Scopes, then"
        f" connect again.",
        {"missing_scope": scope, "purpose": purpose, "ironclad": cause},
    )


def ironclad_rejected(exc: IroncladError) -> WritebackFailed:
    details: dict[str, Any] = {"status": exc.status, "ironclad_code": exc.code}
    if exc.param:
        details["param"] = exc.param
    if exc.request_id:
        details["request_id"] = exc.request_id
    return WritebackFailed("IRONCLAD_REJECTED", f"Ironclad refused the write: {exc.message}", details)


def _skipped(items: list[SkippedField]) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in items]


def _field_error(error: Any) -> dict[str, Any]:
    return dict(error.model_dump(mode="json")) if hasattr(error, "model_dump") else dict(vars(error))


class WritebackHandlers:
    def __init__(self, *, access: IroncladAccess, db: Database, delivery_limit: int) -> None:
        self._access = access
        self._db = db
        self._contracts = Contracts(db)
        self._mappings = Mappings(db)
        # The mapper's own compilation (lenient, with the tenant's custom fields), read fresh each time.
        self._current_mapping = MappingCache(self._mappings, ttl_seconds=0)
        self._delivery_limit = delivery_limit

    # ------------------------------------------------------------------ the consumer

    async def handle(self, task: WritebackTask, delivery: Delivery) -> None:
        op = await self._claim(task)
        if op is None:
            log.info("writeback_already_settled", operation_id=task.operation_id)
            return
        log.info(
            "writeback_started", operation_id=task.operation_id, action=task.action, attempt=op["attempts"]
        )
        generation: int | None = None
        try:
            client, connection = await self._access.client(task.tenant)
            generation = connection.get("generation")
            if task.action == "create_record":
                result = await self._create_record(client, task, op)
            elif task.action == "update_record":
                result = await self._update_record(client, task, op)
            else:
                result = await self._upload_document(client, task, op)
        except WritebackFailed as exc:
            await self._fail(task, exc)
        except NotConnected as exc:
            await self._fail(
                task,
                WritebackFailed(
                    "NOT_CONNECTED", f"The workspace has no usable Ironclad connection (status {exc.status})."
                ),
            )
        except IroncladForbidden as exc:
            await self._fail(task, scope_error(task.action, str(exc)))
        except OAuthInvalidScope as exc:
            # The token request names every scope we use; blame the action's scope only when Ironclad does.
            if ACTION_SCOPES[task.action] in str(exc):
                await self._fail(task, scope_error(task.action, str(exc)))
            else:
                message = f"Ironclad refused a token for the scopes Contracts AI uses: {exc.message}"
                await self._fail(task, WritebackFailed("IRONCLAD_SCOPE_NOT_REGISTERED", message))
        except (OAuthInvalidClient, IroncladAuthError) as exc:
            reason = "Ironclad rejected the stored client credentials. Reconnect in the Ironclad panel."
            await self._access.connections.mark_needs_reauth(task.tenant, reason, generation)
            await self._fail(task, WritebackFailed("NEEDS_REAUTH", reason, {"ironclad": str(exc)}))
        except (IroncladBadRequest, IroncladNotFound) as exc:
            await self._fail(task, ironclad_rejected(exc))
        except TRANSIENT as exc:
            if delivery.delivery_count + 1 < self._delivery_limit:
                await self._note(task, f"{type(exc).__name__}: {exc}")
                raise
            await self._fail(
                task,
                WritebackFailed(
                    "IRONCLAD_UNAVAILABLE",
                    f"Ironclad did not accept the write after {delivery.delivery_count + 1} attempts: {exc}",
                    {"ironclad": str(exc)},
                ),
            )
        except (IroncladError, OAuthError) as exc:
            await self._fail(task, WritebackFailed("IRONCLAD_ERROR", f"The Ironclad call failed: {exc}"))
        except Exception:
            if delivery.delivery_count + 1 >= self._delivery_limit:
                await self._fail(
                    task,
                    WritebackFailed("INTERNAL_ERROR", "The write-back failed on our side; it was logged."),
                )
            raise
        else:
            await self._succeed(task, result)

    # ------------------------------------------------------------------ the operation document

    async def _claim(self, task: WritebackTask) -> Document | None:
        """The operation, now `running` with one more attempt; None when it is already settled."""
        now = utcnow()
        try:
            await self._db.writebacks.insert_one(
                {
                    "_id": f"{task.tenant}:{task.operation_id}",
                    "tenant": task.tenant,
                    "operation_id": task.operation_id,
                    "action": task.action,
                    "contract_id": task.contract_id,
                    "status": "queued",
                    "request": {
                        "record_type": task.record_type,
                        "attachment_key": task.attachment_key,
                        "document_id": task.document_id,
                    },
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        except DuplicateKeyError:
            pass  # the gateway stored it (the usual case)
        doc: Document | None = await self._db.writebacks.find_one_and_update(
            {"tenant": task.tenant, "operation_id": task.operation_id, "status": {"$nin": list(TERMINAL)}},
            {
                "$set": {"status": "running", "updated_at": now},
                "$min": {"started_at": now},
                "$inc": {"attempts": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def _set(self, task: WritebackTask, values: dict[str, Any], unset: tuple[str, ...] = ()) -> None:
        update: dict[str, Any] = {"$set": {**values, "updated_at": utcnow()}}
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        await self._db.writebacks.update_one(
            {"tenant": task.tenant, "operation_id": task.operation_id}, update
        )

    async def _note(self, task: WritebackTask, error: str) -> None:
        await self._set(task, {"last_error": error})

    async def _succeed(self, task: WritebackTask, result: dict[str, Any]) -> None:
        values: dict[str, Any] = {
            "status": "succeeded",
            "result": result,
            "error": None,
            "finished_at": utcnow(),
        }
        if result.get("ironclad_record_id"):
            values["ironclad_record_id"] = result["ironclad_record_id"]
        await self._set(task, values)
        log.info("writeback_succeeded", operation_id=task.operation_id, action=task.action)

    async def _fail(self, task: WritebackTask, exc: WritebackFailed) -> None:
        error = {"code": exc.code, "message": exc.message, "details": exc.details}
        await self._set(task, {"status": "failed", "error": error, "finished_at": utcnow()})
        log.warning("writeback_failed", operation_id=task.operation_id, action=task.action, code=exc.code)

    # ------------------------------------------------------------------ what the writes need

    async def _contract(self, task: WritebackTask) -> Document:
        try:
            oid = ObjectId(task.contract_id)
        except (InvalidId, TypeError):
            oid = None
        doc = (
            await self._db.contracts.find_one({"tenant": task.tenant, "_id": oid})
            if oid is not None
            else None
        )
        if doc is None:
            doc = await self._contracts.get(task.tenant, task.contract_id)
        if doc is None:
            raise WritebackFailed("CONTRACT_NOT_FOUND", "The contract no longer exists in this workspace.")
        return doc

    async def _metadata(self, tenant: str, client: IroncladClient) -> dict[str, Any]:
        """The tenant's `/records/metadata` as cached at connect; fetched (and cached) when missing."""
        cached = await self._db.schema_cache.find_one({"tenant": tenant})
        if cached is not None and isinstance(cached.get("metadata"), dict):
            metadata: dict[str, Any] = cached["metadata"]
            return metadata
        metadata = await client.get_records_metadata()
        await self._db.schema_cache.replace_one(
            {"tenant": tenant}, {"tenant": tenant, "metadata": metadata, "fetched_at": utcnow()}, upsert=True
        )
        return metadata

    async def _rules(self, tenant: str) -> tuple[int, list[MappingRule]]:
        doc = await self._mappings.current(tenant)
        if doc is None:
            return 0, list(DEFAULT_RULES_WITHOUT_METADATA)
        return int(doc["version"]), [MappingRule.model_validate(r) for r in doc["rules"]]

    async def _patch(
        self, tenant: str, client: IroncladClient, fields: dict[str, Any]
    ) -> tuple[ReversePatch, dict[str, Any]]:
        """The PATCH parts for `fields`, with the fields no rule writes listed as skipped too."""
        metadata = await self._metadata(tenant, client)
        _, rules = await self._rules(tenant)
        patch = reverse_fields(fields, rules, metadata)
        targets = {r.target for r in rules}
        for name in fields:
            if name not in targets:
                patch.skipped.append(
                    SkippedField(
                        target=name, source="", reason="no rule of the field mapping writes this field"
                    )
                )
        return patch, metadata

    async def _store(
        self,
        tenant: str,
        record: dict[str, Any],
        contract: Document,
        attachments: list[dict[str, Any]] | None,
    ) -> str:
        """Store Ironclad's answer on the contract at once (stale-write safe), mapped as a sync would.

        Ironclad has accepted the write by now, so nothing here may fail the operation: if storing the
        answer fails, the next sync of the record (webhook, incremental pass) stores it instead.
        """
        try:
            mapping = await self._current_mapping.get(tenant)
            mapped = mapping.compiled.apply(record)
            [outcome] = await self._contracts.upsert_batch(
                tenant,
                [
                    ContractWrite(
                        record=record,
                        fields=mapped.fields,
                        field_errors=[_field_error(e) for e in mapped.errors],
                        attachments=attachments,
                        document_failures=list(contract.get("document_failures") or []),
                    )
                ],
                mapping_version=mapping.version,
                run_id=None,
            )
        except Exception as exc:
            log.warning("writeback_store_deferred", record_id=record.get("id"), error=str(exc))
            return "deferred"
        return str(outcome.value)

    # ------------------------------------------------------------------ create

    async def _create_record(
        self, client: IroncladClient, task: WritebackTask, op: Document
    ) -> dict[str, Any]:
        contract = await self._contract(task)
        request = op.get("request") or {}
        record: dict[str, Any] | None = None
        skipped: list[dict[str, Any]] = []
        if op.get("ironclad_record_id"):
            # An earlier attempt created the record and stopped before linking it.
            record = await client.get_record(op["ironclad_record_id"])
        else:
            linked = (contract.get("ironclad") or {}).get("id")
            if linked and not contract.get("deleted"):
                raise WritebackFailed(
                    "CONTRACT_ALREADY_LINKED",
                    "This contract already belongs to an Ironclad record; update that record instead.",
                    {"ironclad_record_id": linked},
                )
            fields = request.get("fields")
            if not isinstance(fields, dict):
                fields = dict(contract.get("fields") or {})
            patch, metadata = await self._patch(task.tenant, client, fields)
            skipped = _skipped(patch.skipped)
            record_type = request.get("record_type") or task.record_type
            types = metadata.get("recordTypes") or {}
            if not record_type or (types and record_type not in types):
                raise WritebackFailed(
                    "UNKNOWN_RECORD_TYPE",
                    f"Ironclad has no record type {record_type!r}.",
                    {"record_types": sorted(types)},
                )
            name = request.get("name") or patch.name or (contract.get("fields") or {}).get("title")
            name = name or (contract.get("ironclad") or {}).get("name")
            if not isinstance(name, str) or not name.strip():
                raise WritebackFailed("NAME_REQUIRED", "An Ironclad record needs a name: send `name`.")
            body = {"type": record_type, "name": name.strip(), "properties": patch.add_properties}
            record = await self._create_once(client, task, op, body)
        await self._link(task.tenant, contract, record)
        return {
            "ironclad_record_id": record["id"],
            "ironclad_id": record.get("ironcladId"),
            "last_updated": record["lastUpdated"],
            "skipped": skipped,
        }

    async def _create_once(
        self, client: IroncladClient, task: WritebackTask, op: Document, body: dict[str, Any]
    ) -> dict[str, Any]:
        """`POST /records` at most once per operation, the new id stored before anything else."""
        key = {"tenant": task.tenant, "operation_id": task.operation_id}
        marked = await self._db.writebacks.find_one_and_update(
            {**key, "create_sent_at": {"$exists": False}},
            {"$set": {"create_sent_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        if marked is None:
            # A previous attempt sent POST /records and stopped before it knew the outcome.
            current = await self._db.writebacks.find_one(key)
            sent_at = current.get("create_sent_at") if current else None
            found = await self._find_created(client, body, sent_at)
            if found is not None:
                await self._set(task, {"ironclad_record_id": found["id"]})
                return found
            await self._set(task, {"create_sent_at": utcnow()})
        try:
            record = await client.create_record(body)
        except NOT_CREATED:
            await self._set(task, {}, unset=("create_sent_at",))
            raise
        except IroncladServerError as exc:
            if exc.status == 503:
                await self._set(task, {}, unset=("create_sent_at",))
            raise
        await self._set(task, {"ironclad_record_id": record["id"]})
        return record

    async def _find_created(
        self, client: IroncladClient, body: dict[str, Any], sent_at: Any
    ) -> dict[str, Any] | None:
        """The record an interrupted attempt created: same type and name, changed since it was sent."""
        since = iso(sent_at - timedelta(seconds=5)) if sent_at is not None else None
        page = await client.list_records(
            page=0, page_size=100, types=[body["type"]], last_updated_since=since
        )
        fresh = [r for r in page.records if r.get("name") == body["name"]]
        if len(fresh) > 1:
            raise WritebackFailed(
                "WRITEBACK_UNCERTAIN",
                "An earlier attempt may have created this record in Ironclad, and several records match it. "
                "Check Ironclad before creating it again.",
                {"record_ids": [r["id"] for r in fresh]},
            )
        return fresh[0] if fresh else None

    async def _link(self, tenant: str, contract: Document, record: dict[str, Any]) -> None:
        """The contract keeps its id and now stands for `record` (Ironclad's answer, stored at once).

        A sync (webhook or listing) may have stored the new record as a contract of its own before we
        linked it; that copy is removed, so the unique (tenant, ironclad.id) index keeps one contract.
        """
        mapping = await self._current_mapping.get(tenant)
        version = mapping.version
        for _ in range(3):
            incoming = parse_timestamp(record["lastUpdated"])
            mapped = mapping.compiled.apply(record)
            now = utcnow()
            values = {
                "ironclad": ironclad_summary(record),
                "source_last_updated": incoming,
                "raw": record,
                "fields": mapped.fields,
                "field_errors": [_field_error(e) for e in mapped.errors],
                "mapping_version": version,
                "deleted": False,
                "deleted_at": None,
                "updated_at": now,
                "linked_at": now,
            }
            try:
                await self._db.contracts.update_one(
                    {
                        "_id": contract["_id"],
                        "tenant": tenant,
                        "$or": [
                            {"ironclad.id": {"$ne": record["id"]}},
                            {"source_last_updated": {"$lt": incoming}},
                        ],
                    },
                    {"$set": values},
                )
                return
            except DuplicateKeyError:
                copy = await self._db.contracts.find_one_and_delete(
                    {"tenant": tenant, "ironclad.id": record["id"], "_id": {"$ne": contract["_id"]}}
                )
                if (
                    copy is not None
                    and copy.get("source_last_updated")
                    and copy["source_last_updated"] > incoming
                ):
                    record = copy["raw"]
                log.info("writeback_removed_sync_copy", record_id=record["id"])
        raise WritebackFailed("LINK_FAILED", "The new Ironclad record could not be linked to the contract.")

    # ------------------------------------------------------------------ update

    def _linked_record_id(self, contract: Document) -> str:
        record_id = (contract.get("ironclad") or {}).get("id")
        if not record_id or contract.get("deleted"):
            raise WritebackFailed(
                "CONTRACT_NOT_LINKED",
                "This contract has no Ironclad record (never created there, or deleted in Ironclad); "
                "create one first.",
            )
        return str(record_id)

    async def _update_record(
        self, client: IroncladClient, task: WritebackTask, op: Document
    ) -> dict[str, Any]:
        contract = await self._contract(task)
        record_id = self._linked_record_id(contract)
        request = op.get("request") or {}
        fields = request.get("fields")
        if not isinstance(fields, dict):
            fields = dict(contract.get("fields") or {})
        patch, _ = await self._patch(task.tenant, client, fields)
        body = patch.body()
        result: dict[str, Any] = {
            "ironclad_record_id": record_id,
            "written": body,
            "skipped": _skipped(patch.skipped),
        }
        if not body:
            result["changed"] = False
            return result
        record = await client.update_record(record_id, body)
        result["changed"] = True
        result["last_updated"] = record["lastUpdated"]
        result["stored"] = await self._store(task.tenant, record, contract, None)
        return result

    # ------------------------------------------------------------------ upload

    async def _upload_document(
        self, client: IroncladClient, task: WritebackTask, op: Document
    ) -> dict[str, Any]:
        contract = await self._contract(task)
        record_id = self._linked_record_id(contract)
        request = op.get("request") or {}
        key = request.get("attachment_key") or task.attachment_key
        document_id = request.get("document_id") or task.document_id
        if not key or not document_id:
            raise WritebackFailed("INVALID_TASK", "The upload names no document or attachment key.")
        try:
            file_id = ObjectId(document_id)
        except (InvalidId, TypeError) as exc:
            raise WritebackFailed("DOCUMENT_NOT_FOUND", "The document to upload is not stored.") from exc
        stored = await self._db.db[FILES].find_one({"_id": file_id, "metadata.tenant": task.tenant})
        if stored is None:
            raise WritebackFailed("DOCUMENT_NOT_FOUND", "The document to upload is not stored.")
        meta = stored.get("metadata") or {}
        filename = str(stored["filename"])
        content_type = str(meta.get("content_type") or "application/octet-stream")
        size = int(stored.get("length") or 0)
        if not op.get("uploaded"):
            await self._send(client, record_id, key, filename, content_type, file_id, size, op)
            await self._set(task, {"uploaded": True})
        record = await client.get_record(record_id)
        sha256 = str(meta.get("sha256") or "")
        await self._db.db[FILES].update_one(
            {"_id": file_id}, {"$set": {"metadata.record_id": record_id, "metadata.key": key}}
        )
        document = StoredDocument(
            key=key,
            file_id=str(file_id),
            filename=filename,
            content_type=content_type,
            size=size,
            sha256=sha256,
        ).model_dump()
        attachments = [a for a in contract.get("attachments") or [] if a.get("key") != key] + [document]
        outcome = await self._store(task.tenant, record, contract, attachments)
        return {
            "ironclad_record_id": record_id,
            "attachment_key": key,
            "filename": filename,
            "size": size,
            "sha256": sha256,
            "last_updated": record["lastUpdated"],
            "stored": outcome,
        }

    async def _send(
        self,
        client: IroncladClient,
        record_id: str,
        key: str,
        filename: str,
        content_type: str,
        file_id: ObjectId,
        size: int,
        op: Document,
    ) -> None:
        data: bytes | AsyncIterator[bytes]
        if size <= REPLAYABLE_UPLOAD_BYTES:
            stream = await self._db.documents.open_download_stream(file_id)
            data = await stream.read()
        else:
            data = self._chunks(file_id)
        try:
            await client.upload_attachment(
                record_id, key, filename=filename, content_type=content_type, data=data
            )
        except IroncladBadRequest as exc:
            if "already exists" not in exc.message:
                raise
            if op.get("attempts", 1) > 1 and await self._ours(client, record_id, key, filename):
                return  # an earlier attempt uploaded it and stopped before it could say so
            raise WritebackFailed(
                "ATTACHMENT_EXISTS",
                f"The Ironclad record already has a document under '{key}', and Ironclad does not overwrite "
                "uploads. Choose another key (for example fileAttachment) or delete that document in "
                "Ironclad first.",
                {"attachment_key": key, "ironclad": str(exc)},
            ) from exc

    async def _chunks(self, file_id: ObjectId) -> AsyncIterator[bytes]:
        stream = await self._db.documents.open_download_stream(file_id)
        while chunk := await stream.readchunk():
            yield chunk

    async def _ours(self, client: IroncladClient, record_id: str, key: str, filename: str) -> bool:
        record = await client.get_record(record_id)
        attachment = (record.get("attachments") or {}).get(key)
        return isinstance(attachment, dict) and attachment.get("filename") == filename
