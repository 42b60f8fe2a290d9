"""Events for everything that moves (issue 14): one scenario on both runtimes, the embedded lab
and a live lab (`georep up`: replicators are processes appending to the same events.jsonl),
must leave the same kinds of events with the same fields in the run's ``events.jsonl``.

The scenario: a write replicated, a partition with writes from both regions (one of them a
plain boto3 write), dead letters, a heal and the redrive that drains the DLQs, a replicator
killed, a write it misses that reconcile repairs, the replicator started again.
"""

from __future__ import annotations

from georep.aws.dlq import queue_name
from georep.testing import wait_for

A, B = "us-east", "eu-west"
LINKS = (f"{A}>{B}", f"{B}>{A}")

# every kind the scenario must record, with the fields each must carry
FIELDS = {
    "write": {"op", "region", "table", "key", "values", "hlc"},
    "read": {"link", "table", "shard", "records", "keys"},
    "stamp": {"link", "table", "region", "key", "hlc"},
    "apply": {"link", "table", "key", "hlc", "origin", "tombstone", "lag_ms", "via"},
    "suppress": {"link", "table", "key", "hlc", "via"},
    "conflict": {"link", "table", "key"},
    "retry": {"link", "op", "attempt", "error"},
    "dlq": {"link", "table", "key", "reason"},
    "redrive": {"link", "received", "delivered", "suppressed", "removed"},
    "breaker": {"link", "old", "new"},
    "partition": {"a", "b"},
    "heal": {"links"},
    "replicator-kill": {"link"},
    "replicator-start": {"link"},
    "reconcile-start": {"tables"},
    "reconcile-phase": {"table", "phase", "seconds"},
    "reconcile-repair": {"table", "region", "key", "hlc"},
    "reconcile": {"verified", "repaired"},
}


def of(events: list[dict], kind: str, **match) -> list[dict]:
    return [e for e in events if e["kind"] == kind
            and all(e.get(k) == v for k, v in match.items())]


def dlq_depth(lab, link: str) -> int:
    """The link's queue as SQS counts it (in the link's source region)."""
    sqs = lab.client(link.split(">")[0], "sqs")
    url = sqs.get_queue_url(QueueName=queue_name(link))["QueueUrl"]
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def depth_from_events(events: list[dict], link: str) -> int:
    """DLQ depth as the events tell it: dead letters less what redrives removed."""
    return len(of(events, "dlq", link=link)) - sum(e["removed"]
                                                   for e in of(events, "redrive", link=link))


async def test_every_kind_of_event_is_recorded_with_its_fields(any_lab):
    lab = any_lab
    await lab.put(A, "users", "before", {"v": 0})
    await lab.settle(60)
    lab.partition(A, B)
    await lab.put(A, "users", "k", {"v": "from A"})
    await lab.put(B, "users", "k", {"v": "from B"})
    lab.client(A).put_item(TableName="users", Item={"id": {"S": "plain"}, "v": {"S": "boto3"}})
    lab.plain_write("put", A, "users", "plain", {"v": "boto3"})

    def dead() -> bool:
        events = lab.run_events()
        return ({e["key"]["id"] for e in of(events, "dlq", link=LINKS[0])} >= {"k", "plain"}
                and of(events, "dlq", link=LINKS[1]))

    await wait_for(dead, timeout=60, what="dead letters on both links")
    lab.heal()
    await lab.settle(60)

    def drained() -> bool:  # every dead letter redriven, and the events say so
        events = lab.run_events()
        return all(dlq_depth(lab, link) == 0 == depth_from_events(events, link)
                   for link in LINKS)

    await wait_for(drained, timeout=60, what="the DLQs drained, and the redrive events")
    await lab.kill_replicator(A, B)
    await lab.put(A, "users", "missed", {"v": 1})  # reconcile carries it to B
    report = await lab.reconcile(timeout=60)
    assert report["verified"]
    await lab.start_replicator(A, B)
    await wait_for(lambda: of(lab.run_events(), "suppress", key={"id": "missed"}),
                   timeout=60, what="the restarted replicator replaying what reconcile wrote")

    events = lab.run_events()
    for kind, fields in FIELDS.items():
        found = of(events, kind)
        assert found, f"no {kind} event"
        assert all(fields <= set(e) and "time" in e for e in found), (kind, found[0])
    check_details(events)


def check_details(events: list[dict]) -> None:
    plain = of(events, "write", op="plain-put")
    assert [(e["region"], e["key"], e["values"], e["hlc"]) for e in plain] == [
        (A, "plain", {"v": "boto3"}, None)]
    stamp = of(events, "stamp", key={"id": "plain"}, link=LINKS[0])[0]
    assert stamp["region"] == A and stamp["table"] == "users" and stamp["hlc"] > 0
    reads = of(events, "read", link=LINKS[0])
    assert {"id": "plain"} in [k for e in reads for k in e["keys"]]
    assert all(e["records"] >= len(e["keys"]) and e["shard"] for e in reads)
    assert {e["via"] for e in of(events, "apply")} == {"stream", "redrive"}
    redriven = of(events, "apply", via="redrive", key={"id": "plain"})
    assert redriven and redriven[0]["hlc"] == stamp["hlc"] and redriven[0]["lag_ms"] > 0
    assert of(events, "suppress", via="stream", key={"id": "missed"}, link=LINKS[0])
    assert of(events, "replicator-kill", link=LINKS[0])
    assert of(events, "replicator-start", link=LINKS[0])
    assert not of(events, "replicator-stop", link=LINKS[0])  # a kill is not a clean stop
    [start] = of(events, "reconcile-start")
    assert start["tables"] == ["users"]
    phases = of(events, "reconcile-phase")
    assert [(e["phase"], e["table"]) for e in phases] == [
        ("redrive", None), ("scan", "users"), ("compare", "users"), ("repair", "users"),
        ("verify", "users")]
    scan, compare, repair, verify = phases[1:]
    assert set(scan["scanned"]) == {A, B}
    assert compare["ranges_differing"] >= 1 and compare["keys"] >= 1
    assert repair["keys_diverged"] == 1 and repair["repaired"] == {B: 1}
    assert verify["verified"] is True
    [fixed] = of(events, "reconcile-repair")
    missed = of(events, "write", key="missed")[0]
    assert (fixed["region"], fixed["key"], fixed["hlc"]) == (B, {"id": "missed"}, missed["hlc"])
    assert of(events, "reconcile")[-1]["repaired"] == {"users": {B: 1}}
