"""The seed's incidents as runnable scenarios, each with its claim and its measured outcome.

Place in the data flow: a front end of both labs. ``georep scenario run NAME`` runs one through
:func:`.run.run`; each module tells one story on the shared base (:mod:`.base`), and
:mod:`.home` keeps the records some fixes claim in a home region.
"""

from __future__ import annotations

from ..errors import LabError
from . import atm, ecommerce, global_tables, payment_gateway, zombie
from .base import Scenario

__all__ = ["SCENARIOS", "get"]

SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (global_tables.SCENARIO, atm.SCENARIO, ecommerce.SCENARIO,
                        payment_gateway.SCENARIO, zombie.SCENARIO)}


def get(name: str) -> Scenario:
    """The scenario called ``name``; LabError listing the scenarios otherwise."""
    if name not in SCENARIOS:
        raise LabError(f"no scenario {name!r} (available: {', '.join(SCENARIOS)})")
    return SCENARIOS[name]
