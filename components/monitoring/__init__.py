"""Monitoring: what the program supplies to the monitoring add-on of the platform tree."""

from .alerting import Alerting, AlertingArgs

__all__ = ["Alerting", "AlertingArgs"]
