"""Promote one environment up: dev -> staging -> prod. Two steps, each its own command:

    python -m tools.promote --from dev --to staging [--allow-downgrade] [--dry-run]
    python -m tools.promote --from dev --to staging --revision [COMMIT] [--push] [--remote NAME]

The first edits files, for a pull request; the second, once that is merged, moves the Git ref the
target environment's Applications follow (`env/staging`, `env/prod`): see `tools/revision.py`.
A merge to main changes staging and prod only when their ref moves.

A cluster stack of an environment other than its own (`prod-b`, `talos-platform:environment:
prod`) that follows a Git ref of its own (`env/prod-b`) is one more step, after its environment:
`--from prod --to prod-b --revision` moves `env/prod-b` to what prod runs (tools/revision.py).
Without `--revision` that step copies nothing: a cluster's pins are its environment's, written by
`--to prod` into every cluster stack of prod, and its apps' image tags are prod's overlays. A
cluster is only ever a target, and only from its own environment; there is no environment after
prod, whatever clusters it has.

Without `--revision`, it copies, from the source environment to the next one:

- the platform pins of the stack files (`talos-platform:talos_version`, `kubernetes_version`,
  `argocd_chart_version`, `cloudflared_version`); a key a stack file does not set takes the
  project default from Pulumi.yaml's `config:`. An environment's stack files are all its cluster
  stacks (`Pulumi.<stack>.yaml` whose `talos-platform:environment` is it, like `prod` and its
  second cluster `prod-b`; an edge stack, which sets `talos-platform:edge`, pins nothing): each
  target stack gets the pins, and the source's stacks must agree on each one (the fleet check
  wants one Talos and Kubernetes minor per environment; a source halfway through a rollout is
  refused);
- each application's image tag (`images[].newTag` of `gitops/apps/<app>/overlays/<env>/
  kustomization.yaml`), matched by image name.

Files are edited in place, keeping comments and layout. Each change is printed as
`key: old -> new`. Nothing is written when anything is refused.

Exit status: 0 promoted (or nothing to promote; with --revision: the gate passed, ref printed or
pushed, or nothing to move); 1 a missing or malformed file, a downgrade without --allow-downgrade,
source stacks that differ, or with --revision a refused gate, a missing ref, no git repository,
a cluster without a ref of its own, or a failed push; 2 a usage error (unknown environment or
cluster, skipping one, going backwards, a cluster as source, an edge stack, options that do not
go together).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

from offline.paths import REPO_ROOT

from .versions import NotAVersionError, is_downgrade

ENVIRONMENTS = ("dev", "staging", "prod")
NAMESPACE = "talos-platform"
VERSION_KEYS = (
    "talos_version",
    "kubernetes_version",
    "argocd_chart_version",
    "cloudflared_version",
)
INSERT_AFTER = f"{NAMESPACE}:cluster_name"
"""Where a pin the target stack file did not set yet is added (else at the end of `config:`)."""
EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class PromoteError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_INVALID) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Change:
    file: str
    key: str
    old: str
    new: str
    apply: Callable[[], None] = field(repr=False)
    old_is_default: bool = False

    def __str__(self) -> str:
        default = " (project default)" if self.old_is_default else ""
        return f"{self.key}: {self.old}{default} -> {self.new}"


@dataclass
class Document:
    path: Path
    data: Any
    text: str


@dataclass
class Promotion:
    source: str
    target: str
    changes: list[Change] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)


# --- Reading -----------------------------------------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def load(path: Path, root: Path) -> Document:
    name = _relative(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PromoteError(f"{name}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PromoteError(f"{name}: cannot be read ({exc})") from exc
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        raise PromoteError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PromoteError(f"{name}: expected a YAML mapping at the top level")
    return Document(path, data, text)


def dump(document: Document) -> str:
    out = io.StringIO()
    _yaml().dump(document.data, out)
    return out.getvalue()


def _version_string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PromoteError(f"{where}: expected a version string, found {value!r} (quote it)")
    return str(value)


def project_defaults(root: Path) -> dict[str, str]:
    """The default of each pinned version in Pulumi.yaml's `config:` (keys without namespace)."""
    doc = load(root / "Pulumi.yaml", root)
    config = doc.data.get("config") or {}
    if not isinstance(config, dict):
        raise PromoteError("Pulumi.yaml: `config` must be a mapping")
    out: dict[str, str] = {}
    for key in VERSION_KEYS:
        spec = config.get(key, config.get(f"{NAMESPACE}:{key}"))
        value = spec.get("value", spec.get("default")) if isinstance(spec, dict) else spec
        if value is not None:
            out[key] = _version_string(value, f"Pulumi.yaml: config.{key}.default")
    return out


def stack_config(document: Document, root: Path) -> dict[str, Any]:
    config = document.data.get("config")
    if not isinstance(config, dict):
        raise PromoteError(
            f"{_relative(document.path, root)}: expected a `config:` mapping of stack settings"
        )
    return config


def pinned_versions(document: Document, root: Path, defaults: dict[str, str]) -> dict[str, str]:
    """Each pinned version of a stack: its own value, else the project default."""
    name = _relative(document.path, root)
    config = stack_config(document, root)
    out = {}
    for key in VERSION_KEYS:
        full = f"{NAMESPACE}:{key}"
        if full in config:
            out[key] = _version_string(config[full], f"{name}: {full}")
        elif key in defaults:
            out[key] = defaults[key]
        else:
            raise PromoteError(f"{name}: {full} is not set and Pulumi.yaml has no default for it")
    return out


def overlay_file(root: Path, app: str, env: str) -> Path:
    return root / "gitops" / "apps" / app / "overlays" / env / "kustomization.yaml"


def overlay_images(document: Document, root: Path) -> dict[str, Any]:
    """Image name -> its `images:` entry (a mapping with `newTag`)."""
    name = _relative(document.path, root)
    images = document.data.get("images")
    if not isinstance(images, list) or not images:
        raise PromoteError(f"{name}: expected an `images:` list of {{name, newTag}} entries")
    out: dict[str, Any] = {}
    for index, entry in enumerate(images):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise PromoteError(f"{name}: images[{index}]: expected a mapping with a `name`")
        _version_string(entry.get("newTag"), f"{name}: images[{index}].newTag")
        out[entry["name"]] = entry
    return out


# --- Planning ----------------------------------------------------------------------------------


def _scalar_like(old: Any, new: str) -> Any:
    """`new` in the quoting style of `old`; quoted anyway when YAML would not read it as text."""
    if isinstance(old, ScalarString):
        return type(old)(new)
    if not isinstance(YAML(typ="safe").load(new), str):
        return DoubleQuotedScalarString(new)
    return new


def _compare(promotion: Promotion, where: str, old: str, new: str, allow_downgrade: bool) -> None:
    if allow_downgrade:
        return
    try:
        if is_downgrade(old, new):
            promotion.refusals.append(
                f"{where}: {new} in {promotion.source} is older than {old} in "
                f"{promotion.target} (use --allow-downgrade to go back on purpose)"
            )
    except NotAVersionError as exc:
        promotion.refusals.append(
            f"{where}: cannot order {old} and {new}: {exc} (use --allow-downgrade to copy it)"
        )


def _set_key(config: Any, key: str, value: Any) -> None:
    if key in config:
        config[key] = value
        return
    keys = list(config)
    anchors = [INSERT_AFTER, *(f"{NAMESPACE}:{k}" for k in VERSION_KEYS)]
    placed = [keys.index(k) for k in anchors if k in keys]
    config.insert(max(placed) + 1 if placed else len(keys), key, value)


def environment_stacks(root: Path, env: str) -> list[Document]:
    """The cluster stacks of environment `env`: `Pulumi.<env>.yaml`, which must exist, then every
    other `Pulumi.<stack>.yaml` whose `talos-platform:environment` is `env`, by name; edge stacks
    (`talos-platform:edge`) left out. A stack file without an environment is an error (its own
    plan refuses it too): which versions it should run is unknown."""
    own = root / f"Pulumi.{env}.yaml"
    others = sorted(p for p in root.glob("Pulumi.*.yaml") if p.name != own.name)
    found: list[Document] = []
    for path in [own, *others]:
        document = load(path, root)
        config = stack_config(document, root)
        if f"{NAMESPACE}:edge" in config:
            continue
        environment = config.get(f"{NAMESPACE}:environment")
        if environment is None:
            raise PromoteError(
                f"{_relative(path, root)}: {NAMESPACE}:environment is not set: which "
                "environment's versions the stack runs is unknown"
            )
        if str(environment) == env:
            found.append(document)
    if not found:
        raise PromoteError(f"{own.name}: its {NAMESPACE}:environment is not {env}")
    return found


def _source_versions(promotion: Promotion, root: Path, defaults: dict[str, str]) -> dict[str, str]:
    """The pins of the source environment, which all its cluster stacks must share."""
    pins = {
        _relative(document.path, root): pinned_versions(document, root, defaults)
        for document in environment_stacks(root, promotion.source)
    }
    wanted: dict[str, str] = {}
    for key in VERSION_KEYS:
        values = {name: versions[key] for name, versions in pins.items()}
        if len(set(values.values())) > 1:
            each = ", ".join(f"{name} {value}" for name, value in values.items())
            raise PromoteError(
                f"the stacks of {promotion.source} differ in {NAMESPACE}:{key} ({each}): promote "
                f"once every cluster of {promotion.source} runs the same version"
            )
        wanted[key] = next(iter(values.values()))
    return wanted


def _plan_stack(promotion: Promotion, root: Path, allow_downgrade: bool) -> None:
    defaults = project_defaults(root)
    wanted = _source_versions(promotion, root, defaults)
    for target in environment_stacks(root, promotion.target):
        _plan_target_stack(promotion, root, target, wanted, defaults, allow_downgrade)


def _plan_target_stack(
    promotion: Promotion,
    root: Path,
    target: Document,
    wanted: dict[str, str],
    defaults: dict[str, str],
    allow_downgrade: bool,
) -> None:
    current = pinned_versions(target, root, defaults)
    config = stack_config(target, root)
    name = _relative(target.path, root)
    for key in VERSION_KEYS:
        full = f"{NAMESPACE}:{key}"
        old, new = current[key], wanted[key]
        if old == new:
            continue
        _compare(promotion, f"{name}: {full}", old, new, allow_downgrade)
        value = _scalar_like(config.get(full), new)
        promotion.changes.append(
            Change(
                file=name,
                key=key,
                old=old,
                new=new,
                apply=lambda k=full, v=value: _set_key(config, k, v),
                old_is_default=full not in config,
            )
        )
    promotion.documents[name] = target


def _plan_apps(promotion: Promotion, root: Path, allow_downgrade: bool) -> None:
    apps_dir = root / "gitops" / "apps"
    sources = sorted(apps_dir.glob(f"*/overlays/{promotion.source}/kustomization.yaml"))
    for source_file in sources:
        app = source_file.parents[2].name
        source = load(source_file, root)
        target = load(overlay_file(root, app, promotion.target), root)
        name = _relative(target.path, root)
        wanted, current = overlay_images(source, root), overlay_images(target, root)
        for image, entry in wanted.items():
            if image not in current:
                raise PromoteError(
                    f"{name}: has no `images:` entry for {image} (set in "
                    f"{_relative(source_file, root)}); add it before promoting"
                )
            old, new = str(current[image]["newTag"]), str(entry["newTag"])
            if old == new:
                continue
            _compare(promotion, f"{name}: {image}", old, new, allow_downgrade)
            value = _scalar_like(current[image]["newTag"], new)
            target_entry = current[image]
            promotion.changes.append(
                Change(
                    file=name,
                    key=f"{app} ({image})",
                    old=old,
                    new=new,
                    apply=lambda e=target_entry, v=value: e.__setitem__("newTag", v),
                )
            )
        promotion.documents[name] = target


_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def cluster_environment(root: Path, stack: str) -> str:
    """The environment of `stack`, a cluster stack that is not an environment's own stack
    (`prod-b` -> `prod`); PromoteError (usage) for an unknown name or an edge stack."""
    path = root / f"Pulumi.{stack}.yaml"
    if not _STACK_NAME.fullmatch(stack) or not path.is_file():
        raise PromoteError(
            f"unknown environment or cluster {stack!r} (no Pulumi.{stack}.yaml): expected one "
            f"of {', '.join(ENVIRONMENTS)}, or a cluster stack of one",
            EXIT_USAGE,
        )
    config = stack_config(load(path, root), root)
    if f"{NAMESPACE}:edge" in config:
        raise PromoteError(
            f"{stack} is an edge stack (Pulumi.{stack}.yaml sets {NAMESPACE}:edge): it pins no "
            "version and follows no Git ref; nothing is promoted to or from it",
            EXIT_USAGE,
        )
    environment = config.get(f"{NAMESPACE}:environment")
    if environment not in ENVIRONMENTS:
        raise PromoteError(
            f"Pulumi.{stack}.yaml: {NAMESPACE}:environment is {environment!r}, expected one of "
            f"{', '.join(ENVIRONMENTS)}"
        )
    return str(environment)


def check_route(source: str, target: str, root: Path | None = None) -> str | None:
    """Refuse anything but one step forward: dev -> staging -> prod, then (given `root`, where
    the stack files are) from an environment to one of its other cluster stacks. Returns the
    environment when `target` is such a cluster, None when it is an environment."""
    if root is not None and not {source, target} <= set(ENVIRONMENTS):
        return _check_cluster_route(source, target, root)
    for env in (source, target):
        if env not in ENVIRONMENTS:
            raise PromoteError(
                f"unknown environment {env!r}: expected one of {', '.join(ENVIRONMENTS)}",
                EXIT_USAGE,
            )
    step = ENVIRONMENTS.index(target) - ENVIRONMENTS.index(source)
    if step != 1:
        route = " -> ".join(ENVIRONMENTS)
        what = "skips an environment" if step > 1 else "does not go forward"
        raise PromoteError(
            f"--from {source} --to {target} {what}: promote one step at a time ({route})",
            EXIT_USAGE,
        )
    return None


def _check_cluster_route(source: str, target: str, root: Path) -> str:
    """`--from <env> --to <cluster of env>`, the one route to a cluster; the environment."""
    if source not in ENVIRONMENTS:
        env = cluster_environment(root, source)
        raise PromoteError(
            f"--from {source}: {source} is a cluster of {env} and takes what {env} runs: "
            f"nothing is promoted from a cluster; promote from {env}",
            EXIT_USAGE,
        )
    env = cluster_environment(root, target)
    if env != source:
        index = ENVIRONMENTS.index(env)
        first = (
            f"promote to {env} first (--from {ENVIRONMENTS[index - 1]} --to {env}), then"
            if index
            else "promote it"
        )
        raise PromoteError(
            f"--from {source} --to {target}: {target} is a cluster of {env}, not of {source}: "
            f"{first} from {env} (--from {env} --to {target} --revision)",
            EXIT_USAGE,
        )
    return env


def plan_promotion(
    source: str, target: str, root: Path = REPO_ROOT, allow_downgrade: bool = False
) -> Promotion:
    """Everything `source` -> `target` would change, without writing; PromoteError if invalid."""
    check_route(source, target)
    promotion = Promotion(source, target)
    _plan_stack(promotion, root, allow_downgrade)
    _plan_apps(promotion, root, allow_downgrade)
    return promotion


def apply_promotion(promotion: Promotion) -> list[str]:
    """Write the changed files; returns their names."""
    if promotion.refusals:
        raise PromoteError("\n".join(promotion.refusals))
    for change in promotion.changes:
        change.apply()
    written = []
    for name, document in promotion.documents.items():
        text = dump(document)
        if text != document.text:
            document.path.write_text(text, encoding="utf-8")
            written.append(name)
    return written


# --- Command line ------------------------------------------------------------------------------


def report(promotion: Promotion) -> list[str]:
    lines: list[str] = []
    for name in promotion.documents:
        changes = [c for c in promotion.changes if c.file == name]
        if changes:
            lines.append(name)
            lines += [f"  {change}" for change in changes]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.promote",
        description="Promote pinned versions (stack pins and app image tags) one environment up; "
        "with --revision, move the target environment's Git ref instead.",
    )
    parser.add_argument(
        "--from", dest="source", required=True, help=f"one of {', '.join(ENVIRONMENTS)}"
    )
    parser.add_argument(
        "--to",
        dest="target",
        required=True,
        help=f"the next of {', '.join(ENVIRONMENTS)}, or a cluster stack of --from (prod-b)",
    )
    parser.add_argument(
        "--allow-downgrade", action="store_true", help="copy versions older than the target's"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="repository to edit (default: this one)"
    )
    parser.add_argument(
        "--revision",
        nargs="?",
        const="",
        metavar="COMMIT",
        help="move the target's Git ref (env/<target>) to COMMIT (default: the tip of the branch "
        "dev follows) if the gate passes; edits no file; a dry run unless --push",
    )
    parser.add_argument(
        "--push", action="store_true", help="with --revision: run the printed `git push`"
    )
    parser.add_argument(
        "--remote", default="origin", help="with --revision: the remote to read and push refs"
    )
    args = parser.parse_args(argv)
    if args.revision is not None:
        return _move_revision(parser, args)
    if args.push:
        parser.error("--push moves a Git ref: it needs --revision")
    try:
        cluster_of = check_route(args.source, args.target, args.root)
        if cluster_of is not None:
            print(_nothing_to_copy(args.target, cluster_of))
            return EXIT_OK
        promotion = plan_promotion(args.source, args.target, args.root, args.allow_downgrade)
        if promotion.refusals:
            raise PromoteError("\n".join([*promotion.refusals, "nothing written"]))
        for line in report(promotion):
            print(line)
        if not promotion.changes:
            print(f"{args.target} already runs the versions of {args.source}: nothing to promote")
            return EXIT_OK
        if args.dry_run:
            print(f"dry run: {len(promotion.changes)} change(s), nothing written")
            return EXIT_OK
        written = apply_promotion(promotion)
    except PromoteError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    print(
        f"promoted {len(promotion.changes)} version(s) from {args.source} to {args.target}: "
        + ", ".join(written)
    )
    return EXIT_OK


def _nothing_to_copy(cluster: str, env: str) -> str:
    return (
        f"{cluster} is a cluster of {env}: its pins are {env}'s (--to {env} writes them into "
        f"every cluster stack of {env}, Pulumi.{cluster}.yaml included; the deploy applies "
        f"{cluster}'s after {env}'s) and its apps' image tags are gitops/apps/*/overlays/{env}: "
        f"nothing to copy. A Git ref of its own moves with --revision"
    )


def _move_revision(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.allow_downgrade:
        parser.error("--allow-downgrade copies versions; --revision moves a ref: use one")
    if args.dry_run and args.push:
        parser.error("--dry-run and --push contradict each other (--revision is a dry run)")
    # Imported here: it imports this module (as `tools.promote`, which under `python -m` is not
    # `__main__`: hence both error classes below).
    from . import revision

    try:
        return revision.run(
            args.source, args.target, args.root, args.revision or None, args.remote, args.push
        )
    except (PromoteError, revision.PromoteError) as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
