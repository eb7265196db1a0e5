"""Issue 24 (front end): the Health tab and the operator's dead letters, in Chromium against the real world.

The gateway, importer, mapper and Ironclad simulator run as in tests/integration/health/; nothing the page
asks for is answered in the browser. Each reason is forced for real, as the integration tests do:
a real import (healthy, and the charts show its run), the webhook disabled by Ironclad and the webhook
check run (webhook_disabled), runs failing on a fault of the simulator (runs_failing), the app's
credentials revoked (needs_reauth), and a mapping the mapper cannot compile (dead_letters), whose batches
the operator then replays from the page until the run finishes with exact counters.

With ADMIN_DOCS_SCREENSHOTS=1 the Health tab and the operator view are also written to docs/screenshots/.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contracts_common.messaging import Topology
from contracts_common.storage.database import Database
from tests.browser.conftest import CHROMIUM, CHROMIUM_PRESENT, PageWatch, assert_accessible, sign_in
from tests.browser.test_admin_page import DOCS_SCREENSHOTS, Shots, assert_clean
from tests.support.api import AdminApi
from tests.support.dead_letters import dead_letter_a_poison_page_task
from tests.support.services import Stack, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM_PRESENT, reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
]

TENANT = "acme"
EMAIL = "admin@acme.example"
RECORDS = 25
TIMEOUT_MS = 30_000
HEALTH = f"/api/v1/tenants/{TENANT}/ironclad/health"
STATS = f"/api/v1/tenants/{TENANT}/ironclad/runs/stats"
SCOPE_WEBHOOKS = "public.webhooks.createWebhooks"


@pytest.fixture
def quick_world(stack: Stack) -> None:
    """Before the services start: a failing message is dead-lettered after two deliveries, a failing
    Ironclad call is not retried (runs fail fast), pages of ten records; and no incremental pass or
    fallback reconciliation starts on its own during the test, so every run is one the test made."""
    stack.shared_settings.update(
        {
            "DELIVERY_LIMIT": "2",
            "MAX_RETRIES": "0",
            "PAGE_SIZE": "10",
            "DELTA_SYNC_INTERVAL_SECONDS": "86400",
            "RECONCILE_INTERVAL_SECONDS": "86400",
            "RECONCILE_INTERVAL_DEGRADED_SECONDS": "86400",
            "WEBHOOK_HEALTH_INTERVAL_SECONDS": "86400",
        }
    )


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Database]:
    database = Database.connect(stack.mongodb_url, stack.database)
    yield database
    await database.close()


async def connected(api: AdminApi, sim: Any, company: dict[str, Any]) -> None:
    await sim.seed(company["company_id"], count=RECORDS, seed=3)
    answer = await api.connect(TENANT, company["apps"][0], EMAIL)
    assert answer.status == 200, answer.body


async def api_health(api: AdminApi) -> dict[str, Any]:
    answer = await api.call("GET", HEALTH)
    assert answer.status == 200, answer
    return dict(answer.body)


async def expect_health(page: Any, status: str, word: str, codes: list[str]) -> None:
    """Refresh the tab and wait for the status and reason codes, in the API's order (ReasonCode's)."""
    from playwright.async_api import expect

    await page.locator("#health-refresh").click()
    await expect(page.locator("#health-status")).to_have_attribute("data-status", status)
    await expect(page.locator("#health-status")).to_have_text(f"Status: {word}")
    if codes:
        await expect(page.locator("#health-reasons li")).to_have_count(len(codes))
        for n, code in enumerate(codes):
            await expect(page.locator("#health-reasons li").nth(n)).to_have_attribute("data-code", code)
    else:
        await expect(page.locator("#health-reasons")).to_have_count(0)


async def webhook_disabled_and_checked(api: AdminApi, sim: Any, stack: Stack, db: Database) -> None:
    """Automatic Sync on, then Ironclad disables our webhook and the importer's webhook check runs (as
    tests/integration/health/test_health.py drives it). Without the scope to register webhooks, the
    check cannot repair it, so it stays disabled and sync falls back to polling."""
    from types import SimpleNamespace

    import aiohttp

    from contracts_common.health_status import build_monitor
    from contracts_common.settings import ImporterSettings
    from importer.bootstrap import build_access
    from importer.webhook_health import WebhookHealth

    enabled = await api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/automatic-sync")
    assert enabled.status == 200, enabled
    await db.connections.update_one({"tenant": TENANT}, {"$pull": {"granted_scopes": SCOPE_WEBHOOKS}})
    await sim.disable_webhook_by_system(enabled.body["webhook_ids"][0])

    async def announce(tenant: str, change: Any) -> None:
        """No notification channel in this test: the page reads the health the check stored."""

    settings = ImporterSettings()
    async with aiohttp.ClientSession() as session:
        access = build_access(SimpleNamespace(db=db), settings, session)  # type: ignore[arg-type]
        checks = WebhookHealth(access=access, monitor=build_monitor(db, settings, announce))
        assert await checks.check_all() == {TENANT: "disabledBySystem"}


async def run_import(api: AdminApi, status: str) -> dict[str, Any]:
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["status"] == status, run
    return run


# ---------------------------------------------------------------- tests


async def test_the_page_is_served_as_modules_from_the_gateway(gateway: str, watched_page: Any) -> None:
    page, _ = watched_page
    for path in ("js/main.js", "js/tabs/health.js", "vendor/uPlot.esm.js"):
        answer = await page.request.get(f"{gateway}/admin/static/{path}")
        assert answer.status == 200, path
        assert answer.headers["content-type"].startswith("text/javascript"), answer.headers
        assert answer.headers["x-content-type-options"] == "nosniff"
    css = await page.request.get(f"{gateway}/admin/static/vendor/uPlot.min.css")
    assert css.headers["content-type"].startswith("text/css")


async def test_health_tab_from_healthy_to_degraded_to_failing_for_real(
    quick_world: None,
    api: AdminApi,
    gateway: str,
    workers: None,
    sim: Any,
    company: dict[str, Any],
    stack: Stack,
    db: Database,
    watched_page: tuple[Any, PageWatch],
    artifacts_dir: Path,
) -> None:
    """Healthy after a real import (its run and its created records in the charts), then webhook_disabled
    (degraded), runs_failing and needs_reauth (failing), each read from the real endpoints."""
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page, watch = watched_page
    shots = Shots(page, artifacts_dir)
    await connected(api, sim, company)
    first = await run_import(api, "succeeded")
    assert first["created"] == RECORDS, first

    await sign_in(page, gateway, tab="ironclad")
    await expect(page.get_by_role("tab", name="Ironclad")).to_have_attribute("aria-selected", "true")
    # Keyboard: the Health tab comes right after Ironclad.
    await page.get_by_role("tab", name="Ironclad").focus()
    await page.keyboard.press("ArrowRight")
    health_tab = page.get_by_role("tab", name="Health")
    await expect(health_tab).to_have_attribute("aria-selected", "true")
    await expect(health_tab).to_be_focused()
    assert await page.evaluate("() => location.hash") == "#health"

    # Healthy: no reason, the last success is the import's, the due times as the API gives them.
    await expect(page.locator("#health-status")).to_have_attribute("data-status", "healthy")
    await expect(page.locator("#health-status")).to_have_text("Status: Healthy")
    await expect(page.locator("#health-reasons")).to_have_count(0)
    health = await api_health(api)
    assert (health["status"], health["reasons"]) == ("healthy", []), health
    assert health["last_success_at"] is not None
    await expect(page.locator("#health-last-success time")).to_have_attribute(
        "datetime", health["last_success_at"]
    )
    await expect(page.locator("#health-last-success")).to_contain_text(
        re.compile(r"\((just now|\d+ (s|min) ago)\)")
    )
    for task, due in health["next"].items():
        cell = page.locator(f"[data-next={task}]")
        if due is None:
            await expect(cell).to_have_text("Not planned")
        else:
            await expect(cell.locator("time")).to_have_attribute("datetime", due)

    # The charts show the real run: 7 UTC days, today's bucket holding the import and its 25 created.
    stats = (await api.call("GET", STATS, params={"days": "7", "bucket": "day"})).body
    assert stats["buckets"][-1]["runs"]["import"]["succeeded"] == 1, stats["buckets"][-1]
    charts = page.locator("#health-charts figure.chart")
    await expect(charts).to_have_count(4)
    for chart_id in ("runs", "records", "durations", "ironclad"):
        await expect(page.locator(f"#chart-{chart_id} .chart-plot canvas").first).to_be_visible()
    runs = page.locator("#chart-runs")
    await expect(runs.locator(".chart-legend li")).to_have_text(["Succeeded", "Partly succeeded", "Failed"])
    await expect(runs.locator("[role=img]")).to_have_attribute(
        "aria-label", "Runs by status per day: 1 run in 7 days (1 succeeded)."
    )
    requests = first["ironclad_requests"]
    assert requests > 0, first
    await expect(page.locator("#chart-ironclad [role=img]")).to_have_attribute(
        "aria-label",
        f"Requests to Ironclad per day: {requests} in 7 days, 0 of them answered 429 (rate-limited).",
    )
    await expect(page.locator("#chart-durations [role=img]")).to_have_attribute(
        "aria-label", re.compile(r"the longest run took \d+(\.\d)? s, on ")
    )
    await runs.locator("summary", has_text="Show the numbers").click()
    run_rows = runs.locator("table[data-chart-table=runs] tbody tr")
    await expect(run_rows).to_have_count(7)
    for empty_day in range(6):  # the empty buckets are zeros, not gaps
        await expect(run_rows.nth(empty_day).locator("td")).to_have_text(["0", "0", "0"])
    await expect(run_rows.nth(6).locator("td")).to_have_text(["1", "0", "0"])
    records = page.locator("#chart-records")
    await records.locator("summary").click()
    await expect(records.locator("table[data-chart-table=records] thead th")).to_have_text(
        ["Day (UTC)", "Created", "Updated", "Unchanged", "Deleted", "Failed", "Skipped (stale)"]
    )
    today = records.locator("table[data-chart-table=records] tbody tr").nth(6).locator("td")
    await expect(today).to_have_text([str(RECORDS), "0", "0", "0", "0", "0"])
    # A day without a finished run has no duration: shown as a dash, not as 0 s.
    durations = page.locator("#chart-durations")
    await durations.locator("summary").click()
    await expect(durations.locator("tbody tr").first.locator("td")).to_have_text(["—", "—"])
    await expect(durations.locator("tbody tr").nth(6).locator("td").first).to_have_text(re.compile(r"^\d"))
    await shots.take("health-healthy")
    await assert_accessible(page, "the Health tab (healthy, numbers shown)")
    for chart_id in ("runs", "records", "durations"):
        await page.locator(f"#chart-{chart_id} summary").click()

    # webhook_disabled: degraded, sync falls back to polling.
    await webhook_disabled_and_checked(api, sim, stack, db)
    await expect_health(page, "degraded", "Degraded", ["webhook_disabled"])
    webhook = page.locator("#health-reasons li").first
    await expect(webhook).to_contain_text("Webhook disabled: Ironclad reports our webhook disabledBySystem")
    await expect(webhook).to_contain_text("polling fallback")
    await expect(webhook).to_contain_text(SCOPE_WEBHOOKS)
    await expect(webhook).to_contain_text("Since")

    # runs_failing: three imports fail in a row on Ironclad's 500s.
    fault = await sim.add_fault(path_regex=r"/records$", method="GET", status=500, times=10_000)
    for _ in range(3):
        await run_import(api, "failed")
    await expect_health(page, "failing", "Failing", ["webhook_disabled", "runs_failing"])
    await expect(page.locator("#health-reasons li").nth(1)).to_contain_text(
        "Runs failing: The last 3 runs failed; the latest:"
    )

    # needs_reauth: the app's credentials revoked in Ironclad; the next run fails on them.
    await sim.delete_fault(fault)
    await sim.revoke_app(company["apps"][0]["client_id"])
    await run_import(api, "failed")
    await expect_health(page, "failing", "Failing", ["needs_reauth", "webhook_disabled", "runs_failing"])
    reauth = page.locator("#health-reasons li").first
    await expect(reauth).to_contain_text("Credentials rejected:")
    await expect(reauth).to_contain_text("Reconnect in the Ironclad panel.")
    assert (await reauth.inner_text()).count("Reconnect") == 1, "the advice is given once"
    await expect(page.locator("#health-reasons li").nth(2)).to_contain_text("The last 4 runs failed")
    await expect(page.locator("#health-sentence")).to_have_text("Sync is not working; the reasons are below.")
    assert [r["code"] for r in (await api_health(api))["reasons"]] == [
        "needs_reauth",
        "webhook_disabled",
        "runs_failing",
    ]
    await expect(runs.locator("[role=img]")).to_have_attribute(
        "aria-label", "Runs by status per day: 5 runs in 7 days (1 succeeded, 4 failed)."
    )
    await shots.take("health-failing")
    await assert_accessible(page, "the Health tab (failing)")
    if os.environ.get("ADMIN_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.locator("#panel-health").screenshot(path=str(DOCS_SCREENSHOTS / "admin-health.png"))

    # The charts follow their column's width (two columns become one, wider, on a narrower window).
    wide = await page.locator("#chart-runs .uplot").evaluate("el => el.getBoundingClientRect().width")
    await page.set_viewport_size({"width": 760, "height": 900})
    redrawn = "wide => document.querySelector('#chart-runs .uplot').getBoundingClientRect().width !== wide"
    await page.wait_for_function(redrawn, arg=wide)
    assert_clean(watch)


async def test_operator_replays_dead_letters_from_the_page_and_the_run_finishes_exact(
    quick_world: None,
    api: AdminApi,
    gateway: str,
    workers: None,
    sim: Any,
    company: dict[str, Any],
    stack: Stack,
    db: Database,
    watched_page: tuple[Any, PageWatch],
    artifacts_dir: Path,
) -> None:
    """A mapping the mapper cannot compile dead-letters the import's three batches (dead_letters on the
    Health tab); the operator opens them with Show them, the fault is cleared, Replay on each finishes the
    run with every record counted once. A poison message is discarded, after a confirmation."""
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page, watch = watched_page
    shots = Shots(page, artifacts_dir)
    await connected(api, sim, company)
    # As in tests/integration/health/test_dead_letters.py: a stored mapping the mapper cannot compile.
    corrupt = await db.mappings.insert_one({"tenant": TENANT, "version": 1000, "rules": [{"bogus": True}]})
    run_id = await api.start_import(TENANT)
    # And a message no consumer can handle (an invalid page task), to discard.
    topology = Topology(stack.prefix, 2)
    await dead_letter_a_poison_page_task(stack)

    async def all_kept() -> list[dict[str, Any]] | None:
        items = (await api.call("GET", "/api/v1/dead-letters", params={"tenant": TENANT})).body["items"]
        return items if len(items) == 4 else None

    kept = await wait_for(all_kept, timeout=60, what="the three batches and the poison message kept")
    batches_queue, pages_queue = topology.queue("mapper.records"), topology.queue("importer.pages")
    batch_ids = [item["id"] for item in kept if item["queue"] == batches_queue]
    assert len(batch_ids) == 3, kept

    # The Health tab: degraded by the dead letters; Show them opens the operator view on this workspace.
    await sign_in(page, gateway)
    await expect(page.locator("#health-status")).to_have_attribute("data-status", "degraded")
    reason = page.locator("#health-reasons li")
    await expect(reason).to_have_count(1)
    await expect(reason).to_have_attribute("data-code", "dead_letters")
    await expect(reason).to_contain_text("Dead-lettered messages: 4 message(s) of this workspace failed")
    filtered = f"/api/v1/dead-letters?limit=50&tenant={TENANT}"
    async with page.expect_request(lambda r: filtered in r.url):
        await reason.get_by_role("button", name="Show them").click()
    await expect(page.get_by_role("tab", name="Dead letters")).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_label("Tenant")).to_have_value(TENANT)

    # The operator view: a count per queue, then each message as the API keeps it.
    await expect(
        page.locator(f'#dead-letter-queues tr[data-queue="{batches_queue}"] td').nth(1)
    ).to_have_text("3")
    await expect(page.locator(f'#dead-letter-queues tr[data-queue="{pages_queue}"] td').nth(1)).to_have_text(
        "1"
    )
    rows = page.locator("#dead-letters-table tbody tr[data-id]")
    await expect(rows).to_have_count(4)
    batches = page.locator(f'#dead-letters-table tbody tr[data-queue="{batches_queue}"]')
    await expect(batches).to_have_count(3)
    for n in range(3):
        cells = batches.nth(n).locator("td")
        await expect(cells.nth(2)).to_have_text(TENANT)
        await expect(cells.nth(3)).to_have_text("FetchedBatch")
        # The mapper's reason is long (every field of the bad rule): its start, the whole under a toggle.
        await expect(cells.nth(4).locator(".reason-start")).to_contain_text("failed 2 deliveries")
        await expect(cells.nth(4).locator(".reason-full p")).to_be_hidden()
        await expect(cells.nth(4).locator(".reason-full p")).to_contain_text("Extra inputs are not permitted")
        await expect(cells.nth(5)).to_have_text(re.compile(r"^\d+ (s|min)$"))
        await expect(cells.nth(6)).to_have_text("1")
    poison = page.locator('#dead-letters-table tbody tr[data-id="poison-1"]')
    await expect(poison.locator("td").nth(4)).to_have_text("invalid PageTask: page_size missing")
    await shots.take("dead-letters")
    await assert_accessible(page, "the operator's dead letters")
    if os.environ.get("ADMIN_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        panel = page.locator("#panel-dead-letters")
        await panel.screenshot(path=str(DOCS_SCREENSHOTS / "admin-dead-letters.png"))
    await batches.first.locator(".reason-full summary").click()
    await expect(batches.first.locator(".reason-full p")).to_be_visible()

    # Clear the fault, then Replay each batch from the page: one click each, the message leaves the list.
    await db.mappings.delete_one({"_id": corrupt.inserted_id})
    for left in (2, 1, 0):
        await batches.first.get_by_role("button", name="Replay").click()
        await expect(batches).to_have_count(left)
        await expect(page.locator("#dead-letters-done")).to_have_text(
            f"Replayed FetchedBatch of {TENANT} on {batches_queue}."
        )
    run = await api.wait_run(TENANT, run_id)
    assert run["status"] == "succeeded", run
    exact = {name: run[name] for name in ("fetched", "created", "updated", "unchanged", "failed", "expected")}
    assert exact == {
        "fetched": RECORDS,
        "created": RECORDS,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
        "expected": RECORDS,
    }
    assert len(await api.all_contracts(TENANT)) == RECORDS

    # Discard asks first; Cancel keeps the message, Discard removes it for good.
    discard = poison.get_by_role("button", name="Discard")
    await discard.click()
    dialog = page.get_by_role("dialog", name="Discard this message?")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("invalid PageTask: page_size missing")
    await expect(dialog).to_contain_text("cannot be replayed afterwards")
    await shots.take("dead-letters-discard-confirm")
    await assert_accessible(page, "the discard confirmation")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(discard).to_be_focused()
    await expect(rows).to_have_count(1)
    assert [i["id"] for i in (await api.call("GET", "/api/v1/dead-letters")).body["items"]] == ["poison-1"]
    await discard.click()
    await dialog.get_by_role("button", name="Discard", exact=True).click()
    await expect(page.locator("#dead-letters-done")).to_have_text(
        f"Discarded PageTask of {TENANT} on {pages_queue}."
    )
    await expect(rows).to_have_count(0)
    await expect(page.locator("#dead-letters-table tbody")).to_contain_text("No dead letters.")
    assert (await api.call("GET", "/api/v1/dead-letters")).body == {
        "queues": [],
        "items": [],
        "next_cursor": None,
    }
    audit = (await api.call("GET", f"/api/v1/tenants/{TENANT}/audit")).body["items"]
    assert sorted(i["action"] for i in audit if i["action"].startswith("dead_letter.")) == [
        "dead_letter.discarded",
        *["dead_letter.replayed"] * 3,
    ]

    # Back on the Health tab: nothing is dead-lettered any more, the run succeeded.
    await page.get_by_role("tab", name="Health").click()
    await expect_health(page, "healthy", "Healthy", [])
    assert_clean(watch)
