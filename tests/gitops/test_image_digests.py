"""Every image the stacks run is pinned by digest (issue 15, item 5), or listed with its reason in
gitops/unpinned-images.yaml.

The images are those of every pod template the offline plan places for dev, staging and prod
(`shipped_objects`: the program's objects, the argo-cd and cilium releases, the GitOps tree with
its add-on charts, the pods the Prometheus Operator and Velero make): containers, init containers
and ephemeral containers. Not the models of what Talos runs itself (`talos.SOURCE`: its static
pods and CoreDNS, named without an image; Talos picks those images per Kubernetes version),
nor the Prometheus Operator's `--thanos-default-base-image` (no Thanos runs).

A pinned image is `repository:tag@sha256:<64 hex>`: the tag stays for the reader and Renovate,
the digest is what the node pulls. The digest is the image's index (the multi-arch manifest list,
what `docker buildx imagetools inspect` prints first and Renovate pins), accepted only from the
image's own project or from two independent repositories that agree (the provenance table:
docs/supply-chain.md, "Image digests"). Where each is set:

- the program: `components/argocd/values.py` and `components/cloudflare/cloudflared.py`
  `IMAGE_DIGESTS` (keyed by `repository:tag`); cilium's chart pins its own (`useDigest`);
- the add-ons: each Application's `valuesObject` (gitops/platform/addons/*/application.yaml),
  `tag: <tag>@sha256:...` under a `# renovate: image=<repository>` line;
- the tree's manifests: the full reference (`image: repository:tag@sha256:...`).

A pinned tag in an add-on's values must stay the tag the vendored chart would run: re-vendoring
a chart without moving its pins fails `test_pinned_add_on_tags_are_the_charts_defaults`.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.argocd import values as argocd
from components.cloudflare import cloudflared
from config.errors import credential_kind
from offline.paths import REPO_ROOT, UPSTREAM_DIR
from offline.validators.cluster_objects import as_list, as_map, pod_template, title
from offline.validators.disruption.objects import Placed
from offline.validators.scheduling import talos
from tests.conftest import STACKS
from tests.offline.test_storage_binding import shipped_objects

UNPINNED_FILE = REPO_ROOT / "gitops" / "unpinned-images.yaml"
ADDONS = REPO_ROOT / "gitops" / "platform" / "addons"
CHARTS = UPSTREAM_DIR / "charts"
CONTAINER_KEYS = ("initContainers", "containers", "ephemeralContainers")
#: `repository:tag@sha256:<hex>`: a tag (no `/` after the last `:` of the name), then the digest.
PINNED = re.compile(r"[^\s@]+:[^\s@:/]+@sha256:[0-9a-f]{64}")
DIGEST = "@sha256:"

Images = dict[str, set[str]]


def images_of(objects: list[Placed] | tuple[Placed, ...]) -> Images:
    """image -> the pods (`Kind namespace/name container`) that run it, Talos' own left out."""
    found: Images = {}
    for placed in objects:
        template = pod_template(placed.manifest)
        if template is None or placed.where == talos.SOURCE:
            continue
        spec = template[1]
        for key in CONTAINER_KEYS:
            for container in as_list(spec.get(key)):
                container = as_map(container)
                image = str(container.get("image") or "<no image>")
                found.setdefault(image, set()).add(f"{title(placed)} {container.get('name')}")
    return found


def unpinned(found: Images) -> Images:
    return {image: pods for image, pods in found.items() if not PINNED.fullmatch(image)}


def listed() -> dict[str, str]:
    """gitops/unpinned-images.yaml: image -> why it runs by tag."""
    data = yaml.safe_load(UNPINNED_FILE.read_text(encoding="utf-8")) or {}
    return {str(image): str(reason) for image, reason in (data.get("unpinned") or {}).items()}


@cache
def every_stack() -> Images:
    """The images of dev, staging and prod together; each pod named with its stack."""
    found: Images = {}
    for stack in STACKS:
        for image, pods in images_of(shipped_objects(stack)).items():
            found.setdefault(image, set()).update(f"{stack}: {pod}" for pod in pods)
    return found


def test_every_image_is_pinned_or_listed_with_a_reason() -> None:
    allowed = listed()
    missing = {
        image: sorted(pods)[:3]
        for image, pods in unpinned(every_stack()).items()
        if image not in allowed
    }
    assert not missing, (
        "images without `@sha256:<digest>` (pin them where their version is set, or list them "
        f"with a reason in {UNPINNED_FILE.relative_to(REPO_ROOT)}): {missing}"
    )


def test_no_entry_is_stale() -> None:
    """An entry names an image a stack runs by tag alone: none pinned since, none gone."""
    run = every_stack()
    stale = {
        image: "pinned: drop the digest or the entry" if DIGEST in image else "no stack runs it"
        for image in listed()
        if DIGEST in image or image not in run
    }
    assert stale == {}


def test_every_entry_has_a_reason() -> None:
    entries = listed()
    assert entries, "the list is empty: delete the file and its test's allowance instead"
    assert [image for image, reason in entries.items() if len(reason.split()) < 5] == []


def test_every_program_digest_is_for_an_image_a_stack_runs() -> None:
    """The program's tables hold no digest of a version no stack runs any more."""
    run = every_stack()
    tables = {**argocd.IMAGE_DIGESTS, **cloudflared.IMAGE_DIGESTS}
    assert [ref for ref in (f"{i}@{d}" for i, d in tables.items()) if ref not in run] == []


def _pod(*images: str) -> Placed:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    spec = {"initContainers": containers[:1], "containers": containers[1:2]}
    spec["ephemeralContainers"] = containers[2:]
    template = {"metadata": {"labels": {}}, "spec": spec}
    manifest = {"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": template}}
    return Placed(manifest, "ns", "test")


def test_the_check_refuses_a_tag_a_short_digest_and_a_digest_without_tag() -> None:
    good = "quay.io/org/app:v1.2.3@sha256:" + "0123456789abcdef" * 4
    short = "quay.io/org/app:v1@sha256:abc"
    untagged = "quay.io/org/app@sha256:" + "0123456789abcdef" * 4
    found = images_of([_pod("nginx:1.27", good, short), _pod(untagged, good)])
    assert sorted(unpinned(found)) == sorted(["nginx:1.27", short, untagged])
    assert unpinned(found)["nginx:1.27"] == {"Deployment ns/x c0"}
    assert PINNED.fullmatch("localhost:5000/org/app:v1@sha256:" + "ab" * 32)


def test_talos_models_are_left_out() -> None:
    placed = _pod("kube-apiserver")
    assert images_of([Placed(placed.manifest, "kube-system", talos.SOURCE)]) == {}


def test_a_digest_is_not_taken_for_a_credential() -> None:
    """The tree's secret check (tests/gitops/test_no_secrets.py) reads `sha256:<hex>` as a name;
    the same hex alone still looks like a key."""
    hex_digest = "e52bb28fd41c98dd407c7a8cba8bdcfe7eabd7447e250afaf1fe7bb816dedbff"
    assert credential_kind(f"tag: v0.93.1@sha256:{hex_digest}") is None
    assert credential_kind(f"sha: {hex_digest}") is not None


# --- A pinned add-on tag is the tag its vendored chart runs ---------------------------------


#: (Application folder, values path of the pinned tag) -> (vendored chart, the chart's values path
#: of its default tag, prefix to the chart's appVersion when that default is empty, suffix the
#: chart appends). Every pinned tag of the add-ons' values must be here.
CHART_TAGS: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("kube-prometheus-stack", "prometheusOperator.image.tag"): (
        "kube-prometheus-stack",
        "prometheusOperator.image.tag",
        "",
        "",
    ),
    ("kube-prometheus-stack", "prometheusOperator.prometheusConfigReloader.image.tag"): (
        "kube-prometheus-stack",
        "prometheusOperator.prometheusConfigReloader.image.tag",
        "",
        "",
    ),
    ("kube-prometheus-stack", "prometheus.prometheusSpec.image.tag"): (
        "kube-prometheus-stack",
        "prometheus.prometheusSpec.image.tag",
        "",
        "",
    ),
    ("kube-prometheus-stack", "alertmanager.alertmanagerSpec.image.tag"): (
        "kube-prometheus-stack",
        "alertmanager.alertmanagerSpec.image.tag",
        "",
        "",
    ),
    ("kube-prometheus-stack", "grafana.image.tag"): (
        "kube-prometheus-stack/charts/grafana",
        "image.tag",
        "",
        "",
    ),
    ("kube-prometheus-stack", "grafana.sidecar.image.tag"): (
        "kube-prometheus-stack/charts/grafana",
        "sidecar.image.tag",
        "",
        "",
    ),
    ("kube-prometheus-stack", "kube-state-metrics.image.tag"): (
        "kube-prometheus-stack/charts/kube-state-metrics",
        "image.tag",
        "v",
        "",
    ),
    # kube-prometheus-stack's values.yaml turns the subchart's `image.distroless` on.
    ("kube-prometheus-stack", "prometheus-node-exporter.image.tag"): (
        "kube-prometheus-stack/charts/prometheus-node-exporter",
        "image.tag",
        "v",
        "-distroless",
    ),
    ("metrics-server", "image.tag"): ("metrics-server", "image.tag", "v", ""),
    ("kubelet-csr-approver", "image.tag"): ("kubelet-csr-approver", "image.tag", "", ""),
    ("velero", "image.tag"): ("velero", "image.tag", "", ""),
    **{
        ("proxmox-csi-plugin", path): ("proxmox-csi-plugin", path, "", "")
        for path in (
            "controller.attacher.image.tag",
            "controller.provisioner.image.tag",
            "controller.resizer.image.tag",
            "node.driverRegistrar.image.tag",
            "livenessprobe.image.tag",
        )
    },
}


def _at(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = as_map(data).get(key)
    return data


@cache
def _yaml(path: Path) -> Any:
    """A YAML file, parsed once (the charts' values files are large): do not change it."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _pinned_tags(values: Any, path: str = "") -> dict[str, str]:
    """values path -> tag, for every `tag` that carries a digest."""
    found = {}
    for key, value in as_map(values).items():
        here = f"{path}.{key}" if path else str(key)
        if key == "tag" and isinstance(value, str) and DIGEST in value:
            found[here] = value
        found.update(_pinned_tags(value, here))
    return found


def _chart_default(chart: str, key: str, prefix: str, suffix: str, charts: Path = CHARTS) -> str:
    default = _at(_yaml(charts / chart / "values.yaml"), key)
    if not default:
        default = f"{prefix}{_yaml(charts / chart / 'Chart.yaml')['appVersion']}"
    return f"{default}{suffix}"


def _add_on_pins() -> dict[tuple[str, str], str]:
    pins = {}
    for application in sorted(ADDONS.glob("*/application.yaml")):
        values = _at(_yaml(application), "spec.source.helm.valuesObject")
        for path, tag in _pinned_tags(values).items():
            pins[(application.parent.name, path)] = tag
    return pins


def test_pinned_add_on_tags_are_the_charts_defaults() -> None:
    pins = _add_on_pins()
    assert sorted(pins) == sorted(CHART_TAGS), "a pinned tag this test does not know, or one gone"
    wrong = {
        f"{app}: {path}": (tag.split("@")[0], _chart_default(*CHART_TAGS[(app, path)]))
        for (app, path), tag in pins.items()
        if tag.split("@")[0] != _chart_default(*CHART_TAGS[(app, path)])
    }
    assert wrong == {}, "pinned tag != the vendored chart's (move the pin with the chart)"


def test_argocd_pins_are_the_charts_defaults() -> None:
    chart = _yaml(CHARTS / "argo-cd" / "values.yaml")
    pinned = (argocd.ARGOCD_VERSION, argocd.REDIS_REPOSITORY, argocd.REDIS_TAG)
    assert pinned == (
        _yaml(CHARTS / "argo-cd" / "Chart.yaml")["appVersion"],
        chart["redis"]["image"]["repository"],
        chart["redis"]["image"]["tag"],
    )
    redis_ha = chart["redis-ha"]["image"]
    assert (redis_ha["repository"], redis_ha["tag"]) == (argocd.REDIS_REPOSITORY, argocd.REDIS_TAG)


@pytest.mark.parametrize(
    ("application", "chart_tag"),
    [(("metrics-server", "image.tag"), "v0.8.0"), (("velero", "image.tag"), "v1.18.0")],
)
def test_a_chart_moved_without_its_pin_is_caught(
    application: tuple[str, str], chart_tag: str, tmp_path: Path
) -> None:
    """The comparison itself: against a copy of the chart whose default tag moved on, the pin
    no longer matches."""
    chart, key, prefix, suffix = CHART_TAGS[application]
    (tmp_path / chart).mkdir(parents=True)
    values = copy.deepcopy(_yaml(CHARTS / chart / "values.yaml"))
    as_map(_at(values, key.rsplit(".", 1)[0]))["tag"] = chart_tag
    (tmp_path / chart / "values.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")
    pinned = _add_on_pins()[application].split("@")[0]
    assert pinned == _chart_default(chart, key, prefix, suffix)
    assert _chart_default(chart, key, prefix, suffix, tmp_path) == chart_tag != pinned
