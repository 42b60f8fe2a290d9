"""Chaos runs on an embedded lab: writers in every region at once, partitions and replicator
kills, then heal, reconcile and a verdict by the ledger checker (georep.core.ledger).

Place in the data flow: a test driver outside the lab. Writers go through georep
(``lab.put/update/delete/crdt``) and through plain boto3 clients; each keeps an independent
ledger of what it wrote and what that write replaced. Plain writers are careful clients: a
consistent read, then a write conditional on what it read, so each acknowledged plain write
replaced exactly the value it read; georep reports the item its own write replaced
(``replaced=``). One writer task per (region, key) keeps each region's writes to a key in order.

Knobs (environment): CHAOS_SECONDS (total budget, default 60), CHAOS_SEED (default random,
always printed), CHAOS_OFF (comma-separated kinds from KINDS to switch off), CHAOS_KEYS.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import random
import shutil
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from georep import Lab
from georep.aws.values import to_python
from georep.config import LabConfig, load
from georep.core.ledger import CounterOp, Ledger, Read, Write, check
from georep.errors import LabError

from .chaos_report import ChaosRun

ROOT = Path(__file__).resolve().parents[2]
LWW, CRDT = "users", "accounts"
COUNTERS = {CRDT: {"stock": "bcounter", "hits": "pncounter"}}
EXTRA_REGIONS = [("ap-south", "ap-south-1"), ("sa-east", "sa-east-1")]
WRITES = ("georep-put", "georep-update", "georep-delete", "plain-put", "plain-update",
          "plain-delete")
COUNTER_OPS = ("counter", "bcounter", "rights", "plain-note")
FAULTS = ("partition", "one-way", "kill")
KINDS = frozenset(WRITES + COUNTER_OPS + FAULTS)
# Errors after which a write may or may not have happened; anything else is a bug in the
# driver or in georep and fails the run.
UNKNOWN = (BotoCoreError, ClientError, TimeoutError, OSError)
CRDT_TABLE = """
[tables.accounts]
hash_key = { name = "id", type = "S" }
policy = "crdt"
crdt = { stock = "bcounter", hits = "pncounter" }
"""


@dataclass(frozen=True)
class ChaosOptions:
    seconds: float  # length of the chaos phase (writers and nemesis)
    seed: int
    regions: int = 2
    keys: int = 3  # lww keys, each with a writer in every region
    counter_keys: int = 2
    off: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, *, regions: int = 2, share: float = 1.0,
                 seed: int | None = None):
        """Options from the environment: ``share`` of CHAOS_SECONDS, less the time a lab takes
        to start, settle, reconcile and read (about 6 s a region here), is the chaos phase.
        ``seed`` is used when CHAOS_SEED is not set (else a fresh one)."""
        overhead_s = 6.0 * regions
        budget = float(os.environ.get("CHAOS_SECONDS", "60"))
        env_seed = os.environ.get("CHAOS_SEED")
        off = frozenset(k.strip() for k in os.environ.get("CHAOS_OFF", "").split(",")
                        if k.strip())
        if off - KINDS:
            raise ValueError(f"CHAOS_OFF: unknown kinds {sorted(off - KINDS)}; "
                             f"known: {sorted(KINDS)}")
        return cls(seconds=max(5.0, budget * share - overhead_s),
                   seed=int(env_seed) if env_seed else (
                       seed if seed is not None else random.randrange(2**32)),
                   regions=regions,
                   keys=int(os.environ.get("CHAOS_KEYS", "3")), off=off)

    def kinds(self, group: tuple[str, ...]) -> list[str]:
        return [k for k in group if k not in self.off]


def chaos_config(tmp: Path, regions: int) -> LabConfig:
    """The repo's regions plus a crdt table (and more regions), with short timeouts."""
    folder = tmp / "regions"
    shutil.copytree(ROOT / "regions", folder)
    with (folder / "lab.toml").open("a") as f:
        f.write(CRDT_TABLE)
    for port, (name, aws) in enumerate(EXTRA_REGIONS[:regions - 2], start=8103):
        (folder / f"{name}.toml").write_text(f'name = "{name}"\naws_region = "{aws}"\n'
                                              f'port = {port}\n')
    cfg = load(folder)
    fast = replace(cfg.replicator, connect_timeout_s=0.5, read_timeout_s=0.5, retry_cap_ms=200,
                   unstamped_wait_s=2.0, breaker_cooldown_s=1.0)
    return replace(cfg, replicator=fast)


def plain_client(lab: Lab, region: str):
    """A plain boto3 client straight to the region, without botocore's retries: a retried
    conditional write could fail on its own first attempt's success and hide an ack."""
    cfg = Config(connect_timeout=5, read_timeout=20, retries={"total_max_attempts": 1})
    return boto3.client("dynamodb", config=cfg, **lab.endpoints[region].kwargs())


@dataclass
class Recorder:
    """The ledger, a run-wide order for reads and acks, and counts of what happened."""

    ledger: Ledger = field(default_factory=lambda: Ledger(counters=COUNTERS))
    counts: dict[str, int] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)  # wall time of each seq, for the events
    _seq: Any = field(default_factory=lambda: itertools.count(1))

    def seq(self) -> int:
        self.times.append(round(time.time(), 3))
        return next(self._seq)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def _value(raw: dict | None, attr: str = "v") -> str | None:
    return (raw or {}).get(attr, {}).get("S")


def _cond(attr: str, old: str | None) -> dict[str, Any]:
    """Condition: the attribute still holds what the writer read (or is still absent)."""
    if old is None:
        return {"ConditionExpression": "attribute_not_exists(#a)",
                "ExpressionAttributeNames": {"#a": attr}}
    return {"ConditionExpression": "#a = :old", "ExpressionAttributeNames": {"#a": attr},
            "ExpressionAttributeValues": {":old": {"S": old}}}


def plain_write(client, table: str, key: str, op: str, attr: str, token: str):
    """Read (consistent), then write conditionally on what was read. Returns (op, old); a
    delete of nothing becomes a put. Raises ClientError, ConditionalCheckFailed included."""
    k = {"id": {"S": key}}
    old = _value(client.get_item(TableName=table, Key=k, ConsistentRead=True).get("Item"), attr)
    cond = _cond(attr, old)
    if op == "delete" and old is None:
        op = "put"
    if op == "put":
        client.put_item(TableName=table, Item={**k, attr: {"S": token}}, **cond)
    elif op == "update":
        values = {**cond.get("ExpressionAttributeValues", {}), ":new": {"S": token}}
        client.update_item(TableName=table, Key=k, UpdateExpression="SET #a = :new",
                           **{**cond, "ExpressionAttributeValues": values})
    else:
        client.delete_item(TableName=table, Key=k, **cond)
    return op, old


async def register_op(lab: Lab, rec: Recorder, client, region: str, table: str, key: str,
                      kind: str, token: str, attr: str = "v") -> None:
    """One write of a register, recorded in the ledger if acknowledged (or of unknown
    outcome); a refused write (a failed condition, a write that kept racing) is not."""
    writer, op = kind.split("-")
    read_seq, seen, hlc = rec.seq(), [], None
    try:
        if writer == "georep" and op == "delete":
            hlc = (await lab.delete(region, table, key, replaced=seen)).meta.hlc
        elif writer == "georep":
            write = lab.put if op == "put" else lab.update
            hlc = (await write(region, table, key, {attr: token}, replaced=seen)).meta.hlc
        else:
            op, old = await asyncio.to_thread(plain_write, client, table, key, op, attr, token)
            seen = [{attr: {"S": old}} if old is not None else None]
    except LabError:
        rec.count("refused")
        return
    except UNKNOWN as exc:  # a timeout, a dropped connection: the outcome is unknown
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get(
                "Code") == "ConditionalCheckFailedException":
            rec.count("refused")
            return
        rec.ledger.writes.append(Write(region, writer, table, key, op, token, None, attr,
                                       read_seq=read_seq, acknowledged=False))
        return
    rec.ledger.writes.append(Write(region, writer, table, key, op, token,
                                   _value(seen[0], attr), attr, hlc=hlc, read_seq=read_seq,
                                   ack_seq=rec.seq()))
    rec.count(f"{writer}-{op}")


async def register_writer(lab, rec, opts, rng, region: str, key: str, deadline: float):
    client = plain_client(lab, region)
    kinds = opts.kinds(WRITES)
    for n in itertools.count():
        if time.monotonic() >= deadline or not kinds:
            return
        await register_op(lab, rec, client, region, LWW, key, rng.choice(kinds),
                          f"{region}-{key}-{n}")
        await asyncio.sleep(rng.uniform(0, 0.03))


async def counter_op(lab: Lab, rec: Recorder, rng, region: str, key: str, kind: str) -> None:
    others = [r.name for r in lab.config.regions if r.name != region]
    if kind == "rights":
        try:
            await lab.transfer_rights(region, CRDT, key, "stock", rng.choice(others),
                                      rng.randint(1, 3))
            rec.count("rights")
        except LabError:
            rec.count("refused")
        return
    attr = "stock" if kind == "bcounter" else "hits"
    delta = rng.choice([1, -1]) * rng.randint(1, 5)
    try:
        await lab.crdt(region, CRDT, key, [(attr, "+=" if delta > 0 else "-=", abs(delta))])
    except LabError:  # no rights to decrement, or kept racing: not applied
        rec.count("refused")
        return
    except UNKNOWN:
        rec.ledger.counter_ops.append(CounterOp(region, CRDT, key, attr, delta, False))
        return
    rec.ledger.counter_ops.append(CounterOp(region, CRDT, key, attr, delta,
                                            ack_seq=rec.seq()))
    rec.count(kind)


async def counter_writer(lab, rec, opts, rng, region: str, key: str, deadline: float):
    """Counter operations on one crdt item (and plain register writes to its note), reading
    the item after each: the bounded counter must never read below zero."""
    client = plain_client(lab, region)
    kinds = opts.kinds(COUNTER_OPS)
    for n in itertools.count():
        if time.monotonic() >= deadline or not kinds:
            return
        kind = rng.choice(kinds)
        if kind == "plain-note":
            await register_op(lab, rec, client, region, CRDT, key, "plain-update",
                              f"{region}-{key}-note{n}", attr="note")
        else:
            await counter_op(lab, rec, rng, region, key, kind)
        view, item = await read_item(lab, client, region, CRDT, key, plain=n % 2 == 1)
        rec.ledger.reads.append(Read(region, CRDT, key, view, item, final=False))
        await asyncio.sleep(rng.uniform(0, 0.03))


async def read_item(lab: Lab, client, region: str, table: str, key: str, *, plain: bool):
    """(view, item): georep's read (None if absent or deleted), or a plain client's
    consistent GetItem with georep's reserved attribute left out."""
    if not plain:
        return "georep", await lab.get(region, table, key)
    got = await asyncio.to_thread(client.get_item, TableName=table, Key={"id": {"S": key}},
                                  ConsistentRead=True)
    item = got.get("Item")
    return "plain", None if item is None else to_python(item)


async def nemesis(lab: Lab, rec: Recorder, opts: ChaosOptions, rng, deadline: float):
    """Flapping two-way and one-way partitions, and replicator kills with restarts."""
    names = [r.name for r in lab.config.regions]
    heals: dict[tuple[str, str], float] = {}
    restarts: dict[tuple[str, str], float] = {}
    kinds = [*opts.kinds(FAULTS), "wait"]
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            now = time.monotonic()
            for pair, at in list(heals.items()):
                if at <= now:
                    lab.heal(*pair)
                    del heals[pair]
            for link, at in list(restarts.items()):
                if at <= now:
                    await lab.start_replicator(*link)
                    del restarts[link]
            kind = rng.choice(kinds)
            if kind in ("partition", "one-way"):
                a, b = rng.sample(names, 2)
                lab.partition(a, b, one_way=kind == "one-way")
                heals[tuple(sorted((a, b)))] = now + rng.uniform(0.3, 4.0)
                rec.count(kind)
            elif kind == "kill":
                running = [link for link in lab.config.links if link not in restarts]
                if not running:
                    continue
                link = rng.choice(running)
                await lab.stop_replicator(*link)
                restarts[link] = now + rng.uniform(0.3, 3.0)
                rec.count("kill")
    finally:
        lab.heal()
        for link in restarts:
            await lab.start_replicator(*link)


async def final_reads(lab: Lab, rec: Recorder) -> dict[str, Any]:
    """Read every key the ledger touched in every region, through georep and as a plain
    client would; returns the raw items (metadata included) for the report."""
    keys = sorted({(w.table, w.key) for w in rec.ledger.writes}
                  | {(o.table, o.key) for o in rec.ledger.counter_ops})
    raw: dict[str, Any] = {}
    for r in lab.config.regions:
        client = plain_client(lab, r.name)
        for table, key in keys:
            for plain in (False, True):
                view, item = await read_item(lab, client, r.name, table, key, plain=plain)
                rec.ledger.reads.append(Read(r.name, table, key, view, item))
            got = await asyncio.to_thread(client.get_item, TableName=table,
                                          Key={"id": {"S": key}}, ConsistentRead=True)
            item = got.get("Item")
            raw[f"{r.name}/{table}/{key}"] = to_python(item, keep_meta=True) if item else None
    return raw


async def run_chaos(opts: ChaosOptions, workdir: Path) -> ChaosRun:
    """One chaos run: start a lab, write and fault for ``opts.seconds``, heal, settle,
    reconcile, read everything and check the ledger. Writes ``chaos-report.json``."""
    rng = random.Random(opts.seed)
    rec, seconds = Recorder(), {}
    t0 = time.monotonic()
    async with Lab.embedded(chaos_config(workdir, opts.regions), run_dir=workdir / "runs",
                            seed=opts.seed) as lab:
        # a first reconcile builds every region's tree: the last one is then incremental,
        # its trees caught up from the streams over the whole run
        await lab.reconcile(timeout=60)
        seconds["start"] = round(time.monotonic() - t0, 1)
        deadline = time.monotonic() + opts.seconds
        names = [r.name for r in lab.config.regions]
        tasks = [register_writer(lab, rec, opts, random.Random(rng.random()), r, f"k{i}",
                                 deadline) for r in names for i in range(opts.keys)]
        tasks += [counter_writer(lab, rec, opts, random.Random(rng.random()), r, f"c{i}",
                                 deadline) for r in names for i in range(opts.counter_keys)]
        tasks.append(nemesis(lab, rec, opts, random.Random(rng.random()), deadline))
        await asyncio.gather(*tasks)
        seconds["chaos"] = round(time.monotonic() - t0 - seconds["start"], 1)
        reconcile = await _heal_and_reconcile(lab)
        raw = await final_reads(lab, rec)
        rec.ledger.feed.extend(await lab.conflicts())
        run_dir = lab.run_path
    seconds["total"] = round(time.monotonic() - t0, 1)
    run = ChaosRun(opts, rec.ledger, check(rec.ledger), rec.counts, reconcile, seconds)
    run.write(workdir / "chaos-report.json", run_dir=str(run_dir), raw=raw,
              seq_times=rec.times)
    return run


async def _heal_and_reconcile(lab: Lab, timeout: float = 60.0) -> dict[str, Any]:
    """Settle, reconcile and settle again; a failure is part of the verdict, not a crash.
    On a failure the report keeps the traceback and where each replicator task is waiting."""
    out: dict[str, Any] = {}
    t0 = time.monotonic()
    try:
        await lab.settle(timeout=timeout)
        report = await lab.reconcile(timeout=timeout)
        await lab.settle(timeout=timeout)
        out = {"verified": report["verified"], "redrive": report["redrive"],
               "tables": [{k: t.get(k) for k in ("table", "mode", "stream_records",
                                                  "verified", "keys_diverged", "repaired",
                                                  "conflicts") if k in t}
                          for t in report["tables"]]}
    except Exception as exc:
        cause = exc.__cause__ or exc  # a replicator's death: its own traceback
        out = {"verified": False, "error": repr(exc)[:500],
               "traceback": "".join(traceback.format_exception(cause))[-3000:],
               "tasks": _replicator_stacks(), "replicators": _replicator_states(lab)}
        await asyncio.sleep(2)  # does a replicator that never goes quiet still make progress?
        out["replicators_2s_later"] = _replicator_states(lab)
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def _replicator_stacks() -> dict[str, str]:
    """Where each live replicator task is waiting (a replicator that never goes quiet)."""
    out = {}
    for task in asyncio.all_tasks():
        if ">" in task.get_name() and not task.done():  # replicators and their table loops
            buf = io.StringIO()
            task.print_stack(limit=12, file=buf)
            out[task.get_name()] = buf.getvalue()[-2500:]
    return out


def _replicator_states(lab: Lab) -> dict[str, Any]:
    """What keeps a replicator from reporting quiet."""
    return {rep.name: {"running": lab.running(src, dst), "stats": rep.stats.as_dict(),
                       **rep.diagnosis()}
            for (src, dst), rep in lab.replicators.items()}
