"""An unreadable checkpoint stops its link with the reason; a reset to the trim horizon or to
the latest record lets it run again (embedded lab, real moto servers)."""

from __future__ import annotations

import pytest

from georep.aws.tables import CHECKPOINT_TABLE
from georep.errors import LabError
from georep.testing import wait_for

LINK_ROW = {"id": {"S": "us-east>eu-west|users"}}


def rows(lab, region: str) -> dict[str, dict]:
    items = lab.client(region).scan(TableName=CHECKPOINT_TABLE, ConsistentRead=True)["Items"]
    return {i["id"]["S"]: i for i in items}


async def test_an_unreadable_checkpoint_stops_the_link_with_its_reason(georep_lab):
    lab = georep_lab
    await lab.put("us-east", "users", "a", {"n": 1})
    await lab.settle()
    await lab.stop_replicator("us-east", "eu-west")
    lab.client("us-east").update_item(
        TableName=CHECKPOINT_TABLE, Key=LINK_ROW, UpdateExpression="SET epoch = :e",
        ExpressionAttributeValues={":e": {"S": "seven"}})
    rep = await lab.start_replicator("us-east", "eu-west")
    await wait_for(lambda: getattr(rep.stats, "stopped", None), timeout=10,
                   what="the link to stop")
    assert rep.stats.stopped.startswith("checkpoint unreadable: ")
    assert "epoch" in rep.stats.stopped and "seven" in rep.stats.stopped
    [event] = lab.events.of_kind("link-stopped")
    assert event["link"] == "us-east>eu-west" and event["reason"] == rep.stats.stopped
    assert lab.stats()["us-east>eu-west"]["stopped"] == rep.stats.stopped
    with pytest.raises(LabError, match="us-east>eu-west stopped: checkpoint unreadable"):
        await lab.settle(timeout=10)
    await lab.put("us-east", "users", "b", {"n": 2})
    await lab.reset_checkpoint("us-east", "eu-west", to="trim-horizon")
    rep = await lab.start_replicator("us-east", "eu-west")
    await lab.settle()
    assert await lab.get("eu-west", "users", "b") == {"id": "b", "n": 2}
    assert rep.stats.stopped is None and rep.stats.suppressed >= 1  # "a" again: no change


async def test_reset_to_latest_skips_the_backlog_and_trim_horizon_replays_it(georep_lab):
    lab = georep_lab
    await lab.put("us-east", "users", "gone", {"n": 0})
    await lab.settle()
    await lab.delete("us-east", "users", "gone")  # leaves tombstone rows in the same table
    await lab.settle()
    others = {k: v for k, v in rows(lab, "us-east").items()
              if not k.startswith("us-east>eu-west|")}
    assert any(k.startswith("tomb|") for k in others)
    with pytest.raises(LabError, match="is running"):
        await lab.reset_checkpoint("us-east", "eu-west", to="latest")
    await lab.stop_replicator("us-east", "eu-west")
    await lab.put("us-east", "users", "skipped", {"n": 1})
    await lab.reset_checkpoint("us-east", "eu-west", to="latest")
    await lab.start_replicator("us-east", "eu-west")
    await lab.put("us-east", "users", "after", {"n": 2})
    await lab.settle()
    assert await lab.get("eu-west", "users", "after") == {"id": "after", "n": 2}
    assert await lab.get("eu-west", "users", "skipped") is None  # latest: not replayed
    await lab.stop_replicator("us-east", "eu-west")
    await lab.reset_checkpoint("us-east", "eu-west", table="users", to="trim-horizon")
    await lab.start_replicator("us-east", "eu-west")
    await lab.settle()
    assert await lab.get("eu-west", "users", "skipped") == {"id": "skipped", "n": 1}
    assert await lab.get("eu-west", "users", "gone") is None  # the delete replayed too
    after = rows(lab, "us-east")
    assert {k: after.get(k) for k in others} == others  # only the link's checkpoint was reset
    with pytest.raises(LabError, match="trim-horizon or latest"):
        await lab.reset_checkpoint("us-east", "eu-west", to="sideways")
