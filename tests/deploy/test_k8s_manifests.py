"""Kubernetes manifests (deploy/k8s): schemas, probes, budgets, scaling, and the settings the code reads."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_support import (
    BASE_DIR,
    OVERLAY_DIR,
    SERVICE_CLASSES,
    SERVICE_MODULES,
    Doc,
    by_kind,
    env_names,
    load_yaml_docs,
    render_minimal,
    required_env_names,
    service_of_deployment,
)

# Oldest Kubernetes minor the manifests must be valid for (schemas bundled by kubernetes-validate).
K8S_VERSION = "1.30"
CRD_SCHEMAS = Path(__file__).with_name("crd_schemas.yaml")
BUILTIN_GROUPS = ("v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1")

# The queues each worker consumes, by the naming: <QUEUE_PREFIX>.<service>.<purpose>.
WORKER_QUEUES = {
    "importer": ["importer.runs", "importer.pages", "importer.events", "importer.writeback"],
    "mapper": ["mapper.records", "mapper.live", "mapper.remap"],
}
# Secrets written by an operator, not by these manifests: name -> (who writes it, keys it has).
OPERATOR_SECRETS = {
    "contracts-mongodb-connection": (
        "MongoDBCommunity",
        {"connectionString.standard", "connectionString.standardSrv", "username", "password"},
    ),
}


def _crd_validators() -> dict[str, jsonschema.protocols.Validator]:
    raw = yaml.safe_load(CRD_SCHEMAS.read_text(encoding="utf-8"))
    out: dict[str, jsonschema.protocols.Validator] = {}
    for key, schema in raw["kinds"].items():
        full = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": raw["$defs"], **schema}
        jsonschema.Draft202012Validator.check_schema(full)
        out[key] = jsonschema.Draft202012Validator(full)
    return out


CRD_VALIDATORS = _crd_validators()


def _containers(dep: Doc) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = dep["spec"]["template"]["spec"]["containers"]
    return containers


def _deployments(docs: list[Doc]) -> dict[str, Doc]:
    deployments: dict[str, Doc] = by_kind(docs, "Deployment")
    return deployments


def _config_maps(docs: list[Doc]) -> dict[str, dict[str, str]]:
    return {name: d.get("data", {}) for name, d in by_kind(docs, "ConfigMap").items()}


def _secret_data(doc: Doc) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
    data.update({k: str(v) for k, v in (doc.get("stringData") or {}).items()})
    return data


def _container_env(docs: list[Doc], container: dict[str, Any]) -> dict[str, str | None]:
    """Every env name the container gets (value when literal or from a ConfigMap, else None)."""
    cms = _config_maps(docs)
    env: dict[str, str | None] = {}
    for src in container.get("envFrom", []):
        assert "configMapRef" in src, "envFrom only from ConfigMaps: secrets go by name, per service"
        name = src["configMapRef"]["name"]
        assert name in cms, f"envFrom ConfigMap {name} is not in the manifests"
        env.update(cms[name])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


# ------------------------------------------------------------------------------------------------------
# Rendering


def test_base_and_overlay_render(base_docs: list[Doc], overlay_docs: list[Doc]) -> None:
    kinds = {d["kind"] for d in base_docs}
    assert {
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
        "ScaledObject",
        "TriggerAuthentication",
        "RabbitmqCluster",
        "MongoDBCommunity",
        "Secret",
        "ConfigMap",
        "HorizontalPodAutoscaler",
    } <= kinds
    assert len(overlay_docs) == len(base_docs) + 1  # the overlay adds its Namespace


def test_minimal_renderer_agrees_with_kubectl(has_kubectl: bool, overlay_copy: Path) -> None:
    """The fallback renderer (used where kubectl is missing) gives what kubectl kustomize gives."""
    if not has_kubectl:
        pytest.skip("kubectl not on PATH: only the minimal renderer is available")
    from deploy_support import render_kubectl

    def keyed(docs: list[Doc]) -> dict[tuple[str, str], Doc]:
        out = {}
        for d in docs:
            if d["kind"] == "Secret" and "data" in d:  # kubectl wraps long base64 values
                d = {**d, "data": {k: "".join(v.split()) for k, v in d["data"].items()}}
            out[(d["kind"], d["metadata"]["name"])] = d
        return out

    for root in (BASE_DIR, overlay_copy):
        mine, theirs = keyed(render_minimal(root)), keyed(render_kubectl(root))
        assert mine.keys() == theirs.keys(), root
        for key, doc in theirs.items():
            assert mine[key] == doc, (root, key)


def test_overlay_needs_its_secrets_file() -> None:
    """The committed overlay holds no secret: rendering it needs a secrets.env kept out of git."""
    kust = load_yaml_docs(OVERLAY_DIR / "kustomization.yaml")[0]
    envs = [e for g in kust.get("secretGenerator", []) for e in g.get("envs", [])]
    assert envs == ["secrets.env"]
    assert not (OVERLAY_DIR / "secrets.env").exists(), "secrets.env must not be committed"
    assert (OVERLAY_DIR / "secrets.env.example").exists()
    ignore = (OVERLAY_DIR.parents[2] / ".gitignore").read_text(encoding="utf-8")
    assert "k8s/overlays/*/secrets.env" in ignore


# ------------------------------------------------------------------------------------------------------
# Schemas


def test_builtin_kinds_match_kubernetes_schemas(rendered: list[Doc]) -> None:
    checked = 0
    for doc in rendered:
        if doc["apiVersion"] not in BUILTIN_GROUPS:
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
        checked += 1
    assert checked >= 15


def test_custom_resources_match_operator_schemas(rendered: list[Doc]) -> None:
    seen = set()
    for doc in rendered:
        if doc["apiVersion"] in BUILTIN_GROUPS:
            continue
        key = f"{doc['apiVersion']}/{doc['kind']}"
        assert key in CRD_VALIDATORS, f"no schema for {key}: add it to crd_schemas.yaml"
        errors = sorted(CRD_VALIDATORS[key].iter_errors(doc), key=str)
        assert not errors, f"{key} {doc['metadata']['name']}: {[e.message for e in errors]}"
        seen.add(key)
    assert seen == set(CRD_VALIDATORS)


@pytest.mark.parametrize(
    "bad",
    [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replica": 1}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"}, "spec": 3},
    ],
)
def test_builtin_validator_rejects_bad_manifests(bad: Doc) -> None:
    """Guard: the offline validator really checks (strict mode rejects unknown fields)."""
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_crd_validator_rejects_unknown_fields(base_docs: list[Doc]) -> None:
    scaled = dict(by_kind(base_docs, "ScaledObject")["contracts-importer"])
    scaled["spec"] = {**scaled["spec"], "maxReplicas": 3}
    assert list(CRD_VALIDATORS["keda.sh/v1alpha1/ScaledObject"].iter_errors(scaled))


# ------------------------------------------------------------------------------------------------------
# Workloads


def test_one_deployment_per_service(rendered: list[Doc]) -> None:
    deps = _deployments(rendered)
    assert {service_of_deployment(d) for d in deps.values()} == set(SERVICE_CLASSES)
    assert not by_kind(rendered, "StatefulSet"), "stateful parts belong to their operators"


def test_images_and_commands_match_services(rendered: list[Doc]) -> None:
    for dep in _deployments(rendered).values():
        svc = service_of_deployment(dep)
        (container,) = _containers(dep)
        repo = container["image"].rsplit(":", 1)[0]
        assert repo.endswith(f"contracts-ai/{svc}"), container["image"]
        assert ":" in container["image"], "pin a tag"
        # The image's CMD runs the service; a manifest may only restate it.
        assert container.get("command") in (None, ["python", "-m", SERVICE_MODULES[svc]])
        assert "args" not in container


def test_deployments_have_probes_resources_and_grace(rendered: list[Doc]) -> None:
    for dep in _deployments(rendered).values():
        pod = dep["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] >= 30, "graceful shutdown on SIGTERM needs time"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's app user
        for c in pod["containers"]:
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert c[probe]["httpGet"]["port"] in ports
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][part]), f"{c['name']} {part}"
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_health_port_matches_settings(rendered: list[Doc]) -> None:
    """Probes hit the port the service listens on: GATEWAY_PORT for the gateway, HEALTH_PORT for workers."""
    for dep in _deployments(rendered).values():
        svc = service_of_deployment(dep)
        (c,) = _containers(dep)
        env = _container_env(rendered, c)
        port_var = "GATEWAY_PORT" if svc == "gateway" else "HEALTH_PORT"
        assert env.get(port_var) is not None, f"{svc} must set {port_var}"
        port = int(env[port_var] or 0)
        assert port > 0
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert named[c["livenessProbe"]["httpGet"]["port"]] == port


def test_pdb_per_deployment(rendered: list[Doc]) -> None:
    pdbs = list(by_kind(rendered, "PodDisruptionBudget").values())
    for name, dep in _deployments(rendered).items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        matching = [p for p in pdbs if _selects(p["spec"]["selector"], labels)]
        assert len(matching) == 1, f"{name}: {len(matching)} PodDisruptionBudgets"
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_autoscaled_deployments_leave_replicas_to_the_scaler(rendered: list[Doc]) -> None:
    scaled = {so["spec"]["scaleTargetRef"]["name"] for so in by_kind(rendered, "ScaledObject").values()}
    scaled |= {
        h["spec"]["scaleTargetRef"]["name"] for h in by_kind(rendered, "HorizontalPodAutoscaler").values()
    }
    deps = _deployments(rendered)
    assert scaled == set(deps)
    for name in scaled:
        assert "replicas" not in deps[name]["spec"], f"{name}: a fixed replicas fights the autoscaler"
    (hpa,) = by_kind(rendered, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "contracts-gateway"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


# ------------------------------------------------------------------------------------------------------
# Settings: every variable named is one the receiving service reads


def test_env_vars_are_settings_fields(rendered: list[Doc]) -> None:
    for dep in _deployments(rendered).values():
        svc = service_of_deployment(dep)
        known = env_names(SERVICE_CLASSES[svc])
        for c in _containers(dep):
            env = _container_env(rendered, c)
            unknown = set(env) - known
            assert not unknown, f"{svc} gets variables its settings class does not read: {unknown}"
            missing = required_env_names(SERVICE_CLASSES[svc]) - set(env)
            assert not missing, f"{svc} lacks required settings {missing}"


def test_literal_settings_values_validate(rendered: list[Doc]) -> None:
    """The literal values (ConfigMaps) parse in the service's settings class."""
    for dep in _deployments(rendered).values():
        svc = service_of_deployment(dep)
        cls = SERVICE_CLASSES[svc]
        env = {k: v for k, v in _container_env(rendered, _containers(dep)[0]).items() if v is not None}
        dummies = {"SECRETS_KEY": "x", "ADMIN_API_TOKEN": "x"}
        values = {k.lower(): v for k, v in {**dummies, **env}.items() if k.lower() in cls.model_fields}
        cls(**values)


def test_secrets_and_config_keys_are_settings(rendered: list[Doc]) -> None:
    all_fields = set().union(*(env_names(c) for c in SERVICE_CLASSES.values()))
    for name, data in _config_maps(rendered).items():
        assert set(data) <= all_fields, f"ConfigMap {name}: {set(data) - all_fields}"
    for name, secret in by_kind(rendered, "Secret").items():
        env_like = {k for k in _secret_data(secret) if re.fullmatch(r"[A-Z][A-Z0-9_]*", k)}
        assert env_like <= all_fields, f"Secret {name}: {env_like - all_fields}"


def test_secret_refs_resolve(rendered: list[Doc]) -> None:
    secrets = {n: set(_secret_data(d)) for n, d in by_kind(rendered, "Secret").items()}
    (mongo,) = by_kind(rendered, "MongoDBCommunity").values()
    conn_names = {u.get("connectionStringSecretName") for u in mongo["spec"]["users"]}
    for op_secret, (kind, keys) in OPERATOR_SECRETS.items():
        assert kind == "MongoDBCommunity"
        assert op_secret in conn_names
        secrets[op_secret] = keys
    for dep in _deployments(rendered).values():
        for c in _containers(dep):
            for item in c.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets.get(ref["name"], set()), f"{item['name']}: {ref}"
    for user in mongo["spec"]["users"]:
        ref = user["passwordSecretRef"]
        assert ref["key"] in secrets[ref["name"]]
    for ta in by_kind(rendered, "TriggerAuthentication").values():
        for ref in ta["spec"]["secretTargetRef"]:
            assert ref["key"] in secrets[ref["name"]]


def test_secrets_reach_only_the_services_that_read_them(rendered: list[Doc]) -> None:
    holders: dict[str, set[str]] = {}
    for dep in _deployments(rendered).values():
        for c in _containers(dep):
            for item in c.get("env", []):
                if "secretKeyRef" in item.get("valueFrom", {}):
                    holders.setdefault(item["name"], set()).add(service_of_deployment(dep))
    assert holders["ADMIN_API_TOKEN"] == {"gateway"}
    assert holders["SECRETS_KEY"] == {"gateway", "importer"}
    assert holders["AMQP_URL"] == holders["MONGODB_URL"] == set(SERVICE_CLASSES)


def test_overlay_secrets_are_real(overlay_docs: list[Doc]) -> None:
    data = _secret_data(by_kind(overlay_docs, "Secret")["contracts-secrets"])
    assert "REPLACE-ME" not in data.values()
    assert {"ADMIN_API_TOKEN", "SECRETS_KEY", "AMQP_URL", "mongodb-password"} <= set(data)
    # KEDA dials AMQP_URL from its own namespace: it must be fully qualified.
    assert re.match(r"^amqps?://[^@]+@[a-z0-9-]+\.[a-z0-9-]+\.svc(\.cluster\.local)?:\d+/", data["AMQP_URL"])


# ------------------------------------------------------------------------------------------------------
# Gateway exposure


def test_gateway_service_and_ingress(rendered: list[Doc]) -> None:
    services = by_kind(rendered, "Service")
    ingresses = by_kind(rendered, "Ingress")
    assert set(services) == {"contracts-gateway"}
    assert set(ingresses) == {"contracts-gateway"}
    svc = services["contracts-gateway"]
    gateway = _deployments(rendered)["contracts-gateway"]
    assert _selects(
        {"matchLabels": svc["spec"]["selector"]}, gateway["spec"]["template"]["metadata"]["labels"]
    )
    container_ports = {p["name"] for p in _containers(gateway)[0]["ports"]}
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    for p in svc_ports.values():
        assert p["targetPort"] in container_ports
    ing = ingresses["contracts-gateway"]
    hosts = {r["host"] for r in ing["spec"]["rules"]}
    assert hosts <= {h for t in ing["spec"]["tls"] for h in t["hosts"]}, "Ironclad needs https"
    paths = [p for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
    assert any(p["path"].rstrip("/") == "/webhooks/ironclad" for p in paths)
    for p in paths:
        backend = p["backend"]["service"]
        assert backend["name"] == "contracts-gateway"
        assert backend["port"]["name"] in svc_ports


def test_public_base_url_is_the_ingress_origin(rendered: list[Doc]) -> None:
    cms = _config_maps(rendered)
    url = cms["contracts-ironclad-config"]["PUBLIC_BASE_URL"]
    (ing,) = by_kind(rendered, "Ingress").values()
    hosts = {r["host"] for r in ing["spec"]["rules"]}
    assert url.startswith("https://")
    assert url.removeprefix("https://").rstrip("/") in hosts
    assert cms["contracts-gateway-config"]["ALLOW_HTTP_WEBHOOK_TARGET"] == "false"


# ------------------------------------------------------------------------------------------------------
# KEDA, RabbitMQ, MongoDB


def test_scaled_objects_target_workers_and_real_queues(rendered: list[Doc]) -> None:
    prefix = _config_maps(rendered)["contracts-shared-config"]["QUEUE_PREFIX"]
    deps = _deployments(rendered)
    auths = by_kind(rendered, "TriggerAuthentication")
    scaled = by_kind(rendered, "ScaledObject")
    targets = {}
    for so in scaled.values():
        ref = so["spec"]["scaleTargetRef"]
        assert ref.get("kind", "Deployment") == "Deployment"
        assert ref["name"] in deps
        svc = service_of_deployment(deps[ref["name"]])
        queues = []
        for trig in so["spec"]["triggers"]:
            assert trig["type"] == "rabbitmq"
            md = trig["metadata"]
            assert md["mode"] == "QueueLength"
            assert float(md["value"]) > 0
            assert "host" not in md, "the broker URL holds a password: TriggerAuthentication only"
            assert trig["authenticationRef"]["name"] in auths
            queues.append(md["queueName"])
        assert not [q for q in queues if q.endswith(".dlq")]
        targets[svc] = sorted(queues)
        assert so["spec"]["minReplicaCount"] >= 1
        assert so["spec"]["maxReplicaCount"] >= so["spec"]["minReplicaCount"]
    assert targets == {svc: sorted(f"{prefix}.{q}" for q in qs) for svc, qs in WORKER_QUEUES.items()}


def test_rabbitmq_is_an_operator_cluster(rendered: list[Doc]) -> None:
    (rmq,) = by_kind(rendered, "RabbitmqCluster").values()
    assert rmq["spec"]["replicas"] == 3, "quorum queues replicate over an odd number of nodes"
    assert "management" in rmq["spec"].get("image", "management")
    assert {"requests", "limits"} <= set(rmq["spec"]["resources"])
    amqp_hosts = {"contracts-rabbitmq"}
    assert rmq["metadata"]["name"] in amqp_hosts
    for dep in _deployments(rendered).values():
        for c in _containers(dep):
            assert not re.search(r"(^|/)(rabbitmq|mongo)(:|$)", c["image"]), "no home-made clustering"


def test_mongodb_is_an_operator_replica_set(rendered: list[Doc]) -> None:
    (mdb,) = by_kind(rendered, "MongoDBCommunity").values()
    spec = mdb["spec"]
    assert spec["type"] == "ReplicaSet"
    assert spec["members"] >= 3
    assert spec["members"] % 2 == 1
    db = _config_maps(rendered)["contracts-shared-config"]["MONGODB_DATABASE"]
    (user,) = spec["users"]
    assert {"name": "readWrite", "db": db} in user["roles"]


def test_minimal_renderer_refuses_what_it_does_not_understand(tmp_path: Path) -> None:
    """Guard: a kustomization key the minimal renderer cannot apply fails the render instead of being
    skipped (which would validate manifests other than those kubectl renders)."""
    (tmp_path / "kustomization.yaml").write_text("resources: []\nreplicas:\n- name: x\n  count: 2\n")
    with pytest.raises(NotImplementedError, match="replicas"):
        render_minimal(tmp_path)
