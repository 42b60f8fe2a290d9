"""The pure core: clocks, item metadata, causality, conflict policies, shard lineage and
DynamoDB's size limits.

Nothing here performs I/O, imports boto3 or asyncio, or reads the wall clock: time, region ids
and random sources are passed in, so every function is deterministic and testable in isolation.
(One exception: :mod:`.meta` draws the process's default metadata secret once, at import.)
``tests/core/test_layout.py`` checks the imports.
"""
