"""Version strings as the platform pins them, and their order.

`v1.13.9`, `1.36.2`, `10.1.1`, `2026.10.0`, `6.9.2`, `1.0.0-rc.1`: dot-separated numbers, an
optional leading `v`, an optional pre-release after `-` (which sorts before the release) and
build metadata after `+` (ignored). Numbers compare as numbers: v1.13.9 < v1.13.10.
"""

from __future__ import annotations

import re
from functools import total_ordering

_VERSION = re.compile(
    r"v?(?P<release>\d+(?:\.\d+)*)(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?"
)


class NotAVersionError(ValueError):
    """The string is not a version this module can order."""


@total_ordering
class Version:
    def __init__(self, text: str) -> None:
        match = _VERSION.fullmatch(text.strip())
        if match is None:
            raise NotAVersionError(
                f"{text!r} is not a version (expected for example v1.13.9 or 6.9.2)"
            )
        self.text = text
        self.release = tuple(int(part) for part in match["release"].split("."))
        self.pre: tuple[tuple[int, int | str], ...] | None = (
            tuple((0, int(p)) if p.isdigit() else (1, p) for p in match["pre"].split("."))
            if match["pre"]
            else None
        )

    def _key(self, width: int) -> tuple[object, ...]:
        release = self.release + (0,) * (width - len(self.release))
        # A release sorts after each of its pre-releases.
        return (release, self.pre is None, self.pre or ())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        width = max(len(self.release), len(other.release))
        return self._key(width) == other._key(width)

    def __lt__(self, other: Version) -> bool:
        width = max(len(self.release), len(other.release))
        return self._key(width) < other._key(width)

    def __hash__(self) -> int:
        release = self.release
        while len(release) > 1 and release[-1] == 0:
            release = release[:-1]
        return hash((release, self.pre))

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def is_downgrade(old: str, new: str) -> bool:
    """Whether going from `old` to `new` goes back; NotAVersionError if either is not a version."""
    return Version(new) < Version(old)
