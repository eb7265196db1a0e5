"""Churn: people working in Ironclad while we list it.

A fault mode for proving that listings hold up under concurrent edits. While churn is set for a
company, every authenticated `GET /records` first edits (a new name, so `lastUpdated` moves to now and
the record jumps within any `lastUpdated` order), deletes and creates records, then answers. What it
did is kept, so a test can check that every edit arrived and nothing live was marked deleted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ironclad_simulator.state import Company, SimulatorState


@dataclass
class Churn:
    edits: int = 0
    deletes: int = 0
    creates: int = 0
    seed: int = 0
    # Stop after this many listing requests (0: no limit), so a run can settle afterwards.
    max_requests: int = 0
    requests: int = 0
    edited: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Churn:
        counts = {k: int(body.get(k, 0)) for k in ("edits", "deletes", "creates", "seed", "max_requests")}
        if any(v < 0 for v in counts.values()):
            raise ValueError("churn counts must be >= 0")
        return cls(
            edits=counts["edits"],
            deletes=counts["deletes"],
            creates=counts["creates"],
            seed=counts["seed"],
            max_requests=counts["max_requests"],
            rng=random.Random(counts["seed"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "edits": self.edits,
            "deletes": self.deletes,
            "creates": self.creates,
            "seed": self.seed,
            "max_requests": self.max_requests,
            "requests": self.requests,
            "edited": list(self.edited),
            "deleted": list(self.deleted),
            "created": list(self.created),
        }

    def apply(self, state: SimulatorState, company: Company) -> None:
        from ironclad_simulator.generator import SeedOptions, seed_company
        from ironclad_simulator.records import delete_record, sim_edit_record

        if self.max_requests and self.requests >= self.max_requests:
            return
        self.requests += 1
        ids = sorted(company.records.records)
        for rid in self.rng.sample(ids, min(self.edits, len(ids))):
            rec = company.records.get(rid)
            if rec is not None:
                sim_edit_record(state, company, rec, {"name": f"{rec.name.split(' #')[0]} #{self.requests}"})
                self.edited.append(rid)
        ids = sorted(company.records.records)
        for rid in self.rng.sample(ids, min(self.deletes, len(ids))):
            rec = company.records.get(rid)
            if rec is not None:
                delete_record(state, company, rec)
                self.deleted.append(rid)
        if self.creates:
            before = set(company.records.records)
            seed_company(
                state,
                company,
                SeedOptions(count=self.creates, seed=self.rng.getrandbits(32), document_ratio=0.0),
            )
            self.created.extend(sorted(set(company.records.records) - before))
