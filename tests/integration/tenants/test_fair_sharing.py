"""R25 (issue 21): one tenant's backfill does not hold up another tenant's import or live changes.

The importer and mapper run as in production (scheduler on). A large company is backfilling; while it is
still under way, a small tenant's whole import, and a webhook change of another tenant, are stored. The
assertions are about order, not time: the small tenant's work is done while the backfill has stored
less than half of its records. With every page of the backfill queued at once (before issue 21) the
small tenant's batch waited behind nearly all of them.
"""

from __future__ import annotations

from typing import Any

from contracts_common.ironclad import ALL_SCOPES
from tests.integration.automatic_sync.conftest import connect_and_enable
from tests.support.api import AdminApi
from tests.support.services import wait_for

EMAIL = "admin@acme.example"
BIG, SMALL, LIVE = "big-co", "small-co", "live-co"
BACKFILL = 3000


async def _company(sim: Any, count: int, seed: int) -> dict[str, Any]:
    company: dict[str, Any] = await sim.create_company(users=[EMAIL], apps=[{"scopes": list(ALL_SCOPES)}])
    await sim.seed(company["company_id"], count=count, seed=seed, document_ratio=0.0)
    return company


async def _connect(api: AdminApi, tenant: str, company: dict[str, Any]) -> None:
    answer = await api.connect(tenant, company["apps"][0], EMAIL)
    assert answer.status == 200, answer.body


async def _run(api: AdminApi, tenant: str, run_id: str) -> dict[str, Any]:
    answer = await api.call("GET", f"/api/v1/tenants/{tenant}/ironclad/runs/{run_id}")
    assert answer.status == 200, answer.body
    return dict(answer.body)


async def _backfill_under_way(api: AdminApi, sim: Any) -> str:
    await _connect(api, BIG, await _company(sim, BACKFILL, seed=5))
    run_id = await api.start_import(BIG)

    async def storing() -> bool:
        return int((await _run(api, BIG, run_id))["fetched"]) >= 100

    await wait_for(storing, timeout=60, what="the backfill's first pages stored")
    return run_id


async def test_a_small_import_is_not_held_up_by_a_backfill(api: AdminApi, workers: None, sim: Any) -> None:
    small = await _company(sim, 20, seed=6)
    await _connect(api, SMALL, small)
    backfill = await _backfill_under_way(api, sim)

    run = await api.wait_run(SMALL, await api.start_import(SMALL))
    beside = await _run(api, BIG, backfill)
    assert run["status"] == "succeeded", run
    assert run["created"] == 20, run
    assert beside["status"] == "running", beside
    assert beside["fetched"] < BACKFILL / 2, beside
    # The backfill never had more than its window of pages outstanding.
    assert beside["pages_published"] - beside["pages_done"] <= 8, beside

    done = await api.wait_run(BIG, backfill, timeout=180)
    assert done["status"] == "succeeded", done
    assert done["created"] == done["fetched"] == BACKFILL, done
    assert done["pages_published"] == done["pages_total"] == done["pages_done"]


async def test_a_webhook_change_is_not_held_up_by_a_backfill(api: AdminApi, workers: None, sim: Any) -> None:
    live = await _company(sim, 5, seed=7)
    await _connect(api, LIVE, live)
    await connect_and_enable(api, live, tenant=LIVE)
    backfill = await _backfill_under_way(api, sim)

    record = (await sim.list_records(live["company_id"]))[0]
    changed = await sim.set_record_status(live["company_id"], record["id"], "expired")

    async def stored() -> bool:
        answer = await api.call("GET", f"/api/v1/tenants/{LIVE}/contracts/{record['id']}")
        return (
            answer.status == 200
            and answer.body["ironclad"]["lastUpdated"] == changed["record"]["lastUpdated"]
        )

    await wait_for(stored, timeout=60, what="the webhook change")
    beside = await _run(api, BIG, backfill)
    assert beside["status"] == "running", beside
    assert beside["fetched"] < BACKFILL / 2, beside
    await api.wait_run(BIG, backfill, timeout=180)
