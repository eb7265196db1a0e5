"""R18: schemathesis, as a client generating from the document would use it, with ALL its checks against
the running gateway: schema-valid requests accepted, invalid ones rejected, undeclared methods answered
405 with an Allow header (RFC 9110), answers conforming to the document, no 5xx.

Runs the `st` command line against the in-process gateway with a connected workspace; the report (in
test-artifacts/) names every failure. Deterministic (fixed seed), so a failure reproduces.

One carve-out, for `positive_data_acceptance` only: five operations refuse some schema-valid bodies on
grounds no JSON Schema can state, and keep every other check:
- PUT .../ironclad/connection: Ironclad itself refuses made-up credentials (422 IRONCLAD_INVALID_CLIENT).
- PUT .../field-mapping and POST .../field-mapping/preview: a rule must name an existing target field, once,
  of a type its source (and transform chain) can fill (422 INVALID_MAPPING: UNKNOWN_TARGET,
  DUPLICATE_TARGET, TYPE_MISMATCH, INVALID_DEFAULT); the document states each rule's shape and patterns.
- PUT .../contract-fields/custom: a custom field may not reuse a built-in or another custom field's name.
- PUT .../notifications: the URL's host must resolve, and only to public addresses (422
  NOTIFICATION_TARGET_REFUSED); what DNS answers is no schema's to state.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import AdminApi
from tests.support.services import ADMIN_TOKEN

pytestmark = pytest.mark.fuzz

ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15")
SEMANTIC_REFUSALS = (
    "put_api_v1_tenants_tenant_ironclad_connection",
    "put_api_v1_tenants_tenant_field_mapping",
    "post_api_v1_tenants_tenant_field_mapping_preview",
    "put_api_v1_tenants_tenant_contract_fields_custom",
    "put_api_v1_tenants_tenant_notifications",
)


async def _st(gateway: str, *options: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(ST),
        "run",
        f"{gateway}/api/v1/openapi.json",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        "22",
        "--generation-deterministic",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--no-color",
        "--suppress-health-check",
        "all",
        "--request-timeout",
        "30",
        "-H",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, output.decode(errors="replace")


async def test_schemathesis_all_checks_pass(
    api: AdminApi, gateway: str, company: dict[str, Any], artifacts_dir: Path
) -> None:
    assert (await api.connect("acme", company["apps"][0], "admin@acme.example")).status == 200
    carve_out = [option for op in SEMANTIC_REFUSALS for option in ("--exclude-operation-id", op)]
    only_them = [option for op in SEMANTIC_REFUSALS for option in ("--include-operation-id", op)]
    runs = {
        "every operation but five, every check": ["--checks", "all", *carve_out],
        "those five, every check but positive_data_acceptance": [
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            *only_them,
        ],
    }
    failed = []
    for index, (name, options) in enumerate(runs.items()):
        code, report = await _st(gateway, *options)
        (artifacts_dir / f"schemathesis-{index}.txt").write_text(report)
        assert "No operations" not in report, report[-3000:]
        assert " passed" in report, report[-3000:]
        if code != 0:
            failed.append(f"--- {name}:\n{report[-12000:]}")
    assert not failed, "\n".join(failed)
