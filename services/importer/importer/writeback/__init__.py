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

from importer.writeback.consumer import WritebackHandlers

__all__ = ["WritebackHandlers"]
