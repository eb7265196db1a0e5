"""Prometheus metrics of all services, defined once.

Each process exposes only what it moves; names follow Prometheus conventions.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_HANDLED = Counter(
    "contracts_messages_handled_total", "Messages consumed, by queue and outcome", ["queue", "outcome"]
)
PUBLISH_FAILURES = Counter(
    "contracts_publish_failures_total", "Publishes the broker did not confirm", ["queue"]
)
QUEUE_LAG_SECONDS = Histogram(
    "contracts_queue_lag_seconds",
    "Time from publish to the start of handling",
    ["queue"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

WEBHOOKS = Counter(
    "contracts_webhooks_total",
    "Ironclad webhook deliveries by outcome (received, verified, rejected, deduplicated, handed_off, gone)",
    ["outcome"],
)

RECORDS = Counter(
    "contracts_records_total",
    "Records by outcome (fetched, created, updated, unchanged, skipped_stale, failed, deleted)",
    ["outcome"],
)
MAPPING_ERRORS = Counter("contracts_mapping_errors_total", "Field values that could not be converted")
DOCUMENTS = Counter(
    "contracts_documents_total", "Documents by outcome (downloaded, reused, failed)", ["outcome"]
)

IRONCLAD_REQUESTS = Counter(
    "contracts_ironclad_requests_total", "Requests to Ironclad by endpoint and status", ["endpoint", "status"]
)
IRONCLAD_RATE_LIMITED = Counter("contracts_ironclad_429_total", "429 answers from Ironclad", ["endpoint"])
IRONCLAD_BACKOFF_SECONDS = Counter(
    "contracts_ironclad_backoff_seconds_total", "Seconds slept backing off from Ironclad errors"
)
IRONCLAD_PACING_SECONDS = Counter(
    "contracts_ironclad_pacing_seconds_total", "Seconds waited for the shared rate limiter"
)
IRONCLAD_LATENCY = Histogram("contracts_ironclad_request_seconds", "Ironclad request duration", ["endpoint"])
RUNS_FINISHED = Counter(
    "contracts_runs_finished_total", "Sync runs by kind and final status", ["kind", "status"]
)
SCHEDULED_TURNS = Counter(
    "contracts_scheduled_turns_total",
    "Periodic work started, by task (reconcile, delta, webhook_health)",
    ["task"],
)
RUN_SUPERVISOR_TICKS = Counter(
    "contracts_run_supervisor_ticks_total", "Looks of the run supervisor at the runs that stopped moving"
)
MONGODB_COMMANDS = Counter(
    "contracts_mongodb_commands_total",
    "Database round trips (commands sent to MongoDB), by service and command",
    ["service", "command"],
)
READY = Gauge("contracts_ready", "1 when the broker and the database are reachable")
