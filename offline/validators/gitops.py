"""Render and validate the GitOps tree (`gitops/`) offline, the way Argo CD will see it.

Argo CD syncs `gitops/envs/<env>` (the app-of-apps of one environment) and, through the
Applications found there, `gitops/apps/<app>/overlays/<env>`. This module renders those folders
with kustomize and checks every object:

- Argo CD kinds against the CRD schemas in `../shared/argocd/crds` (plus a walk that rejects keys
  the schema does not list, which the CRDs alone would accept);
- everything else against the strict Kubernetes schemas shipped by `kubernetes-validate`;
- the platform rules in `object_rules` and `environment_rules`;
- that the environment's stack and the tree follow the same Git ref (`revision_problems`): the
  root Application's `targetRevision` (the stack's `gitops.revision`) is the `targetRevision` of
  every Application the environment creates from this repository.

Run `python -m offline.validators.gitops --kubernetes-version v1.36.2` to check every environment.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from config.errors import NAMESPACE
from config.repository import revision_file, tree_repository, tree_revision

from ..paths import REPO_ROOT, SHARED_ENV_VAR, shared_dir
from ..stackfile import StackFileError, read_stack_config

GITOPS_DIR: Path = REPO_ROOT / "gitops"
ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")

#: Where the stack files (`Pulumi.<env>.yaml`) are.
STACKS_DIR: Path = REPO_ROOT
#: The stack setting that is the root Application's `targetRevision`.
STACK_REVISION_KEY = f"{NAMESPACE}:gitops.revision"
#: Argo CD's name for the cluster it runs in.
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
#: Kinds that live outside namespaces (an AppProject must whitelist them as cluster resources).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
    }
)
ARGOCD_API_VERSION = "argoproj.io/v1alpha1"
ARGOCD_KINDS = ("Application", "AppProject", "ApplicationSet")

_ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
_MESSAGE_LIMIT = 300


class GitOpsError(Exception):
    """The tree cannot be rendered or checked (as opposed to a `Problem` found in it)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the tree.

    `source` is the repo-relative file the object was loaded from (or the rendered folder),
    `object` names it ("Deployment podinfo/frontend"), `field` is a JSON path into it
    ("spec.template.spec.containers[0].imagePullPolicyy") and `message` says what is wrong.
    """

    source: str
    object: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.object}: {self.field}: {self.message}"


@dataclass(frozen=True)
class RenderedObject:
    """A rendered manifest and the repo-relative file kustomize loaded it from.

    A field that a patch adds is reported against the file of the object it patches.
    """

    manifest: dict[str, Any]
    origin: str


# --- Repository --------------------------------------------------------------------------------


#: The repository every Application and AppProject in the tree points at (a placeholder until
#: you fork: change it in gitops/repository/repository.yaml). The Git ref each environment
#: follows is `environment_revision(env)`.
GITOPS_REPO_URL: str = tree_repository().url


def environment_revision(env: str) -> str:
    """The Git ref the Applications of `gitops/envs/<env>` follow (its `revision.yaml`)."""
    try:
        return tree_revision(env, GITOPS_DIR)
    except ValueError as exc:
        raise GitOpsError(str(exc).replace(str(GITOPS_DIR.parent) + os.sep, "")) from exc


def _require_shared() -> Path:
    path = shared_dir()
    if path is None:
        raise GitOpsError(
            f"../shared not found (set {SHARED_ENV_VAR} to its location): the upstream "
            "Argo CD CRDs in shared/argocd/crds are needed to validate Argo CD objects"
        )
    return path


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path.resolve())


# --- Rendering ---------------------------------------------------------------------------------


def kubectl_path() -> Path:
    """kubectl from this interpreter's bin directory (the venv), else from PATH."""
    beside = Path(sys.executable).parent / ("kubectl.exe" if os.name == "nt" else "kubectl")
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("kubectl")
    if found:
        return Path(found)
    raise GitOpsError(
        f"kubectl not found next to {sys.executable} nor on PATH: install the development "
        "requirements (pip install -r requirements-dev.txt), which bring kubectl with kustomize"
    )


def render_with_origins(path: Path) -> list[RenderedObject]:
    """Render the kustomization at `path`, keeping the file each object came from.

    kustomize is run on a throw-away kustomization that includes `path` with
    `buildMetadata: [originAnnotations]`; the origin annotation is then removed again, so the
    manifests are exactly what `kubectl kustomize path` (and Argo CD) produce.
    """
    path = Path(path).resolve()
    if not (path / "kustomization.yaml").is_file():
        raise GitOpsError(f"{_relative(path)}: no kustomization.yaml to render")
    kubectl = kubectl_path()
    with tempfile.TemporaryDirectory(prefix="gitops-render-") as tmp:
        wrapper = Path(tmp).resolve()
        target = os.path.relpath(path, wrapper)
        (wrapper / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {json.dumps(target)}\nbuildMetadata:\n  - originAnnotations\n"
        )
        result = subprocess.run(
            [str(kubectl), "kustomize", str(wrapper)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            stderr = result.stderr.strip().replace(str(wrapper), "<render>")
            raise GitOpsError(f"kustomize could not render {_relative(path)}: {stderr}")
        documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return [_strip_origin(doc, wrapper, path) for doc in documents]


def _strip_origin(manifest: dict[str, Any], wrapper: Path, rendered: Path) -> RenderedObject:
    metadata = manifest.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    origin_text = annotations.pop(_ORIGIN_ANNOTATION, None)
    if not annotations:
        metadata.pop("annotations", None)
    origin = _relative(rendered)
    if origin_text:
        fields = yaml.safe_load(origin_text) or {}
        file = fields.get("path") or fields.get("configuredIn")
        if file:
            origin = _relative(wrapper / file)
    return RenderedObject(manifest=manifest, origin=origin)


def render(path: Path) -> list[dict[str, Any]]:
    """Render the kustomization at `path` (`kubectl kustomize path`) into a list of objects."""
    return [item.manifest for item in render_with_origins(path)]


def _check_environment(env: str) -> None:
    if env not in ENVIRONMENTS:
        raise GitOpsError(f"unknown environment {env!r}: expected one of {', '.join(ENVIRONMENTS)}")


def _sources(application: dict[str, Any]) -> list[dict[str, Any]]:
    spec = application.get("spec") or {}
    sources = list(spec.get("sources") or [])
    if spec.get("source"):
        sources.insert(0, spec["source"])
    return sources


def _local_source_path(source: dict[str, Any]) -> str | None:
    """The repo-relative path of a source in this repository, or None for other repositories."""
    if source.get("repoURL") != GITOPS_REPO_URL or not source.get("path"):
        return None
    relative = str(source["path"]).strip("/")
    resolved = (REPO_ROOT / relative).resolve()
    if not resolved.is_relative_to(REPO_ROOT):
        raise GitOpsError(f"Application source path {relative!r} leaves the repository")
    return relative


def _render_environment(env: str) -> dict[str, list[RenderedObject]]:
    _check_environment(env)
    env_path = GITOPS_DIR / "envs" / env
    rendered = {_relative(env_path): render_with_origins(env_path)}
    for item in list(rendered[_relative(env_path)]):
        if item.manifest.get("kind") != "Application":
            continue
        for source in _sources(item.manifest):
            relative = _local_source_path(source)
            if relative is not None and relative not in rendered:
                rendered[relative] = render_with_origins(REPO_ROOT / relative)
    return rendered


def render_environment(env: str) -> dict[str, list[dict[str, Any]]]:
    """Render `gitops/envs/<env>` and every folder of this repository its Applications follow.

    Keys are repo-relative paths (`gitops/envs/dev`, `gitops/apps/podinfo/overlays/dev`).
    """
    return {
        path: [item.manifest for item in items] for path, items in _render_environment(env).items()
    }


# --- Schemas -----------------------------------------------------------------------------------


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
def crd_schema(kind: str) -> dict[str, Any]:
    """The `openAPIV3Schema` of an Argo CD kind, from `shared/argocd/crds/<kind>.yaml`."""
    path = _require_shared() / "argocd" / "crds" / f"{kind.lower()}.yaml"
    if not path.is_file():
        raise GitOpsError(f"{path}: missing; shared/argocd/crds should hold the Argo CD CRDs")
    crd = yaml.safe_load(path.read_text())
    for version in crd["spec"]["versions"]:
        if f"{crd['spec']['group']}/{version['name']}" == ARGOCD_API_VERSION:
            return dict(version["schema"]["openAPIV3Schema"])
    raise GitOpsError(f"{path}: no {ARGOCD_API_VERSION} version")


@lru_cache(maxsize=4)
def _crd_validator(kind: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft7Validator(crd_schema(kind))


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
                yield _unknown_key(source, name, parts, key, list(properties))
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            yield from _walk_unknown_keys(item, schema["items"], [*parts, index], source, name)


def _is_argocd(manifest: dict[str, Any]) -> bool:
    return manifest.get("apiVersion") == ARGOCD_API_VERSION and manifest.get("kind") in ARGOCD_KINDS


def validate_manifest(obj: dict[str, Any], kubernetes_version: str, source: str) -> list[Problem]:
    """Schema problems of one object, each naming the field at fault.

    Argo CD kinds (`argoproj.io/v1alpha1` Application, AppProject, ApplicationSet) are checked
    against their CRD schema from shared/ plus an unknown-key walk, and their `metadata` against
    Kubernetes' ObjectMeta; everything else against kubernetes-validate's strict schema for
    `kubernetes_version` (`v1.36.2` and `1.36` both mean 1.36). A kind with no schema is a
    problem: the cluster would not know it either.
    """
    name = describe(obj)
    version = schema_version(kubernetes_version)
    if not isinstance(obj.get("kind"), str) or not isinstance(obj.get("apiVersion"), str):
        return [Problem(source, name, "kind", "an object needs apiVersion and kind")]
    if _is_argocd(obj):
        kind = str(obj["kind"])
        problems = _schema_problems(_crd_validator(kind), obj, source, name)
        problems += _walk_unknown_keys(obj, crd_schema(kind), [], source, name)
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


# --- Platform rules ----------------------------------------------------------------------------


def _pod_spec(manifest: dict[str, Any]) -> tuple[list[str | int], dict[str, Any]] | None:
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return ["spec"], spec
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return ["spec", "template", "spec"], (spec.get("template") or {}).get("spec") or {}
    if kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        pod = (job.get("template") or {}).get("spec") or {}
        return ["spec", "jobTemplate", "spec", "template", "spec"], pod
    return None


def image_tag_problem(image: str) -> str | None:
    """Why an image reference is not pinned (no tag, or `latest`); None if it is."""
    if "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag: pin a version"
    if last.split(":", 1)[1] == "latest":
        return f"image {image!r} uses the tag 'latest': pin a version"
    return None


def object_rules(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """Platform rules for one object, as (field, message) pairs.

    Nothing is exposed except through the Cloudflare Tunnel: no LoadBalancer or NodePort
    Service, no hostPort, no hostNetwork. Images carry a pinned tag (not `latest`). Every
    Application syncs automatically with prune and selfHeal, so Git is what runs.
    """
    found: list[tuple[str, str]] = []
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Service" and spec.get("type") in {"LoadBalancer", "NodePort"}:
        message = f"Service type {spec['type']} is not allowed: use ClusterIP and the tunnel"
        found.append(("spec.type", message))
    pod = _pod_spec(manifest)
    if pod is not None:
        prefix, pod_spec = pod
        if pod_spec.get("hostNetwork"):
            found.append((json_path([*prefix, "hostNetwork"]), "hostNetwork is not allowed"))
        for group in ("initContainers", "containers", "ephemeralContainers"):
            for index, container in enumerate(pod_spec.get(group) or []):
                at = [*prefix, group, index]
                problem = image_tag_problem(str(container.get("image", "")))
                if problem:
                    found.append((json_path([*at, "image"]), problem))
                for port_index, port in enumerate(container.get("ports") or []):
                    if port.get("hostPort"):
                        field = json_path([*at, "ports", port_index, "hostPort"])
                        found.append((field, "hostPort is not allowed"))
    if kind == "Application" and manifest.get("apiVersion") == ARGOCD_API_VERSION:
        automated = (spec.get("syncPolicy") or {}).get("automated") or {}
        for key in ("prune", "selfHeal"):
            if automated.get(key) is not True:
                found.append(
                    (f"spec.syncPolicy.automated.{key}", f"automated sync needs {key}: true")
                )
        if automated.get("enabled") is False:
            found.append(("spec.syncPolicy.automated.enabled", "automated sync is switched off"))
    return found


def _rule_problems(item: RenderedObject) -> list[Problem]:
    name = describe(item.manifest)
    return [
        Problem(item.origin, name, field, message) for field, message in object_rules(item.manifest)
    ]


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _permits(rules: list[dict[str, Any]], group: str, kind: str) -> bool:
    return any(
        rule.get("group") in {group, "*"} and rule.get("kind") in {kind, "*"} for rule in rules
    )


def environment_rules(env: str, rendered: dict[str, list[RenderedObject]]) -> list[Problem]:
    """Rules that tie an environment's objects together.

    Each Application is in project `<env>`, targets the in-cluster server, and follows
    `gitops/apps/<app>/overlays/<env>` of this repository. The AppProject `<env>` exists, takes
    sources only from this repository, and admits each object its Applications deploy (kind
    whitelisted, namespace among its destinations), as Argo CD would check at sync time.
    """
    env_key = _relative(GITOPS_DIR / "envs" / env)
    env_objects = rendered.get(env_key, [])
    problems: list[Problem] = []
    projects = {
        item.manifest["metadata"]["name"]: item
        for item in env_objects
        if item.manifest.get("kind") == "AppProject"
    }
    project = projects.get(env)
    if project is None:
        problems.append(Problem(env_key, f"AppProject argocd/{env}", "metadata.name", "missing"))
    else:
        repos = (project.manifest.get("spec") or {}).get("sourceRepos") or []
        if repos != [GITOPS_REPO_URL]:
            problems.append(
                Problem(
                    project.origin,
                    describe(project.manifest),
                    "spec.sourceRepos",
                    f"must be exactly [{GITOPS_REPO_URL!r}], found {repos!r}",
                )
            )
    for item in env_objects:
        app = item.manifest
        if app.get("kind") != "Application":
            continue
        problems += _application_problems(env, item, project, rendered)
    return problems


def _application_problems(
    env: str,
    item: RenderedObject,
    project: RenderedObject | None,
    rendered: dict[str, list[RenderedObject]],
) -> list[Problem]:
    app = item.manifest
    name = describe(app)
    spec = app.get("spec") or {}
    destination = spec.get("destination") or {}
    problems = []
    revision = environment_revision(env)

    def add(field: str, message: str) -> None:
        problems.append(Problem(item.origin, name, field, message))

    if spec.get("project") != env:
        add("spec.project", f"must be {env!r}, found {spec.get('project')!r}")
    if destination.get("server") != IN_CLUSTER_SERVER:
        add("spec.destination.server", f"must be {IN_CLUSTER_SERVER!r}")
    sources = _sources(app)
    for index, source in enumerate(sources):
        field = "spec.source" if spec.get("source") and index == 0 else f"spec.sources[{index}]"
        if source.get("repoURL") != GITOPS_REPO_URL:
            add(f"{field}.repoURL", f"must be {GITOPS_REPO_URL!r}")
        if source.get("targetRevision") != revision:
            add(
                f"{field}.targetRevision",
                f"must be {revision!r} (gitops/envs/{env}/revision.yaml), "
                f"found {source.get('targetRevision')!r}",
            )
        path = str(source.get("path", "")).strip("/")
        if not re.fullmatch(rf"gitops/apps/[a-z0-9-]+/overlays/{re.escape(env)}", path):
            add(f"{field}.path", f"must be gitops/apps/<app>/overlays/{env}, found {path!r}")
    if project is None:
        return problems
    project_spec = project.manifest.get("spec") or {}
    destinations = {
        (entry.get("server"), entry.get("namespace"))
        for entry in project_spec.get("destinations") or []
    }
    for source in sources:
        relative = _local_source_path(source)
        for obj in rendered.get(relative or "", []):
            problems += _admission_problems(obj, destination, project_spec, destinations)
    return problems


def _admission_problems(
    item: RenderedObject,
    destination: dict[str, Any],
    project_spec: dict[str, Any],
    destinations: set[tuple[Any, Any]],
) -> list[Problem]:
    manifest = item.manifest
    name = describe(manifest)
    kind = str(manifest.get("kind", ""))
    group = _group(str(manifest.get("apiVersion", "")))
    if kind in CLUSTER_SCOPED_KINDS:
        if not _permits(project_spec.get("clusterResourceWhitelist") or [], group, kind):
            return [Problem(item.origin, name, "kind", "cluster-scoped kind not whitelisted")]
        return []
    problems = []
    if not _permits(project_spec.get("namespaceResourceWhitelist") or [], group, kind):
        message = "kind not in the project's namespaceResourceWhitelist"
        problems.append(Problem(item.origin, name, "kind", message))
    namespace = (manifest.get("metadata") or {}).get("namespace") or destination.get("namespace")
    server = destination.get("server")
    if (server, namespace) not in destinations and (server, "*") not in destinations:
        problems.append(
            Problem(item.origin, name, "metadata.namespace", "not a destination of the project")
        )
    return problems


def validate_path(path: Path, kubernetes_version: str) -> list[Problem]:
    """Render one kustomization and check each object's schema and `object_rules`."""
    problems = []
    for item in render_with_origins(path):
        problems += validate_manifest(item.manifest, kubernetes_version, item.origin)
        problems += _rule_problems(item)
    return problems


def validate_environment(
    env: str, kubernetes_version: str, stack: StackRevision | None = None
) -> list[Problem]:
    """Render an environment and return every schema, platform-rule and revision problem.

    `stack` is the ref the environment's root Application follows; by default the
    `gitops.revision` of `Pulumi.<env>.yaml` (`stack_revision(env)`).
    """
    rendered = _render_environment(env)
    problems = []
    for items in rendered.values():
        for item in items:
            problems += validate_manifest(item.manifest, kubernetes_version, item.origin)
            problems += _rule_problems(item)
    problems += environment_rules(env, rendered)
    if stack is None:
        stack = stack_revision(env)
    if isinstance(stack, Problem):
        return [*problems, stack]
    return problems + revision_problems(env, rendered, stack)


# --- Revisions: the stack and the tree follow the same Git ref -----------------------------------


@dataclass(frozen=True)
class StackRevision:
    """The Git ref a stack's root Application follows (its `gitops.revision`) and where it is set
    (`Pulumi.prod.yaml`)."""

    value: str
    file: str


def stack_revision(env: str) -> StackRevision | Problem:
    """`gitops.revision` of `Pulumi.<env>.yaml` in `STACKS_DIR`, or the Problem that stops reading
    it (no such file, no such key), read the way the offline plan reads a stack."""
    path = STACKS_DIR / f"Pulumi.{env}.yaml"
    name = _relative(path)
    object_name = f"stack {env}"
    try:
        values = read_stack_config(env, path, STACKS_DIR / "Pulumi.yaml").values
    except StackFileError as exc:
        message = str(exc).replace(str(path), "").lstrip(": ")
        return Problem(name, object_name, STACK_REVISION_KEY, message)
    try:
        revision = json.loads(values.get(f"{NAMESPACE}:gitops", "{}")).get("revision")
    except (ValueError, AttributeError):
        revision = None
    if not isinstance(revision, str) or not revision:
        message = "not set: the root Application needs the Git ref to follow"
        return Problem(name, object_name, STACK_REVISION_KEY, message)
    return StackRevision(revision, name)


def revision_problems(
    env: str, rendered: dict[str, list[RenderedObject]], stack: StackRevision
) -> list[Problem]:
    """Each Application of `gitops/envs/<env>` whose source in this repository follows another
    ref than the stack's root Application (`stack.value`): the root would sync one ref and the
    Applications it creates another, so a merge to main could reach an environment whose root
    does not follow main, or the other way round."""
    env_key = _relative(GITOPS_DIR / "envs" / env)
    source_file = _relative(revision_file(env, GITOPS_DIR))
    problems = []
    for item in rendered.get(env_key, []):
        if item.manifest.get("kind") != "Application":
            continue
        spec = item.manifest.get("spec") or {}
        for index, source in enumerate(_sources(item.manifest)):
            if source.get("repoURL") != GITOPS_REPO_URL:
                continue
            found = source.get("targetRevision")
            if found == stack.value:
                continue
            field = "spec.source" if spec.get("source") and index == 0 else f"spec.sources[{index}]"
            problems.append(
                Problem(
                    source_file,
                    describe(item.manifest),
                    f"{field}.targetRevision",
                    f"follows {found!r}, but {STACK_REVISION_KEY} in {stack.file} (the root "
                    f"Application's targetRevision) is {stack.value!r}: the root and the "
                    "Applications it creates must follow the same Git ref; change one of them",
                )
            )
    return problems


# --- Versions (the promotion point) ------------------------------------------------------------

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def app_version_file(env: str, app: str) -> Path:
    """Where the version of `app` in `env` lives: the overlay's kustomization.yaml."""
    _check_environment(env)
    return GITOPS_DIR / "apps" / app / "overlays" / env / "kustomization.yaml"


def _image_entry(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    images = data.get("images") or []
    if len(images) != 1 or "newTag" not in images[0]:
        raise GitOpsError(
            f"{_relative(path)}: needs exactly one `images:` entry with a `newTag` "
            "(the app's version in this environment)"
        )
    return dict(images[0])


def app_versions(env: str) -> dict[str, str]:
    """App name -> image tag in `env`: the `newTag` of `gitops/apps/<app>/overlays/<env>`."""
    _check_environment(env)
    found = sorted(GITOPS_DIR.glob(f"apps/*/overlays/{env}/kustomization.yaml"))
    return {path.parents[2].name: str(_image_entry(path)["newTag"]) for path in found}


def set_app_version(env: str, app: str, tag: str) -> None:
    """Write `tag` as the `newTag` of `app` in `env`, keeping the file's comments and layout."""
    if not _TAG.fullmatch(tag) or tag == "latest":
        raise GitOpsError(f"{tag!r} is not a pinned image tag")
    path = app_version_file(env, app)
    if not path.is_file():
        raise GitOpsError(f"{_relative(path)}: no such overlay")
    _image_entry(path)
    text = path.read_text()
    pattern = re.compile(r"^(\s*newTag:\s*)(\S+)(.*)$", re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        raise GitOpsError(f"{_relative(path)}: expected one `newTag:` line")
    path.write_text(pattern.sub(lambda m: f"{m.group(1)}{tag}{m.group(3)}", text))


# --- Command line ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Check environments; print one line per problem; exit 1 if any."""
    parser = argparse.ArgumentParser(
        prog="python -m offline.validators.gitops", description=__doc__
    )
    parser.add_argument("--kubernetes-version", required=True, help="for example v1.36.2")
    parser.add_argument("environments", nargs="*", default=list(ENVIRONMENTS))
    args = parser.parse_args(argv)
    count = 0
    try:
        for env in args.environments:
            problems = validate_environment(env, args.kubernetes_version)
            for problem in problems:
                print(problem)
            count += len(problems)
            print(f"{env}: {len(problems)} problem(s)", file=sys.stderr)
    except GitOpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if count else 0


if __name__ == "__main__":
    raise SystemExit(main())
