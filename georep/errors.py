"""georep's exception tree. Every error a user can cause is one of these, with a one-line message.

    GeorepError
    ├── ConfigError          a region or lab file is missing or wrong (names the file and field)
    ├── LabError             the lab cannot start or is used wrongly (unknown region, table, ...)
    │   └── WriteRefused         the write path refused an operation before writing anything
    │                            (a bounded counter's missing rights, a value out of range)
    └── ReplicationError     raised inside the replicator
        ├── RetriableError       try again later: timeouts, connection errors, throttling, 5xx
        │   └── UnstampedDestination  the destination item has a plain write not yet stamped
        ├── PermanentError       retrying cannot help: validation errors, schema mismatch
        │   └── CheckpointUnreadable  the link's checkpoint row is corrupt: the link stops
        └── Fenced               a newer replicator took this link's lease: stop (a zombie)
"""

from __future__ import annotations


class GeorepError(Exception):
    """Base of every error georep raises on purpose."""


class ConfigError(GeorepError):
    pass


class LabError(GeorepError):
    pass


class WriteRefused(LabError):
    """georep's write path refused the operation before writing anything: nothing happened."""


class ReplicationError(GeorepError):
    retriable = False


class RetriableError(ReplicationError):
    retriable = True


class UnstampedDestination(RetriableError):
    """The destination item was written by a plain client and its region has not stamped it yet."""


class PermanentError(ReplicationError):
    retriable = False


class CheckpointUnreadable(PermanentError):
    """The link's checkpoint row cannot be read or updated; the link stops until it is reset
    (``georep checkpoint reset``). The message starts with "checkpoint unreadable: "."""


class Fenced(ReplicationError):
    """A newer replicator holds the link's lease; this one must stop."""
