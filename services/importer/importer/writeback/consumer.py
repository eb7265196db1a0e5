"""The write-back consumer: one `WritebackTask` at a time, settled as `succeeded` or `failed`."""

from __future__ import annotations

from typing import Any

import structlog
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts_common.ironclad import (
    IroncladAuthError,
    IroncladBadRequest,
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
from contracts_common.ironclad_access import IroncladAccess, Lane, NotConnected
from contracts_common.messages import WritebackTask
from contracts_common.messaging import Delivery
from contracts_common.storage.database import Database, Document
from contracts_common.timeutil import utcnow
from contracts_common.writeback import ACTIONS, WritebackProblem, scope_missing
from importer.writeback.context import WriteContext, failed
from importer.writeback.documents import upload_document
from importer.writeback.records import create_record, update_record

log = structlog.get_logger(__name__)

TERMINAL = ("succeeded", "failed")
TRANSIENT: tuple[type[Exception], ...] = (IroncladRateLimited, IroncladServerError, IroncladUnreachable)


def ironclad_rejected(exc: IroncladError) -> WritebackProblem:
    details: dict[str, Any] = {"status": exc.status, "ironclad_code": exc.code}
    if exc.param:
        details["param"] = exc.param
    if exc.request_id:
        details["request_id"] = exc.request_id
    return failed("IRONCLAD_REJECTED", f"Ironclad refused the write: {exc.message}", details)


class WritebackHandlers:
    def __init__(self, *, access: IroncladAccess, db: Database, delivery_limit: int) -> None:
        self._access = access
        self._ctx = WriteContext(db)
        self._delivery_limit = delivery_limit

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
            client, connection = await self._access.client(task.tenant, Lane.LIVE)
            generation = connection.get("generation")
            if task.action == "create_record":
                result = await create_record(self._ctx, client, task, op)
            elif task.action == "update_record":
                result = await update_record(self._ctx, client, task, op)
            else:
                result = await upload_document(self._ctx, client, task, op)
        except WritebackProblem as exc:
            await self._fail(task, exc)
        except NotConnected as exc:
            await self._fail(
                task,
                failed(
                    "NOT_CONNECTED", f"The workspace has no usable Ironclad connection (status {exc.status})."
                ),
            )
        except IroncladForbidden as exc:
            await self._fail(task, scope_missing(task.action, ironclad=str(exc)))
        except OAuthInvalidScope as exc:
            # The token request names every scope we use; blame the action's scope only when Ironclad does.
            if ACTIONS[task.action].scope in str(exc):
                await self._fail(task, scope_missing(task.action, ironclad=str(exc)))
            else:
                message = f"Ironclad refused a token for the scopes Contracts AI uses: {exc.message}"
                await self._fail(task, failed("IRONCLAD_SCOPE_NOT_REGISTERED", message))
        except (OAuthInvalidClient, IroncladAuthError) as exc:
            reason = "Ironclad rejected the stored client credentials. Reconnect in the Ironclad panel."
            await self._access.connections.mark_needs_reauth(task.tenant, reason, generation)
            await self._fail(task, failed("NEEDS_REAUTH", reason, {"ironclad": str(exc)}))
        except (IroncladBadRequest, IroncladNotFound) as exc:
            await self._fail(task, ironclad_rejected(exc))
        except TRANSIENT as exc:
            if delivery.delivery_count + 1 < self._delivery_limit:
                await self._note(task, f"{type(exc).__name__}: {exc}")
                raise
            await self._fail(
                task,
                failed(
                    "IRONCLAD_UNAVAILABLE",
                    f"Ironclad did not accept the write after {delivery.delivery_count + 1} attempts: {exc}",
                    {"ironclad": str(exc)},
                ),
            )
        except (IroncladError, OAuthError) as exc:
            await self._fail(task, failed("IRONCLAD_ERROR", f"The Ironclad call failed: {exc}"))
        except Exception:
            if delivery.delivery_count + 1 >= self._delivery_limit:
                await self._fail(
                    task,
                    failed("INTERNAL_ERROR", "The write-back failed on our side; it was logged."),
                )
            raise
        else:
            await self._succeed(task, result)

    # ------------------------------------------------------------------ the operation document

    async def _claim(self, task: WritebackTask) -> Document | None:
        """The operation, now `running` with one more attempt; None when it is already settled."""
        now = utcnow()
        try:
            await self._ctx.db.writebacks.insert_one(
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
        doc: Document | None = await self._ctx.db.writebacks.find_one_and_update(
            {"tenant": task.tenant, "operation_id": task.operation_id, "status": {"$nin": list(TERMINAL)}},
            {
                "$set": {"status": "running", "updated_at": now},
                "$min": {"started_at": now},
                "$inc": {"attempts": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def _note(self, task: WritebackTask, error: str) -> None:
        await self._ctx.set(task, {"last_error": error})

    async def _succeed(self, task: WritebackTask, result: dict[str, Any]) -> None:
        values: dict[str, Any] = {
            "status": "succeeded",
            "result": result,
            "error": None,
            "finished_at": utcnow(),
        }
        if result.get("ironclad_record_id"):
            values["ironclad_record_id"] = result["ironclad_record_id"]
        await self._ctx.set(task, values)
        log.info("writeback_succeeded", operation_id=task.operation_id, action=task.action)

    async def _fail(self, task: WritebackTask, exc: WritebackProblem) -> None:
        await self._ctx.set(task, {"status": "failed", "error": exc.error(), "finished_at": utcnow()})
        log.warning("writeback_failed", operation_id=task.operation_id, action=task.action, code=exc.code)
