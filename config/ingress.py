"""cloudflared's own rules for ingress rules, checked before anything is registered.

They follow cloudflared's `ingress/ingress.go`: a hostname has no port and its only wildcard is a
leading `*.`; a path is a valid regular expression; a service is `http_status:<code>`,
`hello_world`, `bastion`, `socks-proxy`, `unix:`/`unix+tls:` followed by a socket path, or a URL
with a scheme and a host and no path. The catch-all (`http_status:404`, no hostname) is always
appended last by the program, so a configured rule may not be a catch-all itself.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .errors import ConfigProblem, key
from .models import PublicHostname

SPECIAL_SERVICES = ("hello_world", "bastion", "socks-proxy")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def hostname_problem(hostname: str) -> str | None:
    if hostname in ("", "*"):
        return "a hostname; the catch-all rule is added last automatically"
    if ":" in hostname:
        return "a hostname without a port"
    name = hostname[2:] if hostname.startswith("*.") else hostname
    if "*" in name:
        return "a hostname whose only wildcard is a leading '*.'"
    if not all(_LABEL.match(label) for label in name.split(".")):
        return "a lowercase DNS name (letters, digits, '-' and '.')"
    return None


def service_problem(service: str) -> str | None:
    if service.startswith("http_status:"):
        code = service.removeprefix("http_status:")
        if code.isdigit() and 100 <= int(code) <= 599:
            return None
        return "http_status:<code> with an HTTP status code from 100 to 599"
    if service in SPECIAL_SERVICES:
        return None
    if service.startswith(("unix:", "unix+tls:")):
        return None if service.split(":", 1)[1] else "a socket path after unix:"
    try:
        url = urlsplit(service)
        hostname = url.hostname
    except ValueError:  # an unclosed IPv6 bracket: "http://[::1"
        hostname = None
    if not hostname or not url.scheme:
        return (
            "a URL with scheme and host (http://name.namespace.svc.cluster.local:80), "
            "http_status:<code>, hello_world, bastion, socks-proxy or unix:<path>"
        )
    if url.path not in ("", "/"):
        return "an origin URL without a path (route paths with the rule's `path` instead)"
    return None


def path_problem(path: str) -> str | None:
    try:
        re.compile(path)
    except re.error as exc:
        return f"a valid regular expression ({exc})"
    except (OverflowError, RecursionError, MemoryError):  # a{4294967296}, ((((...)))) deep
        return "a valid regular expression of reasonable size and nesting"
    return None


def ingress_rule_problems(hostnames: list[PublicHostname]) -> list[ConfigProblem]:
    """Every problem of every configured rule, each naming the rule by its config key."""
    problems = []
    for i, entry in enumerate(hostnames):
        at = f"cloudflare.hostnames[{i}]"
        for field, value, check in (
            ("hostname", entry.hostname, hostname_problem),
            ("service", entry.service, service_problem),
            ("path", entry.path, path_problem),
        ):
            if value is None:
                continue
            expected = check(value)
            if expected:
                problems.append(ConfigProblem(key(f"{at}.{field}"), value, expected))
        origin = entry.origin
        if origin.no_tls_verify and (origin.origin_server_name or origin.ca_pool):
            problems.append(
                ConfigProblem(
                    key(f"{at}.origin.no_tls_verify"),
                    True,
                    "false when origin_server_name or ca_pool is set (they verify the origin)",
                )
            )
        tls_only = origin.no_tls_verify or origin.origin_server_name or origin.ca_pool
        if tls_only and not entry.service.startswith(("https://", "unix+tls:")):
            problems.append(
                ConfigProblem(
                    key(f"{at}.origin"),
                    origin.model_dump(exclude_defaults=True),
                    "TLS options only for an https:// or unix+tls: service",
                )
            )
    return problems
