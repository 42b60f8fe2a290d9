"""A test run's plan: every client operation and every fault window, drawn from the seed.

Place in the data flow: the first step of ``georep test``. :func:`make_plan` turns the run's
options (workload, nemeses, regions, links, duration, rate, concurrency, seed) into a
:class:`Plan`; the harness's runner executes it against a lab and records what happened. Pure:
the same options give the same plan, byte for byte (``plan.json``), whatever the lab does.
Outcomes are not planned (an operation may succeed, fail or time out); what the plan fixes is
which operation each process invokes, when at the earliest, and which faults start and stop when.

Each workload is a generator of operations (:data:`WORKLOADS`); each process draws from its own
random stream (``seed/ops/<process>``), and each fault family from ``seed/faults/<family>``, so
adding a nemesis changes no client operation and no other family's windows.

Fault families run one window at a time and overlap each other: ``net`` (partition, one-way,
isolate, flap, latency: each heal lifts what its window set, so two net windows never overlap),
``clock`` (skew), ``process`` (kill).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

NEMESES = {"partition": "net", "one-way": "net", "isolate": "net", "flap": "net",
           "latency": "net", "skew": "clock", "kill": "process"}
WORKLOAD_KEYS = {"register": 4, "counter": 3, "set": 2, "bank": 4, "orders": 0}
MAX_OPS = 100_000  # operations a plan may expect (rate × duration): each is drawn and stored
MAX_DURATION_S = 86_400.0  # a day: fault windows are drawn every few seconds of it
MAX_CONCURRENCY = 1_000  # client processes: each a task with its own random stream


@dataclass(frozen=True)
class PlannedOp:
    """Process ``process`` (in ``region``) invokes ``f`` with ``value`` at ``at`` seconds into
    the run, or as soon after as its previous operation completes. ``retry``: orders only, the
    region where the user retries when the first attempt's outcome is unknown (None: no retry);
    ``lose_reply``: the first attempt's reply never reaches the user (the incident's timeout)."""

    at: float
    process: int
    region: str
    f: str
    value: dict[str, Any]
    retry: str | None = None
    lose_reply: bool = False


@dataclass(frozen=True)
class FaultWindow:
    """Fault ``kind`` on ``target`` from ``start`` to ``stop`` seconds into the run."""

    start: float
    stop: float
    kind: str
    target: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    seed: int
    workload: str
    duration: float
    rate: float
    processes: dict[int, str]  # process -> its region
    ops: tuple[PlannedOp, ...]
    faults: tuple[FaultWindow, ...]
    options: dict[str, str] = field(default_factory=dict)

    def by_process(self) -> dict[int, list[PlannedOp]]:
        out: dict[int, list[PlannedOp]] = {p: [] for p in self.processes}
        for op in self.ops:
            out[op.process].append(op)
        return out

    def keys(self) -> list[str]:
        """The keys the workload's operations touch, sorted."""
        return sorted({op.value["key"] for op in self.ops})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["processes"] = {str(p): r for p, r in self.processes.items()}
        return d


def fault_label(period: dict[str, Any]) -> str:
    """A fault ({kind, target}: a window, or a period of results.json) as a short label:
    ``partition us-east↔eu-west``, ``isolate ap-south``, ``kill us-east→eu-west``..."""
    kind, t = period.get("kind", "fault"), period.get("target")
    if not isinstance(t, dict):
        return f"{kind} {t}" if t is not None else str(kind)
    if "a" in t and "b" in t:
        what = f"{t['a']}{'→' if kind == 'one-way' else '↔'}{t['b']}"
    elif "src" in t and "dst" in t:
        what = f"{t['src']}→{t['dst']}"
    elif "region" in t:
        what = str(t["region"])
    else:
        what = " ".join(f"{k}={v}" for k, v in sorted(t.items()))
    return f"{kind} {what}" + (f" {t['ms']:+} ms" if kind == "skew" and "ms" in t else "")


# -- workloads: (rng, process, n, regions) -> (f, value, retry, lose_reply) --------------------

Draw = Callable[[random.Random, int, int, Sequence[str], str], PlannedOp | dict]


def _register(rng: random.Random, p: int, n: int, regions, region) -> dict:
    key = f"r{rng.randrange(WORKLOAD_KEYS['register'])}"
    if rng.random() < 0.6:
        return {"f": "write", "value": {"key": key, "value": f"{p}-{n}"}}
    return {"f": "read", "value": {"key": key, "value": None}}


def _counter(rng: random.Random, p: int, n: int, regions, region) -> dict:
    key = f"c{rng.randrange(WORKLOAD_KEYS['counter'])}"
    if rng.random() < 0.75:
        delta = rng.choice([-3, -2, -1, 1, 2, 3, 4, 5])
        return {"f": "add", "value": {"key": key, "delta": delta}}
    return {"f": "read", "value": {"key": key, "value": None}}


def _set(rng: random.Random, p: int, n: int, regions, region) -> dict:
    key = f"s{rng.randrange(WORKLOAD_KEYS['set'])}"
    roll = rng.random()
    if roll < 0.6 or n < 2:
        return {"f": "add", "value": {"key": key, "element": f"{p}-{n}"}}
    if roll < 0.75:  # one of this process's earlier elements (maybe of another key: harmless)
        return {"f": "remove", "value": {"key": key, "element": f"{p}-{rng.randrange(n)}"}}
    return {"f": "read", "value": {"key": key, "value": None}}


def _bank(rng: random.Random, p: int, n: int, regions, region) -> dict:
    key, roll = f"a{rng.randrange(WORKLOAD_KEYS['bank'])}", rng.random()
    # More asked for than paid in: ATMs empty the accounts, deposits top them up a little,
    # so a partition often starts with a small balance both sides can withdraw.
    if roll < 0.55:
        return {"f": "withdraw", "value": {"key": key, "amount": rng.choice([10, 20, 30, 40]),
                                           "id": f"w{p}-{n}"}}
    if roll < 0.8:
        return {"f": "deposit", "value": {"key": key, "amount": rng.choice([20, 30, 40]),
                                          "id": f"d{p}-{n}"}}
    return {"f": "read", "value": {"key": key, "value": None}}


def _orders(rng: random.Random, p: int, n: int, regions, region) -> dict:
    others = [r for r in regions if r != region]
    retry = rng.choice(others) if others and rng.random() < 0.5 else None
    return {"f": "order", "value": {"key": f"idem-{p}-{n}", "amount": rng.randrange(100, 50000),
                                    "attempt": 1},
            "retry": retry, "lose_reply": retry is not None and rng.random() < 0.5}


WORKLOADS: dict[str, Draw] = {"register": _register, "counter": _counter, "set": _set,
                              "bank": _bank, "orders": _orders}


def _process_ops(seed: int, workload: str, p: int, region: str, regions: Sequence[str],
                 duration: float, mean_gap: float) -> list[PlannedOp]:
    rng = random.Random(f"{seed}/ops/{p}")
    draw, out, at, n = WORKLOADS[workload], [], 0.0, 0
    while True:
        at += rng.expovariate(1.0 / mean_gap)
        if at >= duration:
            return out
        op = draw(rng, p, n, regions, region)
        out.append(PlannedOp(round(at, 6), p, region, op["f"], op["value"],
                             op.get("retry"), op.get("lose_reply", False)))
        n += 1


# -- nemeses ------------------------------------------------------------------------------------

def _target(kind: str, rng: random.Random, regions: Sequence[str],
            links: Sequence[tuple[str, str]]) -> dict[str, Any]:
    a, b = rng.sample(list(regions), 2)
    if kind in ("partition", "one-way"):
        return {"a": a, "b": b}
    if kind == "isolate":
        return {"region": a}
    if kind == "flap":
        return {"a": a, "b": b, "period": rng.choice([0.5, 1.0, 1.5])}
    if kind == "latency":
        return {"a": a, "b": b, "ms": rng.choice([100, 250, 500]),
                "jitter": rng.choice([0, 50, 100])}
    if kind == "skew":
        return {"region": a, "ms": rng.choice([-1, 1]) * rng.choice([2000, 10000, 30000])}
    if kind == "kill":
        src, dst = rng.choice(list(links))
        return {"src": src, "dst": dst}
    raise ValueError(f"unknown nemesis {kind!r}")


def _windows(seed: int, family: str, kinds: Sequence[str], regions: Sequence[str],
             links: Sequence[tuple[str, str]], duration: float) -> list[FaultWindow]:
    """Alternating quiet and faulty stretches of the run for one family, each fault a kind
    drawn from ``kinds``; the last stops by the end of the run. Stretches scale with the run
    up to 30 s (a fault lasts 15 to 30% of that, a quiet spell 10 to 20%)."""
    rng = random.Random(f"{seed}/faults/{family}")
    scale = min(max(duration, 4.0), 30.0)
    out, t = [], rng.uniform(0.1, 0.2) * scale
    while True:
        length = rng.uniform(0.15, 0.3) * scale
        if t + min(length, 1.0) >= duration:
            return out
        kind = rng.choice(list(kinds))
        out.append(FaultWindow(round(t, 6), round(min(t + length, duration), 6), kind,
                               _target(kind, rng, regions, links)))
        t += length + rng.uniform(0.1, 0.2) * scale


def check_size(duration: float, rate: float, concurrency: int = 1) -> None:
    """ValueError unless the run is one a plan can be drawn for: positive, at most
    :data:`MAX_DURATION_S` long, :data:`MAX_OPS` operations expected and
    :data:`MAX_CONCURRENCY` processes."""
    if duration <= 0 or rate <= 0 or concurrency < 1:
        raise ValueError("duration and rate must be positive, concurrency at least 1")
    if concurrency > MAX_CONCURRENCY:
        raise ValueError(f"at most {MAX_CONCURRENCY} client processes, not {concurrency}")
    if duration > MAX_DURATION_S:
        raise ValueError(f"a run lasts at most {MAX_DURATION_S:.0f} s, not {duration:g}")
    if duration * rate > MAX_OPS:
        raise ValueError(f"rate × duration plans about {duration * rate:.0f} operations; "
                         f"at most {MAX_OPS} operations")


def check_options(workload: str, nemeses: Sequence[str], duration: float, rate: float,
                  concurrency: int = 1) -> None:
    """ValueError naming the first bad option: an unknown workload or nemesis, or a run no
    plan can be drawn for (:func:`check_size`). The CLI asks before a lab starts."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r} (known: {', '.join(WORKLOADS)})")
    unknown = [n for n in nemeses if n not in NEMESES and n != "none"]
    if unknown:
        raise ValueError(f"unknown nemesis {unknown[0]!r} "
                         f"(known: {', '.join(NEMESES)}, or none)")
    check_size(duration, rate, concurrency)


def make_plan(*, seed: int, workload: str, nemeses: Sequence[str], regions: Sequence[str],
              links: Sequence[tuple[str, str]], duration: float, rate: float,
              concurrency: int, options: dict[str, str] | None = None) -> Plan:
    """The run's plan. ``concurrency`` processes, spread over the regions in turn, share
    ``rate`` operations per second; ValueError names a bad argument."""
    check_options(workload, nemeses, duration, rate, concurrency)
    if len(regions) < 2:
        raise ValueError("a test needs at least two regions")
    processes = {p: regions[p % len(regions)] for p in range(concurrency)}
    ops = [op for p, region in processes.items()
           for op in _process_ops(seed, workload, p, region, regions, duration,
                                  concurrency / rate)]
    ops.sort(key=lambda o: (o.at, o.process))
    families: dict[str, list[str]] = {}
    for n in dict.fromkeys(nemeses):
        if n != "none":
            families.setdefault(NEMESES[n], []).append(n)
    faults = [w for family, kinds in sorted(families.items())
              for w in _windows(seed, family, kinds, regions, links, duration)]
    faults.sort(key=lambda w: (w.start, w.kind))
    return Plan(seed, workload, duration, rate, processes, tuple(ops), tuple(faults),
                dict(options or {}))
