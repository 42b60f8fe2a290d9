"""The embedded lab: every region, link proxy and replicator in this one process.

Place in the data flow: the runtime the demo, the tests and the benchmarks use. Regions are
moto servers on free loopback ports, each a child process (``moto="thread"``: threads of this
process, :mod:`.moto`); each directed link has a proxy in front of its destination and a
replicator task that reaches the destination only through it. A sketch (the
README's embedded-lab example is a complete program):

```python no-run
async with Lab.embedded() as lab:
    await lab.put("us-east", "users", "user_123", {"name": "Alice"})
    lab.partition("us-east", "eu-west")
    ...
    lab.heal()
    await lab.settle()
```
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError

from ..aws.checkpoints import Checkpoint, checked, reset
from ..aws.clients import Endpoint, async_client, endpoint_of, external, routed
from ..aws.conflicts import conflicts_request
from ..aws.streams import StreamReader
from ..aws.tables import checkpoint_request, ensure_table, stream_arn, table_request
from ..config import LabConfig, Region, load
from ..core.hlc import HybridClock
from ..engine.faults import Faults
from ..engine.proxy import LinkProxy
from ..engine.replicator import Replicator
from ..engine.writes import RegionWriter
from ..errors import LabError
from .claims import Claims
from .events import EventLog
from .labdata import LabData, tally_redrive
from .labfaults import EngineFaults
from .moto import MotoProcess, MotoRegion
from .regionsetup import link_proxy, prepare, unusable
from .wiring import build_replicator

__all__ = ["Lab"]


class Lab(EngineFaults, LabData):

    """A running lab. Use :meth:`embedded` as an async context manager.

    Besides the :class:`~georep.runtime.surface.LabSurface` methods, these attributes are
    public (read them; the lab owns them): ``config``, ``run_id``, ``run_path``, ``seed``,
    ``events`` (the run's :class:`~georep.runtime.events.EventLog`), and per region
    ``endpoints``, ``clients`` (aiobotocore DynamoDB clients) and ``writers`` (each region's
    :class:`~georep.engine.writes.RegionWriter`: georep's write path); per link (src, dst)
    ``proxies`` and ``replicators`` (the latest started, running or not; see
    :meth:`replicator` and :meth:`running`); ``zombies``, replicators superseded by a
    ``duplicate`` start.
    """

    link_wait_s: float | None = None  # the links' connect and read timeout (None: the config's)

    def __init__(self, config: LabConfig, *, run_dir: str | Path | None = "runs",
                 run_id: str | None = None, seed: int | None = None,
                 clock: Callable[[], float] = time.time, moto: str = "process") -> None:
        if moto not in ("process", "thread"):
            raise LabError(f"moto must be 'process' or 'thread', not {moto!r}")
        self.moto = moto
        self.config = config
        self.clock = clock
        self.seed = seed if seed is not None else secrets.randbits(32)
        self.run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        self.run_path = Path(run_dir) / self.run_id if run_dir is not None else None
        self.events = EventLog(self.run_path / "events.jsonl" if self.run_path else None, clock)
        self.servers: dict[str, MotoRegion | MotoProcess] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.proxies: dict[tuple[str, str], LinkProxy] = {}
        self._faults = Faults(config, self.proxies, emit=self.events.emit)
        self.skew_ms = self._faults.skew_ms  # region -> offset of its physical clock (ms)
        self.replicators: dict[tuple[str, str], Replicator] = {}
        self.writers: dict[str, RegionWriter] = {}
        self.clients: dict[str, Any] = {}  # region -> its DynamoDB client (aiobotocore)
        self._service: dict[str, Any] = {}  # "region/streams", "region/sqs" -> clients
        self._tasks: dict[tuple[str, str], asyncio.Future] = {}
        self._dest_clients: dict[tuple[str, str], Any] = {}
        self.zombies: list[tuple[Replicator, asyncio.Future]] = []
        self.starts = 0
        self._stack = contextlib.AsyncExitStack()
        self.claims = Claims()  # one lab per external region at a time
        self._session = AioSession()

    @classmethod
    def embedded(cls, regions: str | Path | LabConfig = "regions", **kw) -> Lab:
        config = regions if isinstance(regions, LabConfig) else load(regions)
        return cls(config, **kw)

    async def __aenter__(self) -> Lab:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        t0 = time.perf_counter()
        if self.run_path is not None:
            self.run_path.mkdir(parents=True, exist_ok=True)
        for r in self.config.regions:
            if r.local:
                if self.moto == "process":
                    log = self.run_path / f"moto-{r.name}.log" if self.run_path else None
                    self.servers[r.name] = MotoProcess(r.name, r.aws_region, log=log)
                else:
                    self.servers[r.name] = MotoRegion(r.name, r.aws_region)
            else:
                self.endpoints[r.name] = external(r)
        for server in self.servers.values():
            server.spawn()  # from this thread, so children die with this process
        await asyncio.gather(*(asyncio.to_thread(s.wait_ready) for s in self.servers.values()))
        for name, server in self.servers.items():
            self.endpoints[name] = Endpoint(self.config.region(name).aws_region, server.url)
        for r in self.config.regions:
            try:
                self.clients[r.name] = await self._client("dynamodb", self.endpoints[r.name])
                self._service[r.name + "/streams"] = await self._client(
                    "dynamodbstreams", self._endpoint(r, "dynamodbstreams"))
                self._service[r.name + "/sqs"] = await self._client("sqs",
                                                                    self._endpoint(r, "sqs"))
            except BotoCoreError as exc:  # an unknown profile, for one
                raise LabError(unusable(exc, r)) from None
        await asyncio.gather(*(self._create_tables(r) for r in self.config.regions))
        await self.claims.take(self.config.regions, self.clients, "(embedded)", self.run_id,
                               lambda where: self.events.emit("claim-lost", where=where))
        for r in self.config.regions:
            clock = HybridClock()
            self.writers[r.name] = RegionWriter(self.clients[r.name], r.name, clock,
                                                lambda n=r.name: self.physical_ms(n))
            self.writers[r.name].max_offset_ms = self.config.replicator.max_clock_offset_ms
        for src, dst in self.config.links:
            await self._start_link(src, dst)
        self.events.emit("lab-start", run=self.run_id, seed=self.seed,
                         regions={n: e.url for n, e in self.endpoints.items()},
                         startup_s=round(time.perf_counter() - t0, 3))

    def _endpoint(self, region: Region, service: str) -> Endpoint:
        """Where ``service`` answers in ``region``: a lab region's moto serves all three."""
        return endpoint_of(region, service, self.endpoints[region.name].url)

    def _tree_folder(self) -> Path | None:
        return self.run_path / "trees" if self.run_path is not None else None

    async def _streams_client(self, stack, region: str):
        return self.async_client(region, "dynamodbstreams")

    def async_client(self, region: str, service: str = "dynamodb"):
        """The lab's own aiobotocore client of ``service`` (dynamodb, dynamodbstreams or sqs)
        in ``region``, straight to its endpoint; open for the lab's life."""
        name = self.config.region(region).name
        if service == "dynamodb":
            return self.clients[name]
        short = {"dynamodbstreams": "streams", "sqs": "sqs"}.get(service)
        if short is None:
            raise LabError(f"no {service!r} client: dynamodb, dynamodbstreams or sqs")
        return self._service[f"{name}/{short}"]

    async def _client(self, service: str, endpoint: Endpoint, **kw):
        return await self._stack.enter_async_context(
            async_client(self._session, service, endpoint, **kw))

    async def _create_tables(self, region: Region) -> None:
        client = self.clients[region.name]
        if not region.local:  # an external region's tables may exist: used only if they fit
            await prepare(client, region, self.config, adopt=True, emit=self.events.emit)
            return
        await ensure_table(client, checkpoint_request())
        await ensure_table(client, conflicts_request())
        await asyncio.gather(*(ensure_table(client, table_request(t))
                               for t in self.config.tables))

    async def _start_link(self, src: str, dst: str) -> None:
        s = self.config.replicator
        server = self.servers.get(dst)  # None: an external region, reached by a tunnel
        proxy = link_proxy(src, dst, server.port if server else None, self.endpoints[dst],
                           random.Random(f"{self.seed}/proxy/{src}>{dst}"),
                           **self._proxy_options())
        await proxy.start()
        self.proxies[(src, dst)] = proxy
        w = self.link_wait_s
        connect_s, read_s = (w, w) if w is not None else (s.connect_timeout_s, s.read_timeout_s)
        self._dest_clients[(src, dst)] = await self._client(
            "dynamodb", self.route(src, dst), connect_s=connect_s, read_s=read_s)
        await self._launch(src, dst, f"{self.seed}/{src}>{dst}")

    async def _launch(self, src: str, dst: str, seed: str, duplicate: bool = False) -> Replicator:
        rep = await build_replicator(
            self.config, src, dst, source=self.clients[src],
            source_streams=self._service[src + "/streams"], source_sqs=self._service[src + "/sqs"],
            dest=self._dest_clients[(src, dst)],
            emit=self.events.emit, clock=self.clock, rng=random.Random(seed),
            **self._replicator_options(src))
        self.replicators[(src, dst)] = rep
        self._tasks[(src, dst)] = self._run_replicator(rep)
        self.events.emit("replicator-start", link=rep.name, duplicate=duplicate)
        return rep

    # The deterministic lab (:class:`~georep.runtime.simlab.SimLab`) changes these three.

    def _proxy_options(self) -> dict[str, Any]:
        return {}

    def _replicator_options(self, src: str) -> dict[str, Any]:
        return {}

    def _run_replicator(self, rep: Replicator) -> asyncio.Future:
        return asyncio.create_task(rep.run(), name=f"replicator {rep.name}")

    async def stop(self) -> None:
        await self._faults.close()
        tasks = [*self._tasks.values(), *(t for _, t in self.zombies)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        await self.claims.release()
        await self._stack.aclose()
        for proxy in self.proxies.values():
            await proxy.stop()
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in self.servers.values()))
        self.servers.clear()
        if self.events.path is not None:
            self.events.emit("lab-stop", run=self.run_id)
        self.events.close()

    # -- replicators -----------------------------------------------------------------------

    def replicator(self, src: str, dst: str) -> Replicator:
        """The link's latest replicator (running or not: see :meth:`running`)."""
        key = self._link(src, dst)
        if key not in self.replicators:
            raise LabError(f"no replicator on link {src}>{dst}")
        return self.replicators[key]

    def running(self, src: str, dst: str) -> bool:
        """Whether the link's replicator task runs (not stopped, crashed, fenced or done)."""
        task = self._tasks.get(self._link(src, dst))
        return task is not None and not task.done()

    async def stop_replicator(self, src: str, dst: str) -> None:
        """Cancel the link's replicator at whatever await point it is (a crash, in effect)."""
        await self._cancel(src, dst, "replicator-stop")

    async def kill_replicator(self, src: str, dst: str) -> None:
        """The same as :meth:`stop_replicator`, recorded as the live lab's SIGKILL is."""
        await self._cancel(src, dst, "replicator-kill")

    async def _cancel(self, src: str, dst: str, kind: str) -> None:
        task = self._tasks.pop(self._link(src, dst), None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.events.emit(kind, link=f"{src}>{dst}")

    async def start_replicator(self, src: str, dst: str, *, duplicate: bool = False) -> Replicator:
        """Start a fresh replicator for the link; it takes the lease and resumes from the
        checkpoint. ``duplicate`` starts it even though one runs: the old one becomes a
        zombie (kept in ``zombies``), which the lease's epoch fencing must stop."""
        key = self._link(src, dst)
        if key in self._tasks and self._tasks[key].done():
            del self._tasks[key]  # it stopped on its own (fenced, or an unreadable checkpoint)
        if key in self._tasks:
            if not duplicate:
                raise LabError(f"replicator {src}>{dst} is already running")
            self.zombies.append((self.replicators[key], self._tasks.pop(key)))
        self.starts += 1
        return await self._launch(src, dst, f"{self.seed}/{src}>{dst}/{self.starts}", duplicate)

    def pause_replicator(self, src: str, dst: str) -> None:
        """Pause the link's replicator (alive, not dead): it holds the next batch it reads,
        unapplied, until :meth:`resume_replicator` (:meth:`Replicator.pause`)."""
        self.replicator(src, dst).pause()
        self.events.emit("replicator-pause", link=f"{src}>{dst}")

    def resume_replicator(self, src: str, dst: str) -> int:
        """Wake every paused replicator of the link, zombies included; how many woke."""
        key = self._link(src, dst)
        woke = [rep for rep in (self.replicators.get(key), *(z for z, _ in self.zombies))
                if rep is not None and rep.name == f"{src}>{dst}" and rep.paused]
        for rep in woke:
            rep.resume()
            self.events.emit("replicator-resume", link=rep.name)
        return len(woke)

    async def reset_checkpoint(self, src: str, dst: str, table: str | None = None,
                               to: str = "trim-horizon") -> dict[str, dict[str, Checkpoint]]:
        """Rewrite the link's checkpoints (``table``'s or every table's) while its replicator
        is stopped: ``trim-horizon`` replays the stream, ``latest`` skips what it holds."""
        checked(to)
        key = self._link(src, dst)
        if key in self._tasks and not self._tasks[key].done():
            raise LabError(f"replicator {src}>{dst} is running; stop it first")
        tables = [self.config.table(table)] if table is not None else list(self.config.tables)
        done = {}
        for t in tables:
            reader = StreamReader(self._service[src + "/streams"],
                                  await stream_arn(self.clients[src], t.name))
            done[t.name] = await reset(self.clients[src], reader, f"{src}>{dst}", t.name, to)
        self.events.emit("checkpoint-reset", link=f"{src}>{dst}", to=to, tables=list(done))
        return done

    async def redrive_all(self, out: dict[str, Any]) -> int:
        """Redrive every running link's DLQ; the number of dead letters still blocked."""
        blocked = 0
        for key, rep in self.replicators.items():
            if key in self._tasks:
                blocked += tally_redrive(out, rep.name, await rep.redrive())
        return blocked

    def _check_tasks(self) -> None:
        for key, task in self._tasks.items():
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise LabError(f"replicator {key[0]}>{key[1]} died: "
                               f"{task.exception()!r}") from task.exception()
            if task.done() and self.replicators[key].stats.stopped:
                raise LabError(f"replicator {key[0]}>{key[1]} stopped: "
                               f"{self.replicators[key].stats.stopped}")

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every running replicator has found nothing new, twice over.

        The second round catches work the first one caused (stamps written back, for one).
        Raises TimeoutError if that does not happen in ``timeout`` seconds (a cut link, say).
        """
        async def rounds() -> None:
            for _ in range(2):  # each round marks where it starts
                await asyncio.gather(*(rep.wait_quiet(rep.mark())
                                       for key, rep in self.replicators.items()
                                       if key in self._tasks))

        async def watch() -> None:
            while True:
                self._check_tasks()
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        try:
            async with asyncio.timeout(timeout):
                done, _ = await asyncio.wait(
                    [asyncio.ensure_future(rounds()), watcher],
                    return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    t.result()
        finally:
            watcher.cancel()
        self._check_tasks()

    def _link(self, src: str, dst: str) -> tuple[str, str]:
        self.config.region(src)
        self.config.region(dst)
        if src == dst:
            raise LabError(f"a link joins two different regions, not {src} with itself")
        return (src, dst)

    def route(self, src: str, dst: str) -> Endpoint:
        """Where a client in ``src`` reaches ``dst``: through the link's proxy (faults apply:
        a lab region's proxy stands in for its URL, an external region's is botocore's HTTP
        proxy), or the region's own endpoint when src is dst."""
        src, dst = self.config.region(src).name, self.config.region(dst).name
        proxy = self.proxies.get((src, dst))
        if proxy is None:
            return self.endpoints[dst]
        return routed(self.config.region(dst), proxy.url)

    def physical_ms(self, region: str) -> int:
        return int(self.clock() * 1000) + self.skew_ms[region]

    def stats(self) -> dict[str, dict[str, Any]]:
        return {rep.name: rep.stats.as_dict() for rep in self.replicators.values()}

