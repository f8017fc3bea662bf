"""docs/alerts.md: the runbook every alert of this repository links to, one section per alert.

An alert's `runbook_url` ends in `docs/alerts.md#<anchor>`; the anchor must be a heading of
that file, as GitHub renders it (lower case, punctuation other than `-` and `_` dropped, spaces
as `-`, a repeated heading numbered `-1`, `-2`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ...paths import REPO_ROOT

ALERTS_DOC = REPO_ROOT / "docs" / "alerts.md"
DOC_PATH = "docs/alerts.md"
"""The runbook's path inside the repository, how a `runbook_url` names it."""

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(markdown: str) -> list[tuple[int, str, str]]:
    """(level, heading text, anchor) of each heading outside code fences, in order."""
    out: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.append((len(match.group(1)), match.group(2), base if count == 0 else f"{base}-{count}"))
    return out


@lru_cache(maxsize=4)
def _anchors(path: str, mtime: float) -> frozenset[str]:
    del mtime  # part of the cache key only
    return frozenset(a for _, _, a in anchors_of(Path(path).read_text(encoding="utf-8")))


def doc_anchors(path: Path = ALERTS_DOC) -> frozenset[str]:
    """The anchors of docs/alerts.md (empty when the file is missing)."""
    try:
        return _anchors(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        return frozenset()


def runbook_anchor(url: str) -> str | None:
    """The anchor of a `runbook_url` that points into docs/alerts.md, else None."""
    base, sep, anchor = url.partition("#")
    if not sep or not base.endswith(DOC_PATH):
        return None
    return anchor
