"""Monitoring: what the program supplies to the monitoring add-on of the platform tree."""

from .prerequisites import Monitoring, MonitoringArgs

__all__ = ["Monitoring", "MonitoringArgs"]
