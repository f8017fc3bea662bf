"""The replace rules (upstream/provider-rules/replacements.yaml) and how they are matched."""

from __future__ import annotations

import pytest

from offline.replacement import (
    RulesError,
    ignored,
    is_downgrade,
    load_rules,
    matches,
    parse_rules,
    version_key,
)
from tests.conftest import document


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_resource_type_the_program_creates_has_rules(stack: str) -> None:
    """A type without an entry would be judged 'update' whatever changes: the table must grow
    with the program (`replace: []` says, with a source, that nothing replaces)."""
    rules = load_rules()
    types = {
        r["type"]
        for r in document(stack)["resources"]
        if not r["type"].startswith("talos-platform:")
    }
    missing = sorted(
        t
        for t in types
        if t not in rules.by_type
        and not any(p.endswith("*") and t.startswith(p[:-1]) for p in rules.by_type)
    )
    assert missing == []


def test_every_rule_cites_a_file_and_line() -> None:
    for resource_type, rules in load_rules().by_type.items():
        for rule in rules:
            assert "#L" in rule.source, f"{resource_type} {rule.input}: {rule.source}"
            assert rule.provider, resource_type


def test_what_must_survive_is_replaced_only_by_what_upstream_says() -> None:
    rules = load_rules()
    assert [r.input for r in rules.for_type("proxmoxve:index/vmLegacy:VmLegacy")] == [
        "vmId",
        "nodeName",
        "efiDisk.type",
    ]
    [secrets] = rules.for_type("talos:machine/secrets:Secrets")
    assert (secrets.input, secrets.when) == ("talosVersion", "downgrade")
    for quiet in ("ConfigurationApply", "Bootstrap"):
        assert rules.for_type(f"talos:machine/{quiet[0].lower()}{quiet[1:]}:{quiet}") == ()
    assert {r.input for r in rules.for_type("kubernetes:apps/v1:Deployment")} == {
        "metadata.name",
        "metadata.namespace",
        "spec.selector",
    }


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("vmId", "vmId", True),
        ("disks[*].interface", "disks[1].interface", True),
        ("disks[*].interface", "disks[1]", True),  # a whole disk added or removed
        ("efiDisk", "efiDisk.type", True),  # a field under a replacing block
        ("metadata.name", "metadata.labels.app", False),
        ("vmId", "vmIdentifier", False),
    ],
)
def test_paths_match_as_the_engine_reads_them(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


def test_ignore_changes_covers_a_path_and_what_lies_under_it() -> None:
    assert ignored("disks[0].speed.read", ["disks[*].speed"])
    assert ignored("cdrom.fileId", ["cdrom"])
    assert not ignored("disks[0].size", ["disks[*].speed"])
    assert not ignored("disks", ["disks[*].speed"])  # the whole list is more than the field


def test_versions_compare_as_semver_with_missing_parts_zero() -> None:
    assert version_key("v1.13") == (1, 13, 0)
    assert is_downgrade("v1.13.9", "v1.13")  # the trap: `v1.13` reads as v1.13.0
    assert not is_downgrade("v1.13", "v1.13.9")
    assert not is_downgrade("v1.13.9", "v1.13.9")
    assert is_downgrade("v1.14.0", "v1.13.10")
    assert is_downgrade("latest", "stable")  # not versions: any change may be one


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a mapping with `resources`"),
        ({"resources": {"a:b:C": {"replace": [{"input": "x"}]}}}, "replace[0]: expected `input`"),
        (
            {
                "resources": {
                    "a:b:C": {"replace": [{"input": "x", "source": "f#L1", "when": "odd"}]}
                }
            },
            "`when` is 'odd', expected one of always, downgrade, conditional",
        ),
    ],
)
def test_a_malformed_rules_file_says_where(data: object, message: str) -> None:
    with pytest.raises(RulesError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_rules(data, "rules.yaml")
