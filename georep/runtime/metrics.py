"""Prometheus metrics of a live lab (prometheus_client, multiprocess mode).

Place in the data flow: every replicator process and the supervisor record into the lab's
metrics folder (``PROMETHEUS_MULTIPROC_DIR``); the supervisor's control API serves the sum at
``/metrics``. Metric names are the ones ``monitoring/georep-alerts.yml`` alerts on.

Set ``PROMETHEUS_MULTIPROC_DIR`` before importing this module in a process that records.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

APPLIED = Counter("georep_applied_total", "Versions written at the destination.", ["link"])
SUPPRESSED = Counter("georep_suppressed_duplicates_total",
                     "Versions that changed nothing at the destination (replays, older).",
                     ["link"])
SKIPPED = Counter("georep_skipped_total",
                  "Replicated writes seen in the source stream and not shipped.", ["link"])
RETRIES = Counter("georep_retries_total", "Failed calls retried with backoff.", ["link"])
CONFLICTS = Counter("georep_conflicts_total", "Concurrent writes found by the policy.", ["link"])
LAG = Histogram("georep_replication_lag_seconds",
                "Source stream record creation to apply at the destination.", ["link"],
                buckets=LAG_BUCKETS)
REQUEST = Histogram("georep_remote_request_seconds",
                    "Duration of one apply round trip to the destination region.", ["link"],
                    buckets=LAG_BUCKETS)
# A replicator's own gauges keep the value it last set after it dies ("mostrecent", not
# "live*"): a killed replicator must not resolve the alerts on its link. The supervisor's
# georep_replicator_up says whether the value is still being kept up to date.
PENDING = Gauge("georep_pending_records", "Source stream records not yet replicated.",
                ["link"], multiprocess_mode="mostrecent")
LINK_UP = Gauge("georep_link_up", "1 when the link is open, 0 when cut.", ["link"],
                multiprocess_mode="livemax")
BREAKER = Gauge("georep_breaker_state",
                "The link's circuit breaker: 0 closed, 1 half-open, 2 open.", ["link"],
                multiprocess_mode="mostrecent")
DLQ_DEPTH = Gauge("georep_dlq_depth", "Messages in the link's dead-letter queue.", ["link"],
                  multiprocess_mode="mostrecent")
BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}
REPLICATOR_UP = Gauge("georep_replicator_up",
                      "1 when the link's replicator process runs, 0 when it is dead (its "
                      "pending, breaker and DLQ gauges then hold their last values).",
                      ["link"], multiprocess_mode="livemax")

_BY_NAME = {"applied": APPLIED, "suppressed": SUPPRESSED, "skipped": SKIPPED,
            "retries": RETRIES, "conflicts": CONFLICTS}


class ReplicatorMetrics:
    """What the replicator calls: ``observe(name, link, value)``."""

    def __init__(self, link: str) -> None:
        # Export every series from the start (at 0), so alert rules see them before events.
        # The gauges are left alone: a restarted replicator's first report (at once) replaces
        # the values its dead predecessor left.
        for metric in (*_BY_NAME.values(), LAG, REQUEST):
            metric.labels(link)

    def observe(self, name: str, link: str, value: float = 1) -> None:
        if name == "lag_seconds":
            LAG.labels(link).observe(value)
        elif name == "request_seconds":
            REQUEST.labels(link).observe(value)
        elif name in _BY_NAME:
            _BY_NAME[name].labels(link).inc(value)


def render(directory: str) -> bytes:
    """The lab's metrics in Prometheus text format, summed over every process."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)
