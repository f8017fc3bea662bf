"""Every validation rule, with a config that passes and one that fails, and the message it gives."""

from __future__ import annotations

import pytest

from config import validate
from tests.conftest import NS, STACKS, stack_values, structured, with_key


def problems_of(values: dict[str, str], secrets: frozenset[str] | None = None) -> list[str]:
    base_secrets = stack_values("prod")[1] if secrets is None else secrets
    return [str(p) for p in validate(values, base_secrets).problems]


@pytest.fixture
def prod() -> dict[str, str]:
    return stack_values("prod")[0]


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_are_valid(stack: str) -> None:
    values, secrets = stack_values(stack)
    result = validate(values, secrets)
    assert result.problems == []
    assert result.config is not None
    assert result.config.environment == stack


def test_dev_single_control_plane_is_a_warning_not_an_error() -> None:
    values, secrets = stack_values("dev")
    result = validate(values, secrets)
    assert result.problems == []
    assert any("single control-plane node" in w for w in result.warnings)


def _nodes(values: dict[str, str]) -> list[dict]:
    return structured(values, "nodes")


def _set_node(values: dict[str, str], index: int, **fields: object) -> dict[str, str]:
    nodes = _nodes(values)
    nodes[index].update(fields)
    return with_key(values, "nodes", nodes)


def _set_network(values: dict[str, str], **fields: object) -> dict[str, str]:
    net = structured(values, "network")
    net.update(fields)
    return with_key(values, "network", net)


CASES = [
    # (description, mutation, expected key, expected fragment of the message)
    ("malformed CIDR", lambda v: _set_network(v, cidr="203.0.113.0/33"), "network.cidr", "got"),
    ("CIDR with host bits", lambda v: _set_network(v, cidr="203.0.113.5/24"), "network.cidr", ""),
    ("malformed node IP", lambda v: _set_node(v, 0, ip="203.0.113.300"), "nodes[0].ip", "IPv4"),
    ("node IP outside", lambda v: _set_node(v, 1, ip="192.0.2.50"), "nodes[1].ip", "inside"),
    ("node IP = gateway", lambda v: _set_node(v, 2, ip="203.0.113.1"), "nodes[2].ip", "gateway"),
    ("node IP = VIP", lambda v: _set_node(v, 3, ip="203.0.113.10"), "nodes[3].ip", "vip"),
    ("duplicate IP", lambda v: _set_node(v, 4, ip="203.0.113.11"), "nodes[4].ip", "no other"),
    ("VIP outside", lambda v: _set_network(v, vip="192.0.2.10"), "network.vip", "inside"),
    ("VIP = gateway", lambda v: _set_network(v, vip="203.0.113.1"), "network.vip", "gateway"),
    ("gateway outside", lambda v: _set_network(v, gateway="10.0.0.1"), "network.gateway", ""),
    ("duplicate VM id", lambda v: _set_node(v, 5, vm_id=3101), "nodes[5].vm_id", "no other"),
    ("duplicate name", lambda v: _set_node(v, 5, name="prod-cp-1"), "nodes[5].name", "no other"),
    ("name not DNS label", lambda v: _set_node(v, 0, name="Prod_CP"), "nodes[0].name", "DNS"),
    ("undeclared host", lambda v: _set_node(v, 0, host="pve9"), "nodes[0].host", "pve1"),
    ("unknown role", lambda v: _set_node(v, 0, role="master"), "nodes[0].role", "controlplane"),
    ("latest Talos", lambda v: with_key(v, "talos_version", "latest"), "talos_version", "pinned"),
    ("old Talos", lambda v: with_key(v, "talos_version", "v1.12.0"), "talos_version", "v1.13"),
    (
        "unpinned chart",
        lambda v: with_key(v, "argocd_chart_version", "10.x"),
        "argocd_chart_version",
        "exact",
    ),
    (
        "malformed Kubernetes",
        lambda v: with_key(v, "kubernetes_version", "1.36"),
        "kubernetes_version",
        "Kubernetes",
    ),
    (
        "latest cloudflared",
        lambda v: with_key(v, "cloudflared_version", "latest"),
        "cloudflared_version",
        "pinned",
    ),
    ("one replica", lambda v: with_key(v, "cloudflared_replicas", "1"), "cloudflared_replicas", ""),
    (
        "no guest agent",
        lambda v: with_key(v, "talos_extensions", ["siderolabs/iscsi-tools"]),
        "talos_extensions",
        "qemu-guest-agent",
    ),
    (
        "unknown nested key",
        lambda v: _set_network(v, gatway="203.0.113.1"),
        "network.gatway",
        "no such key",
    ),
    (
        "unknown top key",
        lambda v: with_key(v, "talos_verison", "v1.13.9"),
        "talos_verison",
        "known",
    ),
    ("bad environment", lambda v: with_key(v, "environment", "qa"), "environment", "dev"),
]


@pytest.mark.parametrize(("what", "mutate", "key", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_names_the_key_the_value_and_what_is_expected(
    prod: dict[str, str], what: str, mutate, key: str, fragment: str
) -> None:
    found = problems_of(mutate(prod))
    matching = [p for p in found if p.startswith(f"{NS}:{key}: got ")]
    assert matching, f"{what}: no problem for {key} in {found}"
    assert "; expected " in matching[0]
    assert fragment in matching[0]


def test_even_number_of_control_planes_is_rejected(prod: dict[str, str]) -> None:
    bad = _set_node(prod, 3, role="controlplane")  # 4 control planes
    found = problems_of(bad)
    assert any(p.startswith(f"{NS}:nodes: got '4 control-plane node(s)'") for p in found)


def test_no_control_plane_is_rejected(prod: dict[str, str]) -> None:
    nodes = [dict(n, role="worker") for n in _nodes(prod)]
    found = problems_of(with_key(prod, "nodes", nodes))
    assert any("0 control-plane node(s)" in p and "odd number" in p for p in found)


def test_single_control_plane_is_an_error_in_prod(prod: dict[str, str]) -> None:
    nodes = [n for n in _nodes(prod) if n["name"] != "prod-cp-2" and n["name"] != "prod-cp-3"]
    found = problems_of(with_key(prod, "nodes", nodes))
    assert any("3 or more control-plane nodes in prod" in p for p in found)


def test_hostname_outside_zone_and_duplicate(prod: dict[str, str]) -> None:
    cf = structured(prod, "cloudflare")
    cf["hostnames"].append({"hostname": "app.example.org", "service": "http://x.y.svc:80"})
    cf["hostnames"].append(dict(cf["hostnames"][0]))
    found = problems_of(with_key(prod, "cloudflare", cf))
    outside = len(cf["hostnames"]) - 2
    assert any(
        f"cloudflare.hostnames[{outside}].hostname: got 'app.example.org'" in p
        and "zone example.com" in p
        for p in found
    )
    duplicate = len(cf["hostnames"]) - 1
    assert any(
        f"cloudflare.hostnames[{duplicate}].hostname" in p and "declared once" in p for p in found
    )


def test_every_problem_is_reported_together(prod: dict[str, str]) -> None:
    bad = _set_network(prod, vip="192.0.2.10")
    bad = _set_node(bad, 0, ip="203.0.113.300")
    bad = with_key(bad, "talos_version", "latest")
    bad = _set_node(bad, 5, vm_id=3102)  # node 0 is invalid; the duplicate is still found
    keys = {p.split(": got ")[0] for p in problems_of(bad)}
    assert {
        f"{NS}:network.vip",
        f"{NS}:nodes[0].ip",
        f"{NS}:talos_version",
        f"{NS}:nodes[5].vm_id",
    } <= keys


def test_missing_required_key_is_named(prod: dict[str, str]) -> None:
    del prod[f"{NS}:nodes"]
    assert any(p.startswith(f"{NS}:nodes: got None") for p in problems_of(prod))


def test_secret_given_in_plain_text_is_rejected_without_showing_it(prod: dict[str, str]) -> None:
    token = "terraform@pve!pulumi=12345678-1234-1234-1234-123456789abc"
    prod[f"{NS}:proxmox_api_token"] = token
    secrets = frozenset({f"{NS}:cloudflare_api_token"})
    found = problems_of(prod, secrets)
    matching = [p for p in found if p.startswith(f"{NS}:proxmox_api_token")]
    assert matching and "pulumi config set --secret" in matching[0]
    assert all(token not in p for p in found)


def test_missing_secret_tells_which_command_to_run(prod: dict[str, str]) -> None:
    del prod[f"{NS}:cloudflare_api_token"]
    found = problems_of(prod)
    assert any(
        f"pulumi config set --secret {NS}:cloudflare_api_token" in p
        for p in found
        if p.startswith(f"{NS}:cloudflare_api_token")
    )


def test_malformed_proxmox_token_is_rejected_without_showing_it(prod: dict[str, str]) -> None:
    prod[f"{NS}:proxmox_api_token"] = "not-a-token-value"
    found = problems_of(prod)
    matching = [p for p in found if p.startswith(f"{NS}:proxmox_api_token")]
    assert matching and "USER@REALM!TOKENID=UUID" in matching[0]
    assert all("not-a-token-value" not in p for p in found)


def test_control_planes_crowded_on_one_host_is_an_error_in_prod(prod: dict[str, str]) -> None:
    bad = _set_node(prod, 1, host="pve1")  # prod-cp-2 joins prod-cp-1 on pve1; pve2 has none
    found = problems_of(bad)
    assert any(
        p.startswith(f"{NS}:nodes: got {{'pve1': 2, 'pve3': 1}}") and "pve2 runs none" in p
        for p in found
    )


def test_control_planes_crowded_is_only_a_warning_in_dev() -> None:
    values, secrets = stack_values("prod")
    dev_like = with_key(_set_node(values, 1, host="pve1"), "environment", "dev")
    dev_like = with_key(
        dev_like, "gitops", {**structured(values, "gitops"), "path": "gitops/envs/dev"}
    )
    result = validate(dev_like, secrets)
    assert result.problems == []
    assert any("pve2 runs none" in w for w in result.warnings)


def test_a_stack_syncs_only_its_own_environment(prod: dict[str, str]) -> None:
    gitops = structured(prod, "gitops")
    gitops["path"] = "gitops/envs/dev"
    found = problems_of(with_key(prod, "gitops", gitops))
    assert any(
        p.startswith(f"{NS}:gitops.path: got 'gitops/envs/dev'; expected gitops/envs/prod")
        for p in found
    )


@pytest.mark.parametrize("value", [None, 5, [], {}, ["pve1"], {"a": 1}, True])
@pytest.mark.parametrize("field", ["name", "role", "host", "vm_id", "ip"])
def test_a_node_field_of_the_wrong_type_is_a_problem_not_a_crash(
    prod: dict[str, str], field: str, value: object
) -> None:
    found = problems_of(_set_node(prod, 1, **{field: value}))
    assert any(p.startswith(f"{NS}:nodes[1].{field}: got ") for p in found)


@pytest.mark.parametrize("stack", STACKS)
def test_repository_url_is_written_once_in_the_tree(stack: str) -> None:
    """The shipped stacks name no repository: they follow gitops/repository/repository.yaml."""
    from config.repository import tree_repository

    values, secrets = stack_values(stack)
    assert "repo_url" not in structured(values, "gitops")
    config = validate(values, secrets).config
    assert config is not None and config.gitops.repo_url == tree_repository()[0]


def test_the_csi_token_is_required_while_the_stack_runs_proxmox_csi(prod: dict[str, str]) -> None:
    del prod[f"{NS}:proxmox_csi_token"]
    found = problems_of(prod)
    matching = [p for p in found if p.startswith(f"{NS}:proxmox_csi_token")]
    assert len(matching) == 1
    assert matching[0].endswith(
        f"expected a secret: run `pulumi config set --secret {NS}:proxmox_csi_token <value>`"
    )
    off = with_key(prod, "storage", {"proxmox_csi": False})
    assert problems_of(off) == []


def test_a_malformed_csi_token_is_rejected_without_showing_it(prod: dict[str, str]) -> None:
    prod[f"{NS}:proxmox_csi_token"] = "csi-token-in-wrong-shape"
    found = problems_of(prod)
    matching = [p for p in found if p.startswith(f"{NS}:proxmox_csi_token")]
    assert matching and "USER@REALM!TOKENID=UUID" in matching[0]
    assert all("csi-token-in-wrong-shape" not in p for p in found)


def test_optional_sections_default_and_reject_unknown_keys(prod: dict[str, str]) -> None:
    result = validate(prod, stack_values("prod")[1])
    assert result.config is not None
    assert result.config.storage.proxmox_csi is True
    assert result.config.argocd_notifications.format == "webhook"
    bad = with_key(prod, "argocd_notifications", {"format": "teams"})
    assert any(
        p.startswith(f"{NS}:argocd_notifications.format: got 'teams'") for p in problems_of(bad)
    )


def test_the_csi_plugins_volume_vmid_is_refused(prod: dict[str, str]) -> None:
    nodes = structured(prod, "nodes")
    nodes[0]["vm_id"] = 9999
    found = problems_of(with_key(prod, "nodes", nodes))
    assert any(
        p.startswith(f"{NS}:nodes[0].vm_id: got 9999; expected another VM id: 9999 owns")
        for p in found
    ), found


def test_monitoring_uis_are_published_only_behind_access(prod: dict[str, str]) -> None:
    cloudflare = structured(prod, "cloudflare")
    cloudflare["hostnames"].append(
        {
            "hostname": "grafana-test.example.net",
            "service": "http://grafana.monitoring.svc.cluster.local:80",
        }
    )
    found = problems_of(with_key(prod, "cloudflare", cloudflare))
    index = len(cloudflare["hostnames"]) - 1
    assert any(
        p.startswith(f"{NS}:cloudflare.hostnames[{index}].admin: got False; expected true")
        and "monitoring namespace" in p
        for p in found
    ), found
