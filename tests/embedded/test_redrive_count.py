"""`georep dlq redrive` counts each message once, however many times it meets it."""

from __future__ import annotations

import json
import time


def message(key: dict, n: int, seq: int) -> str:
    image = {**key, "n": {"N": str(n)}}
    return json.dumps({
        "v": 1, "link": "us-east>eu-west", "table": "users", "reason": "attempts exhausted",
        "error": "timeout", "retriable": True, "attempts": 8,
        "record": {"eventName": "INSERT", "dynamodb": {
            "Keys": key, "NewImage": image, "SequenceNumber": str(seq),
            "ApproximateCreationDateTime": time.time()}}})


async def test_redrive_counts_each_message_once(georep_lab):
    lab = georep_lab
    rep = lab.replicator("us-east", "eu-west")
    await lab.stop_replicator("us-east", "eu-west")  # the test's redrive is the only one
    url = await rep.dlq.url()
    sqs = lab.client("us-east", "sqs")
    bodies = [
        # A key of the wrong type: the destination refuses it (poison). Stored as retriable,
        # so the redrive replaces it with a message giving the real reason.
        *(message({"id": {"N": str(i)}}, i, 100 + i) for i in range(3)),
        "{not json", '{"v": 1, "link": "us-east>eu-west"}',  # malformed
        *(message({"id": {"S": f"g{i}"}}, i, 200 + i) for i in range(2)),  # good
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    report = await rep.redrive()
    assert report.received == 7
    assert len(report.poison) == 3 and len(report.malformed) == 2
    assert report.delivered == 2 and report.stopped is None
    assert await rep.dlq.depth() == 5  # poison and malformed kept
    assert await lab.get("eu-west", "users", "g1") == {"id": "g1", "n": 1}
    poisons = [m.decoded() for m in await rep.dlq.all() if m.body[:1] == "{"
               and '"record"' in m.body]
    assert sorted(p["retriable"] for p in poisons) == [False] * 3  # the real reason recorded
