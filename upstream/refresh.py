#!/usr/bin/env python3
"""Refresh the vendored upstream data in `upstream/` from the pinned upstream tags.

Every item below is pinned to a tag AND the commit that tag must resolve to, or (`ArchiveSource`,
a packaged chart archive in a repository without tags, such as cilium/charts) to a commit, the
archive's path in it and the archive's SHA-256. The script fetches each tag or commit with `git`
(shallow, over the network, from GitHub), refuses to go on if a tag does not resolve to the pinned
commit or an archive's SHA-256 differs, builds the new `charts/`, `talos/` and `argocd/` folders
in a temporary directory (a chart whose release job stamps its version into Chart.yaml, as
kubelet-csr-approver's does, gets the published version: `ChartStamp`), prints what changes
(files added, removed and changed, with line counts) and then replaces those folders.
`provider-rules/` and the README are maintained by hand and are never touched.

    python upstream/refresh.py                   # fetch, verify, rewrite, print the diff summary
    python upstream/refresh.py --check           # the same without writing; exit 1 if different
    python upstream/refresh.py --git-dir argoproj/argo-helm=/path/to/clone ...
                                                 # use an existing clone instead of fetching

To move to a new upstream version: change the tag and commit of its `Source` below (the commit from
`git ls-remote https://github.com/<repo> refs/tags/<tag>^{}`, or `<tag>` for a lightweight tag),
update the provenance table in upstream/README.md to the same values (tests/test_upstream.py
compares the two), run this script, and review the diff it prints.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

UPSTREAM_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Source:
    """One upstream repository at a pinned tag."""

    repo: str  # owner/name on GitHub
    tag: str
    commit: str  # what `tag` must resolve to (`<tag>^{commit}`)
    licence: str  # SPDX id of the repository's root LICENSE

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}.git"


ARGO_HELM = Source(
    repo="argoproj/argo-helm",
    tag="argo-cd-10.1.1",
    commit="af0a9310bacbaa4636018dfe22c801a6d33a5c43",
    licence="Apache-2.0",
)
REDIS_HA = Source(
    repo="DandyDeveloper/charts",
    tag="redis-ha-4.38.0",
    commit="2e2539a8960ead2c268f48bdde3b2cdf2b2f1ac8",
    licence="Apache-2.0",
)
TALOS = Source(
    repo="siderolabs/talos",
    tag="v1.13.9",
    commit="3ebd10a7c1bd0f81742bdcd0c3fe56d727db7401",
    licence="MPL-2.0",
)
METRICS_SERVER = Source(
    repo="kubernetes-sigs/metrics-server",
    tag="metrics-server-helm-chart-3.13.1",
    commit="842dcc8c42f22cc19f10c7d5f2d32a9f4b6013b0",
    licence="Apache-2.0",
)
PROXMOX_CSI = Source(
    repo="sergelogvinov/proxmox-csi-plugin",
    tag="v0.19.1",
    commit="a7c58ec6a73eac35f003484e7f2ef603b69270c4",
    licence="Apache-2.0",
)
KUBELET_CSR_APPROVER = Source(
    repo="postfinance/kubelet-csr-approver",
    tag="v1.2.14",
    commit="14dd0aca331ff078ae3cb0a62ecbfe83b8e3a531",
    licence="MIT",
)
#: kube-prometheus-stack and the dependencies its Chart.yaml names, each at its own chart tag of
#: prometheus-community/helm-charts (lightweight tags), except grafana, which the chart takes from
#: https://grafana-community.github.io/helm-charts (grafana-community/helm-charts). The chart's
#: Git tree has no Chart.lock: `prometheus-windows-exporter` is asked for as `0.12.*`, which
#: resolved to 0.12.8, the newest 0.12 release when kube-prometheus-stack-88.5.3 was tagged.
KUBE_PROMETHEUS_STACK = Source(
    repo="prometheus-community/helm-charts",
    tag="kube-prometheus-stack-88.5.3",
    commit="ea930baeebeba39f56d6b44e351f23b2a072a600",
    licence="Apache-2.0",
)
KUBE_STATE_METRICS = Source(
    repo="prometheus-community/helm-charts",
    tag="kube-state-metrics-8.4.0",
    commit="1982f1c5828920f5d4ea5d04956169e81f8c5129",
    licence="Apache-2.0",
)
NODE_EXPORTER = Source(
    repo="prometheus-community/helm-charts",
    tag="prometheus-node-exporter-4.56.1",
    commit="8b8e639cac80a3001412f187060068978f649a55",
    licence="Apache-2.0",
)
WINDOWS_EXPORTER = Source(
    repo="prometheus-community/helm-charts",
    tag="prometheus-windows-exporter-0.12.8",
    commit="43a82e944bf3ca3aab1703613ca5cf09851b23ec",
    licence="Apache-2.0",
)
GRAFANA = Source(
    repo="grafana-community/helm-charts",
    tag="grafana-12.11.1",
    commit="864f7794683680e5100a38670e103c4fa6e37e29",
    licence="Apache-2.0",
)
VELERO = Source(
    repo="vmware-tanzu/helm-charts",
    tag="velero-12.1.0",
    commit="73466ca986bbfe34dbd5c30bbf7d62d545d634a2",
    licence="Apache-2.0",
)


@dataclass(frozen=True)
class ArchiveSource:
    """A packaged Helm chart archive (`helm package` output) committed to a repository without
    tags, pinned by the repository commit, the archive's path in it and the archive's SHA-256.

    The archive is unpacked (its single top folder, the chart's name, dropped) instead of copying
    a folder from Git; it carries its own LICENSE. `built_from` is the commit of `built_from_repo`
    the archive was packaged from, as the pinned commit's subject says (`... v<version>@<commit>`).
    """

    repo: str
    commit: str
    archive: str  # path of the .tgz in the repository
    sha256: str  # of the archive's bytes
    licence: str  # SPDX id of the LICENSE inside the archive
    built_from_repo: str
    built_from: str

    tag = "none"  # the provenance table's tag cell: these repositories are pinned by commit only

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}.git"


CILIUM_CHARTS = ArchiveSource(
    repo="cilium/charts",
    commit="d5f3d1cc0ed8e94d6920996024fefe5a3857dc15",
    archive="cilium-1.20.0.tgz",
    sha256="c5f013912360d1a334f44ef25f36da59ba3414cdb48f466ee12d0c4fdff27883",
    licence="Apache-2.0",
    built_from_repo="cilium/cilium",
    built_from="450c53145dc0a872ae20dfb05598c94ef55a71e2",
)
SOURCES: tuple[Source | ArchiveSource, ...] = (
    ARGO_HELM,
    REDIS_HA,
    TALOS,
    METRICS_SERVER,
    PROXMOX_CSI,
    KUBELET_CSR_APPROVER,
    CILIUM_CHARTS,
    KUBE_PROMETHEUS_STACK,
    KUBE_STATE_METRICS,
    NODE_EXPORTER,
    WINDOWS_EXPORTER,
    GRAFANA,
    VELERO,
)


def strip_helm_template_lines(text: bytes) -> bytes:
    """A chart's CRD template as plain YAML: drop every line that is a Helm action (`{{ ... }}`).

    The argo-cd chart wraps each CRD in `{{- if .Values.crds.install }}` and adds optional
    annotations and labels with `{{- with ... }}` blocks; without those lines the CRD is what the
    chart renders with its default values (`crds.keep: true`, no extra annotations or labels).
    """
    lines = text.decode("utf-8").splitlines(keepends=True)
    out = "".join(line for line in lines if not line.lstrip().startswith("{{"))
    if "{{" in out:
        raise RefreshError("a Helm action is left inside a line of a CRD template")
    return out.encode("utf-8")


@dataclass(frozen=True)
class ChartStamp:
    """The versions a chart's release job writes into its Chart.yaml when it publishes it, where
    the chart in Git holds placeholders. The vendored copy gets them too, so that it says the
    version the Applications pin (and the image tag its templates default to the app version)."""

    placeholder: str  # `version:` in Git
    version: str  # what the published chart says
    app_placeholder: str  # `appVersion:` in Git
    app_version: str


#: postfinance/kubelet-csr-approver keeps `version: 0.0.1-dummy` and `appVersion: v0.0.1-dummy`
#: in Git; its release job (`.github/workflows/publish.yaml` at v1.2.14, job
#: `publish-helm-charts`) publishes the chart with `chart_version` = the tag without its `v` and
#: `app_version` = the tag.
KUBELET_CSR_APPROVER_STAMP = ChartStamp("0.0.1-dummy", "1.2.14", "v0.0.1-dummy", "v1.2.14")


def stamp_chart(text: bytes, stamp: ChartStamp) -> bytes:
    """Chart.yaml with its placeholder `version:` and `appVersion:` lines replaced; RefreshError
    unless each placeholder is there exactly once (upstream changed how it versions the chart)."""
    out = text.decode("utf-8")
    for key, placeholder, value in (
        ("version", stamp.placeholder, stamp.version),
        ("appVersion", stamp.app_placeholder, stamp.app_version),
    ):
        pattern = re.compile(rf"^{key}:[ \t]*[\"']?{re.escape(placeholder)}[\"']?[ \t]*$", re.M)
        found = pattern.findall(out)
        if len(found) != 1:
            raise RefreshError(
                f"Chart.yaml: expected one `{key}: {placeholder}` line to stamp, found "
                f"{len(found)}: check how upstream's release job versions the chart"
            )
        out = pattern.sub(f"{key}: {value}", out)
    return out.encode("utf-8")


@dataclass(frozen=True)
class Item:
    """A file or (path ending in `/`) a folder of `upstream/`, and where it comes from."""

    path: str  # relative to upstream/
    source: Source | ArchiveSource
    upstream_path: str  # in the source repository (for an ArchiveSource: its archive)
    transform: Callable[[bytes], bytes] | None = None
    stamp: ChartStamp | None = None  # a chart folder whose Chart.yaml the release job stamps
    skip: tuple[str, ...] = ()  # folders of a folder item not copied (relative, ending in `/`)


TALOS_STABILITY = "pkg/machinery/config/types/v1alpha1/testdata/stability/v1.13"
#: What Talos applies to the cluster, as its tests expect it rendered: the CRD of its
#: `talos.dev` ServiceAccount among them.
TALOS_K8S_TEMPLATES = "internal/app/machined/pkg/controllers/k8s/internal/k8stemplates/testdata"
ARGO_CD_CRDS = "charts/argo-cd/templates/crds"
#: Where Helm looks for kube-prometheus-stack's dependencies (its own `crds` subchart is in Git).
KPS_DEPENDENCIES = "charts/kube-prometheus-stack/charts"

#: In order: a folder nested in an earlier one (the redis-ha subchart, kube-prometheus-stack's
#: dependencies) is written after it.
ITEMS = (
    Item("charts/argo-cd/", ARGO_HELM, "charts/argo-cd/"),
    Item("charts/argo-cd/charts/redis-ha/", REDIS_HA, "charts/redis-ha/"),
    Item("charts/metrics-server/", METRICS_SERVER, "charts/metrics-server/"),
    Item("charts/proxmox-csi-plugin/", PROXMOX_CSI, "charts/proxmox-csi-plugin/"),
    Item(
        "charts/kubelet-csr-approver/",
        KUBELET_CSR_APPROVER,
        "charts/kubelet-csr-approver/",
        stamp=KUBELET_CSR_APPROVER_STAMP,
    ),
    Item("charts/cilium/", CILIUM_CHARTS, CILIUM_CHARTS.archive),
    # Not `hack/`: the maintainers' Python scripts that regenerate the chart's rules and
    # dashboards from kube-prometheus, no part of the chart (its .helmignore leaves them out of
    # the package), and this repository's linters would check them as its own code.
    Item(
        "charts/kube-prometheus-stack/",
        KUBE_PROMETHEUS_STACK,
        "charts/kube-prometheus-stack/",
        skip=("hack/",),
    ),
    Item(
        f"{KPS_DEPENDENCIES}/kube-state-metrics/", KUBE_STATE_METRICS, "charts/kube-state-metrics/"
    ),
    Item(
        f"{KPS_DEPENDENCIES}/prometheus-node-exporter/",
        NODE_EXPORTER,
        "charts/prometheus-node-exporter/",
    ),
    Item(
        f"{KPS_DEPENDENCIES}/prometheus-windows-exporter/",
        WINDOWS_EXPORTER,
        "charts/prometheus-windows-exporter/",
    ),
    Item(f"{KPS_DEPENDENCIES}/grafana/", GRAFANA, "charts/grafana/"),
    Item("charts/velero/", VELERO, "charts/velero/"),
    Item(
        "talos/v1.13/config.schema.json",
        TALOS,
        "pkg/machinery/config/schemas/config.schema.json",
    ),
    Item("talos/v1.13/base-controlplane.yaml", TALOS, f"{TALOS_STABILITY}/base-controlplane.yaml"),
    Item("talos/v1.13/base-worker.yaml", TALOS, f"{TALOS_STABILITY}/base-worker.yaml"),
    Item(
        "talos/v1.13/crds/serviceaccount.yaml",
        TALOS,
        f"{TALOS_K8S_TEMPLATES}/talos-service-account-crd.yaml",
    ),
    Item(
        "argocd/crds/application.yaml",
        ARGO_HELM,
        f"{ARGO_CD_CRDS}/crd-application.yaml",
        strip_helm_template_lines,
    ),
    Item(
        "argocd/crds/applicationset.yaml",
        ARGO_HELM,
        f"{ARGO_CD_CRDS}/crd-applicationset.yaml",
        strip_helm_template_lines,
    ),
    Item(
        "argocd/crds/appproject.yaml",
        ARGO_HELM,
        f"{ARGO_CD_CRDS}/crd-appproject.yaml",
        strip_helm_template_lines,
    ),
)

#: Each source repository's root LICENSE, copied beside what is vendored from it (for an
#: ArchiveSource: the LICENSE inside the archive, unpacked with the rest of it).
LICENSES = (
    ("charts/argo-cd/LICENSE", ARGO_HELM),
    ("charts/argo-cd/charts/redis-ha/LICENSE", REDIS_HA),
    ("charts/metrics-server/LICENSE", METRICS_SERVER),
    ("charts/proxmox-csi-plugin/LICENSE", PROXMOX_CSI),
    ("charts/kubelet-csr-approver/LICENSE", KUBELET_CSR_APPROVER),
    ("charts/cilium/LICENSE", CILIUM_CHARTS),
    ("charts/kube-prometheus-stack/LICENSE", KUBE_PROMETHEUS_STACK),
    (f"{KPS_DEPENDENCIES}/kube-state-metrics/LICENSE", KUBE_STATE_METRICS),
    (f"{KPS_DEPENDENCIES}/prometheus-node-exporter/LICENSE", NODE_EXPORTER),
    (f"{KPS_DEPENDENCIES}/prometheus-windows-exporter/LICENSE", WINDOWS_EXPORTER),
    (f"{KPS_DEPENDENCIES}/grafana/LICENSE", GRAFANA),
    ("charts/velero/LICENSE", VELERO),
    ("talos/LICENSE", TALOS),
    ("argocd/LICENSE", ARGO_HELM),
)

#: Files of upstream folders that are not copied: a chart's `.gitignore` would apply to this
#: repository (kube-prometheus-stack's ignores `charts/*` but `crds`, which would leave the
#: dependencies vendored beside it out of Git); Helm leaves it out of a packaged chart too
#: (the chart's `.helmignore`).
SKIPPED_FILES = frozenset({".gitignore"})

#: The top-level folders of upstream/ this script owns and rewrites whole.
MANAGED = ("charts", "talos", "argocd")


class RefreshError(Exception):
    pass


def git(git_dir: Path, *args: str) -> bytes:
    result = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RefreshError(
            f"git {' '.join(args)} failed in {git_dir}: {result.stderr.decode().strip()}"
        )
    return result.stdout


def fetch(source: Source | ArchiveSource, workdir: Path) -> Path:
    """A bare repository holding `source.tag` (or, for an ArchiveSource, `source.commit`),
    shallow, fetched from GitHub."""
    git_dir = workdir / source.repo.replace("/", "+")
    subprocess.run(["git", "init", "--quiet", "--bare", str(git_dir)], check=True)
    if isinstance(source, ArchiveSource):
        refspec = f"{source.commit}:refs/pinned"
        print(f"fetching {source.repo} {source.commit} ...", file=sys.stderr)
    else:
        refspec = f"+refs/tags/{source.tag}:refs/tags/{source.tag}"
        print(f"fetching {source.repo} {source.tag} ...", file=sys.stderr)
    git(git_dir, "fetch", "--quiet", "--depth=1", "--no-tags", source.url, refspec)
    return git_dir


def check_archive(source: ArchiveSource, data: bytes) -> None:
    """The archive's bytes have the pinned SHA-256, or RefreshError."""
    got = hashlib.sha256(data).hexdigest()
    if got != source.sha256:
        raise RefreshError(
            f"{source.repo}: {source.archive} at {source.commit} has SHA-256 {got}, but "
            f"{source.sha256} is pinned: check upstream before changing the pin"
        )


def verify_archive(source: ArchiveSource, git_dir: Path) -> None:
    """The pinned commit is there, its subject names the pinned `built_from` commit, and the
    archive in it has the pinned SHA-256; or RefreshError."""
    got = git(git_dir, "rev-parse", "--verify", f"{source.commit}^{{commit}}").decode().strip()
    if got != source.commit:
        raise RefreshError(f"{source.repo}: {source.commit} resolves to {got}")
    subject = git(git_dir, "log", "-1", "--format=%s", source.commit).decode().strip()
    if f"@{source.built_from}" not in subject:
        raise RefreshError(
            f"{source.repo} {source.commit}: subject {subject!r} does not name "
            f"{source.built_from_repo}@{source.built_from}"
        )
    check_archive(source, git(git_dir, "show", f"{source.commit}:{source.archive}"))
    print(f"verified {source.repo} {source.commit} {source.archive} sha256", file=sys.stderr)


def verify(source: Source | ArchiveSource, git_dir: Path) -> None:
    """The tag resolves to the pinned commit (an archive: see verify_archive), or RefreshError."""
    if isinstance(source, ArchiveSource):
        verify_archive(source, git_dir)
        return
    commit = git(git_dir, "rev-parse", "--verify", f"refs/tags/{source.tag}^{{commit}}")
    got = commit.decode().strip()
    if got != source.commit:
        raise RefreshError(
            f"{source.repo}: tag {source.tag} is commit {got}, but {source.commit} is pinned "
            "(the tag moved, or the pin is wrong): check upstream before changing the pin"
        )
    print(f"verified {source.repo} {source.tag} = {got}", file=sys.stderr)


def write_folder(git_dir: Path, item: Item, dest: Path) -> None:
    """`item.upstream_path` of the pinned commit, as it is in Git, written to `dest`."""
    prefix = PurePosixPath(item.upstream_path.rstrip("/"))
    archive = git(git_dir, "archive", "--format=tar", item.source.commit, str(prefix))
    if dest.exists():
        shutil.rmtree(dest)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isdir():
                continue
            relative = PurePosixPath(member.name).relative_to(prefix)
            if not member.isfile() or ".." in relative.parts:
                raise RefreshError(f"{item.source.repo}: {member.name}: not a plain file")
            if relative.name in SKIPPED_FILES or any(
                relative.as_posix().startswith(folder) for folder in item.skip
            ):
                continue
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            extracted = tar.extractfile(member)
            assert extracted is not None
            target.write_bytes(extracted.read())
            if member.mode & 0o111:
                target.chmod(0o755)
    if not any(dest.iterdir()):
        raise RefreshError(f"{item.source.repo}: {item.upstream_path} is empty or missing")


def unpack_chart_archive(source: ArchiveSource, data: bytes, dest: Path) -> None:
    """A packaged chart (`<name>/...` inside a .tgz), checked against the pinned SHA-256 and
    unpacked into `dest` without its top folder; its Chart.yaml version must be the archive's."""
    check_archive(source, data)
    if dest.exists():
        shutil.rmtree(dest)
    name, _, version = PurePosixPath(source.archive).name.removesuffix(".tgz").rpartition("-")
    top = PurePosixPath(name)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isdir():
                continue
            path = PurePosixPath(member.name)
            if not member.isfile() or ".." in path.parts or path.parts[:1] != top.parts:
                raise RefreshError(f"{source.archive}: {member.name}: not a plain file in {top}/")
            target = dest / path.relative_to(top)
            target.parent.mkdir(parents=True, exist_ok=True)
            extracted = tar.extractfile(member)
            assert extracted is not None
            target.write_bytes(extracted.read())
            if member.mode & 0o111:
                target.chmod(0o755)
    chart = dest / "Chart.yaml"
    found = yaml.safe_load(chart.read_text()) if chart.is_file() else None
    if not found or found.get("name") != name or str(found.get("version")) != version:
        raise RefreshError(f"{source.archive}: its Chart.yaml is not {name} {version}")


def build(git_dirs: dict[str, Path], staging: Path) -> None:
    for item in ITEMS:
        git_dir = git_dirs[item.source.repo]
        dest = staging / item.path
        if isinstance(item.source, ArchiveSource):
            data = git(git_dir, "show", f"{item.source.commit}:{item.upstream_path}")
            unpack_chart_archive(item.source, data, dest)
            continue
        if item.path.endswith("/"):
            write_folder(git_dir, item, dest)
            if item.stamp is not None:
                chart = dest / "Chart.yaml"
                chart.write_bytes(stamp_chart(chart.read_bytes(), item.stamp))
            continue
        data = git(git_dir, "show", f"{item.source.commit}:{item.upstream_path}")
        if item.transform is not None:
            data = item.transform(data)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    for path, source in LICENSES:
        if isinstance(source, ArchiveSource):
            if not (staging / path).is_file():
                raise RefreshError(f"{source.archive} holds no LICENSE")
            continue
        (staging / path).write_bytes(git(git_dirs[source.repo], "show", f"{source.commit}:LICENSE"))
    check_consistency(staging)


#: Vendored charts whose dependencies are unpacked in their `charts/` folder, where Helm looks.
CHARTS_WITH_DEPENDENCIES = ("argo-cd", "kube-prometheus-stack")


def check_consistency(staging: Path) -> None:
    """Each dependency of a chart in CHARTS_WITH_DEPENDENCIES is unpacked in its `charts/`, at
    the version its Chart.lock names (argo-cd: redis-ha), or, for a chart whose Git tree has no
    Chart.lock (kube-prometheus-stack), at a version its Chart.yaml allows (an exact version, or
    `x.y.*`); Helm refuses to render a chart whose dependency is missing, enabled or not."""
    for chart_name in CHARTS_WITH_DEPENDENCIES:
        chart_dir = staging / "charts" / chart_name
        chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
        lock_file = chart_dir / "Chart.lock"
        lock = yaml.safe_load(lock_file.read_text()) if lock_file.is_file() else None
        locked = {d["name"]: d["version"] for d in (lock or {}).get("dependencies") or []}
        for dependency in chart.get("dependencies") or []:
            name, wanted = dependency["name"], str(dependency["version"])
            subchart = chart_dir / "charts" / name / "Chart.yaml"
            if not subchart.is_file():
                raise RefreshError(
                    f"{chart_name} chart: dependency {name} is not vendored in charts/{name}"
                )
            version = str(yaml.safe_load(subchart.read_text())["version"])
            if lock is not None:
                consistent = wanted == locked.get(name) == version
                asked = f"{wanted} (Chart.lock: {locked.get(name)})"
            else:
                consistent = _allows(wanted, version)
                asked = f"{wanted} (no Chart.lock)"
            if not consistent:
                raise RefreshError(
                    f"{chart_name} chart: dependency {name} {asked}, but the vendored subchart "
                    f"is {version}: pin the {name} tag the chart asks for"
                )


def _allows(constraint: str, version: str) -> bool:
    """Whether a dependency's `version` constraint admits `version`: an exact version, or a
    wildcard in its last parts (`0.12.*`); any other constraint is refused, to be checked by
    hand and added here."""
    if not re.fullmatch(r"[0-9]+(\.([0-9]+|\*))*", constraint):
        raise RefreshError(f"dependency constraint {constraint!r}: not understood by refresh.py")
    wanted, got = constraint.split("."), version.split(".")
    return len(wanted) == len(got) and all(w in ("*", g) for w, g in zip(wanted, got, strict=True))


def files_under(root: Path) -> dict[str, Path]:
    out = {}
    for folder in MANAGED:
        base = root / folder
        if base.is_dir():
            for path in base.rglob("*"):
                if path.is_file():
                    out[path.relative_to(root).as_posix()] = path
    return out


def diff_summary(old_root: Path, new_root: Path) -> list[str]:
    """One line per added, removed or changed file (`+`, `-`, `M` with line counts)."""
    old, new = files_under(old_root), files_under(new_root)
    lines = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            lines.append(f"+ {name}")
        elif name not in new:
            lines.append(f"- {name}")
        elif old[name].read_bytes() != new[name].read_bytes():
            before = old[name].read_text(errors="replace").splitlines()
            after = new[name].read_text(errors="replace").splitlines()
            diff = list(difflib.unified_diff(before, after, lineterm="", n=0))
            added = sum(1 for d in diff if d.startswith("+") and not d.startswith("+++"))
            removed = sum(1 for d in diff if d.startswith("-") and not d.startswith("---"))
            lines.append(f"M {name} (+{added} -{removed})")
    return lines


def replace_managed(staging: Path) -> None:
    for folder in MANAGED:
        target = UPSTREAM_DIR / folder
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(staging / folder, target)


def parse_git_dirs(values: list[str]) -> dict[str, Path]:
    known = {source.repo for source in SOURCES}
    out = {}
    for value in values:
        repo, sep, path = value.partition("=")
        if not sep or repo not in known:
            raise SystemExit(
                f"--git-dir {value!r}: expected OWNER/NAME=PATH, one of {sorted(known)}"
            )
        git_dir = Path(path)
        if (git_dir / ".git").is_dir():
            git_dir = git_dir / ".git"
        out[repo] = git_dir
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if upstream/ would change"
    )
    parser.add_argument(
        "--git-dir",
        action="append",
        default=[],
        metavar="OWNER/NAME=PATH",
        help="use this clone (bare or not) of a source instead of fetching it; still verified",
    )
    args = parser.parse_args(argv)
    given = parse_git_dirs(args.git_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="upstream-refresh-") as tmp:
            workdir = Path(tmp)
            git_dirs = {}
            for source in SOURCES:
                git_dirs[source.repo] = given.get(source.repo) or fetch(source, workdir)
                verify(source, git_dirs[source.repo])
            staging = workdir / "staging"
            build(git_dirs, staging)
            changes = diff_summary(UPSTREAM_DIR, staging)
            for line in changes:
                print(line)
            counts = {mark: sum(1 for c in changes if c[0] == mark) for mark in "+-M"}
            print(
                f"{len(changes)} file(s) differ: {counts['+']} added, {counts['-']} removed, "
                f"{counts['M']} changed"
            )
            if args.check:
                return 1 if changes else 0
            if changes:
                replace_managed(staging)
                print("upstream/ rewritten; update README.md's provenance table if a pin moved")
    except RefreshError as exc:
        print(f"refresh failed: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
