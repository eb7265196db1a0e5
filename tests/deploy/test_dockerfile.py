"""The multi-target Dockerfile: slim base, wheels from a builder stage, non-root, HEALTHCHECK per target."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dockerfile
import pytest
from deploy_support import REPO, SERVICE_MODULES, SERVICE_PACKAGE_DIRS

BUILD_TOOLS = re.compile(
    r"\b(build-essential|gcc|g\+\+|make|cmake|clang|python3?-dev|libc6?-dev|curl|wget)\b"
)


@dataclass
class Stage:
    name: str
    base: str
    commands: list[dockerfile.Command] = field(default_factory=list)

    def of(self, cmd: str) -> list[dockerfile.Command]:
        return [c for c in self.commands if c.cmd == cmd]


def _stages() -> tuple[dict[str, str], dict[str, Stage]]:
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for cmd in dockerfile.parse_file(str(REPO / "Dockerfile")):
        if cmd.cmd == "ARG" and current is None:
            key, _, default = cmd.value[0].partition("=")
            args[key] = default
        elif cmd.cmd == "FROM":
            base, _as, name = cmd.value
            assert _as.upper() == "AS"
            current = Stage(name=name, base=base)
            stages[name] = current
        else:
            assert current is not None, f"{cmd.original} before FROM"
            current.commands.append(cmd)
    return args, stages


ARGS, STAGES = _stages()
TARGETS = ["gateway", "importer", "mapper", "simulator"]


def _chain(stage: Stage) -> list[Stage]:
    """The stage and the stages it is built FROM, nearest first."""
    out = [stage]
    while out[-1].base in STAGES:
        out.append(STAGES[out[-1].base])
    return out


def test_slim_python_base() -> None:
    image = ARGS["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", image), image
    for stage in STAGES.values():
        assert stage.base in STAGES or stage.base == "${PYTHON_IMAGE}"


def test_builder_builds_wheels_from_the_lock() -> None:
    builder = STAGES["builder"]
    runs = " ".join(" ".join(c.value) for c in builder.of("RUN"))
    assert "pip wheel" in runs
    assert "-r /wheels/requirements.lock" in runs
    copies = [c.value for c in builder.of("COPY")]
    assert ("${REQUIREMENTS}", "/wheels/requirements.lock") in copies
    assert ARGS["REQUIREMENTS"] == "requirements.lock"
    for src in ("libs/common", "services/gateway", "services/importer", "services/mapper", "simulator"):
        assert any(v[0] == src for v in copies), src


@pytest.mark.parametrize("target", TARGETS)
def test_target_is_final_stage_without_build_tools(target: str) -> None:
    chain = _chain(STAGES[target])
    assert "builder" not in [s.name for s in chain], "final images must not build FROM the builder"
    for stage in chain:
        for run in stage.of("RUN"):
            text = " ".join(run.value)
            if "apt-get install" in text:
                assert not BUILD_TOOLS.search(text), f"{stage.name}: {text}"
            # Wheels only arrive through a bind mount: nothing of the builder stays in a layer.
            if "/wheels" in text:
                assert "--no-index" in text
                assert any("from=builder" in f for f in run.flags)
        for copy in stage.of("COPY"):
            assert not any(f.startswith("--from=builder") for f in copy.flags)


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_as_non_root(target: str) -> None:
    users = [u for s in reversed(_chain(STAGES[target])) for u in s.of("USER")]
    assert users, f"{target} has no USER"
    user = users[-1].value[0].split(":")[0]
    assert user not in ("root", "0")
    runtime_runs = " ".join(" ".join(c.value) for c in STAGES["runtime"].of("RUN"))
    assert f"--uid {user}" in runtime_runs


@pytest.mark.parametrize("target", TARGETS)
def test_target_command_runs_its_service(target: str) -> None:
    (cmd,) = STAGES[target].of("CMD")
    assert cmd.json, "exec form, so the service gets signals"
    assert list(cmd.value[:3]) == ["python", "-m", SERVICE_MODULES[target]]
    entry = [e for s in _chain(STAGES[target]) for e in s.of("ENTRYPOINT")]
    assert entry, "an init forwards SIGTERM"
    assert entry[0].json
    assert "tini" in entry[0].value[0]
    stop = [s for st in _chain(STAGES[target]) for s in st.of("STOPSIGNAL")]
    assert stop
    assert stop[0].value[0] == "SIGTERM"
    runs = " ".join(" ".join(c.value) for c in STAGES[target].of("RUN"))
    assert f"/wheels/local/{SERVICE_MODULES[target]}-" in runs, "installs its own package"
    assert "/wheels/local/contracts_common-" in runs


@pytest.mark.parametrize("target", TARGETS)
def test_service_package_exists(target: str) -> None:
    package = SERVICE_PACKAGE_DIRS[target]
    assert (package / "__init__.py").is_file(), package
    assert (package.parent / "pyproject.toml").is_file()
    if not (package / "__main__.py").is_file():
        pytest.skip(f"{package.relative_to(REPO)}/__main__.py not written yet: `python -m` needs it")


@pytest.mark.parametrize("target", TARGETS)
def test_healthcheck(target: str) -> None:
    (hc,) = STAGES[target].of("HEALTHCHECK")
    assert hc.json
    assert hc.value[0] == "CMD"
    code = " ".join(hc.value[1:])
    assert hc.value[1] == "python", "slim images have no curl: python's standard library checks"
    if target == "simulator":
        assert "9000" in code
        return
    port_var = "GATEWAY_PORT" if target == "gateway" else "HEALTH_PORT"
    assert "urllib.request" in code
    assert "/healthz" in code
    assert port_var in code
    envs = " ".join(" ".join(e.value) for e in STAGES[target].of("ENV"))
    assert port_var in envs, f"{target} must set {port_var} so the check has a port"
    flags = " ".join(hc.flags)
    assert "--interval=" in flags
    assert "--timeout=" in flags


def test_dockerignore_keeps_what_the_build_copies() -> None:
    lines = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "**", "deny by default"
    for keep in ("!requirements*.lock", "!libs/common/**", "!simulator/**"):
        assert keep in lines
    for svc in ("gateway", "importer", "mapper"):
        assert f"!services/{svc}/**" in lines
    assert "**/__pycache__" in lines
