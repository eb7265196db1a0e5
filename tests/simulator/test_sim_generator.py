"""The seeded generator: determinism, recorded record shape, property types, amendments, documents."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ironclad_simulator.clock import Clock
from ironclad_simulator.generator import SeedOptions, seed_company
from ironclad_simulator.records import render_record
from ironclad_simulator.schema import default_schema
from ironclad_simulator.state import SimulatorState

RECORDED = Path("/work/shared/reference/ironclad-recorded")
SCHEMA = json.loads((RECORDED / "list-records-metadata.json").read_text())["exchanges"][0]["response"]
REQUIRED = [
    "id",
    "ironcladId",
    "type",
    "name",
    "lastUpdated",
    "properties",
    "attachments",
    "links",
    "childIds",
]
OPTIONAL = {"parentId", "parentLinkType", "contractStatus", "source", "amendments"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _records(seed: int, count: int = 300, frozen_at: float | None = None) -> list[dict[str, Any]]:
    clock = Clock()
    if frozen_at is not None:
        clock.freeze(frozen_at)
    state = SimulatorState(clock=clock)
    company = state.create_company("0" * 24)
    seed_company(state, company, SeedOptions(count=count, seed=seed, document_ratio=0.4))
    return [render_record(r, state.schema, "http://sim") for r in company.records.records.values()]


def test_same_seed_same_records():
    a = _records(7)
    b = _records(7)
    strip = [{k: v for k, v in r.items() if k != "lastUpdated"} for r in a]
    assert strip == [{k: v for k, v in r.items() if k != "lastUpdated"} for r in b]
    assert _records(7, frozen_at=1.8e9) == _records(7, frozen_at=1.8e9)  # fully equal with a frozen clock
    assert [r["id"] for r in _records(8)] != [r["id"] for r in a]


def test_generated_records_match_recorded_shape():
    recs = _records(1, 600)
    recorded_record = json.loads((RECORDED / "get-record.json").read_text())["exchanges"][0]["response"]
    assert list(recorded_record) == REQUIRED
    types_seen: Counter[str] = Counter()
    for rec in recs:
        assert list(rec)[: len(REQUIRED)] == REQUIRED
        assert set(rec) - set(REQUIRED) <= OPTIONAL
        assert UUID_RE.match(rec["id"])
        assert re.match(r"^IC-\d+$", rec["ironcladId"])
        assert rec["type"] in SCHEMA["recordTypes"]
        for key, wrapper in rec["properties"].items():
            assert set(wrapper) == {"type", "value"}
            assert wrapper["type"] == SCHEMA["properties"][key]["type"]
            assert wrapper["value"] is not None  # unset properties are absent
            types_seen[wrapper["type"]] += 1
        for key, att in rec["attachments"].items():
            assert SCHEMA["properties"][key]["type"] == "document"
            assert set(att) == {"filename", "contentType", "href"}
        assert all(set(link) == {"recordId"} for link in rec["links"])
    writable = {p["type"] for p in SCHEMA["properties"].values()} - {"document", "workflow"}
    assert writable <= set(types_seen), writable - set(types_seen)
    # Custom `<name>_<uuid>_<type>` properties show up.
    custom = {k for r in recs for k in r["properties"] if re.search(r"_[0-9a-f]{8}-[0-9a-f-]{27}_", k)}
    assert len(custom) >= 5


def test_values_are_realistic():
    recs = _records(3, 800)
    amounts = [r["properties"]["contractValue"]["value"] for r in recs if "contractValue" in r["properties"]]
    assert any(isinstance(a["amount"], float) and not a["amount"].is_integer() for a in amounts)
    assert all(re.fullmatch(r"[A-Z]{3}", a["currency"]) for a in amounts)
    dates = [v["value"] for r in recs for v in r["properties"].values() if v["type"] == "date"]
    assert any(d.endswith("Z") for d in dates)
    assert any(re.search(r"[+-]\d{2}:\d{2}$", d) for d in dates)
    schema = default_schema()
    for r in recs:
        for key, opts in schema.enum_options.items():
            if key in r["properties"]:
                assert r["properties"][key]["value"] in opts
    amendments = [r for r in recs if r.get("parentLinkType") == "amendment"]
    assert amendments
    by_id = {r["id"]: r for r in recs}
    for child in amendments:
        parent = by_id[child["parentId"]]
        assert child["id"] in parent["childIds"]
        assert child["ironcladId"] in parent["amendments"]
    assert {r["source"]["type"] for r in recs} >= {"workflow", "import_project"}
    assert {r["contractStatus"]["status"] for r in recs} >= {"active", "expired"}
    share = sum(1 for r in recs if "signedCopy" in r["attachments"]) / len(recs)
    assert 0.3 < share < 0.5


async def test_seed_through_control_and_raw_listing(sim, company):
    assert await sim.control.seed(company.company_id, 25, seed=4, document_ratio=0) == 25
    raw = await sim.control.list_records(company.company_id)
    assert len(raw) == 25
    assert all(r["attachments"] == {} for r in raw)
    await sim.control.delete_record(company.company_id, raw[0]["id"])
    assert len(await sim.control.list_records(company.company_id)) == 24
    assert (await company.api.get(f"/records/{raw[0]['id']}")).status == 404
