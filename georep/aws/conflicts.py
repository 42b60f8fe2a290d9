"""The conflict feed: every concurrent write a policy resolved, and every version that cannot
be replicated, stored in each region.

Place in the data flow: the replicator records an entry in a region's ``georep_conflicts`` table
whenever a merge there found concurrent versions (at the destination of an apply, or at the
source when a repair merged a lost version back). ``georep conflicts`` and ``Lab.conflicts``
read it. Entry ids are derived from the versions involved, so a replayed merge rewrites the same
entry instead of adding one. Values are stored as JSON strings, never evaluated.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from ..core.meta import Version
from ..core.policy import Conflict
from .batches import writes
from .values import to_python

CONFLICTS_TABLE = "georep_conflicts"
# A test-only knob, never for real use: with GEOREP_TEST_MUTE_CONFLICT_FEED=1 in a process's
# environment, its merges record nothing in the feed. The harness's suite sets it to show that
# the lost-update checker catches a policy that overwrites without saying so.
MUTE_ENV = "GEOREP_TEST_MUTE_CONFLICT_FEED"


def conflicts_request() -> dict:
    return {
        "TableName": CONFLICTS_TABLE,
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def entry(*, region: str, table: str, key: dict[str, Any], policy: str, time: float,
          winner: dict[str, Any], losers: list[dict[str, Any]],
          siblings: list[dict[str, Any]] | None = None,
          reason: str = "concurrent") -> dict[str, Any]:
    """A feed entry as plain data. ``winner``, each loser (a value that was lost) and each
    sibling (a value kept beside the winner, or merged into it): {region, hlc, tombstone,
    value}. ``reason``: ``concurrent`` (a merge of concurrent versions), ``unreplicable:
    <why>`` (``winner`` is a version that exists in ``region`` only and cannot be replicated,
    for instance too large to carry georep's metadata), or ``swallowed`` (``winner`` is a delete
    that removed the plain update it names, landed on the tombstone of another delete:
    :func:`georep.core.records.swallowed`)."""
    winner, losers = _bounded(winner), [_bounded(v) for v in losers]
    siblings = [_bounded(v) for v in siblings or []]
    others = [*losers, *siblings]
    ident = json.dumps([region, table, key, winner.get("hlc"), winner.get("region"),
                        sorted((o.get("region"), o.get("hlc")) for o in others)],
                       sort_keys=True, default=str)
    regions = sorted({winner.get("region"), *(o.get("region") for o in others)} - {None})
    return {"id": hashlib.blake2b(ident.encode(), digest_size=12).hexdigest(), "time": time,
            "region": region, "table": table, "key": key, "policy": policy,
            "regions": regions, "winner": winner, "losers": losers, "siblings": siblings,
            "reason": reason}


MAX_VALUE = 16 * 1024  # bytes of JSON per described value; an entry must fit in one item


def _bounded(described: dict[str, Any]) -> dict[str, Any]:
    """A described version whose value is too large to quote is summarised, not quoted: the
    entry must fit in the feed (an item of at most 400 KB), whatever the user's item holds."""
    text = json.dumps(described.get("value"), sort_keys=True, default=str)
    if len(text) <= MAX_VALUE:
        return described
    digest = hashlib.blake2b(text.encode(), digest_size=10).hexdigest()
    return {**described, "value": {"$truncated": {"bytes": len(text), "digest": digest}}}


def describe(v: Version) -> dict[str, Any]:
    """A version as a feed entry names it: {region, hlc, tombstone, value}."""
    return {"region": v.meta.origin, "hlc": v.meta.hlc, "tombstone": v.meta.tombstone,
            "value": to_python(v.attrs)}


def of_conflict(c: Conflict, *, region: str, table: str, key: dict[str, Any],
                time: float) -> dict[str, Any]:
    """The feed entry of a policy's conflict, merged in ``region``."""
    return entry(region=region, table=table, key=key, policy=c.policy, time=time,
                 winner=describe(c.winner), losers=[describe(v) for v in c.losers],
                 siblings=[describe(v) for v in c.siblings], reason=c.reason)


def to_item(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": {"S": e["id"]}, "time": {"N": repr(round(e["time"], 6))},
        "region": {"S": e["region"]}, "table": {"S": e["table"]},
        "key": {"S": json.dumps(e["key"], sort_keys=True, default=str)},
        "policy": {"S": e["policy"]}, "regions": {"S": json.dumps(e["regions"])},
        "winner": {"S": json.dumps(e["winner"], default=str)},
        "losers": {"S": json.dumps(e["losers"], default=str)},
        "siblings": {"S": json.dumps(e.get("siblings", []), default=str)},
        "reason": {"S": e.get("reason", "concurrent")},
    }


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"]["S"], "time": float(item["time"]["N"]), "region": item["region"]["S"],
        "table": item["table"]["S"], "key": json.loads(item["key"]["S"]),
        "policy": item["policy"]["S"], "regions": json.loads(item["regions"]["S"]),
        "winner": json.loads(item["winner"]["S"]), "losers": json.loads(item["losers"]["S"]),
        "siblings": json.loads(item.get("siblings", {"S": "[]"})["S"]),
        "reason": item.get("reason", {"S": "concurrent"})["S"],
    }


class ConflictFeed:
    """One region's feed."""

    def __init__(self, client) -> None:
        self.client = client

    async def record(self, entries: list[dict[str, Any]]) -> None:
        if os.environ.get(MUTE_ENV) == "1":  # the test-only knob: see MUTE_ENV
            return
        for start in range(0, len(entries), 25):
            request = {CONFLICTS_TABLE: [{"PutRequest": {"Item": to_item(e)}}
                                         for e in entries[start:start + 25]]}
            async for _ in writes(self.client, request):
                pass

    async def remove(self, ids: list[str]) -> None:
        """Take entries back (a merge recorded ahead of its write, whose write lost a race)."""
        for start in range(0, len(ids), 25):
            request = {CONFLICTS_TABLE: [{"DeleteRequest": {"Key": {"id": {"S": i}}}}
                                         for i in ids[start:start + 25]]}
            async for _ in writes(self.client, request):
                pass

    async def read(self, table: str | None = None,
                   key: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out = []
        kw: dict[str, Any] = {"TableName": CONFLICTS_TABLE, "ConsistentRead": True}
        while True:
            resp = await self.client.scan(**kw)
            for item in resp.get("Items", []):
                e = from_item(item)
                if (table is None or e["table"] == table) and (key is None or e["key"] == key):
                    out.append(e)
            if "LastEvaluatedKey" not in resp:
                break
            kw["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return sorted(out, key=lambda e: (e["time"], e["id"]))
