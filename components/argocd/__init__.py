"""Argo CD: the Helm release, its values per environment, and the root app-of-apps."""

from .release import ArgoCd, ArgoCdArgs

__all__ = ["ArgoCd", "ArgoCdArgs"]
