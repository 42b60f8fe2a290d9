"""A table link's read state: which shards, where each stands, and the page read ahead.

Place in the data flow: the replicator (:mod:`georep.engine.replicator`) keeps one per table
link. It reads a shard's next page while it applies the last one, so the destination waits for
no stream read (issue 16: a page of 1,000 records took about half a second to read from moto,
all of it time the destination sat idle). The page read ahead is used by the shard's next step
or dropped with the link: a stopped replicator's successor reads again from the checkpoints,
which only ever advance past pages already applied.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..aws.checkpoints import Checkpoint
from ..core.lineage import ShardLineage


@dataclass
class ShardReads:
    """A table link's read state: the shards, each one's checkpoint, open iterator and the page
    being read ahead, and the checkpoints not saved yet."""

    lineage: ShardLineage
    cps: dict[str, Checkpoint]
    iterators: dict[str, str | None] = field(default_factory=dict)
    unsaved: dict[str, Checkpoint] = field(default_factory=dict)
    ahead: dict[str, asyncio.Future] = field(default_factory=dict)

    def drop_reads(self) -> None:
        """Cancel the reads ahead (the link stops; its successor re-reads from the
        checkpoints), and retrieve a finished one's error so that none is logged as lost."""
        for read in self.ahead.values():
            if read.done():
                if not read.cancelled():
                    read.exception()
            else:
                read.cancel()
        self.ahead.clear()
