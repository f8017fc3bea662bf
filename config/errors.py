"""The problems configuration validation reports, and the error that carries them.

Every problem message passes through one redaction here (`ConfigProblem.__str__`), so a message
never echoes a credential, whatever the key it was found under: the offending value is shown only
when it is safe to show (`show_value`: short, not credential-like, not under a secret-ish key
name), and the key path and the expectation are scrubbed of anything credential-like
(`redact`), since both can carry text the user wrote (an unknown key, a URL in a message).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pulumi

NAMESPACE = "talos-platform"
"""The Pulumi config namespace of this project (the project name in Pulumi.yaml)."""

HIDDEN = "[secret]"
"""What a problem shows instead of a secret value."""
REDACTED = "[redacted]"
"""What replaces a credential-looking part of a key or message."""

SECRET_NAME = re.compile(r"tok|pass|pwd|secret|cred|priv|key|auth|api", re.I)
"""Key names whose values are never shown: `*token*`, `*password*`, `*secret*`, `*key*`, and
misspellings of them (`cloudflare_api_tokn`). No key of the schema (`models.SECTIONS`) matches."""

# Each pattern is bounded (no unbounded repetition before a literal that may never come), so a
# scan stays linear in the length of the text however hostile it is.
_UUID_TEXT = r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
_SECRET_PARAM = r"(?:tok|pass|pwd|secret|cred|key|auth|sig|session|priv|bearer|jwt|otp)"
"""Names of URL query parameters whose values are credentials: `token`, `access_token`,
`password`, `pwd`, `client_secret`, `api_key`, `auth`, `sig`/`signature` (a signed URL)..."""
_CREDENTIAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM key or certificate block", re.compile(r"-----BEGIN [A-Z0-9 ]{1,64}-----")),
    # https://user:password@host, https://token@host (a Git token), scheme://user:password@host.
    (
        "a URL with credentials",
        re.compile(
            r"\bhttps?://[^/\s@?#]{1,512}@"
            r"|\b[a-z][a-z0-9+.-]{0,31}://[^/\s@:]{0,256}:[^/\s@]{1,512}@",
            re.I,
        ),
    ),
    # A secret-named parameter of a URL's query or fragment: ?access_token=..., &password=...,
    # #id_token=... (the name is kept, the value redacted: `redact`).
    (
        "a URL with a credential in its query",
        re.compile(
            r"(?<=[?&;#])((?=[\w.~%-]{0,64}?" + _SECRET_PARAM + r")[\w.~%-]{1,64}=)"
            r"[^&#;\s'\"]{1,4096}",
            re.I,
        ),
    ),
    # GitHub: classic (ghp_, gho_, ghu_, ghs_, ghr_) and fine-grained (github_pat_) tokens.
    (
        "a GitHub token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})"),
    ),
    # Proxmox VE API token: USER@REALM!TOKENID=UUID (pve-docs `pveum.adoc`, API tokens).
    (
        "a Proxmox API token",
        re.compile(r"[\w.-]{1,64}@[\w.-]{1,64}![\w.-]{1,64}=" + _UUID_TEXT),
    ),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,4096}\.")),
    ("an AWS access key", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,255}")),
    # age's X25519 identity (FiloSottile/age `x25519.go`: "AGE-SECRET-KEY-1" and bech32).
    ("an age private key", re.compile(r"AGE-SECRET-KEY-1[02-9ACDEFGHJKLMNPQRSTUVWXYZ]{58}")),
)
_QUICK = {
    "a Proxmox API token": re.compile(r"[\w.-]@[\w.-]{1,64}![\w.-]{1,64}="),
}
"""Cheaper patterns that must match before the full one is tried: the full one scans up to 64
characters from every position, the quick one only from an `@`."""
_URL_QUERY = re.compile(r"\b[a-z][a-z0-9+.-]{0,31}://[^\s?#]{0,2048}[?#]\S", re.I)
"""A URL with a query (`?...`) or fragment (`#...`): either may carry a credential of any name
(`#Summer2024`), so a problem never shows such a URL."""
_WORD = re.compile(r"[A-Za-z0-9_+/=-]{20,}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(_UUID_TEXT)
_CLOUDFLARE_TOKEN = re.compile(r"[A-Za-z0-9_-]{40}")
"""Cloudflare API tokens: 40 characters of [A-Za-z0-9_-]."""
_AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")
"""An age public key (`backup.age_recipient`): public by design, what the etcd snapshots are
encrypted to."""
_DIGEST = re.compile(r"\bsha256:[0-9a-f]{64}(?![0-9A-Za-z])")
"""An OCI content digest (`image:tag@sha256:<hex>`, tests/gitops/test_image_digests.py): the
public name of an image. Its hex is random-looking; the `sha256:` before it says what it is."""
_HEX_IDS = (32, 40)
"""Lengths of hexadecimal strings that are identifiers, not secrets: Cloudflare account and zone
ids (32), Git commit ids (40)."""

MAX_SHOWN_CHARS = 80
MAX_TEXT_CHARS = 1000
"""A longer text value is never shown, only its length: a pasted blob (a key, a kubeconfig)."""
MAX_KEY_CHARS = 200
MAX_EXPECTED_CHARS = 2000
_SAMPLE = 4096
_MAX_WALK = 10_000
"""How many items of a structured value are inspected before it is called too large to show."""


def _class(char: str) -> int:
    return 0 if char.islower() else 1 if char.isupper() else 2


def _random_looking(word: str) -> bool:
    """A long word of token characters that looks random: a key, a token, a base64 secret.

    Identifiers that look random but are not secret (a Cloudflare id, a Git commit, a UUID) are
    let through; words of English-like camel case switch character class too seldom to count.
    A very long word is judged by its first `_SAMPLE` characters.
    """
    word = word[:_SAMPLE]
    n = len(word)
    if n < 20 or _UUID.fullmatch(word) or _AGE_RECIPIENT.fullmatch(word):
        return False
    hexadecimal = bool(_HEX.fullmatch(word))
    if hexadecimal and n in _HEX_IDS:
        return False
    has_upper = any(c.isupper() for c in word)
    has_lower = any(c.islower() for c in word)
    has_digit = any(c.isdigit() for c in word)
    if _CLOUDFLARE_TOKEN.fullmatch(word) and has_upper and has_lower and has_digit:
        return True
    if not has_digit or not (has_upper or has_lower):
        return False
    counts = Counter(word)
    entropy = -sum(c / n * math.log2(c / n) for c in counts.values())
    alnum = [c for c in word if c.isalnum()]  # separators ('-', '_', '/') are no randomness
    if len(alnum) < 20:
        return False
    switches = sum(_class(a) != _class(b) for a, b in pairwise(alnum))
    # Random hexadecimal has at most 4 bits a character, base62 almost 6.
    return entropy >= (3.0 if hexadecimal else 3.5) and switches / (len(alnum) - 1) >= 0.35


def credential_kind(text: str) -> str | None:
    """What credential `text` is or contains (a phrase such as "a GitHub token"), or None."""
    for kind, pattern in _CREDENTIAL_PATTERNS:
        quick = _QUICK.get(kind)
        if (quick is None or quick.search(text)) and pattern.search(text):
            return kind
    words = _DIGEST.sub("sha256:", text) if "sha256:" in text else text
    if any(_random_looking(m.group()) for m in _WORD.finditer(words)):
        return "a random-looking string (a token or key?)"
    return None


def redact(text: str, limit: int = MAX_EXPECTED_CHARS) -> str:
    """`text` with every credential-looking part replaced by `[redacted]`, cut at `limit`."""
    text = text[: limit * 4]
    for kind, pattern in _CREDENTIAL_PATTERNS:
        quick = _QUICK.get(kind)
        if quick is not None and not quick.search(text):
            continue
        if kind == "a URL with credentials":  # keep the scheme: https://[redacted]@host
            text = pattern.sub(lambda m: m.group().partition("://")[0] + f"://{REDACTED}@", text)
        elif kind == "a URL with a credential in its query":  # keep the name: ?token=[redacted]
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    text = _WORD.sub(lambda m: REDACTED if _random_looking(m.group()) else m.group(), text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def secret_name(path: str) -> bool:
    """The key path names a secret somewhere below the namespace (`proxmox.password`)."""
    return bool(SECRET_NAME.search(path.partition(":")[2] if ":" in path else path))


def _unsafe(value: Any) -> str | None:
    """Why `value` must not be shown, or None when it is safe to show."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > _MAX_WALK:
            return "too large to show"
        if isinstance(item, str):
            if len(item) > MAX_TEXT_CHARS:
                return f"a text of {len(item)} characters"
            if _URL_QUERY.search(item):
                return "a URL with a query or fragment"
            kind = credential_kind(item)
            if kind:
                return f"looks like {kind}"
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, int):
            if item.bit_length() > 128:
                return f"an integer of about {int(item.bit_length() * math.log10(2)) + 1} digits"
        elif isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and SECRET_NAME.search(k) and v not in (None, "", HIDDEN):
                    return f"holds the secret-ish key {redact(k, 40)!r}"
                stack += [k, v]
        elif isinstance(item, list | tuple | set | frozenset):
            stack += list(item)
        elif isinstance(item, bytes):
            return f"{len(item)} bytes"
    return None


def show_value(path: str, value: Any) -> str:
    """`value` as a problem message shows it: itself when safe, else why it is not shown."""
    if value is None or isinstance(value, bool) or value == HIDDEN:
        return repr(value)
    if secret_name(path):
        return "[not shown: the key names a secret]"
    reason = _unsafe(value)
    if reason:
        return f"[not shown: {reason}]"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"[not shown: a {type(value).__name__} too large to print]"
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a stack's configuration.

    `key` is the full config key path as a user would type it
    (`talos-platform:nodes[1].ip`), `value` the offending value, `expected` what would be right.
    Its text (`str()`) is redacted: see the module docstring.
    """

    key: str
    value: Any
    expected: str

    def __str__(self) -> str:
        return (
            f"{redact(self.key, MAX_KEY_CHARS)}: got {show_value(self.key, self.value)}; "
            f"expected {redact(self.expected)}"
        )


class ConfigError(pulumi.RunError):
    """Raised once, before any resource exists, with every problem found.

    It subclasses `pulumi.RunError`, which the Pulumi engine reports without a Python traceback.
    """

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = [f"invalid stack configuration ({len(problems)} problem(s)):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


def key(path: str) -> str:
    """The user-facing key for a dotted path below the project namespace."""
    return f"{NAMESPACE}:{path}"
