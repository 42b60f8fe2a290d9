"""Engines: the replicator loop (with its delivery step, plain-write stamping and DLQ redrive),
the apply step, georep's own write path, reconcile and the link proxy; they drive the AWS
adapters and the pure core.
"""
