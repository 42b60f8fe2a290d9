"""The counters a link's replicator keeps: what ``georep status``, the stats files and the
tests read. Plain data; Prometheus gets the same numbers through ``Replicator.metrics``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LinkStats:
    applied: int = 0
    suppressed: int = 0
    skipped: int = 0  # replicated writes seen in the source stream: not shipped (no ping-pong)
    conflicts: int = 0
    retries: int = 0
    races: int = 0  # conditional writes that lost to a concurrent write, re-read and redone
    stamped: int = 0  # plain-client writes stamped and written back to the source
    repaired: int = 0  # stamped plain writes merged into a source item that had moved on
    unreplicable: int = 0  # plain writes that cannot carry a stamp (too large): in the feed
    batches: int = 0
    # records whose new image carried a _georep attribute georep did not write (malformed,
    # forged, another lab's): stamped and replicated as the plain client's writes they are
    foreign: int = 0
    dead_lettered: int = 0  # records sent to the link's DLQ
    lag_ms: deque = field(default_factory=lambda: deque(maxlen=10000))
    last_error: str | None = None
    stopped: str | None = None  # why the link stopped for good (an unreadable checkpoint)

    def as_dict(self) -> dict[str, Any]:
        lags = sorted(self.lag_ms)
        out = {k: v for k, v in self.__dict__.items() if k != "lag_ms"}
        out["lag_ms_last"] = self.lag_ms[-1] if self.lag_ms else None
        out["lag_ms_p50"] = lags[len(lags) // 2] if lags else None
        return out
