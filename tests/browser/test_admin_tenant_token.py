"""Issue 22: the admin page opened with a tenant token (/admin/#token=...), in Chromium against the real
gateway, workers and simulator.

It works on the token's workspace only (no Workspace box, no paste-a-secret form), takes the token out of
the address bar at once, shows who is signed in and their role and the workspace's activity; a viewer sees
no button that changes anything and the page never calls what a viewer may not. With
ADMIN_DOCS_SCREENSHOTS=1 the screenshots are also written to docs/screenshots/ (admin-tenant-*.png).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_PRESENT, PageWatch, assert_accessible
from tests.browser.test_admin_page import DOCS_SCREENSHOTS, Shots, assert_clean
from tests.support.api import AdminApi
from tests.support.tokens import TokenKit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM_PRESENT, reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
]

TENANT = "acme"
EMAIL = "admin@acme.example"
TIMEOUT_MS = 30_000
# What only an admin may do: none of it may be on a viewer's screen.
CHANGE_CONTROLS = (
    "#connect-form",
    "#sync-button",
    "#import-form",
    "#disconnect-button",
    "#mapping-add",
    "#mapping-add-suggested",
    "#mapping-save",
    "#mapping-preview",
)


async def _open(page: Any, gateway: str, token: str) -> None:
    await page.goto(f"{gateway}/admin/#token={token}")
    # Gone from the address bar before anything is shown (and so from history and bookmarks).
    assert "token" not in await page.evaluate("() => location.href")
    assert token not in page.url


async def test_an_admin_signed_in_by_link_works_on_that_workspace_only(
    tenant_tokens: TokenKit,
    gateway: str,
    workers: None,
    sim: Any,
    company: dict[str, Any],
    watched_page: tuple[Any, PageWatch],
    artifacts_dir: Path,
) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page, watch = watched_page
    shots = Shots(page, artifacts_dir)
    await sim.seed(company["company_id"], count=12, seed=5, document_ratio=0.3)
    app = company["apps"][0]
    token = tenant_tokens.token(TENANT, "admin", sub="alice@acme.example")
    other_tenant_calls: list[str] = []
    page.on(
        "request",
        lambda r: (
            other_tenant_calls.append(r.url)
            if "/tenants/" in r.url and f"/tenants/{TENANT}/" not in r.url
            else None
        ),
    )

    await _open(page, gateway, token)
    await expect(page.locator("#signed-in-user")).to_have_text("alice@acme.example")
    await expect(page.locator("#signed-in-role")).to_have_text("Admin")
    await expect(page.locator("#signed-in-tenant")).to_have_text(TENANT)
    await expect(page.locator("#tenant-form")).to_be_hidden()  # no Workspace box
    await expect(page.locator("#token-section")).to_be_hidden()  # no paste-a-secret form
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(page.get_by_role("tab", name="Health")).to_be_visible()
    await expect(page.locator("#tab-dead-letters")).to_be_hidden()  # the operator view: platform key only
    assert await page.evaluate("() => sessionStorage.getItem('contracts-ai-admin-token')") is None
    assert await page.evaluate("() => localStorage.length") == 0

    await page.get_by_label("Client ID").fill(app["client_id"])
    await page.get_by_label("Client Secret").fill(app["client_secret"])
    await page.get_by_label("User email").fill(EMAIL)
    await page.get_by_role("button", name="Connect", exact=True).click()
    await expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    await page.get_by_label("Max contracts").fill("5")
    await page.get_by_role("button", name="Import Contracts").click()
    await expect(page.locator("#import-progress")).to_have_attribute("data-state", "done", timeout=90_000)

    activity = page.locator("#audit-table tbody tr")
    await expect(activity.first).to_have_attribute("data-action", "import.started")
    await expect(page.locator('#audit-table tr[data-action="connection.connected"]')).to_contain_text(
        "alice@acme.example (admin)"
    )
    await expect(page.locator("#audit-table")).not_to_contain_text(app["client_secret"])
    await shots.take("tenant-admin", docs=True)
    await assert_accessible(page, "the Ironclad tab signed in with a tenant token")

    # A reload keeps the session (this tab only); signing out ends it without offering a paste form.
    await page.reload()
    await expect(page.locator("#signed-in-role")).to_have_text("Admin")
    await expect(activity.first).to_have_attribute("data-action", "import.started")
    if os.environ.get("ADMIN_DOCS_SCREENSHOTS") == "1":  # after the reload: no toast over it
        card = page.locator("section.card:has(#audit-heading)")
        await card.screenshot(path=str(DOCS_SCREENSHOTS / "admin-tenant-activity.png"))
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#session-ended")).to_be_visible()
    await expect(page.locator("#token-section")).to_be_hidden()
    assert await page.evaluate("() => sessionStorage.length") == 0
    assert not other_tenant_calls, other_tenant_calls
    assert_clean(watch)


async def test_a_viewer_sees_the_workspace_without_anything_that_changes_it(
    tenant_tokens: TokenKit,
    gateway: str,
    api: AdminApi,
    workers: None,
    sim: Any,
    company: dict[str, Any],
    watched_page: tuple[Any, PageWatch],
    artifacts_dir: Path,
) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page, watch = watched_page
    shots = Shots(page, artifacts_dir)
    await sim.seed(company["company_id"], count=6, seed=8, document_ratio=0.3)
    assert (await api.connect(TENANT, company["apps"][0], EMAIL)).status == 200
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["status"] == "succeeded", run
    refused: list[str] = []
    page.on(
        "response",
        lambda r: refused.append(f"{r.request.method} {r.url}") if r.status in (401, 403) else None,
    )

    await _open(page, gateway, tenant_tokens.token(TENANT, "viewer", sub="bob@acme.example"))
    await expect(page.locator("#signed-in-role")).to_have_text("Viewer (read only)")
    await expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    await expect(page.locator("#tenant-form")).to_be_hidden()
    for control in CHANGE_CONTROLS:
        await expect(page.locator(control)).to_be_hidden()
    await expect(page.locator('#audit-table tr[data-action="connection.connected"]')).to_contain_text(
        "Contracts AI (platform)"
    )
    await shots.take("tenant-viewer", docs=True)
    await assert_accessible(page, "the Ironclad tab for a viewer")

    await page.get_by_role("tab", name="Field Mapping").click()
    rules = page.locator("#rules-table tbody tr.rule-row")
    await expect(rules.first).to_be_visible()
    await expect(rules.first.locator("[data-role='source']")).to_be_disabled()
    await expect(page.get_by_role("button", name="Remove rule 1")).to_be_hidden()
    for control in CHANGE_CONTROLS:
        await expect(page.locator(control)).to_be_hidden()
    await shots.take("tenant-viewer-mapping", docs=True)

    await page.get_by_role("tab", name="Contracts").click()
    await expect(page.locator("#contracts-table tbody tr")).to_have_count(6)
    assert not refused, f"the viewer's page called what it may not: {refused}"
    assert_clean(watch)


async def test_a_link_with_a_bad_or_expired_token_signs_nobody_in(
    tenant_tokens: TokenKit, gateway: str, watched_page: tuple[Any, PageWatch]
) -> None:
    from playwright.async_api import expect

    page, _ = watched_page
    expired, _ = tenant_tokens.bad_tokens(TENANT)["expired"]
    for token in (expired, "not-a-token"):
        await page.goto("about:blank")  # a new page load, not a change of fragment
        await _open(page, gateway, token)
        await expect(page.locator("#session-ended")).to_be_visible()
        await expect(page.locator("#session-ended-text")).to_contain_text(
            "Open this page again from Contracts AI"
        )
        await expect(page.locator("#app")).to_be_hidden()
        await expect(page.locator("#token-section")).to_be_hidden()
        await expect(page.locator("#tenant-form")).to_be_hidden()
        assert await page.evaluate("() => sessionStorage.length") == 0
