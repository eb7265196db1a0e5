"""The development command that signs tenant tokens, run as a developer runs it, against the real gateway."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contracts_common.tenant_tokens import generate_key_pair
from tests.support.services import REPO, Stack

ISSUER = "contracts-ai-local"


@pytest.fixture
def keys(stack: Stack, tmp_path: Path) -> Path:
    """A key pair made as the command makes it; the gateway trusts its public key (file path)."""
    _, public = generate_key_pair(tmp_path)
    stack.shared_settings.update({"TENANT_TOKEN_PUBLIC_KEYS": str(public), "TENANT_TOKEN_ISSUER": ISSUER})
    return tmp_path


def mint(keys: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "contracts_common.ops", "mint-token", "--keys", str(keys), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return dict(json.loads(result.stdout))


async def test_minted_tokens_open_their_workspace_with_their_role(keys: Path, gateway: str) -> None:
    viewer = mint(keys, "--tenant", "demo", "--role", "viewer", "--url", gateway)
    assert viewer["admin_url"] == f"{gateway}/admin/#token={viewer['token']}"
    assert (viewer["tenant"], viewer["role"], viewer["issuer"]) == ("demo", "viewer", ISSUER)
    admin = mint(keys, "--tenant", "demo", "--role", "admin", "--minutes", "5")
    async with aiohttp.ClientSession() as http:

        async def call(method: str, token: str, tenant: str = "demo") -> int:
            async with http.request(
                method,
                f"{gateway}/api/v1/tenants/{tenant}/ironclad/automatic-sync",
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                return response.status

        assert await call("DELETE", viewer["token"]) == 403  # a viewer only reads
        assert await call("DELETE", admin["token"]) == 200
        assert await call("DELETE", admin["token"], tenant="other") == 403


def test_the_key_pair_is_made_once_and_the_private_key_is_private(tmp_path: Path) -> None:
    mint(tmp_path, "--tenant", "demo")
    private = tmp_path / "tenant-token-private.pem"
    first = private.read_bytes()
    assert private.stat().st_mode & 0o077 == 0
    mint(tmp_path, "--tenant", "demo")
    assert private.read_bytes() == first


@pytest.mark.parametrize("args", [["--tenant", "Bad_Tenant"], ["--tenant", "demo", "--minutes", "61"]])
def test_refuses_what_the_gateway_would_refuse(tmp_path: Path, args: list[str]) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        mint(tmp_path, *args)
