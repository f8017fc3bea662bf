"""Operator tools of the platform: `python -m tools.promote`."""
