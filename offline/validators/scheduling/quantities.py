"""Kubernetes resource quantities: CPU in millicores, memory in bytes, and back to text."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|[kMGTPE]i?)?$")

MI = 2**20


class QuantityError(ValueError):
    """A resource quantity this check cannot read."""


def _parse(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise QuantityError(f"{value!r} is not a quantity")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        amount = Decimal(number)
    except InvalidOperation as exc:
        raise QuantityError(f"{value!r} is not a quantity") from exc
    if suffix == "m":
        return amount / 1000
    return amount * _SUFFIXES[suffix]


def cpu_millis(value: Any) -> int:
    """`"250m"`, `"2"`, `0.5` -> millicores (rounded up, as Kubernetes does)."""
    millis = _parse(value) * 1000
    return int(millis.to_integral_value(rounding="ROUND_CEILING"))


def memory_bytes(value: Any) -> int:
    """`"128Mi"`, `"1G"`, `1073741824` -> bytes (rounded up)."""
    return int(_parse(value).to_integral_value(rounding="ROUND_CEILING"))


def show_cpu(millis: int) -> str:
    return f"{millis}m"


def show_memory(amount: int) -> str:
    """Bytes as whole MiB (`"3612Mi"`), rounded up so a request never shows as less."""
    return f"{-(-amount // MI)}Mi"
