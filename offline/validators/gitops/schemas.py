"""Schemas: each object against the strict Kubernetes schemas of `kubernetes-validate`, or, for
Argo CD kinds, against the CRDs in `upstream/argocd/crds`, for the prometheus-operator kinds
(`monitoring.coreos.com`: ServiceMonitor, PodMonitor, PrometheusRule, Prometheus, Alertmanager,
...) against the CRDs kube-prometheus-stack installs (its `crds` subchart's `crds/` folder), and
for Velero's kinds (`velero.io`: BackupStorageLocation, Schedule, ...) against the velero chart's
`crds/`, and Talos' ServiceAccount (`talos.dev`) against the CRD Talos applies itself
(`upstream/talos/v1.13/crds`), each plus a walk for unknown keys."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from ... import parsed
from ...paths import ARGOCD_CRDS_DIR, TALOS_SCHEMA_DIR, UPSTREAM_DIR
from .tree import ARGOCD_API_VERSION, ARGOCD_KINDS, GitOpsError, Problem

_MESSAGE_LIMIT = 300
#: The prometheus-operator CRDs as kube-prometheus-stack installs them (upstream/README.md): the
#: `crds/` folder of its `crds` subchart, which Helm copies into the release as it is.
PROMETHEUS_CRDS_DIR = UPSTREAM_DIR / "charts" / "kube-prometheus-stack" / "charts" / "crds" / "crds"
#: API groups whose kinds are validated against vendored CRDs, and where those are.
MONITORING_GROUP = "monitoring.coreos.com"
#: The velero.io CRDs as the velero chart installs them (its `crds/`, which Helm copies into the
#: release as they are; upstream/README.md).
VELERO_CRDS_DIR = UPSTREAM_DIR / "charts" / "velero" / "crds"
VELERO_GROUP = "velero.io"
#: The talos.dev CRD Talos itself applies to the cluster (its ServiceAccount, while
#: machine.features.kubernetesTalosAPIAccess is on), vendored from Talos' test data of what it
#: applies (upstream/README.md).
TALOS_CRDS_DIR = TALOS_SCHEMA_DIR / "crds"
TALOS_GROUP = "talos.dev"
#: Each API group whose CRDs are vendored (a chart's `crds/`, or Talos') -> the folder of those.
CRD_DIRS = {
    MONITORING_GROUP: PROMETHEUS_CRDS_DIR,
    VELERO_GROUP: VELERO_CRDS_DIR,
    TALOS_GROUP: TALOS_CRDS_DIR,
}
#: What every object has at its root whether its CRD's schema lists it or not (Talos'
#: ServiceAccount CRD lists only `spec` and `status`): the API server never prunes them
#: (Kubernetes docs, "Custom Resources": field pruning keeps apiVersion, kind and metadata).
ROOT_FIELDS = frozenset({"apiVersion", "kind", "metadata"})


def describe(manifest: dict[str, Any]) -> str:
    """A short name for an object: `Deployment podinfo/frontend`, `Namespace podinfo`."""
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name", "<unnamed>")
    namespace = metadata.get("namespace")
    return f"{manifest.get('kind', '<no kind>')} {namespace + '/' if namespace else ''}{name}"


def json_path(parts: Sequence[str | int]) -> str:
    """`["spec", "containers", 0, "image"]` -> `spec.containers[0].image`; odd keys quoted."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", part):
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text or "(object)"


def schema_version(kubernetes_version: str) -> str:
    """`v1.36.2` or `1.36` -> `1.36`; fails for versions kubernetes-validate has no schemas for."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?", kubernetes_version.strip())
    if match is None:
        raise GitOpsError(f"not a Kubernetes version: {kubernetes_version!r} (expected v1.36.2)")
    version = f"{match.group(1)}.{match.group(2)}"
    available = _kubernetes_schema_versions()
    if version not in available:
        raise GitOpsError(
            f"kubernetes-validate has no schemas for Kubernetes {version} "
            f"(it has {available[0]} to {available[-1]})"
        )
    return version


@lru_cache(maxsize=1)
def _kubernetes_schema_versions() -> tuple[str, ...]:
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    found = []
    for entry in root.iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.0-local-strict", entry.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
    return tuple(f"{major}.{minor}" for major, minor in sorted(found))


def _schema_file(version: str, name: str) -> Any:
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    entry = root / f"v{version}.0-local-strict" / name
    return json.loads(entry.read_text()) if entry.is_file() else None


@lru_cache(maxsize=8)
def _kubernetes_registry(version: str) -> Registry:
    definitions = _schema_file(version, "_definitions.json")
    return Resource.from_contents(definitions) @ Registry()


@lru_cache(maxsize=256)
def _kubernetes_validator(
    version: str, kind: str, api_version: str
) -> jsonschema.protocols.Validator | None:
    """The strict schema that `kubernetes_validate.validate(..., strict=True)` uses.

    Loaded once per version and kind (validate() reloads it per call) and used with
    `iter_errors`, so every error is reported, not only the first.
    """
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = _schema_file(version, f"{kind.lower()}-{api}.json")
    if schema is None:
        return None
    registry = Resource.from_contents(schema) @ _kubernetes_registry(version)
    return jsonschema.Draft202012Validator(schema, registry=registry)


@lru_cache(maxsize=8)
def _object_meta_validator(version: str) -> jsonschema.protocols.Validator:
    ref = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    return jsonschema.Draft202012Validator({"$ref": ref}, registry=_kubernetes_registry(version))


@lru_cache(maxsize=4)
def vendored_crd(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of an Argo CD kind, from `upstream/argocd/crds/<kind>.yaml`
    (1.8 MB of YAML for the three: parsed with libyaml, once per process)."""
    path = ARGOCD_CRDS_DIR / f"{kind.lower()}.yaml"
    if not path.is_file():
        raise GitOpsError(f"{path}: missing; upstream/argocd/crds should hold the Argo CD CRDs")
    return dict(parsed.load(path))


def is_vendored_crd(obj: dict[str, Any]) -> bool:
    """Whether `obj` is one of the vendored Argo CD or other CRDs (`CRD_DIRS`), spec for spec:
    the charts install the very CRDs the checks validate against, which need no validating
    themselves."""
    if obj.get("kind") != "CustomResourceDefinition":
        return False
    spec = obj.get("spec") or {}
    kind = (spec.get("names") or {}).get("kind")
    if not isinstance(kind, str):
        return False
    try:
        if spec.get("group") == "argoproj.io":
            return vendored_crd(kind).get("spec") == spec
        if spec.get("group") in CRD_DIRS:
            return group_crd(str(spec["group"]), kind).get("spec") == spec
    except GitOpsError:
        return False
    return False


@dataclass(frozen=True)
class CrdFile:
    """A CRD file of a chart's `crds/` folder, read up to its `versions` (cheap: the schemas are
    most of the 4.4 MB of the prometheus-operator CRDs)."""

    path: Path
    name: str
    group: str
    kind: str
    scope: str
    size: int
    """Bytes of the file: what a client-side apply would put in its last-applied annotation."""


@lru_cache(maxsize=128)
def crd_file(path: Path) -> CrdFile:
    """The head of a CRD file (its `metadata` and `spec.group`, `names` and `scope`), parsed
    without the `versions` list that follows them; GitOpsError if it is not one CRD."""
    text = path.read_text(encoding="utf-8")
    head, _, _ = text.partition("\n  versions:")
    try:
        documents = [d for d in yaml.load_all(head, Loader=parsed.LOADER) if d]
    except yaml.YAMLError as exc:
        raise GitOpsError(f"{path}: not a CRD file: {exc}") from None
    crd = documents[0] if len(documents) == 1 else {}
    spec = crd.get("spec") or {}
    kind = (spec.get("names") or {}).get("kind")
    if crd.get("kind") != "CustomResourceDefinition" or not isinstance(kind, str):
        raise GitOpsError(f"{path}: expected one CustomResourceDefinition")
    return CrdFile(
        path=path,
        name=str((crd.get("metadata") or {}).get("name")),
        group=str(spec.get("group")),
        kind=kind,
        scope=str(spec.get("scope")),
        size=len(text.encode("utf-8")),
    )


@lru_cache(maxsize=4)
def _group_crd_files(group: str) -> dict[str, Path]:
    """Kind of `group` -> its CRD file in the group's folder of `CRD_DIRS`."""
    folder = CRD_DIRS[group]
    if not folder.is_dir():
        raise GitOpsError(
            f"{folder}: missing; it should hold the vendored {group} CRDs (upstream/refresh.py)"
        )
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        head = crd_file(path)
        if head.group == group:
            found[head.kind] = path
    return found


class _CrdLoader(parsed.LOADER):  # type: ignore[misc,valid-type]
    """libyaml's safe loader that reads a plain `=` as the string it is to Kubernetes: YAML 1.1
    resolves it to the `value` type, which PyYAML cannot construct (the AlertmanagerConfig CRD
    has `enum: ['!=', =, =~, '!~']`); go-yaml, which the API server uses, reads a string."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", _CrdLoader.construct_yaml_str)


def monitoring_crd(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of a prometheus-operator kind (`group_crd`); GitOpsError if
    kube-prometheus-stack vendors none for it. Shared: do not modify it."""
    return group_crd(MONITORING_GROUP, kind)


@lru_cache(maxsize=32)
def group_crd(group: str, kind: str) -> dict[str, Any]:
    """The vendored CustomResourceDefinition of a kind of `group` (one of `CRD_DIRS`), parsed
    once per content (a JSON copy cached as offline/parsed.py does); GitOpsError if none is
    vendored for it. Shared: do not modify it."""
    path = _group_crd_files(group).get(kind)
    if path is None:
        raise GitOpsError(f"no vendored {group} CRD for {kind}")
    data = path.read_bytes()

    def produce() -> list[Any]:
        return [d for d in yaml.load_all(data.decode("utf-8"), Loader=_CrdLoader) if d]

    documents = parsed.cached(data, produce, kind="crd")
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise GitOpsError(f"{path}: expected one CustomResourceDefinition")
    return dict(documents[0])


@lru_cache(maxsize=32)
def custom_resource_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    """The `openAPIV3Schema` a custom resource of `api_version` and `kind` is validated against,
    from the vendored CRDs (Argo CD, and those of `CRD_DIRS`: prometheus-operator, Velero,
    Talos); None when its group has none vendored. GitOpsError for a kind or version the
    vendored CRDs of its group do not serve."""
    group, _, version = api_version.rpartition("/")
    if api_version == ARGOCD_API_VERSION and kind in ARGOCD_KINDS:
        return crd_schema(kind)
    if group not in CRD_DIRS:
        return None
    crd = group_crd(group, kind)
    for entry in crd["spec"]["versions"]:
        if entry.get("name") == version and entry.get("served", True):
            return dict(entry["schema"]["openAPIV3Schema"])
    served = ", ".join(f"{group}/{v['name']}" for v in crd["spec"]["versions"])
    raise GitOpsError(f"the vendored CRD of {kind} serves {served}, not {api_version}")


@lru_cache(maxsize=4)
def crd_schema(kind: str) -> dict[str, Any]:
    """The `openAPIV3Schema` of an Argo CD kind, from `upstream/argocd/crds/<kind>.yaml`."""
    path = ARGOCD_CRDS_DIR / f"{kind.lower()}.yaml"
    crd = vendored_crd(kind)
    for version in crd["spec"]["versions"]:
        if f"{crd['spec']['group']}/{version['name']}" == ARGOCD_API_VERSION:
            return dict(version["schema"]["openAPIV3Schema"])
    raise GitOpsError(f"{path}: no {ARGOCD_API_VERSION} version")


@lru_cache(maxsize=32)
def _crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schema = custom_resource_schema(api_version, kind)
    assert schema is not None
    return jsonschema.Draft7Validator(schema)


# --- Validation --------------------------------------------------------------------------------


def _shorten(message: str) -> str:
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 3] + "..."


def _unknown_key(
    source: str, name: str, parts: list[str | int], key: str, known: Sequence[str]
) -> Problem:
    message = f"unknown field {key!r}"
    close = difflib.get_close_matches(key, list(known), n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return Problem(source, name, json_path([*parts, key]), message)


def _schema_problems(
    validator: jsonschema.protocols.Validator,
    instance: Any,
    source: str,
    name: str,
    prefix: Sequence[str | int] = (),
) -> list[Problem]:
    problems = []
    for error in validator.iter_errors(instance):
        parts = [*prefix, *error.absolute_path]
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list((error.schema.get("properties") or {}).keys())
            for key in sorted(set(error.instance) - set(known)):
                problems.append(_unknown_key(source, name, parts, key, known))
            continue
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [key for key in error.validator_value if key not in error.instance]
            parts = [*parts, *missing[:1]]
        problems.append(Problem(source, name, json_path(parts), _shorten(error.message)))
    return problems


def _walk_unknown_keys(
    instance: Any, schema: dict[str, Any], parts: list[str | int], source: str, name: str
) -> Iterator[Problem]:
    """Keys the CRD does not list, where it lists `properties` and allows nothing more.

    The CRDs set no `additionalProperties: false`, so jsonschema alone accepts misspelled keys;
    the API server would prune them silently. A schema with `additionalProperties` (a map) or
    `x-kubernetes-preserve-unknown-fields` accepts any key.
    """
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(instance, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, value in instance.items():
            if properties is not None and key in properties:
                yield from _walk_unknown_keys(value, properties[key], [*parts, key], source, name)
            elif isinstance(additional, dict):
                yield from _walk_unknown_keys(value, additional, [*parts, key], source, name)
            elif properties is not None and additional is None:
                if not parts and key in ROOT_FIELDS:
                    continue
                yield _unknown_key(source, name, parts, key, list(properties))
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            yield from _walk_unknown_keys(item, schema["items"], [*parts, index], source, name)


def validate_manifest(obj: dict[str, Any], kubernetes_version: str, source: str) -> list[Problem]:
    """Schema problems of one object, each naming the field at fault.

    Argo CD kinds (`argoproj.io/v1alpha1` Application, AppProject, ApplicationSet), the
    prometheus-operator kinds (`monitoring.coreos.com`), Velero's (`velero.io`) and Talos'
    ServiceAccount (`talos.dev`) are checked against their CRD schema from upstream/ plus an
    unknown-key walk (the API server would prune an unknown key silently: a misspelled
    `endpoints[0].intervall` would scrape at the default interval), and their `metadata`
    against Kubernetes' ObjectMeta; everything else against
    kubernetes-validate's strict schema for `kubernetes_version` (`v1.36.2` and `1.36` both mean
    1.36). A kind with no schema is a problem: the cluster would not know it either.
    """
    name = describe(obj)
    version = schema_version(kubernetes_version)
    if not isinstance(obj.get("kind"), str) or not isinstance(obj.get("apiVersion"), str):
        return [Problem(source, name, "kind", "an object needs apiVersion and kind")]
    api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
    try:
        schema = custom_resource_schema(api_version, kind)
    except GitOpsError as exc:
        message = f"no schema for {kind} {api_version}: {exc}"
        return [Problem(source, name, "apiVersion", message)]
    if schema is not None:
        problems = _schema_problems(_crd_validator(api_version, kind), obj, source, name)
        problems += _walk_unknown_keys(obj, schema, [], source, name)
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            problems += _schema_problems(
                _object_meta_validator(version), meta, source, name, ["metadata"]
            )
        return problems
    validator = _kubernetes_validator(version, obj["kind"], obj["apiVersion"])
    if validator is None:
        return [
            Problem(
                source,
                name,
                "apiVersion",
                f"no schema for {obj['kind']} {obj['apiVersion']} in Kubernetes {version}: "
                "a removed API version, a misspelled kind, or a CRD this validator lacks",
            )
        ]
    return _schema_problems(validator, obj, source, name)
