"""Ingress rules checked the way cloudflared checks them, and Access rules for admin UIs."""

from __future__ import annotations

import pytest

from config import validate
from tests.conftest import NS, stack_values, structured, with_key


def problems_with_hostname(stack: str, **entry: object) -> list[str]:
    values, secrets = stack_values(stack)
    cf = structured(values, "cloudflare")
    cf["hostnames"].append({"hostname": "x.example.com", "service": "http://x.x.svc:80", **entry})
    at = len(cf["hostnames"]) - 1
    found = validate(with_key(values, "cloudflare", cf), secrets).problems
    return [str(p) for p in found if p.key.startswith(f"{NS}:cloudflare.hostnames[{at}]")]


BAD_RULES = [
    ({"hostname": "x.example.com:8443"}, "hostname", "without a port"),
    ({"hostname": "a.*.example.com"}, "hostname", "leading '*.'"),
    ({"hostname": "*"}, "hostname", "catch-all rule is added last"),
    ({"service": "frontend.podinfo.svc:9898"}, "service", "scheme and host"),
    ({"service": "http://frontend.podinfo.svc:9898/app"}, "service", "without a path"),
    ({"service": "http_status:999"}, "service", "100 to 599"),
    ({"service": "unix:"}, "service", "socket path"),
    ({"path": "^/api/(v1"}, "path", "regular expression"),
    ({"origin": {"no_tls_verify": True}}, "origin", "https://"),
    (
        {"service": "https://x.x.svc:443", "origin": {"no_tls_verify": True, "ca_pool": "/ca"}},
        "origin.no_tls_verify",
        "verify the origin",
    ),
]


@pytest.mark.parametrize(("entry", "field", "fragment"), BAD_RULES)
def test_bad_rule_is_named_with_what_is_wrong(entry: dict, field: str, fragment: str) -> None:
    found = problems_with_hostname("prod", **entry)
    assert any(f".{field}: got " in p and fragment in p for p in found), found


GOOD_RULES = [
    {"hostname": "*.example.com"},
    {"service": "http_status:418"},
    {"service": "hello_world"},
    {"service": "unix:/run/app.sock"},
    {"service": "https://x.x.svc:8443", "origin": {"origin_server_name": "x.example.com"}},
    {"service": "http://grpc.x.svc:9000", "origin": {"http2_origin": True}},
    {"path": "^/api/v[0-9]+/", "origin": {"connect_timeout_seconds": 10}},
]


@pytest.mark.parametrize("entry", GOOD_RULES)
def test_good_rule_passes(entry: dict) -> None:
    assert problems_with_hostname("prod", **entry) == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_public_argocd_ui_is_an_error_in_staging_and_prod(stack: str) -> None:
    values, secrets = stack_values(stack)
    cf = structured(values, "cloudflare")
    index = next(i for i, h in enumerate(cf["hostnames"]) if "argocd-server" in h["service"])
    cf["hostnames"][index]["admin"] = False
    found = [str(p) for p in validate(with_key(values, "cloudflare", cf), secrets).problems]
    assert any(
        p.startswith(f"{NS}:cloudflare.hostnames[{index}].admin: got False")
        and "public without Cloudflare Access" in p
        for p in found
    )


def test_public_argocd_ui_is_allowed_in_dev_but_never_monitoring() -> None:
    values, secrets = stack_values("dev")
    cf = structured(values, "cloudflare")
    for entry in cf["hostnames"]:
        entry["admin"] = False
    found = [str(p) for p in validate(with_key(values, "cloudflare", cf), secrets).problems]
    # Only the monitoring UIs (Grafana, Prometheus, Alertmanager) are refused public.
    assert len(found) == 3
    assert all("routes to the monitoring namespace" in p for p in found)


def test_admin_hostnames_need_someone_to_let_in() -> None:
    values, secrets = stack_values("prod")
    cf = structured(values, "cloudflare")
    cf["access"] = {"emails": []}
    found = [str(p) for p in validate(with_key(values, "cloudflare", cf), secrets).problems]
    assert any(
        p.startswith(f"{NS}:cloudflare.access: got") and "argocd.example.com" in p for p in found
    )


def test_bad_access_email_is_named() -> None:
    values, secrets = stack_values("prod")
    cf = structured(values, "cloudflare")
    cf["access"] = {"emails": ["not-an-email"]}
    found = [str(p) for p in validate(with_key(values, "cloudflare", cf), secrets).problems]
    assert any(p.startswith(f"{NS}:cloudflare.access.emails[0]: got 'not-an-email'") for p in found)


def test_argocd_ui_needs_a_single_name() -> None:
    found = problems_with_hostname(
        "prod",
        hostname="*.ops.example.com",
        service="http://argocd-server.argocd.svc.cluster.local:80",
        admin=True,
    )
    assert any(".hostname: got '*.ops.example.com'" in p and "not a wildcard" in p for p in found)
