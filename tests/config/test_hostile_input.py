"""Hostile stack files never crash the offline plan, never hang it, and never make it echo a
credential (issue 11, item 4).

Each case of `CASES` is a stack file written to a temporary directory and planned with
`python -m offline.plan --stack dev --stack-file FILE`, as text and as JSON: the exit status is the
expected one, no exception escapes, stderr holds no traceback, the run takes under 5 s, and no
credential planted in the file appears in stdout or stderr (stdout is the plan, stderr the
problems; the pull-request comment is built from both). The unit tests below cover the pieces:
the redaction of `ConfigProblem`, the size limits, and `validate()` on hostile raw values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from config import ConfigProblem, validate
from config.errors import credential_kind, redact, show_value
from config.models import CORES_MAX, DISK_GB_MAX, MEMORY_MB_MAX, VM_ID_MAX
from config.types import git_ref_problem
from offline import stackfile
from offline.paths import REPO_ROOT
from offline.plan import main
from offline.stackfile import MAX_CHARS, MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from tests.conftest import NS, stack_values, structured, with_key

BASE = (REPO_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8")
TIME_LIMIT_S = 5.0

# Credentials planted in the files: none may ever be printed. Each is fake, of the real format.
CF_TOKEN = "Xoo3a7l2GqEDBXBFwacU5i9-1dU7Q63fxEl0SMF1"
"""A Cloudflare API token: 40 characters of [A-Za-z0-9_-]."""
GH_TOKEN = "ghp_" + "Zq8rT3nW7yK2mB5xV9cL4pH6jD1fG0sA8eUo"
GH_PAT = (
    "github_pat_11ABCDEFG0" + "aZ3kQ9mW2xR7tY5uP8vN1bC4dE6fG0hJ2kL4mN6pQ8rS0tU2vW4xY6zA8bC0dE2fG4h"
)
PVE_TOKEN = "terraform@pve!pulumi=3f2a9c1e-7b4d-4e8a-9c6f-1d2e3f4a5b6c"
URL_PASSWORD = "Hunter2Passw0rdInUrl"
ENTROPY = "q7Vt9Lm2Xr4Kp8Zs1Wd6Nf3Hb5Jc0Gy"
"""A random-looking string of no known format (a generic API key)."""
PLAIN_UNDER_SECRET_NAME = "plain-but-under-a-password-key"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
PEM = (
    f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\nMIIEvQIBADANBgkqhkiG9w0B\n-----END PRIVATE KEY-----"
)
PLANTED = (CF_TOKEN, GH_TOKEN, GH_PAT, PVE_TOKEN, URL_PASSWORD, ENTROPY, PEM_BODY)
QUERY_SECRET = "Summer2024Qs"
"""A password in a URL's query string or fragment (`?access_token=...`)."""
PLANTED += (PLAIN_UNDER_SECRET_NAME, QUERY_SECRET)


def add(*lines: str) -> str:
    """The dev stack with config keys appended (two-space indented under `config:`)."""
    return BASE + "".join(f"  {line}\n" for line in lines)


def sub(old: str, new: str) -> str:
    """The dev stack with the first `old` replaced by `new`."""
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def billion_laughs(levels: int = 10, width: int = 10) -> str:
    lines = ["a0: &a0 [lol]"]
    for i in range(1, levels):
        refs = ", ".join(f"*a{i - 1}" for _ in range(width))
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\nconfig:\n  {NS}:cluster_name: *a{levels - 1}\n"


def merge_bomb(levels: int = 30) -> str:
    lines = ["a0: &a0 {k0: lol}"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], k{i}: lol}}")
    return "\n".join(lines) + f"\nconfig:\n  {NS}:proxmox: *a{levels - 1}\n"


def long_alias(chars: int = 1_000_000, times: int = 3000) -> str:
    """A long text under an unknown key, referenced thousands of times: few values, gigabytes
    once expanded."""
    refs = ", ".join(["*a"] * times)
    return add(f"{NS}:k: &a '" + "a" * chars + "'", f"{NS}:other: [{refs}]")


def repo_url(url: str) -> str:
    return sub("    revision: main\n", f"    revision: main\n    repo_url: {url}\n")


VM_ID_LINE = BASE[: BASE.index("vm_id: 1101")].count("\n") + 1
DEEP_FLOW = f"config:\n  {NS}:cluster_name: " + "[" * 100_000 + "]" * 100_000 + "\n"
DEEP_BLOCK = (
    "config:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)) + "  " * 200 + "x\n"
)


def pem_block(indent: int) -> str:
    """The private key as a YAML literal block, its lines indented by `indent` spaces."""
    return "|\n" + "".join(" " * indent + f"{line}\n" for line in PEM.splitlines())


# (id, content (text or bytes), expected exit status)
CASES: list[tuple[str, str | bytes | Callable[[], str | bytes], int]] = [
    ("the shipped stack", BASE, 0),
    (
        "anchors and a merge key used sensibly",
        sub(
            "      cores: 2\n      memory_mb: 4096\n      disk_gb: 32\n    - name: dev-worker-1",
            "      <<: &size {cores: 2, memory_mb: 4096, disk_gb: 32}\n    - name: dev-worker-1",
        ),
        0,
    ),
    ("a timestamp as text", sub("name: dev-cp-1", "name: 2024-01-01T10:00:00Z"), 1),
    ("a date as a value", add(f"{NS}:environment_until: 2026-12-31"), 1),
    ("binary", sub(f"{NS}:cluster_name: dev", f"{NS}:cluster_name: !!binary aGVsbG8="), 1),
    ("a set", sub(f"{NS}:cluster_name: dev", f"{NS}:cluster_name: !!set {{a, b}}"), 1),
    ("an unknown tag", sub(f"{NS}:cluster_name: dev", f"{NS}:cluster_name: !python/none x"), 1),
    ("null sections", f"config:\n  {NS}:network: null\n  {NS}:nodes: ~\n", 1),
    ("null config", "config: null\n", 1),
    ("empty config", "config: {}\n", 1),
    ("an integer key", add("1: one"), 1),
    ("a boolean key", add("yes: x"), 1),
    ("a null key", add("~: x"), 1),
    ("a list as key", add("? [a, b]", ": x"), 1),
    ("an integer key nested", sub("    insecure: true\n", "    insecure: true\n    7: x\n"), 1),
    (
        "a list key nested",
        sub("    insecure: true\n", "    insecure: true\n    ? [x]\n    : y\n"),
        1,
    ),
    ("billion laughs", billion_laughs(), 1),
    ("a deep alias chain", billion_laughs(width=2, levels=40), 1),
    ("billion laughs by merge keys", merge_bomb(), 1),
    ("an alias of a long text repeated", long_alias, 1),
    ("an alias of a long text repeated a few times", lambda: long_alias(MAX_CHARS // 2, 3), 1),
    ("a recursive alias", f"config:\n  {NS}:nodes: &a [*a]\n", 1),
    ("an undefined alias", f"config:\n  {NS}:nodes: *nothing\n", 1),
    ("a huge integer", sub("vm_id: 1101", "vm_id: 1" + "0" * 10_000), 1),
    ("a huge hex integer", sub("vm_id: 1101", "vm_id: 0x" + "f" * 5000), 1),
    ("a huge integer as text", sub("vm_id: 1101", "vm_id: '1" + "0" * 10_000 + "'"), 1),
    ("a huge top-level integer", add(f"{NS}:cloudflared_replicas: 1" + "0" * 10_000), 1),
    ("a 64-bit integer", sub("vm_id: 1101", f"vm_id: {2**63 - 1}"), 1),
    ("infinite cores", sub("cores: 2", "cores: .inf"), 1),
    ("nan memory", sub("memory_mb: 4096", "memory_mb: .nan"), 1),
    ("infinite replicas", add(f"{NS}:cloudflared_replicas: -.inf"), 1),
    ("a float vm id", sub("vm_id: 1101", "vm_id: 1101.5"), 1),
    ("deep flow nesting", DEEP_FLOW, 1),
    ("deep block nesting", DEEP_BLOCK, 1),
    ("deep JSON-like nesting in a value", add(f"{NS}:nodes_extra: " + "[" * 30 + "]" * 30), 1),
    ("a very long string", sub("name: dev-cp-1", "name: " + "a" * 3_000_000), 1),
    ("a very long key", add("x" * 100_000 + ": 1"), 1),
    ("a file over the size limit", "config:\n  x: '" + "a" * MAX_FILE_BYTES + "'\n", 1),
    ("two documents", BASE + "---\n" + BASE, 1),
    ("tabs", "config:\n\ttalos-platform:cluster_name: dev\n", 1),
    ("a tab inside a value", sub("name: dev-cp-1", 'name: "dev\tcp"'), 1),
    ("invalid UTF-8", BASE.encode() + b"  talos-platform:x: \xff\xfe\n", 1),
    ("a NUL character", BASE + "  talos-platform:x: \x00\n", 1),
    ("an empty file", "", 1),
    ("only a comment", "# nothing\n", 1),
    ("a top-level list", "- config\n", 1),
    ("a top-level scalar", "config\n", 1),
    ("config is a list", "config:\n  - a\n", 1),
    ("config is a scalar", "config: 3\n", 1),
    ("config is text", "config: ''\n", 1),
    ("a duplicate top-level key", add(f"{NS}:cluster_name: again"), 1),
    (
        "a duplicate nested key",
        sub("    insecure: true\n", "    insecure: true\n    insecure: no\n"),
        1,
    ),
    ("duplicate keys, old and new form", add(f"{NS}:config:cluster_name: dev"), 1),
    ("provider config", add("proxmoxve:endpoint: https://pve1.example.com:8006/"), 1),
    ("provider credential", add(f"cloudflare:apiToken: {CF_TOKEN}"), 1),
    ("an engine option", add("pulumi:disable-default-providers: ['*']"), 1),
    ("a key of another project", add("other-project:name: x"), 1),
    ("a key without namespace", add("cluster_name: dev2"), 1),
    ("a key with too many colons", add("a:b:c: x"), 1),
    ("too many cores", sub("cores: 2", f"cores: {CORES_MAX + 1}"), 1),
    ("no cores", sub("cores: 2", "cores: 0"), 1),
    ("too much memory", sub("memory_mb: 4096", f"memory_mb: {MEMORY_MB_MAX + 1}"), 1),
    ("too little memory", sub("memory_mb: 4096", "memory_mb: 16"), 1),
    ("too large a disk", sub("disk_gb: 32", f"disk_gb: {DISK_GB_MAX + 1}"), 1),
    ("too large a data disk", sub("disk_gb: 32", f"disk_gb: 32\n      data_disk_gb: {2**40}"), 1),
    ("no data disk size", sub("disk_gb: 32", "disk_gb: 32\n      data_disk_gb: 0"), 1),
    ("too large a VM id", sub("vm_id: 1101", f"vm_id: {VM_ID_MAX + 1}"), 1),
    ("a misspelt secret key", add(f"{NS}:cloudflare_api_tokn: {CF_TOKEN}"), 1),
    ("a misspelt secret key, short value", add(f"{NS}:proxmox_api_tokn: {PVE_TOKEN}"), 1),
    ("a secret in plain text", add(f"{NS}:cloudflare_api_token: {CF_TOKEN}"), 1),
    (
        "a password nested in a section",
        sub(
            "    insecure: true\n", f"    insecure: true\n    password: {PLAIN_UNDER_SECRET_NAME}\n"
        ),
        1,
    ),
    (
        "a URL with credentials as endpoint",
        sub(
            "endpoint: https://pve1.example.com:8006/",
            f"endpoint: https://root:{URL_PASSWORD}@pve1.example.com:8006/",
        ),
        1,
    ),
    (
        "a URL with credentials as repository",
        sub(
            "    revision: main\n",
            f"    revision: main\n    repo_url: https://git:{URL_PASSWORD}@github.com/o/r.git\n",
        ),
        1,
    ),
    (
        "a token as repository user",
        sub(
            "    revision: main\n",
            f"    revision: main\n    repo_url: https://{GH_TOKEN}@github.com/o/r\n",
        ),
        1,
    ),
    (
        "a token in the query of the repository URL",
        repo_url(f"https://github.com/o/r.git?access_token={QUERY_SECRET}"),
        1,
    ),
    ("a token in the fragment of the repository URL", repo_url(f"https://h/r#t={QUERY_SECRET}"), 1),
    ("a query in the repository URL", repo_url("https://github.com/o/r.git?ref=main"), 1),
    ("a password in an SSH repository URL", repo_url(f"ssh://git:{QUERY_SECRET}@h/r.git"), 1),
    (
        "a password in the query of the endpoint",
        sub(
            "endpoint: https://pve1.example.com:8006/",
            f"endpoint: https://pve1.example.com:8006/?password={QUERY_SECRET}",
        ),
        1,
    ),
    (
        "a query in the endpoint",
        sub("endpoint: https://pve1.example.com:8006/", "endpoint: https://pve1:8006/?a=b"),
        1,
    ),
    (
        "a fragment in the endpoint",
        sub("endpoint: https://pve1.example.com:8006/", f"endpoint: https://pve1/#{QUERY_SECRET}"),
        1,
    ),
    (
        "a token in the revision",
        sub("revision: main", f"revision: main?access_token={QUERY_SECRET}"),
        1,
    ),
    ("a revision with '..'", sub("revision: main", "revision: main..env/prod"), 1),
    ("a revision like an option", sub("revision: main", "revision: -main"), 1),
    ("a Proxmox token in a free-text field", sub("bridge: vmbr0", f"bridge: {PVE_TOKEN}"), 1),
    ("a GitHub token as revision", sub("revision: main", f"revision: {GH_TOKEN}"), 1),
    ("a fine-grained GitHub token under an unknown key", add(f"{NS}:gitops_pat: {GH_PAT}"), 1),
    (
        "a Cloudflare token as a datastore",
        sub("vm_datastore: talos-dev-vm", f"vm_datastore: {CF_TOKEN}"),
        1,
    ),
    (
        "a random-looking value",
        sub("image_datastore: talos-dev-images", f"image_datastore: {ENTROPY}"),
        1,
    ),
    (
        "a private key in a list",
        sub("      emails:\n", f"      groups:\n        - {pem_block(10)}      emails:\n"),
        1,
    ),
    ("a private key under an unknown key", BASE + f"  {NS}:ssh_private_key: {pem_block(4)}", 1),
    ("a token as a key", add(f"{NS}:{GH_TOKEN}: 1"), 1),
    (
        "a token as a nested key",
        sub("    insecure: true\n", f"    insecure: true\n    {CF_TOKEN}: x\n"),
        1,
    ),
    ("a token as a foreign key", add(f"{GH_TOKEN}:x: 1"), 1),
    ("a token in a duplicate key", add(f"{NS}:{ENTROPY}: 1", f"{NS}:{ENTROPY}: 2"), 1),
    ("a token on a line with a YAML error", add(f"{NS}:cluster_name2: [{GH_TOKEN}"), 1),
    ("a token after a tab", add(f"{NS}:x:\t{GH_TOKEN}: [", "}"), 1),
    ("a token as an alias name", add(f"{NS}:x: *{ENTROPY}"), 1),
    ("a token as a tag", add(f"{NS}:x: !{ENTROPY} y"), 1),
    ("a token as a node name", sub("name: dev-cp-1", f"name: {ENTROPY}"), 1),
    ("a token as a host name", sub("host: pve1", f"host: {CF_TOKEN}"), 1),
    ("a token as a hostname", sub("hostname: app-dev.example.com", f"hostname: {GH_TOKEN}"), 1),
    ("a token in a service URL", sub("http://frontend", f"http://{ENTROPY}.frontend"), 1),
    ("a bad regex path", sub("admin: true", "admin: true\n        path: '" + "(" * 5000 + "'"), 1),
    (
        "a bad IPv6 service",
        sub("http://frontend.podinfo.svc.cluster.local:9898", "'http://[::1'"),
        1,
    ),
]


def _content(value: str | bytes | Callable[[], str | bytes]) -> bytes:
    value = value() if callable(value) else value
    return value if isinstance(value, bytes) else value.encode("utf-8")


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """One plan first, so the time limit measures the input, not importing the SDKs (~5 s)."""
    main(["--stack", "dev", "--format", "json"])


@pytest.mark.parametrize("output", ["text", "json"])
@pytest.mark.parametrize(("what", "content", "status"), CASES, ids=[c[0] for c in CASES])
def test_hostile_stack_file_is_reported_without_crash_or_leak(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    what: str,
    content: str | bytes,
    status: int,
    output: str,
) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_bytes(_content(content))
    capsys.readouterr()
    started = time.monotonic()
    try:
        code = main(["--stack", "dev", "--stack-file", str(path), "--format", output])
    except BaseException as exc:  # the point: nothing may escape
        pytest.fail(f"{what}: {type(exc).__name__} escaped offline.plan: {exc!s:.300}")
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == status, f"{what}: exit {code}\n{err[-3000:]}"
    assert elapsed < TIME_LIMIT_S, f"{what}: took {elapsed:.1f} s"
    assert "Traceback" not in err and "Traceback" not in out
    for secret in PLANTED:
        assert secret not in out, f"{what}: a planted credential is in stdout"
        assert secret not in err, f"{what}: a planted credential is in stderr"
    if status == 1:
        assert out == "", f"{what}: a failed plan printed a plan (it would reach the diff)"
        assert err.strip(), f"{what}: failed without saying why"
    else:
        if output == "json":
            json.loads(out)
        assert len(err) < 20_000


# What the report says, for the cases whose message matters.
MESSAGES = [
    ("a duplicate top-level key", ["cluster_name", "twice", "line"]),
    ("a duplicate nested key", ["'insecure' twice", "first on line"]),
    ("duplicate keys, old and new form", ["given twice"]),
    ("provider config", ["proxmoxve:endpoint", "never uses it"]),
    ("an engine option", ["pulumi:disable-default-providers", "engine option"]),
    ("a key without namespace", ["'cluster_name'", "not a config key"]),
    ("a key of another project", ["outside the project namespace"]),
    ("billion laughs", [f"more than {MAX_NODES} values", "alias"]),
    ("an alias of a long text repeated", [f"more than {MAX_CHARS} characters", "line "]),
    ("a recursive alias", ["alias inside the value it names"]),
    ("deep flow nesting", [f"deeper than {MAX_DEPTH} levels"]),
    ("a huge integer", ["64-bit range", f"line {VM_ID_LINE}"]),
    ("binary", ["!!binary"]),
    ("an integer key", ["keys must be text"]),
    ("invalid UTF-8", ["not UTF-8"]),
    ("two documents", ["single document"]),
    ("a file over the size limit", [f"larger than {MAX_FILE_BYTES} bytes"]),
    ("too many cores", [f"{NS}:nodes[0].cores: got {CORES_MAX + 1}", f"{CORES_MAX}"]),
    ("too much memory", [f"nodes[0].memory_mb: got {MEMORY_MB_MAX + 1}", f"{MEMORY_MB_MAX}"]),
    ("too large a disk", [f"nodes[0].disk_gb: got {DISK_GB_MAX + 1}", f"{DISK_GB_MAX}"]),
    ("too large a VM id", [f"nodes[0].vm_id: got {VM_ID_MAX + 1}", f"{VM_ID_MAX}"]),
    ("a misspelt secret key", [f"{NS}:cloudflare_api_tokn: got [not shown"]),
    ("a password nested in a section", [f"{NS}:proxmox.password: got [not shown"]),
    ("a URL with credentials as repository", ["gitops.repo_url", "a URL with credentials"]),
    ("a GitHub token as revision", ["gitops.revision", "a GitHub token"]),
    ("a token in the query of the repository URL", ["gitops.repo_url", "credential in its query"]),
    ("a query in the repository URL", ["gitops.repo_url", "without user or token", "query"]),
    ("a password in an SSH repository URL", ["gitops.repo_url", "a URL with credentials"]),
    ("a query in the endpoint", ["proxmox.endpoint", "without user, password, query"]),
    ("a password in the query of the endpoint", ["proxmox.endpoint", "credential in its query"]),
    ("a token in the revision", ["gitops.revision", "check-ref-format` refuses '?'"]),
    ("a revision with '..'", ["gitops.revision", "refuses '..'"]),
    ("a revision like an option", ["gitops.revision", "a leading '-'"]),
    ("a Cloudflare token as a datastore", ["vm_datastore", "no credential in plain-text"]),
    ("a token as a key", [f"{NS}:[redacted]"]),
    ("a bad regex path", ["path", "regular expression"]),
    ("a bad IPv6 service", ["service", "a URL with scheme and host"]),
]


@pytest.mark.parametrize(("what", "fragments"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_the_report_names_the_key_and_the_bound(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, what: str, fragments: list[str]
) -> None:
    content = next(c for name, c, _ in CASES if name == what)
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_bytes(_content(content))
    main(["--stack", "dev", "--stack-file", str(path)])
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, f"{what}: {fragment!r} not in\n{err[-3000:]}"


# The redaction of problem messages, path by path.


@pytest.mark.parametrize(
    "credential",
    [CF_TOKEN, GH_TOKEN, GH_PAT, PVE_TOKEN, ENTROPY, PEM, f"https://u:{URL_PASSWORD}@h"],
)
def test_problem_never_shows_a_credential(credential: str) -> None:
    assert credential_kind(credential)
    for problem in (
        ConfigProblem(f"{NS}:cluster_name", credential, "a DNS label"),
        ConfigProblem(f"{NS}:nodes", [{"name": credential}], "a list"),
        ConfigProblem(f"{NS}:proxmox", {"endpoint": credential}, "x"),
        ConfigProblem(f"{NS}:{credential}", 1, "a known key"),
        ConfigProblem(f"{NS}:x", 1, f"no token for the URL {credential}"),
    ):
        text = str(problem)
        for part in (CF_TOKEN, GH_TOKEN, GH_PAT, PVE_TOKEN, ENTROPY, PEM_BODY, URL_PASSWORD):
            assert part not in text, text


@pytest.mark.parametrize(
    "name", ["cloudflare_api_tokn", "proxmox.password", "gitops.ssh_key", "x.secret", "passwd"]
)
def test_values_under_secret_ish_names_are_not_shown(name: str) -> None:
    text = str(ConfigProblem(f"{NS}:{name}", "short", "x"))
    assert "short" not in text and "[not shown: the key names a secret]" in text


@pytest.mark.parametrize(
    "value",
    [
        "dev-cp-1",
        "192.0.2.11",
        "https://pve1.example.com:8006/",
        "git@github.com:org/repo.git",
        "ssh://git@github.com/org/repo.git",
        "0123456789abcdef0123456789abcdef",  # a Cloudflare id
        "8f3b1e2d9c4a7b6e5f0a1d2c3b4e5f6a7b8c9d0e",  # a Git commit
        "3f2a9c1e-7b4d-4e8a-9c6f-1d2e3f4a5b6c",  # an Access group id
        "siderolabs/qemu-guest-agent",
        "http://argocd-server.argocd.svc.cluster.local:80",
        "a-long-but-perfectly-ordinary-cluster-name",
        "ReleaseCandidateBranch2026Q1",
    ],
)
def test_ordinary_values_are_shown(value: str) -> None:
    assert credential_kind(value) is None
    assert repr(value)[:40] in show_value(f"{NS}:cluster_name", value)


def test_long_and_huge_values_are_described_not_shown() -> None:
    assert "characters" in show_value(f"{NS}:x", "a" * 5000)
    assert "digits" in show_value(f"{NS}:x", 10**10000)
    assert show_value(f"{NS}:x", None) == "None"
    assert len(str(ConfigProblem(f"{NS}:" + "k" * 100_000, 1, "e" * 100_000))) < 3000


def test_redact_keeps_the_rest_of_the_text() -> None:
    assert redact(f"see https://u:{URL_PASSWORD}@host/x") == "see https://[redacted]@host/x"
    assert redact(f"token {GH_TOKEN} here") == "token [redacted] here"


def test_redaction_is_linear_on_hostile_text() -> None:
    started = time.monotonic()
    for text in ("a" * 1_000_000, "a@" * 500_000, "https://" + "a" * 1_000_000, "aB1" * 300_000):
        credential_kind(text)
        redact(text)
    assert time.monotonic() - started < TIME_LIMIT_S


# validate() on hostile raw values, as a real `pulumi up` hands them to the program.


@pytest.mark.parametrize(
    "value",
    [
        "[" + "1" * 5000 + "]",  # an integer Python's JSON reader refuses (over 4300 digits)
        "[" * 100_000 + "]" * 100_000,  # JSON nested past the recursion limit
        '{"hosts": "x"}',
        "[]",
        "{}",
        "null",
        '"' + "x" * 100_000 + '"',
        json.dumps([{"name": GH_TOKEN, "vm_id": 10**30}]),
    ],
)
@pytest.mark.parametrize("name", ["nodes", "proxmox", "cluster_name", "unknown_key"])
def test_validate_never_raises_on_hostile_raw_values(name: str, value: str) -> None:
    values, secrets = stack_values("dev")
    started = time.monotonic()
    result = validate(with_key(values, name, value), secrets)
    assert time.monotonic() - started < TIME_LIMIT_S
    assert result.problems or (name == "cluster_name" and value == "null")  # "null": a DNS label
    assert all(GH_TOKEN not in str(p) for p in result.problems)


def test_a_section_set_as_secret_never_shows_its_values() -> None:
    values, secrets = stack_values("dev")
    network = structured(values, "network")
    network["gateway"] = "not-an-address"
    bad = with_key(values, "network", network)
    found = validate(bad, secrets | {f"{NS}:network"}).problems
    assert found and all("not-an-address" not in str(p) for p in found)


def test_warnings_are_redacted_in_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """`load()` logs the warnings through `redact`: a credential-looking name never reaches the
    engine's log."""
    import config.loader as loader

    values, secrets = stack_values("dev")
    nodes = structured(values, "nodes")
    nodes[1]["name"] = GH_TOKEN  # the worker: named in the cloudflared spread warning
    monkeypatch.setattr(loader, "read_raw", lambda: (with_key(values, "nodes", nodes), secrets))
    logged: list[str] = []
    monkeypatch.setattr(loader.pulumi.log, "warn", logged.append)
    with pytest.raises(loader.ConfigError) as raised:
        loader.load()
    assert logged and all(GH_TOKEN not in line for line in logged)
    assert GH_TOKEN not in str(raised.value)


def test_a_validator_bug_is_a_problem_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import config.loader as loader

    def broken(parsed: dict) -> None:
        raise ValueError(GH_TOKEN)

    monkeypatch.setattr(loader, "cross_rules", broken)
    values, secrets = stack_values("dev")
    result = validate(values, secrets)
    assert result.config is None and len(result.problems) == 1
    assert "ValueError" in str(result.problems[0]) and GH_TOKEN not in str(result.problems[0])


def test_a_report_names_the_limit_without_guessing_at_a_bomb(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stackfile, "MAX_NODES", 1000)  # many values, no alias
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(add(f"{NS}:k: [" + "1," * 1000 + "1]"), encoding="utf-8")
    assert main(["--stack", "dev", "--stack-file", str(path)]) == 1
    err = capsys.readouterr().err
    assert "more than 1000 values" in err and "limit of a stack file" in err
    for content in (long_alias(), billion_laughs()):
        path.write_text(content, encoding="utf-8")
        assert main(["--stack", "dev", "--stack-file", str(path)]) == 1
        assert "bomb" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("gitops.repo_url", "ssh://git@github.com:22/o/r.git"),
        ("gitops.repo_url", "git@github.com:o/r.git"),
        ("gitops.repo_url", "https://github.com/o/r.git"),
        ("gitops.revision", "v1.2.0"),
        ("gitops.revision", "env/prod"),
        ("proxmox.endpoint", "https://pve1.example.com:8006/api2/json"),
    ],
)
def test_plain_urls_and_refs_are_accepted(name: str, value: str) -> None:
    values, secrets = stack_values("dev")
    section, _, field = name.partition(".")
    data = structured(values, section)
    data[field] = value
    result = validate(with_key(values, section, data), secrets)
    assert not [p for p in result.problems if name in p.key], result.problems


def test_a_url_with_a_query_or_fragment_is_not_shown() -> None:
    for url in ("https://pve1/?a=Summer2024Qs", "https://pve1/#Summer2024Qs"):
        text = str(ConfigProblem(f"{NS}:proxmox.endpoint", url, "a plain URL"))
        assert "Summer2024Qs" not in text and "query or fragment" in text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("https://github.com/o/r.git?access_token=S3cr", "S3cr"),
        ("https://pve:8006/?x=1&password=S3cr&y=2", "S3cr"),
        ("https://h/cb#id_token=S3cr", "S3cr"),
        ("https://h/f?X-Amz-Signature=S3cr", "S3cr"),
        ("https://h/?api_key=S3cr;pwd=T4", "T4"),
        ("main?access_token=S3cr", "S3cr"),
    ],
)
def test_secret_query_parameters_are_redacted(text: str, secret: str) -> None:
    assert credential_kind(text) == "a URL with a credential in its query"
    assert secret not in redact(text)
    assert "[redacted]" in redact(text)
    assert secret not in str(ConfigProblem(f"{NS}:gitops.revision", text, f"not {text}"))


def test_ordinary_query_parameters_are_kept() -> None:
    assert redact("https://h/?page=2&sort=name") == "https://h/?page=2&sort=name"
    assert credential_kind("https://h/?page=2") is None


@pytest.mark.parametrize(
    "ref", ["main", "env/prod", "v1.2.0", "release-1.x", "0" * 40, "feature/a_b", "HEAD"]
)
def test_git_refs_pulumi_stacks_use_are_accepted(ref: str) -> None:
    assert git_ref_problem(ref) is None


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "main?x=1",
        "a*",
        "a[1]",
        "a b",
        "a..b",
        "a@{1}",
        "@",
        "-main",
        "main.lock",
        "env/prod.lock/x",
        "main/",
        "/main",
        "a//b",
        "a/.b",
        "main.",
        "a~1",
        "a^",
        "a:b",
        "a\\b",
        "a\x7fb",
        "a\tb",
        "x" * 256,
    ],
)
def test_refs_git_check_ref_format_refuses_are_refused(ref: str) -> None:
    assert git_ref_problem(ref) is not None
