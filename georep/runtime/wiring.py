"""Wiring: build a link's replicator from the config and three clients.

Place in the data flow: shared by the embedded lab (replicators as tasks) and the live lab
(a replicator per OS process), so both run exactly the same replicator.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from ..aws.checkpoints import CheckpointStore
from ..aws.dlq import DeadLetterQueue
from ..aws.stamps import StampStore
from ..aws.streams import StreamReader
from ..aws.tables import stream_arn
from ..config import LabConfig
from ..core.policies import policy_named
from ..engine.apply import Applier
from ..engine.replicator import Replicator, TableLink


async def build_replicator(
    config: LabConfig,
    src: str,
    dst: str,
    *,
    source,
    source_streams,
    source_sqs,
    dest,
    emit: Callable[..., Any],
    rng: random.Random,
    clock: Callable[[], float],
    metrics=None,
    **options: Any,
) -> Replicator:
    """``source``/``source_streams``/``source_sqs`` talk to src directly; ``dest`` reaches dst
    through the link; ``options`` go to the :class:`Replicator` as they are (``sleep``,
    ``serial``, ``created_ms``)."""
    link = f"{src}>{dst}"
    tables = []
    for t in config.tables:
        tables.append(TableLink(
            t,
            StreamReader(source_streams, await stream_arn(source, t.name)),
            CheckpointStore(source, link, t.name),
            Applier(dest, t, policy_named(t.policy, **t.policy_options()), dst),
            Applier(source, t, policy_named(t.policy, **t.policy_options()), src),
            StampStore(source, t.name),
        ))
    return Replicator(src, dst, source_client=source, tables=tables,
                      settings=config.settings_for(src, dst), dlq=DeadLetterQueue(source_sqs, link),
                      emit=emit, clock=clock, rng=rng, metrics=metrics, **options)
