"""The edge: Access in front of admin UIs, origin options, a hardened cloudflared, and no inbound
exposure anywhere in what the program creates."""

from __future__ import annotations

import base64

import pytest
from pulumi.runtime.mocks import MockResourceArgs

from components.cloudflare.cloudflared import TOKEN_ANNOTATION, cloudflared_manifests, token_digest
from offline.answers import PlanMocks, tunnel_token
from tests.conftest import STACKS, by_type, recorded, stack_values, structured, with_key

ACCESS_APP = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication"
ACCESS_POLICY = "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy"
DNS = "cloudflare:index/dnsRecord:DnsRecord"
TUNNEL_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"


def self_hosted(run) -> list:
    """The Access applications in front of hostnames (not Argo CD's OIDC login)."""
    return [a for a in by_type(run, ACCESS_APP) if a.inputs["type"] == "self_hosted"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_admin_hostname_is_behind_access(stack: str) -> None:
    run = recorded(stack)
    values, _ = stack_values(stack)
    cf = structured(values, "cloudflare")
    admins = {h["hostname"] for h in cf["hostnames"] if h.get("admin")}
    apps = {a.inputs["domain"]: a for a in self_hosted(run)}
    assert set(apps) == admins
    (policy,) = by_type(run, ACCESS_POLICY)
    assert policy.inputs["decision"] == "allow"
    assert policy.inputs["includes"] == [{"email": {"email": "ops@example.com"}}]
    records = {r.inputs["name"]: r for r in by_type(run, DNS)}
    for hostname, app in apps.items():
        assert app.inputs["type"] == "self_hosted"
        assert app.inputs["policies"][0]["precedence"] == 1
        # Published and routed only once Access guards it.
        assert app.urn in records[hostname].dependencies
        assert app.urn in by_type(run, TUNNEL_CONFIG)[0].dependencies
    for hostname, record in records.items():
        if hostname not in admins:
            assert not any(a.urn in record.dependencies for a in apps.values())


def test_origin_options_reach_the_tunnel_rule() -> None:
    values, secrets = stack_values("prod")
    cf = structured(values, "cloudflare")
    cf["advanced_certificate"] = True  # names two labels deep need it
    cf["hostnames"].append(
        {
            "hostname": "*.apps.example.com",
            "service": "https://ingress.gateway.svc.cluster.local:443",
            "origin": {"origin_server_name": "apps.example.com", "connect_timeout_seconds": 15},
        }
    )
    run = recorded("prod", with_key(values, "cloudflare", cf), secrets)
    rules = by_type(run, TUNNEL_CONFIG)[0].inputs["config"]["ingresses"]
    wildcard = next(r for r in rules if r.get("hostname") == "*.apps.example.com")
    assert wildcard["originRequest"] == {
        "connectTimeout": 15,
        "originServerName": "apps.example.com",
    }
    assert rules[-1] == {"service": "http_status:404"}
    names = [r.inputs["name"] for r in by_type(run, DNS)]
    assert "*.apps.example.com" in names


def test_cloudflared_is_hardened() -> None:
    _, deployment, pdb, service = cloudflared_manifests("2026.10.0", 2)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == (
        "docker.io/cloudflare/cloudflared:2026.10.0"
        "@sha256:9b49eed8f62806d5d45ddf59ecefb5710429598ea6d3fcccd2af938f621b2b07"
    )
    assert "--no-autoupdate" in container["args"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} >= {
        "kubernetes.io/hostname"
    }
    assert pdb["spec"]["minAvailable"] == 1
    assert service["spec"]["type"] == "ClusterIP"
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


def _pod_specs(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    if "containers" in spec:
        return [spec]
    template = spec.get("template", {}).get("spec")
    return [template] if template else []


@pytest.mark.parametrize("stack", STACKS)
def test_no_inbound_exposure_in_what_the_program_creates(stack: str) -> None:
    run = recorded(stack)
    for r in run.registrations:
        if r.type == "kubernetes:core/v1:Service":
            assert r.inputs["spec"].get("type", "ClusterIP") == "ClusterIP", r.name
        for pod in _pod_specs(r.inputs) if r.type.startswith("kubernetes:") else []:
            assert not pod.get("hostNetwork"), r.name
            for container in pod["containers"]:
                assert all("hostPort" not in p for p in container.get("ports", [])), r.name
        if r.type == "kubernetes:helm.sh/v3:Release":
            values = r.inputs["values"]
            for component in values.values():
                if isinstance(component, dict) and "service" in component:
                    assert component["service"].get("type", "ClusterIP") == "ClusterIP"


TUNNEL = "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _mocked_token(stack: str) -> str:
    """The token the offline runtime answers for the stack's tunnel, recomputed from the same
    derivation (`offline/answers.py`): the tunnel secret, the account and the tunnel id."""
    run = recorded(stack)
    (tunnel,) = by_type(run, TUNNEL)
    password = PlanMocks().new_resource(
        MockResourceArgs(
            "random:index/randomPassword:RandomPassword",
            "tunnel-secret",
            {"length": 48, "special": False},
        )
    )[1]["result"]
    secret = base64.b64encode(password.encode()).decode()
    tunnel_id = _tunnel_id(run)
    return tunnel_token(tunnel.inputs["accountId"], tunnel_id, secret)


def _tunnel_id(run) -> str:
    (config,) = by_type(run, TUNNEL_CONFIG)
    return config.inputs["tunnelId"]


@pytest.mark.parametrize("stack", STACKS)
def test_cloudflared_pods_follow_the_token(stack: str) -> None:
    """A rotated tunnel secret keeps the tunnel id but changes the token: the pod template must
    change with the token, or the pods run the old one until they crash."""
    run = recorded(stack)
    deployment = next(r for r in by_type(run, DEPLOYMENT) if r.name == "cloudflared-deployment")
    annotations = deployment.inputs["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {TOKEN_ANNOTATION: token_digest(_mocked_token(stack))}
    assert not any("annotations" in path for path in deployment.secret_inputs)
    account = structured(stack_values(stack)[0], "cloudflare")["account_id"]
    rotated = tunnel_token(account, _tunnel_id(run), "another secret")
    assert token_digest(rotated) != annotations[TOKEN_ANNOTATION]


@pytest.mark.parametrize("stack", STACKS)
def test_tunnel_name_is_drawn_anew_when_the_tunnel_is_replaced(stack: str) -> None:
    run = recorded(stack)
    (tunnel,) = by_type(run, TUNNEL)
    (suffix,) = by_type(run, "random:index/randomId:RandomId")
    assert suffix.inputs["keepers"] == {
        "account_id": tunnel.inputs["accountId"],
        "config_src": tunnel.inputs["configSrc"],
    }
    prefix = f"talos-platform-{stack}-"
    assert tunnel.inputs["name"].startswith(prefix)
    assert len(tunnel.inputs["name"]) == len(prefix) + 2 * suffix.inputs["byteLength"]
    assert suffix.urn in tunnel.dependencies or suffix.urn in {
        u for urns in tunnel.property_dependencies.values() for u in urns
    }
    # Drawing a new suffix replaces the tunnel (the only safe way to replace it).
    assert tunnel.replacement_trigger == suffix_hex(suffix)


def suffix_hex(suffix) -> str:
    return PlanMocks().new_resource(
        MockResourceArgs("random:index/randomId:RandomId", suffix.name, dict(suffix.inputs))
    )[1]["hex"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_tunnel_secret_never_sits_in_a_resource_id(stack: str) -> None:
    """pulumi-random's RandomBytes uses its base64 value as its id, which state keeps in plain
    text; the tunnel secret comes from a RandomPassword (id "none", result secret)."""
    run = recorded(stack)
    assert by_type(run, "random:index/randomBytes:RandomBytes") == []
    passwords = by_type(run, "random:index/randomPassword:RandomPassword")
    assert {p.name for p in passwords} == {
        "tunnel-secret",
        "monitoring-grafana-password",
        "backup-repository-password",
    }
    for password in passwords:
        assert "result" in password.additional_secret_outputs
    (tunnel,) = by_type(run, TUNNEL)
    assert "tunnelSecret" in tunnel.secret_inputs


def test_git_webhook_gets_an_access_bypass_and_its_secret_stays_secret() -> None:
    values, secrets = stack_values("staging")
    values = {**values, "talos-platform:argocd_webhook_secret": "s3cr3t-value"}
    run = recorded("staging", values, secrets | {"talos-platform:argocd_webhook_secret"})
    apps = {a.inputs["domain"]: a for a in self_hosted(run)}
    assert set(apps) == {
        "argocd-staging.example.com",
        "argocd-staging.example.com/api/webhook",
        "grafana-staging.example.com",
        "prometheus-staging.example.com",
        "alertmanager-staging.example.com",
    }
    bypass = apps["argocd-staging.example.com/api/webhook"]
    policies = {p.urn: p for p in by_type(run, ACCESS_POLICY)}
    [policy_urn] = bypass.property_dependencies["policies"]
    assert policies[policy_urn].inputs["decision"] == "bypass"
    assert policies[policy_urn].inputs["includes"] == [{"everyone": {}}]
    release = next(r for r in by_type(run, "kubernetes:helm.sh/v3:Release") if r.name == "argocd")
    assert release.inputs["values"]["configs"]["secret"]["githubSecret"] == "[secret]"
    assert "values.configs.secret.githubSecret" in release.secret_inputs


def test_no_webhook_bypass_without_a_webhook_secret() -> None:
    domains = {a.inputs["domain"] for a in self_hosted(recorded("staging"))}
    assert not any(d.endswith("/api/webhook") for d in domains)


def test_no_disruption_budget_when_one_node_runs_the_workloads() -> None:
    """Draining the only node must evict every replica: a budget would hold the drain (and the
    node's Talos upgrade) until it times out."""
    from tests.conftest import document

    pdbs = {
        stack: [
            r["name"]
            for r in document(stack)["resources"]
            if r["type"].endswith("PodDisruptionBudget")
        ]
        for stack in ("dev", "prod")
    }
    assert pdbs == {"dev": [], "prod": ["cloudflared-pdb"]}
