"""Settings read from the environment, one class per service.

Every name here is an environment variable (pydantic-settings matches them case-insensitively).
The names the gateway API contract fixes (`AMQP_URL`, `MONGODB_URL`, ...) keep their meaning.
Each service builds only its own class, so a worker never needs `ADMIN_API_TOKEN`.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SharedSettings(BaseSettings):
    """What every service needs: the broker, the database, logging."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = "contracts_ai"
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")
    # Prefix for every exchange and queue name, so that tests and side-by-side deployments
    # on one broker never share a queue.
    queue_prefix: str = "contracts"
    prefetch_count: int = Field(default=16, ge=1, le=1000)
    # A message that fails this many deliveries goes to its dead-letter queue (quorum queue delivery-limit).
    delivery_limit: int = Field(default=5, ge=1, le=100)
    # Replicas of each quorum queue in a RabbitMQ cluster (x-quorum-initial-group-size); unset: the
    # broker's default (every node). Set it alike for every service.
    queue_replicas: int | None = Field(default=None, ge=1, le=9)
    # Port of the small HTTP server every worker runs for /healthz, /readyz and /metrics; 0 disables it.
    health_port: int = Field(default=0, ge=0, le=65535)
    # Sync health (contracts_common.health_status), judged alike by the gateway that shows it and the
    # workers (importer, mapper) that announce its changes. Failed runs in a row that make a workspace
    # `failing` (Fivetran warns after three):
    health_failing_runs: int = Field(default=3, ge=1, le=50)
    # An active run whose counters have not moved for this long is `run_stalled` (well before the run
    # supervisor gives up on it, run_stall_seconds).
    health_run_stalled_seconds: float = Field(default=900.0, ge=1)
    # A 429 from Ironclad within this window counts as `rate_limited`.
    health_rate_limited_window_seconds: float = Field(default=3600.0, ge=1)
    # Newest runs read to judge the above: one bounded read on the (tenant, created_at) index.
    health_runs_considered: int = Field(default=50, ge=1, le=500)


class IroncladAccessSettings(SharedSettings):
    """Settings of services that talk to Ironclad or decrypt stored credentials."""

    secrets_key: SecretStr
    ironclad_base_url: str | None = None
    ironclad_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("ironclad_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None


class NotificationSettings(BaseSettings):
    """Outbound notifications to Contracts AI (contracts_common.notifications): what the gateway checks
    when a tenant sets its endpoint, and what the importer, which delivers them, needs."""

    # The endpoint of tenants that set none of their own, and its Standard Webhooks secret (whsec_...).
    notifications_default_url: str | None = None
    notifications_default_secret: SecretStr | None = None
    # Targets on loopback, private or link-local addresses, and plain http://, are refused unless this is
    # set (local runs and tests): a tenant must not make us call into our own network.
    notifications_allow_private_targets: bool = False

    @field_validator("notifications_default_url", "notifications_default_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose passes `${NOTIFICATIONS_DEFAULT_URL:-}` as an empty string.
        return None if value == "" else value

    @model_validator(mode="after")
    def _default_secret_with_url(self) -> Self:
        secret = self.notifications_default_secret
        if self.notifications_default_url and (
            secret is None or not secret.get_secret_value().startswith("whsec_")
        ):
            raise ValueError(
                "NOTIFICATIONS_DEFAULT_SECRET (whsec_..., base64 after the prefix) is required with "
                "NOTIFICATIONS_DEFAULT_URL"
            )
        return self


class GatewaySettings(IroncladAccessSettings, NotificationSettings):
    admin_api_token: SecretStr
    public_base_url: str = "http://127.0.0.1:8080"
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    gateway_host: str = "0.0.0.0"
    webhook_max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # How long an X-Ironclad-Webhook-Event-Id is remembered; Ironclad retries for about 3 days.
    webhook_dedupe_days: float = Field(default=4.0, ge=3.0)
    # Ironclad accepts only https targets; a local run with the simulator may allow http.
    allow_http_webhook_target: bool = False
    # Tenant tokens (JWTs Contracts AI signs for one user of one workspace): PEM public keys or a JWKS
    # document, inline or as file paths (comma separated); several for rotation, chosen by `kid`.
    # Unset: tenant tokens are refused and only ADMIN_API_TOKEN (the platform key) works.
    tenant_token_public_keys: str | None = None
    tenant_token_issuer: str | None = None
    tenant_token_audience: str = "contracts-ai-ironclad"
    # Clock skew allowed on exp, iat and nbf.
    tenant_token_leeway_seconds: float = Field(default=30.0, ge=0, le=300)

    @model_validator(mode="after")
    def _issuer_with_keys(self) -> Self:
        if (self.tenant_token_public_keys or "").strip() and not self.tenant_token_issuer:
            raise ValueError("TENANT_TOKEN_ISSUER is required when TENANT_TOKEN_PUBLIC_KEYS is set")
        return self


class ImporterSettings(IroncladAccessSettings, NotificationSettings):
    # Ironclad's documented per-company limits, per minute.
    rate_limit_records_read_per_minute: int = Field(default=600, ge=1)
    rate_limit_records_write_per_minute: int = Field(default=200, ge=1)
    rate_limit_workflows_read_per_minute: int = Field(default=400, ge=1)
    rate_limit_webhooks_per_minute: int = Field(default=600, ge=1)
    rate_limit_other_per_minute: int = Field(default=800, ge=1)
    # Share of each limit we allow ourselves, to leave room for clock skew and other clients.
    rate_limit_headroom: float = Field(default=0.95, gt=0, le=1)
    rate_limit_enabled: bool = True
    # Requests one importer process keeps in flight towards Ironclad, per lane (ironclad_access.Lane):
    # imports and reconciliations (bulk) share `ironclad_concurrency`, at most
    # `ironclad_tenant_concurrency` of them for one tenant; webhook syncs, incremental passes, webhook
    # checks and write-backs (live) have their own. One tenant alone gets what it had before (8).
    ironclad_concurrency: int = Field(default=16, ge=1, le=256)
    ironclad_tenant_concurrency: int = Field(default=8, ge=1, le=256)
    ironclad_live_concurrency: int = Field(default=16, ge=1, le=256)
    ironclad_live_tenant_concurrency: int = Field(default=4, ge=1, le=256)
    # Pages of one import or reconciliation outstanding at once (handed out, not yet stored by the
    # mapper): queues interleave tenants instead of holding one tenant's whole backfill.
    run_pages_in_flight: int = Field(default=8, ge=1, le=1000)
    # Documents of one tenant written into GridFS at once per importer process: the database's share a
    # tenant's backfill may take. One keeps the database as busy as more did (measured: a lone tenant's
    # import at the same speed) and queues another tenant's work behind one write, not several.
    document_writes_per_tenant: int = Field(default=1, ge=1, le=64)
    max_retries: int = Field(default=6, ge=0, le=20)
    backoff_base_seconds: float = Field(default=0.5, gt=0)
    backoff_max_seconds: float = Field(default=30.0, gt=0)
    page_size: int = Field(default=100, ge=1, le=100)
    reconcile_interval_seconds: float = Field(default=3600.0, ge=1)
    # Used instead while Ironclad has disabled or deleted our webhook.
    reconcile_interval_degraded_seconds: float = Field(default=300.0, ge=1)
    webhook_health_interval_seconds: float = Field(default=600.0, ge=1)
    # The incremental pass: records updated since its cursor, for edits Ironclad sends no webhook for.
    delta_sync_interval_seconds: float = Field(default=60.0, ge=1)
    # Each pass starts this far before its cursor (clock skew between Ironclad's servers).
    delta_sync_overlap_seconds: float = Field(default=10.0, ge=0)
    scheduler_enabled: bool = True
    # How often each replica looks for due turns (one indexed query); the intervals above decide when
    # each runs, so a tick is also the most a turn waits past its due time when the pool has room.
    scheduler_tick_seconds: float = Field(default=1.0, gt=0)
    # Turns of periodic work one replica runs at once, each tenant's on its own: a tenant whose Ironclad
    # hangs holds one of these, not the others' turns.
    scheduler_concurrency: int = Field(default=32, ge=1, le=1000)
    run_supervisor_tick_seconds: float = Field(default=5.0, gt=0)
    # Webhook events for one tenant arriving within this window become one incremental sync; events
    # arriving while that sync runs wait for the next one, so a burst coalesces however short this is.
    event_coalesce_seconds: float = Field(default=0.1, ge=0)
    public_base_url: str = "http://127.0.0.1:8080"
    # A running run whose counters have not moved for this long is recounted exactly from its rows
    # (repairs an increment lost to a crash between a slot's row and its counter).
    run_recount_after_seconds: float = Field(default=10.0, ge=1)
    # ... and failed, with the reason, when it still has not moved after this long (e.g. its messages
    # were dead-lettered).
    run_stall_seconds: float = Field(default=1800.0, ge=1)
    # Move every dead-lettered message from its `.dlq` into the `dead_letters` collection, where the
    # operator API lists, replays and discards them (importer/dead_letter_keeper.py).
    dead_letter_keeper_enabled: bool = True

    # Notification delivery (importer/notifications.py). A failed attempt waits in a RabbitMQ retry queue
    # for the next of these delays (the last one repeats), each with +-20 % jitter, until the
    # notification is `notification_give_up_seconds` old; an endpoint failing without a success for
    # `notification_disable_after_seconds` is disabled. Tests compress all three.
    notification_retry_delays_seconds: list[float] = Field(
        default=[10.0, 60.0, 300.0, 1800.0, 7200.0, 21600.0], min_length=1
    )
    notification_give_up_seconds: float = Field(default=24 * 3600.0, ge=1)
    notification_disable_after_seconds: float = Field(default=24 * 3600.0, ge=1)
    notification_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Deliveries of one tenant at once per importer: a tenant whose endpoint hangs holds this many.
    notification_tenant_concurrency: int = Field(default=2, ge=1, le=64)

    @field_validator("notification_retry_delays_seconds")
    @classmethod
    def _positive_delays(cls, value: list[float]) -> list[float]:
        if any(delay < 0.1 for delay in value):
            raise ValueError("every retry delay must be at least 0.1 s")
        return value


class MapperSettings(SharedSettings):
    remap_batch_size: int = Field(default=500, ge=1, le=5000)
    # Batches of one tenant a mapper replica stores at once, per queue: one tenant's backfill cannot take
    # every handler while other tenants' batches wait in the replica's prefetch, nor queue several bulk
    # writes ahead of theirs in the database. One stored a lone tenant's import as fast as two (the
    # database is the bound) and halved the wait of another tenant's batch beside it.
    mapper_tenant_concurrency: int = Field(default=1, ge=1, le=1000)
    # The change feed (mapper/feed.py): one recorder across all mapper replicas, elected by a lease. It
    # feeds GET .../changes, the <prefix>.changes exchange and contracts.changed notifications; off, all
    # three are silent. Its cost: an import keeps 88-90 % of its speed on the test server, whose change
    # streams are emulated in Python (bench/results/feed.md); MongoDB 7 reads the oplog natively.
    change_feed_enabled: bool = True
    # How long a change stays readable in GET .../changes (rows expire by a TTL index after this).
    changes_retention_days: float = Field(default=30.0, gt=0)
    # The recorder's lease: renewed every third of it; a recorder that dies is replaced after it.
    change_feed_lease_seconds: float = Field(default=10.0, ge=1)
