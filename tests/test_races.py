"""A local write that races an apply is never lost, and N regions form a full mesh."""

from __future__ import annotations

import shutil

import pytest

from georep import Lab
from georep.config import load
from georep.core.meta import split, stamp
from georep.core.policy import policy_named
from georep.engine.apply import Applier

from .conftest import ROOT
from .helpers import RaceAfterRead

pytestmark = pytest.mark.asyncio


async def test_local_write_racing_an_apply_is_not_lost(georep_lab):
    """The apply's unconditional write overwrites a local write that slipped in after its read;
    the destination's stream witnesses it and the destination's replicator merges it back."""
    lab = georep_lab
    table = lab.config.table("users")
    await lab.put("eu-west", "users", "k", {"v": "base"})
    await lab.settle()
    _, meta = split(await lab.writers["eu-west"].read(table, "k"))
    # An incoming us-east version that has seen the base and nothing newer.
    incoming = stamp({"id": {"S": "k"}, "v": {"S": "from-us-east"}}, meta, origin="us-east",
                     ts=meta.timestamp.successor())

    async def local_write():
        await lab.update("eu-west", "users", "k", {"v": "local"})

    racing = RaceAfterRead(lab.writers["eu-west"].client, local_write)
    applier = Applier(racing, table, policy_named("lww"), "eu-west")
    result = await applier.apply([incoming])
    assert racing.fired == 1
    assert result.applied == 1  # it wrote over the local write it never read

    await lab.settle()
    assert await lab.get("eu-west", "users", "k") == {"id": "k", "v": "local"}  # restored
    assert await lab.diverged("users") == {}
    [repair] = lab.events.of_kind("repair")
    assert repair["region"] == "eu-west" and repair["restored"]["value"]["v"] == "local"
    # The loser of the race is on record, not silently gone.
    conflicts = [c for c in lab.events.of_kind("conflict") if c["region"] == "eu-west"]
    assert [lost["value"]["v"] for c in conflicts for lost in c["losers"]] == ["from-us-east"]


async def test_three_regions_replicate_as_a_full_mesh(tmp_path):
    regions = tmp_path / "regions"
    shutil.copytree(ROOT / "regions", regions)
    (regions / "ap-south.toml").write_text(
        'name = "ap-south"\naws_region = "ap-south-1"\nport = 8103\n')
    config = load(regions)
    async with Lab.embedded(config, run_dir=tmp_path / "runs") as lab:
        assert len(lab.replicators) == 6
        for r in ("us-east", "eu-west", "ap-south"):
            await lab.put(r, "users", f"from-{r}", {"origin": r})
        await lab.settle()
        for r in ("us-east", "eu-west", "ap-south"):
            items = sorted(i["id"] for i in await lab.scan(r, "users"))
            assert items == ["from-ap-south", "from-eu-west", "from-us-east"]
        assert await lab.diverged("users") == {}
        # Each write crossed every link from its origin exactly once: no relaying, no echo.
        assert all(s["applied"] == 1 for s in lab.stats().values())
