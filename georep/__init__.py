"""georep: a lab for multi-region DynamoDB replication under network partitions.

Public API: :class:`Lab` (the embedded lab) and the error types in :mod:`georep.errors`.
"""

from .errors import ConfigError, GeorepError, LabError
from .runtime.embedded import Lab

__all__ = ["ConfigError", "GeorepError", "Lab", "LabError"]
__version__ = "0.1.0"
