"""AWS adapters: clients per region, error classification, streams, checkpoints, tables.

These modules talk to DynamoDB (moto or real) and translate what comes back into georep's own
types and exceptions. They hold no replication policy.
"""
