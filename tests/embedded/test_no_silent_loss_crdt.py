"""Issue 9, observation 1 on a crdt table: increments and bounded-counter decrements that race
an apply all count, and the stock is never oversold (real moto servers, nothing mocked)."""

from __future__ import annotations

import pytest

from georep.core.meta import Version, split
from georep.core.policies import policy_named
from georep.engine.apply import Applier
from georep.errors import LabError

from ..support.helpers import RaceAfterRead, with_policy

pytestmark = pytest.mark.asyncio

TYPES = {"stock": "bcounter", "visits": "pncounter"}


@pytest.fixture
def georep_config(georep_config):
    return with_policy(georep_config, "crdt", TYPES)


async def race_an_apply(lab, key: str, remote_ops, local_ops):
    """With the link cut, us-east applies ``remote_ops``; its version is applied to eu-west
    by hand while eu-west's ``local_ops`` land between the apply's read and its write."""
    table = lab.config.table("users")
    lab.partition("us-east", "eu-west")
    await lab.crdt("us-east", "users", key, remote_ops)
    attrs, meta = split(await lab.writers["us-east"].read(table, key))

    async def local():
        await lab.crdt("eu-west", "users", key, local_ops)

    racing = RaceAfterRead(lab.writers["eu-west"].client, local)
    policy = policy_named("crdt", **table.policy_options())
    result = await Applier(racing, table, policy, "eu-west").apply([Version(attrs, meta)])
    assert racing.fired == 1
    return result


async def test_increments_racing_an_apply_all_count(georep_lab):
    """+10 (everywhere), then +7 at us-east shipped to eu-west while eu-west adds +5 between
    the apply's read and write, then +3 at eu-west: 25 in both regions, not 20."""
    lab = georep_lab
    await lab.crdt("us-east", "users", "c", [("visits", "+=", 10)])
    await lab.settle()
    result = await race_an_apply(lab, "c", [("visits", "+=", 7)], [("visits", "+=", 5)])
    assert result.races == 1
    await lab.crdt("eu-west", "users", "c", [("visits", "+=", 3)])
    lab.heal()
    await lab.settle(60)
    for region in ("us-east", "eu-west"):
        assert (await lab.get(region, "users", "c"))["visits"] == 25


async def test_a_bounded_counter_is_never_oversold_by_a_decrement_racing_an_apply(georep_lab):
    """eu-west holds every right to a stock of 5. A decrement of 5 there races an apply of an
    unrelated us-east change; a second decrement of 5 must then be refused, and the stock
    reads 0, never below, in both regions."""
    lab = georep_lab
    await lab.crdt("eu-west", "users", "s", [("stock", "+=", 5)])
    await lab.settle()
    await race_an_apply(lab, "s", [("visits", "+=", 1)], [("stock", "-=", 5)])
    with pytest.raises(LabError, match=r"stock.*rights"):
        await lab.crdt("eu-west", "users", "s", [("stock", "-=", 5)])
    lab.heal()
    await lab.settle(60)
    for region in ("us-east", "eu-west"):
        item = await lab.get(region, "users", "s")
        assert item["stock"] == 0 and item["visits"] == 1
