"""The write-back consumer: one `WritebackTask` at a time, settled as `succeeded` or `failed`."""

from __future__ import annotations

from typing import Any

import structlog

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
from contracts_common.notifications import EventType, Notifier
from contracts_common.storage.database import Database, Document
from contracts_common.storage.writebacks import WritebackOperation, WritebackRequest
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
    def __init__(
        self, *, access: IroncladAccess, db: Database, delivery_limit: int, notifier: Notifier | None = None
    ) -> None:
        self._access = access
        self._notifier = notifier
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
            turned = await self._access.connections.mark_needs_reauth(task.tenant, reason, generation)
            if turned and self._notifier is not None:
                await self._notifier.announce(
                    task.tenant, EventType.CONNECTION_NEEDS_REAUTH, {"reason": reason}
                )
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
        # The gateway stores the operation before it publishes the task (the usual case); one that is
        # missing (stored by an older gateway, or erased meanwhile) is stored here first.
        await self._ctx.writebacks.add(
            WritebackOperation.queued(
                task.tenant,
                task.operation_id,
                task.action,
                task.contract_id,
                WritebackRequest(
                    record_type=task.record_type,
                    attachment_key=task.attachment_key,
                    document_id=task.document_id,
                ),
            )
        )
        claimed = await self._ctx.writebacks.claim(task.tenant, task.operation_id)
        return None if claimed is None else claimed.document()

    async def _note(self, task: WritebackTask, error: str) -> None:
        await self._ctx.set(task, {"last_error": error})

    async def _succeed(self, task: WritebackTask, result: dict[str, Any]) -> None:
        await self._ctx.writebacks.succeed(task.tenant, task.operation_id, result)
        log.info("writeback_succeeded", operation_id=task.operation_id, action=task.action)

    async def _fail(self, task: WritebackTask, exc: WritebackProblem) -> None:
        await self._ctx.writebacks.fail(task.tenant, task.operation_id, exc.error())
        log.warning("writeback_failed", operation_id=task.operation_id, action=task.action, code=exc.code)
