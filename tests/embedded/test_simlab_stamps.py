"""A plain client's write is stamped once, whichever of its region's links reads it first:
in the deterministic lab each link reads the record at its own virtual time, and the stamp
must not depend on which link (or which restart of it) read it, as it does not in real time
(every link reads the same ApproximateCreationDateTime)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from georep.config import load
from georep.core.meta import split
from georep.runtime.sim import Simulation
from georep.runtime.simlab import SimLab

ROOT = Path(__file__).resolve().parents[2]


def three_regions(tmp: Path) -> Path:
    folder = tmp / "regions"
    shutil.copytree(ROOT / "regions", folder)
    (folder / "ap-south.toml").write_text(
        'name = "ap-south"\naws_region = "ap-south-1"\nport = 8103\n')
    return folder


async def stamps(tmp: Path, seed: int) -> dict:
    sim = Simulation(seed)
    async with SimLab(load(three_regions(tmp)), sim=sim, run_dir=tmp / "runs",
                      seed=seed) as lab:
        regions = [r.name for r in lab.config.regions]
        for n in range(4):  # plain writes, no georep metadata: the replicators stamp them
            await lab.clients["us-east"].put_item(
                TableName="users", Item={"id": {"S": f"k{n}"}, "v": {"N": str(n)}})
            until = sim.now + 0.8  # the replicators poll meanwhile, each at its own time
            await sim.run(lambda until=until: sim.now >= until)
        await lab.settle(timeout=60)
        out = {}
        for n in range(4):
            for r in regions:
                got = await lab.clients[r].get_item(TableName="users",
                                                    Key={"id": {"S": f"k{n}"}},
                                                    ConsistentRead=True)
                _, meta = split(got["Item"])
                out[(f"k{n}", r)] = meta.hlc
        reps = [lab.replicator("us-east", d) for d in regions if d != "us-east"]
        out["repaired"] = sum(rep.stats.repaired for rep in reps)
    return out


def test_a_plain_write_gets_one_stamp_in_every_region(tmp_path):
    for seed in (1, 2):
        out = asyncio.run(stamps(tmp_path / str(seed), seed))
        for n in range(4):
            hlcs = {r: h for (k, r), h in
                    ((key, v) for key, v in out.items() if key != "repaired") if k == f"k{n}"}
            assert len(set(hlcs.values())) == 1, (seed, n, hlcs)
        assert out["repaired"] == 0  # no link rewrote the source with a stamp of its own
