"""Webhooks: CRUD, verification key, signed deliveries, retries, 410, auto-disable, workflow events."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

WEBHOOK_KEYS = [
    "id",
    "events",
    "targetURL",
    "companyId",
    "tags",
    "status",
    "statusLastUpdatedAt",
    "statusLastUpdatedBy",
    "consecutiveFailureCount",
]


async def _hook(api, url, events=("workflow_completed",)):
    r = await api.post("/webhooks", json={"events": list(events), "targetURL": url})
    assert r.status == 201, r.body
    return r.json()


def _verify(pem: bytes, delivery: dict[str, Any]) -> None:
    key = serialization.load_pem_public_key(pem)
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    event_id = delivery["headers"]["X-Ironclad-Webhook-Event-Id"]
    ver = json.loads(delivery["headers"]["X-Ironclad-Webhook-Verification"])
    assert ver["signAlgorithm"] == "sha256"
    assert ver["encoding"] == "base64"
    assert len(ver["nonce"]) == 16
    data = event_id.encode() + delivery["body"] + ver["nonce"].encode()
    key.verify(base64.b64decode(ver["signature"]), data, padding.PKCS1v15(), hashes.SHA256())


async def _wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_webhook_crud(sim, company):
    api = company.api
    created = await _hook(api, "https://example.com/hook-a", ["workflow_launched"])
    assert list(created) == WEBHOOK_KEYS
    assert created["companyId"] == company.company_id
    assert created["status"] == "enabled"
    assert created["tags"] == ["oauth", "clientCredentials"]
    assert created["consecutiveFailureCount"] == 0
    assert created["statusLastUpdatedBy"] == company.user_id
    r = await api.post(
        "/webhooks", json={"events": ["workflow_launched"], "targetURL": "https://example.com/hook-a"}
    )
    assert r.status == 400
    assert r.json() == {
        "code": "INVALID_PARAM",
        "param": "tagetURL",
        "message": "webhook already exists for event workflow_launched and target https://example.com/hook-a",
    }
    r = await api.post("/webhooks", json={"events": ["record.created"], "targetURL": "https://example.com/b"})
    assert r.status == 400
    assert r.json()["param"] == "events"
    assert r.json()["message"].startswith("invalid event type; *, workflow_launched,")
    r = await api.post("/webhooks", json={"targetURL": "https://example.com/b"})
    assert r.status == 400
    assert r.json()["code"] == "MISSING_PARAM"
    await sim.control.set_config(allow_http_targets=False)
    r = await api.post("/webhooks", json={"events": ["*"], "targetURL": "http://example.com/plain"})
    assert r.status == 400
    assert r.json()["param"] == "targetURL"
    await sim.control.set_config(allow_http_targets=True)

    second = await _hook(api, "https://example.com/hook-b", ["*"])
    listed = (await api.get("/webhooks")).json()
    assert set(listed) == {"page", "pageSize", "list"}  # no count
    assert {h["id"] for h in listed["list"]} == {created["id"], second["id"]}
    assert (await api.get(f"/webhooks/{created['id']}")).json() == created

    r = await api.patch(
        f"/webhooks/{created['id']}", json={"events": ["workflow_launched", "workflow_completed"]}
    )
    assert r.status == 200
    assert r.json()["events"] == ["workflow_launched", "workflow_completed"]
    r = await api.patch(f"/webhooks/{created['id']}", json={"status": "disabled"})
    assert r.json()["status"] == "disabled"
    assert (await api.delete(f"/webhooks/{created['id']}")).status == 204
    assert (await api.get(f"/webhooks/{created['id']}")).status == 404


async def test_verification_key_and_rotation(sim, company):
    r = await company.api.get("/webhooks/verification-key")
    assert r.status == 200
    assert r.headers["content-type"] == "application/x-pem-file; charset=utf-8"
    assert r.body.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert r.body.endswith(b"-----END PUBLIC KEY-----\n")
    new = await sim.control.rotate_verification_key(company.company_id)
    r2 = await company.api.get("/webhooks/verification-key")
    assert r2.body.decode() == new != r.body.decode()


async def test_signed_workflow_delivery(sim, company, receiver):
    hook = await _hook(company.api, receiver.url, ["workflow_completed"])
    result = await sim.control.complete_workflow(company.company_id, records=2)
    await sim.control.wait_deliveries()
    assert len(receiver.received) == 1
    delivery = receiver.received[0]
    envelope = json.loads(delivery["body"])
    assert list(envelope) == ["companyID", "payload", "timestamp", "webhookID"]
    assert envelope["companyID"] == company.company_id
    assert envelope["webhookID"] == hook["id"]
    assert envelope["payload"] == {
        "event": "workflow_completed",
        "templateID": result["template_id"],
        "workflowID": result["workflow_id"],
    }
    assert delivery["body"] == json.dumps(envelope, separators=(",", ":")).encode()  # compact
    assert delivery["headers"]["X-Ironclad-Webhook-Event-Id"] == result["event_ids"][0]
    pem = (await company.api.get("/webhooks/verification-key")).body
    _verify(pem, delivery)
    # A tampered body fails verification.
    tampered = {**delivery, "body": delivery["body"].replace(b"workflow_completed", b"workflow_cancelled")}
    try:
        _verify(pem, tampered)
    except InvalidSignature:
        pass
    else:
        raise AssertionError("tampered body verified")
    # The thin payload leads to the workflow, which names the records.
    wf = (await company.api.get(f"/workflows/{result['workflow_id']}")).json()
    assert wf["recordIds"] == result["record_ids"]
    assert wf["isComplete"] is True
    assert wf["status"] == "completed"
    assert wf["template"] == result["template_id"]
    for rid in wf["recordIds"]:
        rec = (await company.api.get(f"/records/{rid}")).json()
        assert rec["source"] == {"type": "workflow", "workflowId": result["workflow_id"]}
        assert "signedCopy" in rec["attachments"]
    assert (await company.api.get("/workflows/000000000000000000000000")).status == 404


async def test_record_status_event_and_wildcard(sim, company, receiver):
    await _hook(company.api, receiver.url, ["*"])
    rec = (
        await company.api.post("/records", json={"type": "everyFieldType", "name": "x", "properties": {}})
    ).json()
    out = await sim.control.set_record_status(company.company_id, rec["id"], "expired")
    assert out["record"]["contractStatus"] == {"status": "expired"}
    await sim.control.wait_deliveries()
    payload = json.loads(receiver.received[0]["body"])["payload"]
    assert payload == {
        "event": "record_contract_status_changed",
        "recordID": rec["id"],
        "ironcladId": rec["ironcladId"],
        "status": "expired",
    }
    ids = await sim.control.fire_event(
        company.company_id, "workflow_launched", {"workflowID": "w", "templateID": "t"}
    )
    await sim.control.wait_deliveries()
    assert len(ids) == 1
    assert len(receiver.received) == 2


async def test_retry_schedule_and_reset(sim, company, receiver):
    await sim.control.set_config(webhook_retry_base_seconds=0.05)
    receiver.statuses = [500, 503, 404, 200]
    hook = await _hook(company.api, receiver.url)
    await sim.control.fire_event(
        company.company_id, "workflow_completed", {"workflowID": "w", "templateID": "t"}
    )
    await sim.control.wait_deliveries()
    log = await sim.control.deliveries(company.company_id, hook["id"])
    assert [d["status_code"] for d in log] == [500, 503, 404, 200]
    assert [d["attempt"] for d in log] == [0, 1, 2, 3]
    assert len({d["event_id"] for d in log}) == 1
    # Exponential waits: base * 2**n between attempts (0.05, 0.1, 0.2).
    at = [d["at"] for d in receiver.received]
    gaps = [b - a for a, b in itertools.pairwise(at)]
    for n, gap in enumerate(gaps):
        assert gap >= 0.05 * 2**n * 0.9, gaps
    got = (await company.api.get(f"/webhooks/{hook['id']}")).json()
    assert got["consecutiveFailureCount"] == 0
    assert "firstConsecutiveFailure" not in got


async def test_retry_gives_up_after_max_and_counts_failures(sim, company, receiver):
    await sim.control.set_config(webhook_retry_base_seconds=0.001)
    receiver.default_status = 500
    hook = await _hook(company.api, receiver.url)
    started = time.monotonic()
    await sim.control.fire_event(
        company.company_id, "workflow_completed", {"workflowID": "w", "templateID": "t"}
    )
    await sim.control.wait_deliveries(timeout=20)
    elapsed = time.monotonic() - started
    log = await sim.control.deliveries(company.company_id, hook["id"])
    assert len(log) == 13  # first attempt + 12 retries
    assert elapsed >= 0.001 * (2**12 - 1)
    got = (await company.api.get(f"/webhooks/{hook['id']}")).json()
    assert got["consecutiveFailureCount"] == 13
    assert got["status"] == "enabled"
    assert "firstConsecutiveFailure" in got


async def test_410_disables(sim, company, receiver):
    await sim.control.set_config(webhook_retry_base_seconds=0.01)
    receiver.statuses = [410]
    hook = await _hook(company.api, receiver.url)
    await sim.control.fire_event(
        company.company_id, "workflow_completed", {"workflowID": "w", "templateID": "t"}
    )
    await sim.control.wait_deliveries()
    got = (await company.api.get(f"/webhooks/{hook['id']}")).json()
    assert got["status"] == "disabled"
    assert got["statusLastUpdatedBy"] == "system"
    assert len(receiver.received) == 1
    await sim.control.fire_event(
        company.company_id, "workflow_completed", {"workflowID": "w", "templateID": "t"}
    )
    await sim.control.wait_deliveries()
    assert len(receiver.received) == 1  # disabled hooks get nothing


async def test_disabled_by_system_after_100_failures_over_10_days(sim, company, receiver):
    await sim.control.set_config(webhook_max_retries=0)
    receiver.default_status = 500
    hook = await _hook(company.api, receiver.url)
    for _ in range(99):
        await sim.control.fire_event(company.company_id, "workflow_completed", {"workflowID": "w"})
    await sim.control.wait_deliveries()
    got = (await company.api.get(f"/webhooks/{hook['id']}")).json()
    assert got["consecutiveFailureCount"] == 99
    assert got["status"] == "enabled"
    await sim.control.fire_event(company.company_id, "workflow_completed", {"workflowID": "w"})
    await sim.control.wait_deliveries()
    got = (await company.api.get(f"/webhooks/{hook['id']}")).json()
    assert got["consecutiveFailureCount"] == 100
    assert got["status"] == "enabled"
    await sim.control.advance_clock(10 * 24 * 3600 + 1)
    company.api.token = await sim.token(company.client_id, company.client_secret)
    await sim.control.fire_event(company.company_id, "workflow_completed", {"workflowID": "w"})
    await sim.control.wait_deliveries()
    got = (await company.api.get(f"/webhooks/{hook['id']}")).json()
    assert got["status"] == "disabledBySystem"
    assert got["statusLastUpdatedBy"] == "system"
    # Re-enabling through the API resets the counter.
    got = (await company.api.patch(f"/webhooks/{hook['id']}", json={"status": "enabled"})).json()
    assert got["status"] == "enabled"
    assert got["consecutiveFailureCount"] == 0


async def test_force_disable_by_system(sim, company):
    hook = await _hook(company.api, "https://example.com/x")
    forced = await sim.control.disable_webhook_by_system(hook["id"])
    assert forced["status"] == "disabledBySystem"
    assert forced["statusLastUpdatedBy"] == "system"
