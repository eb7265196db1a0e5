"""What every write-back needs: the operation document, the contract, Ironclad's schema, the mapping
reversed into a PATCH, and Ironclad's answer stored on the contract."""

from __future__ import annotations

from typing import Any

import structlog

from contracts_common.current_mapping import MappingCache
from contracts_common.ironclad import IroncladClient
from contracts_common.mapping import (
    DEFAULT_RULES_WITHOUT_METADATA,
    MappingRule,
    ReversePatch,
    SkippedField,
    reverse_fields,
)
from contracts_common.messages import WritebackTask
from contracts_common.storage.contracts import Contracts, ContractWrite
from contracts_common.storage.database import Database, Document
from contracts_common.storage.mappings import Mappings
from contracts_common.storage.schema_cache import SchemaCache
from contracts_common.storage.writebacks import Writebacks
from contracts_common.writeback import WritebackProblem

log = structlog.get_logger(__name__)


def failed(code: str, message: str, details: dict[str, Any] | None = None) -> WritebackProblem:
    """A problem found while writing: the operation is settled as failed with it."""
    return WritebackProblem(422, code, message, details)


def skipped(items: list[SkippedField]) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in items]


def field_error(error: Any) -> dict[str, Any]:
    return dict(error.model_dump(mode="json")) if hasattr(error, "model_dump") else dict(vars(error))


class WriteContext:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.contracts = Contracts(db)
        self.mappings = Mappings(db)
        self.schemas = SchemaCache(db)
        self.writebacks = Writebacks(db)
        # The mapper's own compilation (lenient, with the tenant's custom fields), read fresh each time.
        self.current_mapping = MappingCache(self.mappings, ttl_seconds=0)

    async def set(self, task: WritebackTask, values: dict[str, Any], unset: tuple[str, ...] = ()) -> None:
        await self.writebacks.update(task.tenant, task.operation_id, values, unset)

    async def metadata(self, tenant: str, client: IroncladClient) -> dict[str, Any]:
        """The tenant's `/records/metadata` as cached at connect; fetched (and cached) when missing."""
        cached = await self.schemas.metadata(tenant)
        if cached is not None:
            return cached
        metadata = await client.get_records_metadata()
        await self.schemas.store(tenant, metadata)
        return metadata

    async def rules(self, tenant: str) -> tuple[int, list[MappingRule]]:
        doc = await self.mappings.current(tenant)
        if doc is None:
            return 0, list(DEFAULT_RULES_WITHOUT_METADATA)
        return int(doc["version"]), [MappingRule.model_validate(r) for r in doc["rules"]]

    async def patch(
        self, tenant: str, client: IroncladClient, fields: dict[str, Any]
    ) -> tuple[ReversePatch, dict[str, Any]]:
        """The PATCH parts for `fields`, with the fields no rule writes listed as skipped too."""
        metadata = await self.metadata(tenant, client)
        _, rules = await self.rules(tenant)
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

    async def store(
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
            mapping = await self.current_mapping.get(tenant)
            mapped = mapping.compiled.apply(record)
            [outcome] = await self.contracts.upsert_batch(
                tenant,
                [
                    ContractWrite(
                        record=record,
                        fields=mapped.fields,
                        field_errors=[field_error(e) for e in mapped.errors],
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
