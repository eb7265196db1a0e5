"""Helpers for the deployment-artifact tests (Dockerfile, compose, Kubernetes manifests).

Nothing here needs a Docker engine or a cluster. Kubernetes manifests are rendered with `kubectl kustomize`
when kubectl is on PATH, else with the small renderer below (resources, namespace, images, strategic-merge
and JSON6902 patches, secret/configMap generators without hash suffix), which is all the repo's
kustomizations use.
"""

from __future__ import annotations

import base64
import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMMON_SRC = REPO / "libs" / "common"
if str(COMMON_SRC) not in sys.path:
    sys.path.insert(0, str(COMMON_SRC))

from contracts_common import settings as settings_mod  # noqa: E402

K8S_DIR = REPO / "deploy" / "k8s"
BASE_DIR = K8S_DIR / "base"
OVERLAY_DIR = K8S_DIR / "overlays" / "example"

# The application services: settings class, Python module run by `python -m`, Dockerfile target.
SERVICE_CLASSES: dict[str, type[settings_mod.SharedSettings]] = {
    "gateway": settings_mod.GatewaySettings,
    "importer": settings_mod.ImporterSettings,
    "mapper": settings_mod.MapperSettings,
}
SERVICE_MODULES = {
    "gateway": "gateway",
    "importer": "importer",
    "mapper": "mapper",
    "simulator": "ironclad_simulator",
}
SERVICE_PACKAGE_DIRS = {
    "gateway": REPO / "services" / "gateway" / "gateway",
    "importer": REPO / "services" / "importer" / "importer",
    "mapper": REPO / "services" / "mapper" / "mapper",
    "simulator": REPO / "simulator" / "ironclad_simulator",
}

Doc = dict[str, Any]


def env_names(cls: type[settings_mod.SharedSettings]) -> set[str]:
    """Environment variable names a settings class reads (pydantic-settings: field name, any case)."""
    return {name.upper() for name in cls.model_fields}


def required_env_names(cls: type[settings_mod.SharedSettings]) -> set[str]:
    return {name.upper() for name, field in cls.model_fields.items() if field.is_required()}


def all_settings_env_names() -> set[str]:
    return set().union(*(env_names(cls) for cls in SERVICE_CLASSES.values()))


def load_yaml_docs(path: Path) -> list[Doc]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


# ------------------------------------------------------------------------------------------------------
# A minimal kustomize, enough for deploy/k8s (used where kubectl is missing, and checked against it).


def _merge(base: Any, patch: Any) -> Any:
    """Strategic-merge-like: dicts merge, lists of named dicts merge by name, other lists replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        merged = [copy.deepcopy(i) for i in base]
        for item in patch:
            for idx, existing in enumerate(merged):
                if existing["name"] == item["name"]:
                    merged[idx] = _merge(existing, item)
                    break
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _json6902(doc: Doc, ops: list[dict[str, Any]]) -> Doc:
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if op["op"] in ("replace", "add"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                elif op["op"] == "add":
                    parent.insert(int(last), op["value"])
                else:
                    parent[int(last)] = op["value"]
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        else:
            raise NotImplementedError(op["op"])
    return doc


def _read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


def _generated(kind: str, gen: dict[str, Any], root: Path) -> Doc:
    data: dict[str, str] = {}
    for env in gen.get("envs", []):
        data.update(_read_env_file(root / env))
    for literal in gen.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    doc: Doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]}}
    if kind == "Secret":
        doc["type"] = gen.get("type", "Opaque")
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        doc["data"] = data
    return doc


def _key(doc: Doc) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


# What render_minimal understands; anything else in a kustomization is refused, not skipped, so the
# manifests validated below are the ones kubectl would render.
KUSTOMIZATION_KEYS = {
    "apiVersion", "kind", "resources", "secretGenerator", "configMapGenerator", "patches", "labels",
    "namespace", "images", "generatorOptions",
}  # fmt: skip
GENERATOR_KEYS = {"name", "envs", "literals", "behavior", "type"}
PATCH_KEYS = {"path", "patch", "target"}


def _refuse_unknown(where: str, found: Any, known: set[str]) -> None:
    unknown = set(found) - known
    if unknown:
        raise NotImplementedError(f"render_minimal does not understand {where} {sorted(unknown)}")


def render_minimal(root: Path) -> list[Doc]:
    kust = load_yaml_docs(root / "kustomization.yaml")[0]
    _refuse_unknown(f"{root}/kustomization.yaml keys", kust, KUSTOMIZATION_KEYS)
    # Generated names are never suffixed here: only kustomizations that ask for that are understood.
    if kust.get("generatorOptions", {"disableNameSuffixHash": True}) != {"disableNameSuffixHash": True}:
        raise NotImplementedError(f"render_minimal adds no name suffix: {kust['generatorOptions']}")
    for gen in kust.get("secretGenerator", []) + kust.get("configMapGenerator", []):
        _refuse_unknown(f"generator {gen.get('name')} keys", gen, GENERATOR_KEYS)
    for patch in kust.get("patches", []):
        _refuse_unknown("patch keys", patch, PATCH_KEYS)
    docs: list[Doc] = []
    for res in kust.get("resources", []):
        target = (root / res).resolve()
        docs.extend(render_minimal(target) if target.is_dir() else load_yaml_docs(target))
    for kind, field in (("Secret", "secretGenerator"), ("ConfigMap", "configMapGenerator")):
        for gen in kust.get(field, []):
            new = _generated(kind, gen, root)
            behavior = gen.get("behavior", "create")
            idx = next((i for i, d in enumerate(docs) if _key(d) == _key(new)), None)
            if behavior == "create":
                assert idx is None, f"{kind} {gen['name']} already exists"
                docs.append(new)
            else:
                assert idx is not None, f"{kind} {gen['name']} to {behavior} not found"
                old = docs[idx]
                if behavior == "merge":
                    new["data"] = {**old.get("data", {}), **new["data"]}
                new["metadata"] = _merge(old["metadata"], new["metadata"])
                docs[idx] = new
    for patch in kust.get("patches", []):
        body = load_yaml_docs(root / patch["path"]) if "path" in patch else [yaml.safe_load(patch["patch"])]
        if isinstance(body[0], list):
            target = patch["target"]
            docs = [
                _json6902(d, body[0])
                if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]
                else d
                for d in docs
            ]
        else:
            for piece in body:
                matches = [i for i, d in enumerate(docs) if _key(d) == _key(piece)]
                assert matches, f"patch target {_key(piece)} not found"
                for i in matches:
                    docs[i] = _merge(docs[i], piece)
    for label in kust.get("labels", []):
        for d in docs:
            d["metadata"].setdefault("labels", {}).update(label["pairs"])
    if "namespace" in kust:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = kust["namespace"]
    for image in kust.get("images", []):
        for d in docs:
            pod = d.get("spec", {}).get("template", {}).get("spec", {})
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                name, _, _tag = c["image"].partition(":")
                if name == image["name"]:
                    c["image"] = f"{image.get('newName', name)}:{image.get('newTag', _tag)}"
    return docs


def render_kubectl(root: Path) -> list[Doc]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(root)], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d is not None]


def kubectl_available() -> bool:
    if shutil.which("kubectl") is None:
        return False
    try:
        subprocess.run(["kubectl", "kustomize", "--help"], check=True, capture_output=True, timeout=60)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def service_of_deployment(dep: Doc) -> str:
    name: str = dep["metadata"]["name"]
    return re.sub(r"^contracts-", "", name)
