"""Issue 24 (front end): the Notifications card of the Ironclad tab, in Chromium against the real world.

The gateway, importer, mapper and Ironclad simulator run as in tests/integration/notifications/, with a
receiver in this process (support.Receiver) that verifies every delivery with `standardwebhooks`; nothing
the page asks for is answered in the browser, and the event types come from the gateway's OpenAPI
document. The receiver listens on 127.0.0.1 over http, so the world allows private targets
(support.FAST_NOTIFICATIONS); the refused URL below is one the API refuses even so.

With ADMIN_DOCS_SCREENSHOTS=1 the card is also written to docs/screenshots/admin-notifications.png.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from contracts_common.notifications import EventType
from tests.browser.conftest import CHROMIUM, CHROMIUM_PRESENT, PageWatch, assert_accessible, sign_in
from tests.browser.test_admin_page import DOCS_SCREENSHOTS, assert_clean
from tests.integration.notifications.support import FAST_NOTIFICATIONS, Receiver, deliveries, receiving
from tests.support.api import AdminApi
from tests.support.services import Stack, wait_for
from tests.support.tokens import TokenKit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM_PRESENT, reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
]

TENANT = "acme"
EMAIL = "admin@acme.example"
RECORDS = 5
TIMEOUT_MS = 30_000
SETTINGS = f"/api/v1/tenants/{TENANT}/notifications"
ALL_TYPES = [e.value for e in EventType]
# What the admin ticks: the sync events only, so every delivery in the table is an import's.
CHOSEN = [EventType.SYNC_SUCCEEDED.value, EventType.SYNC_FAILED.value]
# http and a loopback host are allowed in this world; a URL with credentials in it never is.
REFUSED_URL = "https://someone:secret@127.0.0.1/hooks"
SECRET_SHAPE = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")  # contracts_common.services.notifications.new_secret
REFUSED_MESSAGE = "The notification URL is refused: the URL must not carry credentials."


@pytest.fixture
def notify_world(stack: Stack) -> None:
    """Request before `gateway`/`workers`: private http targets allowed, fast retries; no incremental
    pass or reconciliation starts on its own, so every sync.* is one of the test's imports."""
    stack.shared_settings.update(
        {
            **FAST_NOTIFICATIONS,
            "DELTA_SYNC_INTERVAL_SECONDS": "86400",
            "RECONCILE_INTERVAL_SECONDS": "86400",
            "RECONCILE_INTERVAL_DEGRADED_SECONDS": "86400",
            "WEBHOOK_HEALTH_INTERVAL_SECONDS": "86400",
        }
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


async def import_once(api: AdminApi) -> str:
    run = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert run["status"] == "succeeded", run
    return str(run["run_id"])


async def delivered(api: AdminApi, count: int) -> list[dict[str, Any]]:
    """Wait until the API lists `count` delivered sync.succeeded attempts (the importer records each
    attempt after the receiver answered); all attempts, newest first."""

    async def listed() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await deliveries(api, TENANT))["items"]
        done = [d for d in items if d["type"] == "sync.succeeded" and d["status"] == "delivered"]
        return items if len(done) >= count else None

    found: list[dict[str, Any]] = await wait_for(listed, timeout=30, what=f"{count} delivered")
    return found


def signed_by(secret: str, raw: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(raw, headers)
    except WebhookVerificationError:
        return False
    return True


async def test_an_admin_sets_notifications_and_a_real_delivery_verifies_with_the_shown_secret(
    notify_world: None,
    receiver: Receiver,
    api: AdminApi,
    gateway: str,
    workers: None,
    sim: Any,
    company: dict[str, Any],
    watched_page: tuple[Any, PageWatch],
) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page, watch = watched_page
    await sim.seed(company["company_id"], count=RECORDS, seed=5)
    connection = await api.connect(TENANT, company["apps"][0], EMAIL)
    assert connection.status == 200, connection.body
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(page, gateway, tab="ironclad")

    # Nothing set yet: the GET says so, and the events are the OpenAPI document's EventType enum.
    facts = page.locator("#notifications-facts")
    await expect(facts).to_have_attribute("data-source", "none")
    await expect(facts).to_contain_text("Nowhere yet")
    events = page.locator("#notifications-events input[type=checkbox]")
    await expect(events).to_have_count(len(ALL_TYPES))
    assert [await box.get_attribute("data-event") for box in await events.all()] == ALL_TYPES
    for box in await events.all():
        await expect(box).to_be_checked()
    await expect(page.get_by_label("Make a new signing secret")).to_be_hidden()  # no secret yet
    await expect(page.locator("#deliveries-table tbody")).to_contain_text("No notification sent yet.")

    # Checked in the page first: nothing reaches the gateway.
    url_field = page.get_by_label("Endpoint URL")
    url_error = page.locator("#notifications-url-error")
    save = page.get_by_role("button", name="Save notifications")
    await save.click()
    await expect(url_error).to_have_text("Enter the address notifications are sent to.")
    await expect(url_field).to_be_focused()
    await url_field.fill("ftp://files.example")
    await save.click()
    await expect(url_error).to_contain_text("starting with https://")

    # A URL the gateway refuses (422): its sentence beside the field, nothing stored.
    await url_field.fill(REFUSED_URL)
    async with page.expect_response(lambda r: r.url.endswith(SETTINGS) and r.request.method == "PUT") as put:
        await save.click()
    assert (await put.value).status == 422
    await expect(url_error).to_have_text(REFUSED_MESSAGE)
    await expect(url_field).to_have_attribute("aria-invalid", "true")
    await expect(url_field).to_be_focused()
    await expect(page.locator("#notifications-result [role=alert]")).to_contain_text(
        "NOTIFICATION_TARGET_REFUSED"
    )
    # One its validation refuses (longer than 2048 characters): the field's own message, not the summary.
    await url_field.fill(receiver.url + "?" + "a" * 2048)
    await save.click()
    await expect(url_error).to_have_text("String should have at most 2048 characters")
    await expect(page.locator("#notifications-result [role=alert]")).to_contain_text("VALIDATION_FAILED")
    stored = await api.call("GET", SETTINGS)
    assert stored.body["source"] == "none", stored.body

    # The first save makes the secret: shown once, with a copy button and a warning.
    await url_field.fill(receiver.url)
    for event in ALL_TYPES:
        if event not in CHOSEN:
            await page.locator(f"[data-event='{event}']").uncheck()
    await save.click()
    await expect(page.locator("#notifications-saved")).to_have_text("Saved, with a new signing secret.")
    await expect(url_error).to_have_text("")
    secret_box = page.locator("#notifications-secret")
    secret_value = page.locator("#notifications-secret-value")
    await expect(secret_box).to_be_visible()
    await expect(secret_box).to_contain_text("shown only once")
    await expect(secret_value).to_have_text(SECRET_SHAPE)
    first_secret = (await secret_value.text_content() or "").strip()
    await expect(page.get_by_role("button", name="Copy secret")).to_be_focused()
    await page.get_by_role("button", name="Copy secret").click()
    await expect(page.locator("#toast")).to_have_text("Copied the signing secret.")
    assert await page.evaluate("() => navigator.clipboard.readText()") == first_secret
    await expect(facts).to_have_attribute("data-source", "tenant")
    await expect(facts).to_contain_text(receiver.url)
    stored = await api.call("GET", SETTINGS)
    assert (stored.body["url"], stored.body["events"], stored.body["enabled"]) == (receiver.url, CHOSEN, True)
    assert "secret" not in stored.body

    # Once hidden, it is gone: not in the page, not in storage, not after a reload.
    await page.get_by_role("button", name="I have saved it").click()
    await expect(secret_box).to_be_hidden()
    await expect(secret_value).to_have_text("")
    await page.reload()
    await expect(facts).to_have_attribute("data-source", "tenant")
    await expect(url_field).to_have_value(receiver.url)
    for event in ALL_TYPES:
        box = page.locator(f"[data-event='{event}']")
        await (expect(box).to_be_checked() if event in CHOSEN else expect(box).not_to_be_checked())
    await expect(page.get_by_label("Make a new signing secret")).to_be_visible()
    await expect(secret_box).to_be_hidden()
    assert first_secret not in await page.content()
    assert first_secret not in await page.evaluate(
        "() => JSON.stringify({...sessionStorage, ...localStorage})"
    )

    # A real import: its sync.succeeded reaches the receiver signed with the secret the page showed.
    receiver.secret = first_secret
    first_run = await import_once(api)
    first = (await receiver.wait_for("sync.succeeded"))[0]
    assert first.body["data"]["run_id"] == first_run
    assert receiver.unverified == []
    assert signed_by(first_secret, first.raw, first.headers)
    await delivered(api, 1)
    await page.locator("#notifications-refresh").click()
    rows = page.locator("#deliveries-table tbody tr")
    await expect(rows).to_have_count(1)
    row = page.locator("#deliveries-table tr[data-type='sync.succeeded']")
    await expect(row).to_have_attribute("data-status", "delivered")
    await expect(row).to_contain_text("Delivered")
    await expect(row).to_contain_text("HTTP 204")

    # Rotating makes a new secret, shown once; the next delivery verifies with it and not the old one.
    await page.get_by_label("Make a new signing secret").check()
    await save.click()
    await expect(page.locator("#notifications-saved")).to_have_text("Saved, with a new signing secret.")
    await expect(secret_value).to_have_text(SECRET_SHAPE)
    second_secret = (await secret_value.text_content() or "").strip()
    assert second_secret != first_secret
    await expect(page.get_by_label("Make a new signing secret")).not_to_be_checked()
    await assert_accessible(page, "the Notifications card with a new secret shown")
    if os.environ.get("ADMIN_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        card = page.locator("#notifications-card")
        await card.screenshot(path=str(DOCS_SCREENSHOTS / "admin-notifications.png"))
    await page.get_by_role("button", name="I have saved it").click()
    await expect(secret_box).to_be_hidden()

    receiver.secret = second_secret
    second_run = await import_once(api)
    second = (await receiver.wait_for("sync.succeeded", count=2))[1]
    assert receiver.unverified == []
    assert signed_by(second_secret, second.raw, second.headers)
    assert not signed_by(first_secret, second.raw, second.headers)
    assert second.body["data"]["run_id"] == second_run
    listed = await delivered(api, 2)
    await page.locator("#notifications-refresh").click()
    await expect(rows).to_have_count(len(listed))
    await expect(page.locator("#deliveries-table tr[data-status=delivered]")).to_have_count(2)
    assert {r.body["type"] for r in receiver.received} == {"sync.succeeded"}
    assert_clean(watch)


async def test_a_viewer_sees_the_notifications_without_the_form(
    notify_world: None,
    receiver: Receiver,
    tenant_tokens: TokenKit,
    api: AdminApi,
    gateway: str,
    watched_page: tuple[Any, PageWatch],
) -> None:
    from playwright.async_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page, watch = watched_page
    answer = await api.call("PUT", SETTINGS, {"url": receiver.url, "events": CHOSEN})
    assert answer.status == 200, answer.body
    puts: list[str] = []
    page.on("request", lambda r: puts.append(r.url) if r.method != "GET" else None)
    await page.goto(f"{gateway}/admin/#token={tenant_tokens.token(TENANT, 'viewer', sub='bob@acme.example')}")
    facts = page.locator("#notifications-facts")
    await expect(facts).to_have_attribute("data-source", "tenant")
    await expect(facts).to_contain_text(receiver.url)
    await expect(facts).to_contain_text(", ".join(CHOSEN))
    await expect(page.locator("#notifications-form")).to_be_hidden()
    await expect(page.get_by_role("button", name="Save notifications")).to_be_hidden()
    await expect(page.locator("#deliveries")).to_be_visible()
    await expect(page.locator("#deliveries-table tbody")).to_contain_text("No notification sent yet.")
    assert answer.body["secret"] not in await page.content()
    assert puts == []
    assert_clean(watch)
