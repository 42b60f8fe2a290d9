"""georep: a lab for multi-region DynamoDB replication under network partitions.

Public API (``__all__``): :class:`Lab`, the embedded lab (everything in this process);
:class:`LiveLab`, a client of a lab started with ``georep up``; :class:`LabSurface`, the lab
interface both satisfy; :class:`LabConfig` and :func:`load`, a lab's definition read from a
regions folder; and the errors a user can cause (:mod:`georep.errors`). Everything but the
errors is imported on first use, so ``import georep.core`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError, GeorepError, LabError

if TYPE_CHECKING:
    from .config import LabConfig, load
    from .runtime.embedded import Lab
    from .runtime.live import LiveLab
    from .runtime.surface import LabSurface

__all__ = ["ConfigError", "GeorepError", "Lab", "LabConfig", "LabError", "LabSurface", "LiveLab",
           "load"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Lab":
        from .runtime.embedded import Lab as value
    elif name == "LiveLab":
        from .runtime.live import LiveLab as value
    elif name == "LabSurface":
        from .runtime.surface import LabSurface as value
    elif name in ("LabConfig", "load"):
        from . import config

        value = getattr(config, name)
    else:
        raise AttributeError(f"module 'georep' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
