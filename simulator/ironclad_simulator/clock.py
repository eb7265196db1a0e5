"""An injectable wall clock, so tests can travel in time (token expiry, the 10-day auto-disable rule)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock time plus an adjustable offset; optionally frozen at a fixed instant."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen: float | None = None

    def now(self) -> float:
        """Seconds since the epoch, as the simulator sees it."""
        if self._frozen is not None:
            return self._frozen
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if self._frozen is not None:
            self._frozen += seconds
        else:
            self._offset += seconds

    def freeze(self, at: float | None = None) -> None:
        self._frozen = self.now() if at is None else at

    def unfreeze(self) -> None:
        if self._frozen is not None:
            self._offset = self._frozen - time.time()
        self._frozen = None

    def reset(self) -> None:
        self._offset = 0.0
        self._frozen = None

    @property
    def frozen(self) -> bool:
        return self._frozen is not None


def iso_ms(ts: float) -> str:
    """`2026-07-30T12:18:33.210Z`: ISO-8601, milliseconds, `Z`, as Ironclad writes `lastUpdated`."""
    ms = round(ts * 1000)
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def parse_iso(value: str) -> float:
    """Parse an ISO-8601 timestamp (`Z` or offset; naive means UTC) to epoch seconds. Raises ValueError."""
    v = value.strip()
    if not v:
        raise ValueError("empty timestamp")
    if v.endswith(("Z", "z")):
        v = v[:-1] + "+00:00"
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
