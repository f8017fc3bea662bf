"""The typed, validated configuration of a stack: `load()` it once in `__main__.py`."""

from .errors import NAMESPACE, ConfigError, ConfigProblem
from .loader import Secrets, Validated, load, validate
from .models import StackConfig

__all__ = [
    "NAMESPACE",
    "ConfigError",
    "ConfigProblem",
    "Secrets",
    "StackConfig",
    "Validated",
    "load",
    "validate",
]
