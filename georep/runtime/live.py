"""A client of a running live lab (``georep up``) with the embedded lab's surface.

Place in the data flow: between a driver (the CLI's data commands, a workload, a test) and a
live lab. Data goes straight to the regions through georep's write path (the same
:class:`~georep.runtime.labdata.LabData` as the embedded lab, so every write appends the same
``write`` event to the run's ``events.jsonl``); faults and replicator kills go to the
supervisor's control API; a DLQ redrive runs the link's replicator code in this process,
applying through the link's proxy. Regions are reached through
:func:`~georep.runtime.reach.region_client`, so a region that does not answer is one line.

```python no-run
async with LiveLab.connect(".georep") as lab:
    await lab.put("us-east", "users", "user_123", {"name": "Alice"})
    lab.partition("us-east", "eu-west", one_way=True)
```
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiobotocore.session import AioSession

from ..aws.clients import Endpoint, async_client, endpoint_of, routed
from ..config import load
from ..core.hlc import HybridClock
from ..engine.writes import RegionWriter
from ..errors import LabError
from .control import ControlClient
from .events import EventLog
from .home import LabHome
from .labdata import LabData, tally_redrive
from .reach import region_client

__all__ = ["LiveLab"]

SETTLE_POLL_S = 0.25


class LiveLab(LabData):
    """Use as ``async with LiveLab.connect(home) as lab``; LabError if no lab runs there."""

    def __init__(self, home: LabHome | str | Path | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.home = home if isinstance(home, LabHome) else LabHome(home)
        if self.home.token_file.is_file():
            with contextlib.suppress(LabError):  # a corrupt token: the control call says so
                self.home.use_meta_secret()
        self.state = self.home.state()
        self.config = load(self.state["regions_dir"])
        self.run_id = self.state["run_id"]
        self.run_path = Path(self.state["run_path"])
        self.clock = clock
        self.control = ControlClient(self.home)
        self.endpoints = {r.name: endpoint_of(r, "dynamodb", self.state["regions"][r.name])
                          for r in self.config.regions}
        self.events = EventLog(self.run_path / "events.jsonl", clock, keep=False)
        self.clients: dict[str, Any] = {}
        self.writers: dict[str, RegionWriter] = {}
        self._session = AioSession()
        self._stack = contextlib.AsyncExitStack()

    @classmethod
    def connect(cls, home: LabHome | str | Path | None = None, **kw) -> LiveLab:
        return cls(home, **kw)

    async def __aenter__(self) -> LiveLab:
        try:
            for r in self.config.regions:
                self.clients[r.name] = await self._stack.enter_async_context(
                    self._region_client(r.name, "dynamodb"))
                writer = RegionWriter(self.clients[r.name], r.name, HybridClock(),
                                      lambda n=r.name: self.physical_ms(n))
                writer.max_offset_ms = self.config.replicator.max_clock_offset_ms
                self.writers[r.name] = writer
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc) -> bool | None:
        # The exception passes through each region's client, which turns a failed request of
        # its own into one line (see reach.region_client).
        try:
            return await self._stack.__aexit__(*exc)
        finally:
            self.events.close()

    async def close(self) -> None:
        await self._stack.aclose()
        self.events.close()

    def _tree_folder(self) -> Path | None:
        return self.home.path / "trees"

    async def _streams_client(self, stack, region: str):
        return await stack.enter_async_context(self._region_client(region, "dynamodbstreams"))

    def _region_client(self, region: str, service: str, **kw):
        return region_client(self._session, service, self.config.region(region),
                             self.state["regions"][region], **kw)

    def physical_ms(self, region: str) -> int:
        """``region``'s physical clock as its writers here read it: this machine's clock plus
        the region's skew (``georep skew``), which the supervisor keeps in the home."""
        self.config.region(region)
        return int(self.clock() * 1000) + self.home.skew_ms(region)

    # -- faults: the supervisor applies them -------------------------------------------------

    def _call(self, path: str, body: dict | None = None, method: str = "POST") -> Any:
        return self.control.call(method, path, body)

    def partition(self, a: str, b: str, *, one_way: bool = False) -> dict[str, str]:
        return self._call("/partition", {"a": a, "b": b, "one_way": one_way})["cut"]

    def heal(self, a: str | None = None, b: str | None = None) -> list[str]:
        if (a is None) != (b is None):
            raise LabError("heal takes two regions, or none to heal every link")
        return self._call("/heal", {} if a is None else {"a": a, "b": b})["healed"]

    def skew(self, region: str, offset_ms: int) -> int:
        return self._call("/skew", {"region": region, "ms": offset_ms})["skew_ms"]

    def isolate(self, region: str) -> dict[str, str]:
        return self._call("/isolate", {"region": region})["links"]

    def latency(self, a: str, b: str, ms: float, jitter: float = 0, *,
                one_way: bool = False) -> list[str]:
        return self._call("/latency", {"a": a, "b": b, "ms": ms, "jitter": jitter,
                                       "one_way": one_way})["latency"]

    def flap(self, a: str, b: str, period: float) -> list[dict[str, Any]]:
        return self._call("/flap", {"a": a, "b": b, "period": period})["flapping"]

    def faults(self) -> dict[str, Any]:
        """The active faults, as the supervisor applies them."""
        return self._call("/replicators", method="GET")["faults"]

    def route(self, src: str, dst: str) -> Endpoint:
        """Where a client in ``src`` reaches ``dst``: the link's proxy (faults apply), or the
        region's own endpoint when src is dst."""
        src, dst = self.config.region(src).name, self.config.region(dst).name
        if src == dst:
            return self.endpoints[dst]
        port = self.state["links"][f"{src}>{dst}"]
        return routed(self.config.region(dst), f"http://127.0.0.1:{port}")

    def link_state(self) -> dict[str, str]:
        links = self._call("/replicators", method="GET")["links"]
        return {name: link["state"] for name, link in links.items()}

    # -- replicators -----------------------------------------------------------------------

    async def kill_replicator(self, src: str, dst: str) -> int:
        """SIGKILL the link's replicator process (its pid)."""
        body = {"src": src, "dst": dst}
        return (await asyncio.to_thread(self._call, "/replicator/kill", body))["killed"]

    async def start_replicator(self, src: str, dst: str, *, duplicate: bool = False) -> int:
        """Start the link's replicator process; it resumes from its checkpoint (its pid).
        ``duplicate`` starts one although one runs: the old one becomes a zombie."""
        body = {"src": src, "dst": dst, "takeover": duplicate}
        return (await asyncio.to_thread(self._call, "/replicator/start", body))["started"]

    def pause_replicator(self, src: str, dst: str) -> int:
        """SIGSTOP the link's replicator process (alive, frozen); its pid."""
        return self._call("/replicator/pause", {"src": src, "dst": dst})["paused"]

    def resume_replicator(self, src: str, dst: str) -> int:
        """SIGCONT every paused process of the link, zombies included; how many woke."""
        return len(self._call("/replicator/resume", {"src": src, "dst": dst})["resumed"])

    @contextlib.asynccontextmanager
    async def link_replicator(self, src: str, dst: str):
        """The link's replicator code, built in this process (``async with``): it reads the
        source's stream and DLQ and applies to the destination through the link's proxy, as
        the link's own process does. For DLQ listing and redrive."""
        from .wiring import build_replicator

        link = f"{src}>{dst}"
        if link not in self.state["links"]:
            raise LabError(f"the lab has no link {link}")
        s = self.config.settings_for(src, dst)
        via = self.route(src, dst)
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(self._region_client(src, service))
                       for service in ("dynamodbstreams", "sqs")]
            dest = await stack.enter_async_context(async_client(
                self._session, "dynamodb", via, connect_s=s.connect_timeout_s,
                read_s=s.read_timeout_s))
            yield await build_replicator(
                self.config, src, dst, source=self.clients[src], source_streams=clients[0],
                source_sqs=clients[1], dest=dest, emit=self.events.emit, clock=self.clock,
                rng=random.Random())

    async def redrive_all(self, out: dict[str, Any]) -> int:
        """Redrive every link's DLQ; the number of dead letters still blocked."""
        blocked = 0
        for src, dst in self.config.links:
            async with self.link_replicator(src, dst) as rep:
                blocked += tally_redrive(out, rep.name, await rep.redrive())
        return blocked

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every running replicator has counted nothing pending, twice, both counts
        begun after this call, with its breaker closed. Dead replicators are not waited for
        (as in the embedded lab). TimeoutError, naming what is still busy, after ``timeout``."""
        since = time.time()
        zeros: dict[str, float] = {}  # link -> when its first fresh zero count began
        deadline = time.monotonic() + timeout
        while True:
            s = await asyncio.to_thread(self._call, "/replicators", None, "GET")
            busy = []
            for link, r in s["replicators"].items():
                if not r["alive"]:
                    continue
                at = r.get("pending_at")
                if at is None or at < since or r["pending"] != 0 or r["breaker"] != "closed":
                    zeros.pop(link, None)
                    busy.append(f"{link}: {r['pending']} pending, breaker {r['breaker']}, "
                                f"link {s['links'][link]['state']}")
                elif link not in zeros:
                    zeros[link] = at
                    busy.append(f"{link}: counting again")
                elif at <= zeros[link]:
                    busy.append(f"{link}: counting again")
            if not busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("; ".join(busy))
            await asyncio.sleep(SETTLE_POLL_S)
