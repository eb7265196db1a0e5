"""Handing one fresh record to the mapper: its documents into GridFS first, then the confirmed publish."""

from __future__ import annotations

from typing import Any

from contracts_common.ironclad import IroncladClient
from contracts_common.messages import FetchedRecord
from contracts_common.messaging import Broker
from contracts_common.storage.database import Document
from contracts_common.storage.runs import Runs
from importer.documents import DocumentStore


async def hand_off_record(
    *,
    documents: DocumentStore,
    runs: Runs,
    broker: Broker,
    client: IroncladClient,
    tenant: str,
    run_id: str,
    record: dict[str, Any],
    stored: Document | None,
    slot: str,
) -> None:
    """`slot` names the record's place in the run, so a redelivery is counted once."""
    docs = await documents.fetch_all(tenant, client, record, stored)
    if docs is not None and docs.downloaded:
        await runs.add(tenant, run_id, {"documents_downloaded": docs.downloaded})
    if docs is not None and docs.failures:
        await runs.add(tenant, run_id, {"documents_failed": len(docs.failures)})
    await broker.publish_with_retry(
        FetchedRecord(
            tenant=tenant,
            run_id=run_id,
            record=record,
            documents=docs.stored if docs else [],
            document_failures=docs.failures if docs else [],
            documents_unchanged=docs is None,
        ),
        headers={"slot": slot},
    )
