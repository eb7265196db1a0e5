"""The pure rules of issue 21: how a tenant's periodic turns are planned, how a listing hands out its
pages a window at a time, and how a tenant's cap leaves room for the others."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts_common.fairness import TenantCap
from contracts_common.storage.runs import pages_to_hand_out
from importer.scheduler import FIRST_TURN_SPREAD, first_turn_fraction, plan_turn

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
EVERY = {"reconcile": 3600.0, "delta": 60.0, "webhook_health": 600.0}


def connection(tenant: str = "acme", **schedule: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "connected_at": NOW - timedelta(seconds=30),
        "next_due_at": NOW,
        "schedule": schedule,
    }


def test_a_new_tenant_runs_nothing_at_once_and_each_task_is_due_about_an_interval_after_connecting() -> None:
    plan = plan_turn(connection(), EVERY, NOW, "importer-1")
    assert plan.due_now == []
    connected = NOW - timedelta(seconds=30)
    for task, interval in EVERY.items():
        due = plan.entries[task].due_at
        assert due is not None
        assert timedelta(seconds=interval) <= due - connected <= timedelta(seconds=interval * 1.1)
    assert plan.next_due_at == plan.entries["delta"].due_at
    assert plan.seen == NOW


def test_tenants_connected_together_are_spread_over_a_tenth_of_the_interval() -> None:
    fractions = [first_turn_fraction(f"tenant-{n}", "delta") for n in range(1000)]
    assert all(1.0 <= f < 1.0 + FIRST_TURN_SPREAD for f in fractions)
    # 60 s interval, 1,000 tenants connected in the same second: spread over 6 seconds, about a sixth of
    # them in each.
    per_second: dict[int, int] = {}
    for f in fractions:
        per_second[int(60 * f)] = per_second.get(int(60 * f), 0) + 1
    assert len(per_second) == 6
    assert max(per_second.values()) < 220


def test_a_due_task_is_taken_and_next_due_a_whole_interval_later() -> None:
    last = NOW - timedelta(seconds=61)
    plan = plan_turn(
        connection(delta={"last_at": last, "due_at": last + timedelta(seconds=60), "cursor": last}),
        EVERY,
        NOW,
        "importer-1",
    )
    assert plan.due_now == ["delta"]
    taken = plan.entries["delta"]
    assert (taken.last_at, taken.due_at, taken.by) == (NOW, NOW + timedelta(seconds=60), "importer-1")


def test_a_shorter_interval_applies_at_once_and_a_task_that_no_longer_applies_is_unplanned() -> None:
    last = NOW - timedelta(seconds=400)
    doc = connection(
        reconcile={"last_at": last, "due_at": last + timedelta(seconds=3600)},
        webhook_health={"last_at": last, "due_at": last + timedelta(seconds=600)},
    )
    degraded = {**EVERY, "reconcile": 300.0, "webhook_health": None}
    plan = plan_turn(doc, degraded, NOW, "importer-1")
    assert "reconcile" in plan.due_now
    assert plan.entries["webhook_health"].due_at is None
    assert "webhook_health" not in plan.due_now


def run(**fields: Any) -> dict[str, Any]:
    return {
        "status": "running",
        "kind": "import",
        "pages_total": 50,
        "pages_published": 1,
        "pages_done": 0,
        "page_size": 100,
        "window": 8,
        "listed": 0,
        "fetched": 0,
        **fields,
    }


def test_a_listing_hands_out_a_window_and_more_only_as_the_mapper_stores_pages() -> None:
    assert pages_to_hand_out(run()) == range(1, 8)
    # Eight pages handed out, two listed by importers but not stored yet: still eight outstanding.
    assert pages_to_hand_out(run(pages_published=8, pages_done=2, listed=200, fetched=0)) == range(0)
    # The mapper stored both: two more pages go out.
    assert pages_to_hand_out(run(pages_published=8, pages_done=2, listed=200, fetched=200)) == range(8, 10)
    # A short page (records deleted meanwhile) does not hold a slot of the window forever.
    assert pages_to_hand_out(run(pages_published=8, pages_done=1, listed=97, fetched=97)) == range(8, 9)
    # Never past the last page; nothing for a finished run, a run without a window, or a webhook run.
    assert pages_to_hand_out(run(pages_published=48, pages_done=48, listed=4800, fetched=4800)) == range(
        48, 50
    )
    assert pages_to_hand_out(run(status="succeeded")) == range(0)
    assert pages_to_hand_out(run(pages_published=None)) == range(0)
    assert pages_to_hand_out(run(kind="webhook")) == range(0)


async def test_a_tenant_cap_lets_other_tenants_through_and_forgets_idle_tenants() -> None:
    cap = TenantCap(2)
    release = asyncio.Event()
    inside: list[str] = []

    async def work(tenant: str) -> None:
        async with cap.hold(tenant):
            inside.append(tenant)
            await release.wait()

    busy = [asyncio.create_task(work("big")) for _ in range(10)]
    small = asyncio.create_task(work("small"))
    for _ in range(5):  # let every task reach its gate
        await asyncio.sleep(0)
    assert inside.count("big") == 2
    assert "small" in inside
    assert cap.in_use("big") == 10
    release.set()
    await asyncio.gather(*busy, small)
    assert cap.tenants == 0
