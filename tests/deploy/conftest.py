"""Fixtures for the deployment-artifact tests; the helpers live in deploy_support.py."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from deploy_support import (
    BASE_DIR,
    K8S_DIR,
    Doc,
    kubectl_available,
    render_kubectl,
    render_minimal,
)


@pytest.fixture(scope="session")
def has_kubectl() -> bool:
    return kubectl_available() and os.environ.get("DEPLOY_TESTS_NO_KUBECTL") != "1"


@pytest.fixture(scope="session")
def overlay_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/k8s copied aside, with the overlay's secrets.env made from secrets.env.example."""
    dest = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S_DIR, dest)
    overlay = dest / "overlays" / "example"
    shutil.copy(overlay / "secrets.env.example", overlay / "secrets.env")
    return overlay


@pytest.fixture(scope="session")
def render(has_kubectl: bool) -> Callable[[Path], list[Doc]]:
    renderer: Callable[[Path], list[Doc]] = render_kubectl if has_kubectl else render_minimal
    return renderer


@pytest.fixture(scope="session")
def base_docs(render: Callable[[Path], list[Doc]]) -> list[Doc]:
    return render(BASE_DIR)


@pytest.fixture(scope="session")
def overlay_docs(render: Callable[[Path], list[Doc]], overlay_copy: Path) -> list[Doc]:
    return render(overlay_copy)


@pytest.fixture(scope="session", params=["base", "overlay"])
def rendered(request: pytest.FixtureRequest, base_docs: list[Doc], overlay_docs: list[Doc]) -> list[Doc]:
    return base_docs if request.param == "base" else overlay_docs
