"""The tenant's current mapping, compiled, with a short cache.

A contract records the version it was mapped with; a remap run later brings every stored contract to the
newest version, so a message mapped with a version a second old is corrected, never lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from contracts_common.mapping import (
    DEFAULT_RULES_WITHOUT_METADATA,
    CompiledMapping,
    MappingRule,
    TargetField,
    compile_mapping,
    target_fields,
)
from contracts_common.storage.mappings import Mappings


@dataclass(frozen=True)
class CurrentMapping:
    version: int
    compiled: CompiledMapping


DEFAULT_MAPPING_VERSION = 0


def compile_rules(rules: list[dict[str, Any]], targets: list[TargetField]) -> CompiledMapping:
    """Compile a stored mapping. Not strict: a rule that no longer fits (say, a custom field since
    removed) is left out and the others still map, rather than every record of the tenant failing."""
    return compile_mapping([MappingRule.model_validate(r) for r in rules], targets, strict=False)


class MappingCache:
    def __init__(self, mappings: Mappings, ttl_seconds: float = 1.0) -> None:
        self._mappings = mappings
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, CurrentMapping]] = {}
        self._default = CurrentMapping(
            DEFAULT_MAPPING_VERSION, compile_mapping(list(DEFAULT_RULES_WITHOUT_METADATA))
        )

    async def get(self, tenant: str, *, at_least: int | None = None) -> CurrentMapping:
        cached = self._cache.get(tenant)
        now = time.monotonic()
        if cached and now - cached[0] < self._ttl and (at_least is None or cached[1].version >= at_least):
            return cached[1]
        doc = await self._mappings.current(tenant)
        if doc is None:
            current = self._default
        else:
            custom = [TargetField.model_validate(f) for f in await self._mappings.custom_fields(tenant)]
            current = CurrentMapping(doc["version"], compile_rules(doc["rules"], target_fields(custom)))
        self._cache[tenant] = (now, current)
        return current
