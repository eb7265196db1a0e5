"""Publishing fetched records to the mapper: their documents into GridFS first, then the confirmed publish.

Every path that brings records in (listings, webhook syncs, the incremental pass, a listing's closing
pass) publishes through this one path, so the mapper sees one shape of work whatever caused it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from contracts_common.ironclad import IroncladClient, IroncladNotFound
from contracts_common.ironclad_access import Lane
from contracts_common.messages import FetchedBatch, FetchedItem, LiveBatch, UnchangedItem
from contracts_common.messaging import Broker
from contracts_common.storage.contracts import parse_timestamp
from contracts_common.storage.database import Document
from importer.documents import DocumentStore


def is_current(known: Document | None, record: dict[str, Any]) -> bool:
    """True when MongoDB already holds this version (or a newer one) of the record, not deleted."""
    if known is None or known.get("deleted"):
        return False
    stored = known.get("source_last_updated")
    return stored is not None and stored >= parse_timestamp(record["lastUpdated"])


async def get_records(
    client: IroncladClient, record_ids: Sequence[str], concurrency: int
) -> list[dict[str, Any] | None]:
    """GET each record by id, `concurrency` at a time; None for one Ironclad says does not exist."""
    limit = asyncio.Semaphore(concurrency)

    async def get(record_id: str) -> dict[str, Any] | None:
        async with limit:
            try:
                return await client.get_record(record_id)
            except IroncladNotFound:
                return None

    return list(await asyncio.gather(*(get(rid) for rid in record_ids)))


class RecordPublisher:
    def __init__(self, *, documents: DocumentStore, broker: Broker, concurrency: int) -> None:
        self._documents = documents
        self._broker = broker
        self._concurrency = concurrency

    async def publish(
        self,
        client: IroncladClient,
        tenant: str,
        run_id: str | None,
        items: Sequence[tuple[str, dict[str, Any]]],
        known: dict[str, Document],
        *,
        lane: Lane,
        unchanged: Sequence[UnchangedItem] = (),
    ) -> None:
        """Fetch the documents of (slot, record) items, `concurrency` records at a time, then publish
        them, with the `unchanged` slots, as one batch to the mapper's queue of `lane`; raises the first
        failure (nothing published)."""
        limit = asyncio.Semaphore(self._concurrency)

        async def fetch(slot: str, record: dict[str, Any]) -> FetchedItem:
            async with limit:
                docs = await self._documents.fetch_all(tenant, client, record, known.get(record["id"]))
            return FetchedItem(
                slot=slot,
                record=record,
                documents=docs.stored if docs else [],
                document_failures=docs.failures if docs else [],
                documents_unchanged=docs is None,
                documents_downloaded=docs.downloaded if docs else 0,
            )

        results = await asyncio.gather(
            *(fetch(slot, record) for slot, record in items), return_exceptions=True
        )
        fetched: list[FetchedItem] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            fetched.append(result)
        if not fetched and not unchanged:
            return
        batch = LiveBatch if lane is Lane.LIVE else FetchedBatch
        await self._broker.publish_with_retry(
            batch(tenant=tenant, run_id=run_id, items=fetched, unchanged=list(unchanged))
        )
