"""Write-back into Ironclad: create a record from a contract, update its metadata, upload a document.

Each call checks what it can up front (connection, the scope it needs, the contract, the record type or
attachment key), stores the operation in `writebacks` as `queued` and queues a `WritebackTask` for the
importer, which makes the Ironclad calls (see `importer.writeback`). The answer is `202 {operation_id}`;
`GET .../writebacks/{operation_id}` follows it to `succeeded` or `failed`.

Write-back is only ever triggered here, explicitly, never by a sync; the importer stores Ironclad's
answer on the contract at once, so our own write coming back through a sync is seen as unchanged.
"""

from gateway.api.writeback import documents, records  # noqa: F401 - their operations register on `api`
from gateway.api.writeback.operations import api

__all__ = ["api"]
