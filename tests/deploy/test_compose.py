"""docker-compose.yml (+ docker-compose.demo.yml, .env.example): schema, scaling, and the settings read."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml
from deploy_support import (
    REPO,
    SERVICE_CLASSES,
    SERVICE_MODULES,
    all_settings_env_names,
    env_names,
    required_env_names,
)

COMPOSE = REPO / "docker-compose.yml"
DEMO = REPO / "docker-compose.demo.yml"
ENV_EXAMPLE = REPO / ".env.example"
WORKERS = ("importer", "mapper")
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def _load(path: Any) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def _env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, line
            out[key] = value
    return out


def _interpolate(value: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        current = env.get(name)
        if op in (":-", "-"):
            return current if current not in (None, "") or (op == "-" and current is not None) else arg
        if op in (":?", "?"):
            if not current:
                raise ValueError(arg)
            return current
        return current or ""

    return VAR.sub(sub, value)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: str(v) for k, v in env.items()}


COMPOSE_DATA = _load(COMPOSE)
DEMO_DATA = _load(DEMO)
SERVICES: dict[str, Any] = COMPOSE_DATA["services"]


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    ref = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema: dict[str, Any] = json.loads(ref.read_text(encoding="utf-8"))
    return schema


@pytest.mark.parametrize("path", [COMPOSE, DEMO], ids=lambda p: p.name)
def test_matches_compose_spec(path: Any, compose_schema: dict[str, Any]) -> None:
    jsonschema.validate(_load(path), compose_schema)


def test_compose_spec_validator_rejects_bad_files(compose_schema: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"services": {"x": {"stop_grace_periods": "1s"}}}, compose_schema)


def test_services_present() -> None:
    assert set(SERVICES) == {"rabbitmq", "mongodb", "gateway", "importer", "mapper", "simulator"}
    assert "management" in SERVICES["rabbitmq"]["image"]
    assert SERVICES["simulator"]["profiles"] == ["demo"]
    for name in ("rabbitmq", "mongodb", "gateway", "importer", "mapper"):
        assert "profiles" not in SERVICES[name]


def test_no_fixed_names_so_workers_scale() -> None:
    for name, svc in SERVICES.items():
        assert "container_name" not in svc, name
    for name in WORKERS:
        assert "ports" not in SERVICES[name], f"{name}: a host port forbids --scale {name}=N"
        assert "hostname" not in SERVICES[name]
    for name in ("gateway", "rabbitmq", "simulator"):
        for port in SERVICES[name].get("ports", []):
            assert ":" in port


def test_mongodb_single_node_replica_set() -> None:
    mongo = SERVICES["mongodb"]
    assert mongo["image"] == "mongo:7"
    cmd = mongo["command"]
    assert cmd[cmd.index("--replSet") + 1] == "rs0"
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate(" in check
    assert "'rs0'" in check
    assert "mongodb:27017" in check
    assert "quit(" in check, "the healthcheck's exit code must say whether there is a primary"
    for name in SERVICE_CLASSES:
        url = _env(SERVICES[name])["MONGODB_URL"]
        assert url.startswith("mongodb://mongodb:27017")
        assert "replicaSet=rs0" in url


def test_app_services_build_their_target_and_run_their_module() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    for name in (*SERVICE_CLASSES, "simulator"):
        svc = SERVICES[name]
        assert svc["build"]["context"] == "."
        assert svc["build"]["target"] == name
        assert re.search(rf"^FROM \S+ AS {name}$", dockerfile, re.M)
        assert _interpolate(svc["image"], _env_example()).rsplit(":", 1)[0].endswith(f"/{name}")
        if "command" in svc:
            assert svc["command"][:3] == ["python", "-m", SERVICE_MODULES[name]]
    sim = SERVICES["simulator"]["command"]
    assert sim[sim.index("--port") + 1] == "9000"
    assert "--seed-demo" in sim
    assert "--allow-http-targets" in sim, "demo webhooks go to http://gateway:8080"


def test_dependencies_wait_for_healthy_infrastructure() -> None:
    for name in SERVICE_CLASSES:
        deps = SERVICES[name]["depends_on"]
        assert deps["rabbitmq"]["condition"] == deps["mongodb"]["condition"] == "service_healthy"
    for name in ("rabbitmq", "mongodb"):
        assert "test" in SERVICES[name]["healthcheck"]


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(s|m)", value)
    assert m, value
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


def test_stop_grace_period_for_graceful_shutdown() -> None:
    for name in SERVICE_CLASSES:
        assert _seconds(SERVICES[name]["stop_grace_period"]) >= 30
    assert _seconds(SERVICES["importer"]["stop_grace_period"]) >= _seconds(
        SERVICES["mapper"]["stop_grace_period"]
    )


def test_env_vars_are_settings_fields() -> None:
    for name, cls in SERVICE_CLASSES.items():
        env = _env(SERVICES[name])
        unknown = set(env) - env_names(cls)
        assert not unknown, f"{name} gets variables its settings class does not read: {unknown}"
        assert required_env_names(cls) <= set(env), f"{name} lacks required settings"
    for name, svc in DEMO_DATA["services"].items():
        unknown = set(_env(svc)) - env_names(SERVICE_CLASSES[name])
        assert not unknown, f"demo override, {name}: {unknown}"


def test_settings_parse_with_env_example_values() -> None:
    """With .env.example (and the two secrets filled in), every service's settings validate."""
    values = {**_env_example(), "ADMIN_API_TOKEN": "token", "SECRETS_KEY": "key"}
    for name, cls in SERVICE_CLASSES.items():
        env = {k.lower(): _interpolate(v, values) for k, v in _env(SERVICES[name]).items()}
        cls(**env)


def test_required_secrets_fail_loudly_when_unset() -> None:
    example = _env_example()
    assert example["ADMIN_API_TOKEN"] == ""
    assert example["SECRETS_KEY"] == ""
    for name in ("gateway", "importer"):
        env = _env(SERVICES[name])
        with pytest.raises(ValueError, match="SECRETS_KEY"):
            _interpolate(env["SECRETS_KEY"], example)
    with pytest.raises(ValueError, match="ADMIN_API_TOKEN"):
        _interpolate(_env(SERVICES["gateway"])["ADMIN_API_TOKEN"], example)
    assert "SECRETS_KEY" not in _env(SERVICES["mapper"]), "the mapper reads no Ironclad credentials"


def test_env_example_names_are_settings_or_compose_variables() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    used_in_compose = {m.group(1) for m in VAR.finditer(text)}
    settings = all_settings_env_names()
    commented = set(re.findall(r"^#\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M))
    for key in _env_example().keys() | commented:
        assert key in settings or key in used_in_compose, f".env.example: {key} is read by nothing"
        if key in settings:
            assert key in used_in_compose, f".env.example: {key} is never passed to a service"
    # ... and every variable docker-compose.yml substitutes is documented there.
    assert used_in_compose <= _env_example().keys() | commented


def test_simulator_only_in_demo() -> None:
    for name in SERVICE_CLASSES:
        env = _env(SERVICES[name])
        assert "simulator" not in env.get("IRONCLAD_BASE_URL", ""), "the real Ironclad by default"
        assert _interpolate(env.get("ALLOW_HTTP_WEBHOOK_TARGET", "false"), _env_example()) == "false"
    demo = DEMO_DATA["services"]
    readers = {n for n, c in SERVICE_CLASSES.items() if "IRONCLAD_BASE_URL" in env_names(c)}
    assert set(demo) == readers
    for name in readers:
        assert demo[name]["environment"]["IRONCLAD_BASE_URL"] == "http://simulator:9000"
        assert demo[name]["depends_on"]["simulator"]
    assert SERVICES["simulator"]["ports"][0].endswith(":9000")
