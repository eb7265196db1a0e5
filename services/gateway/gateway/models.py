"""Every body the gateway answers with, as a pydantic model (the request bodies live beside their
handlers). The OpenAPI document is generated from these, and `openapi.respond` sends every answer
through its model, dumping only the fields the handler set: a field the model does not know fails
instead of reaching a client undocumented.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, WithJsonSchema

from contracts_common.mapping import FieldError, SourceField

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


def _json_integer(value: Any) -> Any:
    """3525.0 is the integer 3525 in JSON (and in JSON Schema); 3525.5, "3525" and true are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer in a JSON body as JSON Schema's "integer" means it: 3525.0 yes; "3525", true, 3525.5 no.
JsonInteger = Annotated[int, BeforeValidator(_json_integer), Strict()]


def integer_schema(minimum: int, maximum: int) -> WithJsonSchema:
    """The document's schema of a bounded JsonInteger (`Annotated[JsonInteger, Ge(a), Le(b), here]`)."""
    return WithJsonSchema({"type": "integer", "minimum": minimum, "maximum": maximum})


RunStatusName = Literal["queued", "running", "succeeded", "partially_succeeded", "failed"]
# Rules are kept as given (normalised) so each problem is answered with its rule's index; their
# shape is the mapping's `MappingRule`, which the document names ({"x-model"} becomes its $ref).
Rules = Annotated[
    list[dict[str, Any]], WithJsonSchema({"type": "array", "items": {"x-model": "MappingRule"}})
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------- errors


class ErrorDetail(Body):
    code: str = Field(description="SNAKE_CASE code, stable for clients")
    message: str = Field(description="a sentence for the admin")
    details: dict[str, Any]


class ErrorBody(Body):
    error: ErrorDetail


# ---------------------------------------------------------------------------------------------- connection


class Scope(Body):
    scope: str
    purpose: str
    required: bool


class Connected(Body):
    status: Literal["connected"]
    message: str
    region: str
    user_email: str
    granted_scopes: list[str]
    missing_scopes: list[str]
    automatic_sync_available: bool
    reconnected: bool | None = Field(default=None, description="the workspace was connected before")


class SyncProblem(Body):
    state: str
    webhook_ids: list[str]
    detected_at: Timestamp | None = None
    status_last_updated_by: Any = None
    reregistered: bool | None = None
    reason: str | None = None
    reregistered_at: Timestamp | None = None
    new_webhook_id: str | None = None


class AutomaticSyncState(Body):
    enabled: bool
    webhook_ids: list[str] | None = None
    events: list[str] | None = None
    target_url: str | None = None
    webhook_state: str | None = Field(
        default=None, description="enabled, disabled, disabledBySystem, deleted"
    )
    webhook_status: str | None = None
    adopted: bool | None = None
    enabled_at: Timestamp | None = None
    disabled_at: Timestamp | None = None
    checked_at: Timestamp | None = None
    last_problem: SyncProblem | None = None
    last_check_error: str | None = None
    reregistrations: int | None = None
    webhooks_left_in_ironclad: list[str] | None = None


class ScheduledTask(Body):
    last_at: Timestamp | None
    due_at: Timestamp | None


class Connection(Body):
    """The connection, never the secret. A disconnected tenant has only `status` (and when it left)."""

    status: Literal["connected", "needs_reauth", "disconnected"]
    disconnected_at: Timestamp | None = None
    pending_cleanup: Any = None
    status_reason: str | None = None
    region: str | None = None
    user_email: str | None = None
    client_id: str | None = None
    granted_scopes: list[str] | None = None
    missing_scopes: list[str] | None = None
    automatic_sync_available: bool | None = None
    automatic_sync: AutomaticSyncState | None = None
    connected_at: Timestamp | None = None
    last_success_at: Timestamp | None = None
    schedule: dict[str, ScheduledTask] | None = Field(
        default=None, description="Periodic work (reconcile, delta, webhook_health): last run and next due"
    )


class Disconnected(Body):
    status: Literal["disconnected"]
    already: bool | None = None
    message: str | None = None
    cancelled_runs: int | None = None
    webhooks_left_in_ironclad: list[str] | None = None


# ---------------------------------------------------------------------------------------------- runs


class RunStarted(Body):
    run_id: str
    status: RunStatusName
    max_contracts: int | None = Field(default=None, description="an import's limit, as asked")
    already_running: bool | None = Field(default=None, description="a reconciliation was already running")


class Progress(Body):
    fetched: int = 0
    total: int | None


class Run(Body):
    run_id: str
    tenant: str
    kind: Literal["import", "webhook", "reconcile", "remap", "delta"]
    status: RunStatusName
    created_at: Timestamp | None
    updated_at: Timestamp | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    recounted_at: Timestamp | None = None
    max_contracts: int | None
    total: int | None
    expected: int | None
    pages_total: int | None
    pages_done: int
    pages_published: int | None = Field(
        default=None, description="pages of the listing handed out so far (a window at a time)"
    )
    fetched: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_stale: int = 0
    failed: int = 0
    deleted: int = 0
    documents_downloaded: int = 0
    documents_failed: int = 0
    mapping_errors: int = 0
    ironclad_requests: int = Field(default=0, description="HTTP requests this run sent to Ironclad")
    ironclad_rate_limited: int = Field(default=0, description="of which Ironclad answered 429")
    errors: list[dict[str, Any]]
    error: str | None
    progress: Progress
    repaired: int | None = Field(description="a reconciliation's created + updated + deleted")


class Runs(Body):
    items: list[Run]


# ---------------------------------------------------------------------------------------------- contracts


class StoredAttachment(Body):
    key: str
    filename: str
    content_type: str
    size: int
    sha256: str


class Contract(Body):
    contract_id: str
    ironclad: dict[str, Any] = Field(description="id, ironcladId, type, name, lastUpdated, ...")
    fields: dict[str, Any]
    field_errors: list[dict[str, Any]]
    mapping_version: int | None
    attachments: list[StoredAttachment]
    document_failures: list[dict[str, Any]]
    deleted: bool
    created_at: Timestamp | None
    updated_at: Timestamp | None
    raw: dict[str, Any] | None = Field(default=None, description="with ?raw=true: Ironclad's record")


class Contracts(Body):
    items: list[Contract]
    next_cursor: str | None


# ---------------------------------------------------------------------------------------------- change feed


class Change(Body):
    cursor: str = Field(description="this change's position; pass it as `cursor` to read what follows")
    contract_id: str
    ironclad_id: str = Field(description="Ironclad's record id")
    action: Literal["created", "updated", "deleted"]
    changed_at: Timestamp
    contract: Contract | None = Field(
        default=None, description="the contract as it is now (absent for a deletion)"
    )


class ChangesPage(Body):
    items: list[Change]
    next_cursor: str = Field(
        description="pass it as `cursor` next time: the last item's cursor, or the given one when "
        "nothing is new"
    )


# ---------------------------------------------------------------------------------------------- mapping


class ContractField(Body):
    name: str
    type: str
    description: str
    custom: bool


class FieldMapping(Body):
    version: int
    rules: Rules
    suggested: bool
    created_at: Timestamp | None
    remap_run_id: str | None = Field(default=None, description="the re-map started by this version")


class PreviewedContract(Body):
    contract_id: str
    record_id: str | None
    ironclad_id: str | None
    name: str | None
    fields: dict[str, Any]
    errors: list[FieldError]


class Preview(Body):
    items: list[PreviewedContract]


class RecordType(Body):
    key: str
    display_name: str | None
    description: str | None


class IroncladFields(Body):
    record_types: list[RecordType]
    fields: list[SourceField]
    fetched_at: Timestamp | None


class Suggestion(Body):
    rule: Annotated[dict[str, Any], WithJsonSchema({"x-model": "MappingRule"})]
    reason: str


class Suggestions(Body):
    items: list[Suggestion]
    schema_fetched_at: Timestamp | None


# ---------------------------------------------------------------------------------------------- sync


class AutomaticSyncEnabled(Body):
    enabled: Literal[True]
    webhook_ids: list[str]
    events: list[str]
    target_url: str
    webhook_state: str
    adopted: bool


class AutomaticSyncDisabled(Body):
    enabled: Literal[False]
    removed_webhook_ids: list[str]
    webhooks_left_in_ironclad: list[str]


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="allow")
    event: str = Field(min_length=1, description="e.g. record_contract_status_changed")


class WebhookEnvelope(BaseModel):
    """What Ironclad posts; the payload names what changed (ids only), never the data."""

    model_config = ConfigDict(extra="allow")
    companyID: str | None = None
    webhookID: str | None = None
    timestamp: Timestamp | None = None
    payload: WebhookPayload


class DeliveryAnswer(Body):
    status: Literal["accepted", "duplicate"]
    event_id: str


# ---------------------------------------------------------------------------------------------- write-back


class WritebackQueued(Body):
    operation_id: str
    status: str
    already_queued: bool | None = None


class WritebackError(Body):
    code: str
    message: str
    details: dict[str, Any] | None = None


class Writeback(Body):
    operation_id: str
    action: Literal["create_record", "update_record", "upload_document"]
    contract_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    attempts: int
    created_at: Timestamp | None
    updated_at: Timestamp | None
    finished_at: Timestamp | None
    ironclad_record_id: str | None = None
    error: WritebackError | None = None
    result: dict[str, Any] | None = Field(
        default=None,
        description="What was written: ironclad_record_id, last_updated, written (the PATCH body), "
        "skipped [{target, source, reason}], for uploads attachment_key, filename, size, sha256.",
    )


class Writebacks(Body):
    items: list[Writeback]


# ---------------------------------------------------------------------------------------------- audit


class AuditActorBody(Body):
    kind: Literal["platform", "user", "system"]
    sub: str | None = Field(default=None, description="the user, for a tenant token")
    role: Literal["admin", "viewer"] | None = None


class AuditItem(Body):
    at: Timestamp
    actor: AuditActorBody
    action: str = Field(description="e.g. connection.connected, mapping.changed, import.started")
    details: dict[str, Any]


class AuditPage(Body):
    items: list[AuditItem]
    next_cursor: str | None


# ---------------------------------------------------------------------------------------------- notifications


class NotificationSettingsBody(Body):
    url: str | None = Field(
        description="where notifications go; NOTIFICATIONS_DEFAULT_URL if source is default"
    )
    events: list[str] = Field(description="the event types delivered (contracts_common.notifications)")
    enabled: bool
    source: Literal["tenant", "default", "none"] = Field(
        description="tenant: its own endpoint; default: the operator's NOTIFICATIONS_DEFAULT_URL; "
        "none: nowhere"
    )
    updated_at: Timestamp | None = None
    secret_created_at: Timestamp | None = None
    failing_since: Timestamp | None = Field(
        default=None, description="first failed delivery since the last success; null when healthy"
    )
    last_success_at: Timestamp | None = None
    disabled_at: Timestamp | None = Field(
        default=None, description="when deliveries were switched off because the endpoint kept failing"
    )
    disabled_reason: str | None = None


class NotificationSettingsChanged(NotificationSettingsBody):
    secret: str | None = Field(
        description="the Standard Webhooks secret (whsec_...), shown only in the answer that created or "
        "rotated it; null otherwise"
    )
    signing_key_rotated: bool = Field(description="a new secret was made by this call")


class NotificationDeliveryItem(Body):
    id: str
    notification_id: str = Field(description="the webhook-id header, the same on every attempt")
    type: str
    attempt: int
    at: Timestamp
    status: Literal["delivered", "pending", "failed"] = Field(
        description="pending: this attempt failed and another is planned at next_retry_at; failed: given up"
    )
    status_code: int | None
    error: str | None
    next_retry_at: Timestamp | None
    duration_ms: float | None


class NotificationDeliveriesPage(Body):
    items: list[NotificationDeliveryItem]
    next_cursor: str | None


# ---------------------------------------------------------------------------------------------- probes


class Alive(Body):
    status: Literal["ok"]


class Readiness(Body):
    ready: bool
    checks: dict[str, bool]


# ---------------------------------------------------------------------------------------------- health


class HealthReason(Body):
    code: Literal[
        "needs_reauth",
        "missing_scopes",
        "webhook_disabled",
        "runs_failing",
        "run_stalled",
        "rate_limited",
        "dead_letters",
    ]
    message: str = Field(description="a sentence for the admin")
    since: Timestamp | None


class NextDue(Body):
    reconcile: Timestamp | None
    delta: Timestamp | None
    webhook_health: Timestamp | None


class SyncHealth(Body):
    status: Literal["healthy", "degraded", "failing", "disconnected"] = Field(
        description="disconnected: no connection; failing: needs_reauth or runs_failing; degraded: any "
        "other reason; healthy: none"
    )
    reasons: list[HealthReason]
    last_success_at: Timestamp | None
    next: NextDue = Field(description="when each periodic task is next due (null: not planned)")


class StatsRecords(Body):
    created: int
    updated: int
    unchanged: int
    deleted: int
    failed: int
    skipped_stale: int


class StatsDuration(Body):
    avg: float | None = Field(description="seconds, over the bucket's finished runs; null: none finished")
    max: float | None


class StatsIronclad(Body):
    requests: int
    rate_limited: int = Field(description="requests Ironclad answered 429")


class StatsBucket(Body):
    start: Timestamp
    runs: dict[str, dict[str, int]] = Field(description="runs created in the bucket: {kind: {status: n}}")
    records: StatsRecords
    duration_seconds: StatsDuration
    ironclad: StatsIronclad


class RunStats(Body):
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True)
    days: int
    bucket: Literal["hour", "day"]
    from_: Timestamp = Field(alias="from", description="start of the oldest bucket")
    to: Timestamp
    buckets: list[StatsBucket] = Field(description="every bucket of the range, oldest first, zero-filled")


# ---------------------------------------------------------------------------------------------- dead letters


class DeadLetterQueue(Body):
    queue: str
    count: int


class DeadLetterItem(Body):
    id: str
    queue: str = Field(description="the work queue it failed in, where a replay puts it back")
    tenant: str | None
    message_type: str | None
    reason: str
    dead_lettered_at: Timestamp = Field(description="when it was first dead-lettered")
    age_seconds: float
    deaths: int = Field(description="how often it was dead-lettered (replays included)")


class DeadLetterPage(Body):
    queues: list[DeadLetterQueue] = Field(description="kept dead letters per queue (of the tenant if asked)")
    items: list[DeadLetterItem]
    next_cursor: str | None


class DeadLetterReplayed(Body):
    replayed: str


class DeadLetterDiscarded(Body):
    discarded: str


class DeadLettersReplayed(Body):
    replayed: list[str]
    not_found: list[str] = Field(description="ids not kept (already replayed or discarded)")


class DeadLettersDiscarded(Body):
    discarded: list[str]
    not_found: list[str] = Field(description="ids not kept (already replayed or discarded)")
