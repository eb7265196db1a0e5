"""Issue 7: the admin page, clicked through in Chromium against the real gateway, workers and simulator.

Connect with a wrong secret (error shown), connect right, import 25 with a live progress bar, look at the
contracts, change a mapping and preview it, enable Automatic Sync, disconnect (contracts remain). Each
step leaves a screenshot in test-artifacts/<test>/; with ADMIN_DOCS_SCREENSHOTS=1 the tab screenshots
are also written to docs/screenshots/ for docs/admin-page.md. axe-core (vendored) checks every tab.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_PRESENT, PageWatch, assert_accessible
from tests.support.services import ADMIN_TOKEN, REPO

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM_PRESENT, reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
]

DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
TENANT = "acme"
TIMEOUT_MS = 30_000
DOCS_MAX_HEIGHT = 1700


class Shots:
    def __init__(self, page: Any, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.count = 0

    async def take(self, name: str, *, docs: bool = False) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        if docs and os.environ.get("ADMIN_DOCS_SCREENSHOTS") == "1":
            # For the docs: the top of the page, at most DOCS_MAX_HEIGHT pixels tall.
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            height = await self.page.evaluate("() => document.documentElement.scrollHeight")
            width = self.page.viewport_size["width"]
            await self.page.screenshot(
                path=str(DOCS_SCREENSHOTS / f"admin-{name}.png"),
                full_page=True,
                clip={"x": 0, "y": 0, "width": width, "height": min(height, DOCS_MAX_HEIGHT)},
            )
        return path


def assert_clean(watch: PageWatch) -> None:
    assert not watch.page_errors, f"script errors in the page: {watch.page_errors}"
    assert not watch.external_requests, f"requests outside the gateway: {watch.external_requests}"
    # Failed API calls (the wrong secret's 422) are logged by Chromium as resource errors; nothing else.
    unexpected = [m for m in watch.console_errors if "Failed to load resource" not in m]
    assert not unexpected, f"console errors: {unexpected}"


async def test_admin_page_click_through(
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
    await sim.seed(company["company_id"], count=40, seed=11, document_ratio=0.4)
    app = company["apps"][0]

    # The admin token is asked once, kept in sessionStorage only.
    await page.goto(f"{gateway}/admin/?tenant={TENANT}")
    await expect(page.get_by_role("heading", name="Sign in with the admin token")).to_be_visible()
    await assert_accessible(page, "the admin token prompt")
    await page.get_by_label("Admin token", exact=True).fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("tab", name="Ironclad")).to_have_attribute("aria-selected", "true")
    assert await page.evaluate("() => sessionStorage.getItem('contracts-ai-admin-token')") == ADMIN_TOKEN
    assert await page.evaluate("() => localStorage.length") == 0
    await expect(page.locator("#connection-status")).to_have_attribute("data-status", "disconnected")
    await expect(page.locator("#scopes-table tbody tr")).to_have_count(10)
    await expect(page.get_by_role("button", name="Enable Automatic Sync")).to_be_disabled()
    await shots.take("ironclad-disconnected")
    await assert_accessible(page, "the Ironclad tab (disconnected)")

    # Inline validation before anything is sent.
    await page.get_by_label("User email").fill("not-an-email")
    await page.get_by_role("button", name="Connect", exact=True).click()
    await expect(page.locator("#client-id-error")).to_contain_text("Enter the Client ID")
    await expect(page.locator("#user-email-error")).to_contain_text("not an email address")
    await expect(page.get_by_label("Client ID")).to_have_attribute("aria-invalid", "true")
    await shots.take("connect-inline-validation")

    # A wrong secret: Ironclad's invalid_client in plain words.
    await page.get_by_label("Client ID").fill(app["client_id"])
    await page.get_by_label("Client Secret").fill("not-the-secret")
    await page.get_by_label("User email").fill("admin@acme.example")
    await page.get_by_label("Region").select_option("na1")
    await page.get_by_role("button", name="Connect", exact=True).click()
    error = page.locator("#connect-result [role=alert]")
    await expect(error).to_contain_text("Ironclad did not accept this Client ID and Client Secret")
    await expect(error).to_contain_text("IRONCLAD_INVALID_CLIENT")
    await expect(page.locator("#connection-status")).to_have_attribute("data-status", "disconnected")
    await shots.take("connect-wrong-secret", docs=True)
    await assert_accessible(page, "the Ironclad tab (connect error)")

    # The right secret.
    await page.get_by_label("Client Secret").fill(app["client_secret"])
    await page.get_by_role("button", name="Connect", exact=True).click()
    await expect(page.locator("#connect-success")).to_have_text("Ironclad connected successfully!")
    await expect(page.locator("#connection-status")).to_have_attribute("data-status", "connected")
    await expect(page.locator("#status-email")).to_have_text("admin@acme.example")
    await expect(page.locator("#status-region")).to_have_text("na1")
    await expect(page.locator("#status-missing")).to_contain_text("None")
    await expect(page.get_by_label("Client Secret")).to_have_value("")
    await shots.take("connect-success")

    # Import 25: the progress bar reaches done and the runs table counts 25.
    await page.get_by_label("Max contracts").fill("25")
    await page.get_by_role("button", name="Import Contracts").click()
    await expect(page.locator("#import-progress")).to_be_visible()
    await expect(page.locator("#import-progress")).to_have_attribute("data-state", "done", timeout=90_000)
    await expect(page.locator("#import-progress-text")).to_contain_text(
        "Done — Succeeded: 25 fetched, 25 created"
    )
    bar = page.locator("#import-bar")
    assert await bar.evaluate("b => b.value === b.max && b.max === 25")
    run_row = page.locator("#runs-table tbody tr").first
    await expect(run_row).to_have_attribute("data-status", "succeeded")
    await expect(run_row.locator("td").nth(3)).to_have_text("25")  # fetched
    await expect(run_row.locator("td").nth(4)).to_have_text("25")  # created
    await shots.take("ironclad", docs=True)
    await assert_accessible(page, "the Ironclad tab (connected, imported)")

    # Contracts tab: 25 rows, searchable, with mapped fields and documents.
    await page.get_by_role("tab", name="Contracts").click()
    rows = page.locator("#contracts-table tbody tr[data-contract-id]")
    await expect(rows).to_have_count(25)
    await expect(page.locator("#contracts-info")).to_contain_text("Showing 25 contracts")
    first_name = (await rows.first.locator("td").first.inner_text()).strip()
    await rows.first.locator("details summary").first.click()
    await shots.take("contracts", docs=True)
    await assert_accessible(page, "the Contracts tab")
    await page.get_by_label("Search").fill(first_name)
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#contracts-info")).to_contain_text(f"matching “{first_name}”")
    await expect(rows.first.locator("td").first).to_contain_text(first_name)
    await page.get_by_label("Search").fill("")
    await page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(25)
    # A document opens from a blob (the bearer header cannot ride on a plain link).
    document = page.locator("[data-role=document]").first
    await expect(document).to_be_visible()
    async with page.context.expect_page() as popup_info:
        await document.click()
    popup = await popup_info.value
    await expect(popup).to_have_url(re.compile(r"^blob:http://127\.0\.0\.1:\d+/"))
    await popup.close()

    # Field Mapping: change the title rule to lower case through the transform's typed parameter,
    # preview, see an error beside a bad rule, save.
    await page.get_by_role("tab", name="Field Mapping").click()
    title_rule = page.locator("#rules-table tr.rule-row[data-target=title]")
    await expect(title_rule).to_have_count(1)
    await expect(page.locator("#rules-table [data-role=suggested]").first).to_be_visible()
    await shots.take("mapping-suggested")
    await assert_accessible(page, "the Field Mapping tab")
    # The transform list is the API's (its OpenAPI document), each kind under its model's title.
    await expect(title_rule.locator("[data-role=kind] option")).to_have_text(
        [
            "None (type's own conversion)",
            "Date",
            "Date and time",
            "Number",
            "Money",
            "Duration",
            "Map values",
            "Yes / no",
            "Email",
            "Join list into text",
            "Split text into list",
            "Trim spaces",
            "Change case",
            "Address",
            "As is",
            "Custom JSON (chain)",
        ]
    )
    await title_rule.locator("[data-role=kind]").select_option("case")
    mode = title_rule.locator("select[data-param=mode]")
    await expect(mode).to_have_value("upper")  # prefilled: a case transform needs its mode
    await expect(mode.locator("option")).to_have_text(["upper", "lower", "title"])  # from the model
    await mode.select_option("lower")
    await expect(title_rule).to_contain_text("Changed from the suggestion")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#preview-box th[data-record-id]")).to_have_count(5)
    await expect(page.locator("#preview-summary")).to_contain_text("5 sample contracts")
    first_title = (await page.locator("#preview-box tr[data-field=title] td").first.inner_text()).strip()
    assert first_title
    assert first_title == first_title.lower(), first_title
    await shots.take("mapping", docs=True)
    if os.environ.get("ADMIN_DOCS_SCREENSHOTS") == "1":
        preview = page.locator("#preview-box")
        await preview.screenshot(path=str(DOCS_SCREENSHOTS / "admin-mapping-preview.png"))
    await assert_accessible(page, "the Field Mapping tab (preview)")

    # A rule the server refuses: its error is shown beside that rule, nothing is stored.
    await page.get_by_role("button", name="Add rule").click()
    new_rule = page.locator("#rules-table tr.rule-row").last
    await new_rule.locator("[data-role=source]").select_option("name")
    new_rule = page.locator("#rules-table tr.rule-row").last
    await new_rule.locator("[data-role=target]").select_option("contract_value")
    new_rule = page.locator("#rules-table tr.rule-row").last
    await new_rule.locator("[data-role=kind]").select_option("boolean")
    await page.get_by_role("button", name="Save mapping").click()
    index = await page.locator("#rules-table tr.rule-row").count() - 1
    await expect(page.locator(f"#rule-{index}-errors [data-role=rule-errors]")).to_be_visible()
    await expect(page.locator("#mapping-result [role=alert]")).to_contain_text("Nothing was saved")
    await shots.take("mapping-rule-error")
    await new_rule.get_by_role("button", name="Remove rule").click()
    await page.get_by_role("button", name="Save mapping").click()
    await expect(page.locator("#mapping-saved")).to_contain_text("Mapping saved as version")
    stored = await page.evaluate(
        """async (tenant) => {
            const token = sessionStorage.getItem("contracts-ai-admin-token");
            const answer = await fetch(`/api/v1/tenants/${tenant}/field-mapping`,
                {headers: {Authorization: `Bearer ${token}`}});
            return answer.json();
        }""",
        TENANT,
    )
    title_rules = [r for r in stored["rules"] if r["target"] == "title"]
    assert [r["transform"] for r in title_rules] == [{"kind": "case", "mode": "lower"}], title_rules

    # Automatic Sync.
    await page.get_by_role("tab", name="Ironclad").click()
    await page.get_by_role("button", name="Enable Automatic Sync").click()
    await expect(page.locator("#sync-state")).to_have_attribute("data-enabled", "true")
    await expect(page.get_by_role("button", name="Disable Automatic Sync")).to_be_enabled()
    await shots.take("automatic-sync-enabled")

    # Disconnect, after a confirmation that says the contracts stay.
    await page.get_by_role("button", name="Disconnect Ironclad").click()
    dialog = page.get_by_role("dialog", name="Disconnect Ironclad?")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Imported contracts and their documents stay in Contracts AI")
    await shots.take("disconnect-confirm")
    await assert_accessible(page, "the disconnect confirmation")
    await dialog.get_by_role("button", name="Disconnect", exact=True).click()
    await expect(page.locator("#connection-status")).to_have_attribute("data-status", "disconnected")
    await expect(page.locator("#disconnect-message")).to_contain_text("stay available")
    await expect(page.get_by_role("button", name="Import Contracts")).to_be_disabled()
    await shots.take("disconnected")
    await page.get_by_role("tab", name="Contracts").click()
    await expect(rows).to_have_count(25)
    await shots.take("contracts-after-disconnect")

    assert_clean(watch)


async def test_admin_page_asks_again_for_a_wrong_token(
    gateway: str, watched_page: tuple[Any, PageWatch], artifacts_dir: Path
) -> None:
    from playwright.async_api import expect

    page, _ = watched_page
    await page.goto(f"{gateway}/admin/")
    await page.get_by_label("Admin token", exact=True).fill("wrong-token")
    await page.keyboard.press("Enter")
    await expect(page.locator("#token-error")).to_contain_text("not accepted")
    assert await page.evaluate("() => sessionStorage.getItem('contracts-ai-admin-token')") is None
    await expect(page.get_by_label("Workspace")).to_have_value("demo")
    await page.get_by_label("Admin token", exact=True).fill(ADMIN_TOKEN)
    await page.keyboard.press("Enter")
    # Keyboard use: the tabs follow the arrow keys (Ironclad, Health, Field Mapping, Contracts, and with the
    # platform key the operator's Dead letters last).
    tab = page.get_by_role("tab", name="Ironclad")
    await tab.focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("tab", name="Health")).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("tab", name="Field Mapping")).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_role("tab", name="Field Mapping")).to_be_focused()
    await page.keyboard.press("End")
    await expect(page.get_by_role("tab", name="Dead letters")).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("ArrowLeft")
    await expect(page.get_by_role("tab", name="Contracts")).to_have_attribute("aria-selected", "true")
    await page.screenshot(path=str(artifacts_dir / "keyboard-tabs.png"), full_page=True)
