"""Dead letters an operator can act on: list them per queue and tenant, replay or discard them.

The platform key only: dead letters cross tenants. A tenant sees its own count in its health.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts_common.messaging import BrokerUnavailable
from contracts_common.services.dead_letters import DeadLetterService
from contracts_common.storage.dead_letters import CURSOR_PATTERN, DeadLetter
from contracts_common.tenant_tokens import TENANT_PATTERN
from gateway.auth import ACTOR, PLATFORM, Access
from gateway.deps import deps
from gateway.errors import ApiError, parse_body, parse_query
from gateway.models import (
    DeadLetterDiscarded,
    DeadLetterPage,
    DeadLetterReplayed,
    DeadLettersDiscarded,
    DeadLettersReplayed,
)
from gateway.openapi import READ_ERRORS, Api, respond

api = Api("Dead letters")

LetterId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class DeadLettersQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    queue: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="only this work queue's (its full name, e.g. contracts.importer.pages)"
    )
    tenant: Annotated[str, StringConstraints(pattern=TENANT_PATTERN.pattern)] | None = Field(
        default=None, description="only this workspace's"
    )
    limit: int = Field(default=50, ge=1, le=200, description="newest first, at most this many")
    cursor: Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)] | None = Field(
        default=None, description="next_cursor of the previous page"
    )


class DeadLetterIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[LetterId] = Field(min_length=1, max_length=500)


def _service(request: web.Request) -> DeadLetterService:
    d = deps(request)
    return DeadLetterService(d.db, d.broker)


def _broker_down(exc: Exception) -> ApiError:
    return ApiError(503, "BROKER_UNAVAILABLE", "The job queue is unavailable right now; try again shortly.")


async def _observe(request: web.Request, letters: list[DeadLetter]) -> None:
    """Fewer dead letters may change their tenants' health (the dead_letters reason clears)."""
    monitor = deps(request).health
    for tenant in dict.fromkeys(letter.tenant for letter in letters if letter.tenant is not None):
        await monitor.observe_quietly(tenant)


def _not_kept() -> ApiError:
    return ApiError(404, "DEAD_LETTER_NOT_FOUND", "No dead letter with this id (replayed or discarded?).")


@api.get(
    "/api/v1/dead-letters", DeadLetterPage, query=DeadLettersQuery, errors=(400, 401), access=Access.PLATFORM
)
async def list_dead_letters(request: web.Request) -> web.Response:
    """Dead-lettered messages, newest first, with how many each queue holds.

    Every message that failed its delivery limit (or could never be handled) is kept here with its
    reason, tenant, age and how often it died, until it is replayed or discarded.
    """
    query = parse_query(request, DeadLettersQuery)
    page = await _service(request).listing(
        queue=query.queue, tenant=query.tenant, limit=query.limit, cursor=query.cursor
    )
    return respond(DeadLetterPage, page)


@api.post(
    "/api/v1/dead-letters/{id}/replay",
    DeadLetterReplayed,
    errors=(*READ_ERRORS, 503),
    access=Access.PLATFORM,
)
async def replay_dead_letter(request: web.Request) -> web.Response:
    """Replay one dead letter: publish it back to its queue (confirmed), then forget it.

    Safe because every consumer is idempotent: a run's counters stay exact however often a message
    is replayed. Recorded in the tenant's audit trail.
    """
    letter_id = request.match_info["id"]
    try:
        replayed = await _service(request).replay(letter_id, request.get(ACTOR, PLATFORM).audit)
    except BrokerUnavailable as exc:
        raise _broker_down(exc) from exc
    if replayed is None:
        raise _not_kept()
    await _observe(request, [replayed])
    return respond(DeadLetterReplayed, {"replayed": letter_id})


@api.post(
    "/api/v1/dead-letters/{id}/discard", DeadLetterDiscarded, errors=READ_ERRORS, access=Access.PLATFORM
)
async def discard_dead_letter(request: web.Request) -> web.Response:
    """Discard one dead letter for good (recorded in the tenant's audit trail)."""
    letter_id = request.match_info["id"]
    discarded = await _service(request).discard(letter_id, request.get(ACTOR, PLATFORM).audit)
    if discarded is None:
        raise _not_kept()
    await _observe(request, [discarded])
    return respond(DeadLetterDiscarded, {"discarded": letter_id})


@api.post(
    "/api/v1/dead-letters/replay",
    DeadLettersReplayed,
    body=DeadLetterIds,
    errors=(400, 401, 413, 415, 422, 503),
    access=Access.PLATFORM,
)
async def replay_dead_letters(request: web.Request) -> web.Response:
    """Replay several dead letters, each as POST .../{id}/replay; ids not kept are listed apart."""
    body = await parse_body(request, DeadLetterIds)
    service = _service(request)
    actor = request.get(ACTOR, PLATFORM).audit
    done: list[DeadLetter] = []
    missing: list[str] = []
    for letter_id in dict.fromkeys(body.ids):
        try:
            replayed = await service.replay(letter_id, actor)
        except BrokerUnavailable as exc:
            await _observe(request, done)
            raise _broker_down(exc) from exc
        if replayed is None:
            missing.append(letter_id)
        else:
            done.append(replayed)
    await _observe(request, done)
    return respond(DeadLettersReplayed, {"replayed": [letter.id for letter in done], "not_found": missing})


@api.post(
    "/api/v1/dead-letters/discard",
    DeadLettersDiscarded,
    body=DeadLetterIds,
    errors=(400, 401, 413, 415, 422),
    access=Access.PLATFORM,
)
async def discard_dead_letters(request: web.Request) -> web.Response:
    """Discard several dead letters; ids not kept are listed apart."""
    body = await parse_body(request, DeadLetterIds)
    service = _service(request)
    actor = request.get(ACTOR, PLATFORM).audit
    done: list[DeadLetter] = []
    missing: list[str] = []
    for letter_id in dict.fromkeys(body.ids):
        discarded = await service.discard(letter_id, actor)
        if discarded is None:
            missing.append(letter_id)
        else:
            done.append(discarded)
    await _observe(request, done)
    return respond(DeadLettersDiscarded, {"discarded": [letter.id for letter in done], "not_found": missing})
