"""Argo CD: the Helm release, its values per environment, its login, and the root app-of-apps."""

from .release import ArgoCd, ArgoCdArgs
from .sso import ArgoCdLogin

__all__ = ["ArgoCd", "ArgoCdArgs", "ArgoCdLogin"]
