"""`georep dlq redrive` counts each message once, however many times it meets it, and its
``redrive`` event says how many messages it took out of the queue (``removed``), so that the
events alone give a link's DLQ depth."""

from __future__ import annotations

import asyncio
import json
import time

from georep.testing import wait_for


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
    assert report.removed == 2  # the poison ones were replaced by their copies: net zero
    assert await rep.dlq.depth() == 5  # poison and malformed kept
    assert await lab.get("eu-west", "users", "g1") == {"id": "g1", "n": 1}
    poisons = [m.decoded() for m in await rep.dlq.all() if m.body[:1] == "{"
               and '"record"' in m.body]
    assert sorted(p["retriable"] for p in poisons) == [False] * 3  # the real reason recorded


async def test_the_events_give_the_dlq_depth_with_a_poison_message_left(georep_lab):
    """Dead letters during a partition, one of them poison (a plain write too large to carry
    georep's metadata): after the heal the redrive delivers the good one, replaces the poison
    one by a copy with its real reason, and (dlq events) - (removed) is the queue's depth."""
    lab = georep_lab
    link = "us-east>eu-west"
    rep = lab.replicator("us-east", "eu-west")
    lab.partition("us-east", "eu-west")
    await lab.put("us-east", "users", "good", {"n": 1})
    lab.client("us-east").put_item(TableName="users", Item={
        "id": {"S": "poison"}, "blob": {"S": "x" * (405_000 - 100)}})

    def events(kind: str) -> list[dict]:
        return [e for e in lab.events.of_kind(kind) if e["link"] == link]

    def depth_from_events() -> int:
        return len(events("dlq")) - sum(e["removed"] for e in events("redrive"))

    await wait_for(lambda: {e["key"]["id"] for e in events("dlq")} == {"good", "poison"},
                   timeout=30, what="both writes dead-lettered")
    lab.heal()
    await wait_for(lambda: events("redrive"), timeout=30, what="the redrive after the heal")
    await lab.settle()
    assert await lab.get("eu-west", "users", "good") == {"id": "good", "n": 1}
    assert events("redrive")[0]["poison"] == 1  # and replaced by its copy
    assert depth_from_events() == await rep.dlq.depth() == 1
    again = await rep.redrive()  # the poison copy is kept as it is: nothing removed
    assert len(again.poison) == 1 and again.removed == 0
    assert depth_from_events() == await rep.dlq.depth() == 1


async def test_a_backlog_of_one_keys_versions_is_delivered_as_its_latest(georep_lab):
    """A long partition dead-letters many versions of a few keys (a 10-minute chaos run's
    final redrive met 870 messages for 5 keys). A redrive gathers several receives before it
    applies, so each key's versions collapse to its latest (which has seen the others): one
    write, not one per ten messages."""
    lab = georep_lab
    rep = lab.replicator("us-east", "eu-west")
    await lab.stop_replicator("us-east", "eu-west")
    url = await rep.dlq.url()
    sqs = lab.client("us-east", "sqs")
    for n in range(50):
        sqs.send_message(QueueUrl=url, MessageBody=message({"id": {"S": "b"}}, n, 300 + n))
    report = await rep.redrive()
    assert (report.received, report.delivered, report.suppressed) == (50, 1, 49)
    assert report.removed == 50 and await rep.dlq.depth() == 0
    assert await lab.get("eu-west", "users", "b") == {"id": "b", "n": 49}
    applied = [e for e in lab.events.of_kind("apply") if e["link"] == "us-east>eu-west"]
    assert len(applied) == 1


def poison(i: int, seq: int) -> str:
    """A key of the wrong type, stored as retriable: the destination refuses it."""
    return message({"id": {"N": str(i)}}, i, seq)


async def queued(lab, bodies: list[str]):
    """us-east>eu-west's replicator, stopped (the test's redrive is the only one), with
    ``bodies`` sent to its DLQ."""
    rep = lab.replicator("us-east", "eu-west")
    await lab.stop_replicator("us-east", "eu-west")
    url = await rep.dlq.url()
    sqs = lab.client("us-east", "sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    return rep


async def test_a_rounds_writes_before_a_poison_failure_are_reported_as_delivered(georep_lab):
    """The round's apply writes every other key, then fails on the poison one: only that key
    goes one message at a time. Before (found by review), the whole round did, found the
    writes already there, and reported them as suppressed, with no ``apply`` event."""
    lab = georep_lab
    rep = await queued(lab, [*(message({"id": {"S": f"p{i}"}}, i, 1000 + i) for i in range(20)),
                             poison(2, 1100)])
    report = await rep.redriver.redrive()
    assert await lab.get("eu-west", "users", "p19") == {"id": "p19", "n": 19}
    assert len(report.poison) == 1 and report.received == 21
    applied = [e for e in lab.events.of_kind("apply")
               if e["link"] == "us-east>eu-west" and e.get("via") == "redrive"]
    assert (report.delivered, report.suppressed, len(applied)) == (20, 0, 20)


class SlowReceives:
    """The region's real SQS client; its second receive answers after ``pause`` seconds."""

    def __init__(self, real, pause: float) -> None:
        self.real, self.pause, self.receives = real, pause, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def receive_message(self, **kw):
        self.receives += 1
        if self.receives == 2:
            await asyncio.sleep(self.pause)
        return await self.real.receive_message(**kw)


async def test_a_message_met_again_inside_its_round_is_deleted_and_counted_once(georep_lab):
    """A round's receives outlast the visibility timeout (1 s here; a stalled receive does it
    at 30 s), so its second receive meets the first one's messages again. Each is deleted by
    its latest receipt and counted once. Before (found by review), the redrive released them
    after deleting them: ReceiptHandleIsInvalid escaped and killed the link's task."""
    lab = georep_lab
    rep = await queued(lab, [message({"id": {"S": f"m{i}"}}, i, 500 + i) for i in range(3)])
    rep.dlq.client = SlowReceives(rep.dlq.client, pause=2.5)
    report = await rep.redriver.redrive(visibility_s=1)
    assert (report.received, report.delivered, report.removed) == (3, 3, 3)
    assert await rep.dlq.depth() == 0
    assert [e["removed"] for e in lab.events.of_kind("redrive")
            if e["link"] == "us-east>eu-west"] == [3]


class SlowLink:
    """The destination's real client: each call answered ``delay`` seconds late; ``second``
    is set at its second call."""

    def __init__(self, real, delay: float) -> None:
        self.real, self.delay, self.calls = real, delay, 0
        self.second = asyncio.Event()

    def __getattr__(self, name):
        call = getattr(self.real, name)
        if not callable(call):
            return call

        async def slow(*a, **kw):
            self.calls += 1
            if self.calls == 2:
                self.second.set()
            await asyncio.sleep(self.delay)
            return await call(*a, **kw)
        return slow


async def test_two_redrives_of_one_link_at_once_count_each_message_once(georep_lab):
    """Reconcile redrives every link while a replicator may be redriving its own. When a round
    outlasts its messages' visibility (1 s here, over a link answering 1.5 s late), a second
    redrive meets them again: both applied them, both counted and deleted them, and the
    events' DLQ depth went negative (found by review). A link's redrives now take turns."""
    lab = georep_lab
    rep = await queued(lab, [message({"id": {"S": f"t{i}"}}, i, 600 + i) for i in range(5)])
    applier = rep.table("users").applier
    slow = applier.client = SlowLink(applier.client, delay=1.5)
    first = asyncio.ensure_future(rep.redriver.redrive(visibility_s=1))
    await asyncio.wait_for(slow.second.wait(), timeout=30)
    second = await rep.redriver.redrive(visibility_s=1)
    assert (await first).received == 5
    assert second.received == 0
    assert sum(e["removed"] for e in lab.events.of_kind("redrive")
               if e["link"] == "us-east>eu-west") == 5
    assert await rep.dlq.depth() == 0
