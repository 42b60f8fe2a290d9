"""The deterministic lab (georep.runtime.simlab) on its own: a cut answers at once, the retry
backoff and the circuit breaker run on virtual time, settle's limit is virtual, and healing
then reconciling brings every write through (real moto regions, real proxies)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import ConnectionClosedError

from georep.aws.clients import async_client
from georep.config import load
from georep.core.breaker import BreakerState
from georep.runtime.sim import EPOCH, SIM_TIMEOUT_S, Simulation
from georep.runtime.simlab import SimLab

ROOT = Path(__file__).resolve().parents[2]


async def cut_then_heal(tmp_path: Path) -> dict:
    sim = Simulation(1)
    out: dict = {}
    async with SimLab(load(ROOT / "regions"), sim=sim, run_dir=tmp_path, seed=1) as lab:
        await lab.put("us-east", "users", "before", {"v": 1})
        await lab.settle(timeout=30)
        assert await lab.get("eu-west", "users", "before") == {"id": "before", "v": 1}

        # no wall-clock timeout decides anything here (a slow machine must not change a run)
        link = lab._dest_clients[("us-east", "eu-west")].meta.config
        out["link_timeouts"] = (link.connect_timeout, link.read_timeout)

        lab.partition("us-east", "eu-west")
        await lab.put("us-east", "users", "during", {"v": 2})
        wall, virtual = time.monotonic(), sim.now
        with pytest.raises(TimeoutError, match="virtual seconds"):
            await lab.settle(timeout=60)  # the link never goes quiet: its breaker is open
        out["settle_wall_s"] = time.monotonic() - wall
        out["settle_virtual_s"] = sim.now - virtual
        rep = lab.replicator("us-east", "eu-west")
        out["breaker"] = rep.breaker_state
        out["dead_lettered"] = rep.stats.dead_lettered
        out["breaker_events"] = [e for e in lab.events.of_kind("breaker")
                                 if e["link"] == "us-east>eu-west"]

        # a client's request through the cut link fails at once, as a closed connection
        async with async_client(AioSession(), "dynamodb", lab.route("us-east", "eu-west"),
                                read_s=30) as client:
            wall = time.monotonic()
            with pytest.raises(ConnectionClosedError):
                await client.get_item(TableName="users", Key={"id": {"S": "before"}})
            out["request_wall_s"] = time.monotonic() - wall

        lab.heal()
        report = await lab.reconcile(timeout=120)
        out["verified"] = report["verified"]
        out["during"] = await lab.get("eu-west", "users", "during")
        out["now"] = sim.now
        out["event_times"] = [e["time"] for e in lab.events.events]
    return out


def test_a_cut_costs_virtual_time_not_wall_time(tmp_path):
    out = asyncio.run(cut_then_heal(tmp_path))
    assert out["link_timeouts"] == (SIM_TIMEOUT_S, SIM_TIMEOUT_S)
    assert out["settle_virtual_s"] > 55  # about a minute of retries and probes, virtual
    assert out["settle_wall_s"] < 30
    assert out["request_wall_s"] < 5  # no read timeout (30 s) waited for
    assert out["breaker"] is BreakerState.OPEN
    assert out["dead_lettered"] >= 1
    opened = [e for e in out["breaker_events"] if e["new"] == "open"]
    assert opened and opened[0]["time"] >= EPOCH  # stamped with the virtual clock
    # the breaker's cool-down (5 s) runs on virtual time: it probed, half-opened, reopened
    assert any(e["new"] == "half-open" for e in out["breaker_events"])
    assert out["verified"] is True
    assert out["during"] == {"id": "during", "v": 2}  # redriven from the DLQ after the heal
    assert all(EPOCH <= t <= EPOCH + out["now"] for t in out["event_times"])
