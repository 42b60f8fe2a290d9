"""Engines: the replicator loop, the apply step, the link proxy; they drive adapters and core."""
