"""The ``convergence`` checker: does every region end with the same items and siblings?

Place in the data flow: between a recorded history (georep test, or a user's own client) and
the verdict printed by georep test/check. It reads only the ``final-read`` operations: per
table, each key's item and siblings in every region, compared as canonical JSON (sorted keys;
a sibling list as a set; a key one region's read omits is compared as null with no siblings).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .common import Op, View, bounded, verdict, view


def convergence(history: Sequence[Op] | View) -> dict[str, Any] | None:
    """False when two regions' final reads of a table differ (up to 20 keys named, with each
    region's item and siblings); unknown when fewer than two regions read anything, or a table
    was not read by every region that read any (``partial``)."""
    reads = view(history).reads
    if not reads:
        return None
    regions = sorted({region for by_region in reads.values() for region in by_region})
    if len(regions) < 2:
        return {"valid": "unknown", "regions": regions,
                "reason": "final reads from fewer than two regions: nothing to compare"}
    differences: list[dict] = []
    partial = []
    for table, by_region in reads.items():
        if len(by_region) < len(regions):
            partial.append({"table": table, "regions": sorted(by_region)})
        if len(by_region) > 1:
            differences.extend(_differences(table, by_region))
    return {"valid": verdict(bool(differences), bool(partial)), "regions": regions,
            **bounded("differences", differences), "partial": partial}


def _differences(table: str, by_region: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    keys = dict.fromkeys(k for read in by_region.values()
                         for part in (read["items"], read["siblings"]) for k in part)
    out = []
    for key in keys:
        seen = {region: (read["items"].get(key), read["siblings"].get(key) or [])
                for region, read in by_region.items()}
        if len({_canonical(item, siblings) for item, siblings in seen.values()}) > 1:
            out.append({"table": table, "key": key,
                        "regions": {region: {"item": item, "siblings": siblings}
                                    for region, (item, siblings) in sorted(seen.items())}})
    return out


def _canonical(item: Any, siblings: Sequence[Any]) -> str:
    dump = json.dumps
    return dump([dump(item, sort_keys=True, default=str),
                 sorted(dump(s, sort_keys=True, default=str) for s in siblings)])
