"""structlog configuration shared by every service.

Per-request and per-message context (tenant, run id, event id, correlation id) is bound through
structlog's context variables, so every log line inside a handler carries it without passing it around.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

# Keys carried across services in message headers and bound into the log context.
CONTEXT_KEYS: tuple[str, ...] = ("tenant", "run_id", "event_id", "correlation_id")

# Values under these keys are never written to a log line, whatever a caller binds.
_REDACTED_KEYS = frozenset({"client_secret", "secret", "access_token", "authorization", "password", "token"})


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key.lower() in _REDACTED_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    # Libraries that use the standard library logger (aio-pika, aiohttp) go to stderr, warnings and up.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def current_context() -> dict[str, str]:
    """The bound context keys that travel in message headers."""
    bound = structlog.contextvars.get_contextvars()
    return {k: str(bound[k]) for k in CONTEXT_KEYS if bound.get(k) is not None}


@contextmanager
def bound_context(values: Mapping[str, Any]) -> Iterator[None]:
    """Bind the known context keys found in `values` for the duration of the block."""
    picked = {k: values[k] for k in CONTEXT_KEYS if values.get(k) is not None}
    with structlog.contextvars.bound_contextvars(**picked):
        yield
