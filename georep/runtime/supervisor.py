"""The live lab's supervisor: regions, link proxies and replicators as one background service.

Place in the data flow: started by ``georep up`` as a detached process. It runs each lab region
(a ``port``) as a moto server process on that port, and checks each external region (an
``endpoint``: real AWS or any DynamoDB-compatible service) answers; it creates the tables, or
adopts existing ones (``--adopt``), runs the link proxies (in this process; a link to an external
region is a tunnel) and one replicator process per directed link; it serves the control API
(:mod:`.control`) on 127.0.0.1. It never deletes a table, and stopping it leaves external
regions' data alone.
It restarts nothing on its own: a replicator that dies shows as dead until started again.
Children are tied to it (PR_SET_PDEATHSIG), so a crashed supervisor leaves no region behind.
It holds the home's lock (:meth:`LabHome.hold`) for its whole life and runs with umask 077.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

from ..aws.checkpoints import checked, reset
from ..aws.clients import Endpoint, async_client, endpoint_of, shown
from ..aws.streams import StreamReader
from ..aws.tables import stream_arn
from ..config import LabConfig, Region, load
from ..engine.faults import Faults
from ..engine.proxy import LinkProxy
from ..errors import GeorepError, LabError
from .claims import Claims
from .events import EventLog
from .home import LabHome, private_fd
from .moto import MotoProcess, die_with_parent, port_free
from .reach import UNREACHABLE
from .regionsetup import link_proxy, prepare, unusable


class Supervisor:
    def __init__(self, home: LabHome, regions_dir: Path, adopt: bool = False) -> None:
        self.home = home
        self.adopt = adopt  # use user tables that exist in a region (checked first)
        self.regions_dir = regions_dir.resolve()
        self.config: LabConfig = load(regions_dir)
        self.run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        self.run_path = home.runs / self.run_id
        self.events: EventLog | None = None
        self.seed = secrets.randbits(32)
        self.regions: dict[str, MotoProcess] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.proxies: dict[str, LinkProxy] = {}
        self.metrics = None  # georep.runtime.metrics, imported once the process records
        self._faults = Faults(self.config, self.proxies, emit=self._emit,
                              on_change=self._faults_changed)
        self.replicators: dict[str, subprocess.Popen] = {}
        # replicators a takeover superseded while alive (zombies the lease must fence), by link
        self.zombies: dict[str, list[subprocess.Popen]] = {}
        self.paused: set[int] = set()  # pids stopped with SIGSTOP
        self.exit_codes: dict[str, int] = {}
        self.resetting: set[str] = set()  # links whose checkpoint is being rewritten
        self.clients: dict[str, object] = {}
        self.stopping = asyncio.Event()
        self.token = ""
        self.control_port = 0
        self._stack = contextlib.AsyncExitStack()
        self._session = AioSession()
        self.claims = Claims()  # one lab per external region at a time

    # -- start and stop ----------------------------------------------------------------------

    async def start(self) -> None:
        from . import metrics

        self.metrics = metrics
        self.token = self.home.new_token()
        self.home.use_meta_secret()
        self.run_path.mkdir(parents=True, exist_ok=True)
        self.events = EventLog(self.run_path / "events.jsonl", time.time, keep=False)
        for r in self.config.regions:
            if r.local and not port_free(r.port):
                raise LabError(f"region {r.name}: port {r.port} is already in use "
                               f"(set another 'port' in {r.source})")
        for r in self.config.regions:
            if r.local:
                proc = MotoProcess(r.name, r.aws_region, r.port,
                                   log=self.home.logs / f"{r.name}.log")
                proc.spawn()
                self.regions[r.name] = proc
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready) for p in self.regions.values()))
        for r in self.config.regions:
            ep = endpoint_of(r, "dynamodb", self.regions[r.name].url if r.local else None)
            self.endpoints[r.name] = ep
            try:
                self.clients[r.name] = await self._stack.enter_async_context(
                    async_client(self._session, "dynamodb", ep, connect_s=5.0, read_s=20.0))
            except BotoCoreError as exc:  # an unknown profile, for one
                raise LabError(unusable(exc, r)) from None
        await asyncio.gather(*(self._tables(r) for r in self.config.regions))
        await self.claims.take(self.config.regions, self.clients, str(self.home.path),
                               self.run_id, lambda where: self._emit("claim-lost", where=where))
        for src, dst in self.config.links:
            proc = self.regions.get(dst)  # None: an external region, reached by a tunnel
            proxy = link_proxy(src, dst, proc.port if proc else None, self.endpoints[dst],
                               random.Random(f"{self.seed}/proxy/{src}>{dst}"))
            await proxy.start()
            self.proxies[proxy.name] = proxy
        self._faults_changed()  # every link up, and a faults file with no skew
        for src, dst in self.config.links:
            self.start_replicator(src, dst)
        self.events.emit("lab-start", run=self.run_id, seed=self.seed, regions=self.shown())

    def shown(self) -> dict[str, str]:
        """Each region's endpoint as printed: a lab region's URL, an external one's file."""
        procs = self.regions  # a lab region not started yet has none: no URL
        return {r.name: shown(r, procs[r.name].url if r.name in procs else None)
                for r in self.config.regions}

    async def _tables(self, region: Region) -> None:
        await prepare(self.clients[region.name], region, self.config, adopt=self.adopt,
                      emit=self._emit)

    async def stop(self) -> None:
        await self._faults.close()
        for link in list(self.replicators):
            self._terminate(link, signal.SIGTERM)
        for proxy in self.proxies.values():
            await proxy.stop()
        await self.claims.release()  # once no replicator of this lab runs
        await self._stack.aclose()
        for proc in self.regions.values():  # lab regions only: an external one is left alone
            await asyncio.to_thread(proc.stop)
        if self.events is not None:
            self.events.emit("lab-stop", run=self.run_id)
            self.events.close()

    # -- replicators -------------------------------------------------------------------------

    def _link(self, src: str, dst: str) -> str:
        self.config.region(src)
        self.config.region(dst)
        if src == dst:
            raise LabError(f"a link joins two different regions, not {src} with itself")
        return f"{src}>{dst}"

    def start_replicator(self, src: str, dst: str, takeover: bool = False) -> int:
        """Start the link's replicator. ``takeover`` starts one although one runs (paused or
        not): the new one takes the lease, the old one is kept as a zombie, to be fenced."""
        link = self._link(src, dst)
        proc = self.replicators.get(link)
        if proc is not None and proc.poll() is None:
            if not takeover:
                raise LabError(f"replicator {link} is already running (pid {proc.pid}); "
                               "--takeover starts a second one that fences it")
            self.zombies.setdefault(link, []).append(proc)
        if link in self.resetting:
            raise LabError(f"the checkpoint of {link} is being reset; start it afterwards")
        log = os.fdopen(private_fd(self.home.logs / f"replicator-{src}_{dst}.log"), "ab")
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(self.home.metrics_dir)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "georep.runtime.linkproc", "--home", str(self.home.path),
             "--regions", str(self.regions_dir), "--src", src, "--dst", dst,
             "--source-url", self.regions[src].url if src in self.regions else "",
             "--dest-url", self.proxies[link].url,
             "--events", str(self.run_path / "events.jsonl"), "--seed", str(self.seed)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            preexec_fn=die_with_parent)
        log.close()
        self.replicators[link] = proc
        self.exit_codes.pop(link, None)
        self.metrics.REPLICATOR_UP.labels(link).set(1)
        return proc.pid

    async def reset_checkpoint(self, src: str, dst: str, table: str | None,
                               to: str) -> dict[str, dict[str, str | None]]:
        """Rewrite the link's checkpoints (one table or all) while its replicator is stopped."""
        checked(to)
        link = self._link(src, dst)
        tables = [self.config.table(table)] if table is not None else list(self.config.tables)
        proc = self.replicators.get(link)
        if proc is not None and proc.poll() is None:
            raise LabError(f"replicator {link} is running (pid {proc.pid}): a reset under it "
                           f"would fence it; stop it with `georep replicator kill {src} {dst}`")
        self.resetting.add(link)
        done = {}
        try:
            region = self.config.region(src)
            async with async_client(self._session, "dynamodbstreams", endpoint_of(
                    region, "dynamodbstreams", self.endpoints[src].url)) as streams:
                for t in tables:
                    reader = StreamReader(streams, await stream_arn(self.clients[src], t.name))
                    cps = await reset(self.clients[src], reader, link, t.name, to)
                    done[t.name] = {sid: cp.seq for sid, cp in cps.items()}
        except (BotoCoreError, ClientError, *UNREACHABLE) as exc:  # the region failed: one line
            raise LabError(unusable(exc, self.config.region(src))) from None
        finally:
            self.resetting.discard(link)
        self.events.emit("checkpoint-reset", link=link, to=to, tables=done)
        return done

    def _processes(self, link: str) -> list[subprocess.Popen]:
        """The link's live processes: its replicator and its zombies."""
        procs = [*self.zombies.get(link, []), self.replicators.get(link)]
        return [p for p in procs if p is not None and p.poll() is None]

    def pause_replicator(self, src: str, dst: str) -> int:
        """SIGSTOP the link's replicator process: alive, frozen wherever it was."""
        link = self._link(src, dst)
        proc = self.replicators.get(link)
        if proc is None or proc.poll() is not None:
            raise LabError(f"replicator {link} is not running")
        if proc.pid in self.paused:
            raise LabError(f"replicator {link} (pid {proc.pid}) is already paused")
        proc.send_signal(signal.SIGSTOP)  # our own child: the Popen we started
        self.paused.add(proc.pid)
        self._emit("replicator-pause", link=link, pid=proc.pid)
        return proc.pid

    def resume_replicator(self, src: str, dst: str) -> list[int]:
        """SIGCONT every paused process of the link, zombies included; their pids."""
        link = self._link(src, dst)
        woke = [p for p in self._processes(link) if p.pid in self.paused]
        if not woke:
            raise LabError(f"no paused replicator on {link}")
        for proc in woke:
            proc.send_signal(signal.SIGCONT)
            self.paused.discard(proc.pid)
            self._emit("replicator-resume", link=link, pid=proc.pid)
        return [p.pid for p in woke]

    def _terminate(self, link: str, sig: int) -> int | None:
        for zombie in [p for p in self.zombies.get(link, []) if p.poll() is None]:
            self._end(zombie, signal.SIGKILL)  # a zombie goes with its link
        proc = self.replicators.get(link)
        if proc is None or proc.poll() is not None:
            return None
        self._end(proc, sig)
        self._reap(link, proc)
        return proc.pid

    def _end(self, proc: subprocess.Popen, sig: int) -> None:
        """Signal one of our own children and wait for it (SIGKILL after 5 s)."""
        proc.send_signal(sig)
        if proc.pid in self.paused:  # a stopped process acts on SIGTERM only once continued
            proc.send_signal(signal.SIGCONT)
            self.paused.discard(proc.pid)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def kill_replicator(self, src: str, dst: str) -> int:
        link = self._link(src, dst)
        pid = self._terminate(link, signal.SIGKILL)
        if pid is None:
            raise LabError(f"replicator {link} is not running")
        self.events.emit("replicator-kill", link=link, pid=pid)
        return pid

    def _reap(self, link: str, proc: subprocess.Popen) -> None:
        from prometheus_client import multiprocess

        self.exit_codes[link] = proc.returncode
        multiprocess.mark_process_dead(proc.pid, str(self.home.metrics_dir))
        self.metrics.REPLICATOR_UP.labels(link).set(0)

    async def watch(self) -> None:
        """Notice replicators that died on their own; record it, restart nothing."""
        while True:
            for link, proc in self.replicators.items():
                if proc.poll() is not None and link not in self.exit_codes:
                    self._reap(link, proc)
                    self.events.emit("replicator-died", link=link, pid=proc.pid,
                                     exit_code=proc.returncode)
            for link, zombies in self.zombies.items():
                for proc in [p for p in zombies if p.poll() is not None]:
                    zombies.remove(proc)
                    self.paused.discard(proc.pid)
                    self.events.emit("replicator-died", link=link, pid=proc.pid,
                                     exit_code=proc.returncode, zombie=True)
            await asyncio.sleep(0.2)

    # -- faults (georep.engine.faults applies them; see the embedded Lab's methods) ---------

    def _emit(self, kind: str, **fields) -> None:
        if self.events is not None:
            self.events.emit(kind, **fields)

    def _faults_changed(self) -> None:
        """Meter the links and persist the active faults: the CLI's writers, in processes
        of their own, read their region's clock skew from the file (:meth:`LabHome.skew_ms`)."""
        if self.metrics is not None:
            for name, proxy in self.proxies.items():
                self.metrics.LINK_UP.labels(name).set(1 if proxy.state == "open" else 0)
        self.home.write_json(self.home.faults_file, {
            "run_id": self.run_id, **self._faults.describe(), "skew_ms": self._faults.skew_ms})

    def partition(self, a: str, b: str, one_way: bool) -> dict[str, str]:
        """Cut a↔b; ``one_way`` drops only the bytes a sends to b (see Lab.partition)."""
        self._faults.partition(a, b, one_way=one_way)
        return self._faults.link_state([f"{a}>{b}", f"{b}>{a}"])

    def heal(self, a: str | None, b: str | None) -> list[str]:
        return self._faults.heal(a, b)

    def isolate(self, region: str) -> dict[str, str]:
        self._faults.isolate(region)
        return self._faults.link_state()

    def latency(self, a: str, b: str, ms: float, jitter: float = 0,
                one_way: bool = False) -> list[str]:
        return self._faults.set_latency(a, b, ms, jitter, one_way)

    def skew(self, region: str, ms: float) -> int:
        return self._faults.skew(region, ms)

    def flap(self, a: str, b: str, period: float) -> None:
        self._faults.flap(a, b, period)

    def faults(self) -> dict:
        return self._faults.describe()


async def serve(home: LabHome, regions_dir: Path, adopt: bool = False) -> None:
    from .control import control_app, run_control

    loop = asyncio.get_running_loop()
    stop_now = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_now.set)
    runner = None
    watcher = None
    sup = None
    try:
        sup = Supervisor(home, regions_dir, adopt)
        sup.stopping = stop_now
        await sup.start()
        runner, sup.control_port = await run_control(control_app(sup))
        watcher = asyncio.create_task(sup.watch())
        home.write_json(home.state_file, {
            "ready": True, "pid": os.getpid(), "control_port": sup.control_port,
            "run_id": sup.run_id, "run_path": str(sup.run_path), "regions_dir":
            str(sup.regions_dir), "regions": {n: e.url for n, e in sup.endpoints.items()},
            "shown": sup.shown(),
            "links": {name: p.port for name, p in sup.proxies.items()},
            "region_pids": {n: p.pid for n, p in sup.regions.items()},
        })
        await sup.stopping.wait()
    except Exception as exc:
        message = str(exc) if isinstance(exc, GeorepError) else f"{type(exc).__name__}: {exc}"
        home.write_json(home.state_file, {"ready": False, "error": message, "pid": os.getpid()})
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
        if runner is not None:
            await runner.cleanup()
        if sup is not None:
            await sup.stop()
        home.pid_file.unlink(missing_ok=True)  # ours: this process holds the home's lock
        home.state_file.unlink(missing_ok=True)
        home.faults_file.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description="georep: the live lab's supervisor")
    ap.add_argument("--home", required=True)
    ap.add_argument("--regions", required=True)
    ap.add_argument("--adopt", action="store_true")
    args = ap.parse_args()
    os.umask(0o077)  # every file the lab writes (and its children: logs, metrics) is private
    home = LabHome(args.home)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(home.metrics_dir)
    try:
        home.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Held until this process exits: a second supervisor for this home stops here, before
        # it touches a file of the running lab.
        home.hold()
        home.check_files()
        home.prepare()
        home.clear()
        home.write_pid(os.getpid())
        asyncio.run(serve(home, Path(args.regions), args.adopt))
    except GeorepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
