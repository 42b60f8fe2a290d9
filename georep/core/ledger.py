"""The chaos checker: did every acknowledged write survive, or is its loss explained?

Place in the data flow: the last step of a chaos run (``tests/support/chaos.py``). The driver
keeps an independent ledger of what its writers did and saw — every acknowledged write with the
value it replaced, every acknowledged counter operation — then reads every region and the
conflict feed; :func:`check` compares the two. Pure: plain data in, a verdict out (Jepsen's
checker shape).

Rules, each a list of findings in the result (``valid`` is true iff every list is empty):

* ``lost``: an acknowledged register write is *accounted* if its value is the final value in
  every region, or the feed names it (a loser, or a crdt sibling: both merged versions are
  listed there), or a later acknowledged write replaced it (read it before writing). Values are
  unique per write, so the replaced value identifies the write exactly. Deletes carry no value
  a reader can see, so each piece of evidence of a deletion vouches for one delete at most: a
  tombstone loser in the feed (its region, and its HLC when the delete's stamp is known), a
  later write that read no live item after the delete was acknowledged, the final state
  "deleted" (one delete). A delete is lost when no assignment of distinct evidence to deletes
  covers it (a maximum matching: which evidence belongs to which delete is not recorded).
* ``phantoms``: a final value that no write of the ledger wrote (not even one whose outcome
  is unknown).
* ``wrong_counters``: a counter's final value, in every region and view, equals the sum of its
  acknowledged operations (bounded by operations whose outcome is unknown).
* ``below_zero``: no read of a bounded counter, at any time, is below zero.
* ``oversold``: acknowledged decrements of a bounded counter do not exceed its increments.
* ``diverged``: every region, in both views (georep's read and a plain client's), holds the
  same final item; ``unread``: an item the ledger wrote has no final read at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

BOUNDED = "bcounter"


@dataclass(frozen=True)
class Write:
    """One register write a chaos writer made. ``value`` is unique in the run (for a delete it
    only names the delete in reports); ``replaced`` is the value the write replaced, None when
    it found no live item. ``read_seq``/``ack_seq`` order the run: the write read its item
    after ``read_seq`` and was acknowledged at ``ack_seq``. ``acknowledged`` False: the outcome
    is unknown (a timeout, an error), so the value may appear but need not."""

    region: str
    writer: str  # georep | plain
    table: str
    key: str
    op: str  # put | update | delete
    value: str
    replaced: str | None
    attr: str = "v"
    hlc: int | None = None  # georep's stamp of the write, when known
    read_seq: int = 0
    ack_seq: int = 0
    acknowledged: bool = True


@dataclass(frozen=True)
class CounterOp:
    """An increment (delta > 0) or decrement (delta < 0) of a counter attribute."""

    region: str
    table: str
    key: str
    attr: str
    delta: int
    acknowledged: bool = True
    ack_seq: int = 0


@dataclass(frozen=True)
class Read:
    """One read of an item in a region: ``item`` is the user's attributes (no metadata), None
    if absent or deleted. ``view`` is georep (its read) or plain (a plain client's GetItem).
    Final reads are the ones after heal and reconcile; earlier ones count for ``below_zero``."""

    region: str
    table: str
    key: str
    view: str
    item: Mapping[str, Any] | None
    final: bool = True


@dataclass
class Ledger:
    """Everything the checker looks at. ``counters``: table -> attribute -> CRDT type (the
    counter attributes); ``feed``: conflict-feed entries as ``Lab.conflicts`` returns them."""

    writes: list[Write] = field(default_factory=list)
    counter_ops: list[CounterOp] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    feed: list[Mapping[str, Any]] = field(default_factory=list)
    counters: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


Scope = tuple[str, str, str]  # table, key, attribute


def feed_key(entry: Mapping[str, Any]) -> str:
    """The key of a feed entry as the ledger spells it: the hash key's value (a one-attribute
    key) or the sorted attribute values joined by '/'."""
    key = entry["key"]
    if isinstance(key, Mapping):
        return "/".join(str(key[k]) for k in sorted(key))
    return str(key)


def _final_values(ledger: Ledger, scope: Scope) -> dict[str, Any]:
    """(region/view) -> the register's final value, None for no item or no attribute."""
    table, key, attr = scope
    return {f"{r.region}/{r.view}": (r.item or {}).get(attr)
            for r in ledger.reads if r.final and (r.table, r.key) == (table, key)}


def _named(ledger: Ledger) -> tuple[dict[Scope, set], dict[tuple[str, str], list[dict]]]:
    """Values the feed names per scope, and its tombstone losers per (table, key), each once."""
    values: dict[Scope, set] = defaultdict(set)
    tombstones: dict[tuple[str, str], dict[tuple, dict]] = defaultdict(dict)
    for e in ledger.feed:
        key = feed_key(e)
        for v in [*e.get("losers", []), *e.get("siblings", [])]:
            if v.get("tombstone"):
                if v in e.get("losers", []):
                    tombstones[(e["table"], key)][(v.get("region"), v.get("hlc"))] = v
                continue
            for attr, val in (v.get("value") or {}).items():
                values[(e["table"], key, attr)].add(val)
    return values, {k: list(v.values()) for k, v in tombstones.items()}


def check_writes(ledger: Ledger) -> dict[str, list]:
    named, tombstones = _named(ledger)
    replaced: dict[Scope, set] = defaultdict(set)
    written: dict[Scope, set] = defaultdict(set)
    scopes: dict[Scope, list[Write]] = defaultdict(list)
    for w in ledger.writes:
        scope = (w.table, w.key, w.attr)
        scopes[scope].append(w)
        if w.op != "delete":
            written[scope].add(w.value)
        if w.acknowledged and w.replaced is not None:
            replaced[scope].add(w.replaced)
    lost, phantoms = [], []
    for scope, writes in scopes.items():
        final = _final_values(ledger, scope)
        for where, val in final.items():
            if val is not None and val not in written[scope]:
                phantoms.append(_finding(scope, value=val, where=where))
        for w in writes:
            if not w.acknowledged or w.op == "delete":
                continue
            if final and all(v == w.value for v in final.values()):
                continue
            if w.value in named[scope] or w.value in replaced[scope]:
                continue
            lost.append({**asdict(w), "final": final, "next": _next_local(w, writes)})
        lost.extend({**asdict(d), "final": final, "next": _next_local(d, writes)}
                    for d in _unvouched_deletes(writes, final, tombstones.get(scope[:2], [])))
    return {"lost": lost, "phantoms": phantoms}


def _next_local(w: Write, writes: list[Write]) -> dict[str, Any] | None:
    """For diagnosis: what the next write in the lost write's region found instead of it —
    the value, the region that wrote it, and whether it is older than the lost write (the
    region went back to an earlier version) or was no live item at all."""
    nxt = min((x for x in writes if x.acknowledged and x.region == w.region
               and x.read_seq > w.ack_seq), key=lambda x: x.read_seq, default=None)
    if nxt is None:
        return None
    src = next((x for x in writes if x.value == nxt.replaced), None)
    return {"read_seq": nxt.read_seq, "found": nxt.replaced,
            "written_in": src.region if src else None,
            "older": src is not None and src.ack_seq < w.read_seq}


def _unvouched_deletes(writes: list[Write], final: dict[str, Any],
                       tombstones: list[dict]) -> list[Write]:
    """Acknowledged deletes for which no evidence of deletion is left, each evidence vouching
    for one delete: feed tombstone losers, later reads of no live item, a deleted final state.

    Which evidence belongs to which delete is not recorded (a plain delete's stamp is not
    known to the ledger, a read of no item may follow several deletes), so the deletes are
    vouched by a maximum matching between deletes and evidence: a delete is unvouched only if
    no assignment of distinct evidence covers it together with the others."""
    deletes = sorted((w for w in writes if w.acknowledged and w.op == "delete"),
                     key=lambda w: w.ack_seq)
    evidence: list[Callable[[Write], bool]] = []
    for t in tombstones:
        evidence.append(lambda d, t=t: d.region == t.get("region")
                        and d.hlc in (None, t.get("hlc")))
    for r in (w for w in writes if w.acknowledged and w.replaced is None):
        evidence.append(lambda d, r=r: d is not r and d.ack_seq <= r.read_seq)
    if final and all(v is None for v in final.values()):
        evidence.append(lambda d: True)
    matched = _matching(deletes, evidence)
    return [d for i, d in enumerate(deletes) if i not in matched]


def _matching(deletes: list[Write], evidence: list[Callable[[Write], bool]]) -> set[int]:
    """The deletes covered by a maximum bipartite matching (Kuhn's augmenting paths, searched
    iteratively: a long run has more deletes of one key than Python's recursion limit)."""
    options = [[j for j, fits in enumerate(evidence) if fits(d)] for d in deletes]
    owner: dict[int, int] = {}  # evidence -> the delete it vouches for
    for start in reversed(range(len(deletes))):  # latest first: a read most likely saw it
        via: dict[int, int] = {}  # delete -> the evidence the search reached it through
        reached: dict[int, int] = {}  # evidence -> the delete that reached it
        stack = [(start, iter(options[start]))]
        while stack:
            i, rest = stack[-1]
            j = next((j for j in rest if j not in reached), None)
            if j is None:
                stack.pop()
                continue
            reached[j] = i
            if j in owner:
                via[owner[j]] = j
                stack.append((owner[j], iter(options[owner[j]])))
                continue
            while True:  # free evidence: flip the path back to the start
                i = reached[j]
                owner[j] = i
                if i == start:
                    break
                j = via[i]
            break
    return set(owner.values())


def check_counters(ledger: Ledger) -> dict[str, list]:
    # per counter: acknowledged sum, unknown decrements, unknown increments, acknowledged
    # increments, acknowledged decrements
    sums: dict[Scope, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for op in ledger.counter_ops:
        s = sums[(op.table, op.key, op.attr)]
        if op.acknowledged:
            s[0] += op.delta
            s[3 if op.delta > 0 else 4] += abs(op.delta)
        else:
            s[1 if op.delta < 0 else 2] += op.delta
    wrong, below, oversold = [], [], []
    for (table, key, attr), (acked, unk_dec, unk_inc, inc, dec) in sums.items():
        kind = ledger.counters.get(table, {}).get(attr)
        low, high = acked + unk_dec, acked + unk_inc
        for r in ledger.reads:
            if not r.final or (r.table, r.key) != (table, key):
                continue
            got = _number((r.item or {}).get(attr, 0))
            if got is None or not low <= got <= high:
                wrong.append({"table": table, "key": key, "attr": attr, "region": r.region,
                              "view": r.view, "read": _plain((r.item or {}).get(attr)),
                              "expected": acked if low == high else [low, high]})
        if kind == BOUNDED and dec > inc + unk_inc:
            oversold.append({"table": table, "key": key, "attr": attr, "increments": inc,
                             "decrements": dec})
    for r in ledger.reads:
        for attr, kind in ledger.counters.get(r.table, {}).items():
            got = _number((r.item or {}).get(attr, 0))
            if kind == BOUNDED and got is not None and got < 0:
                below.append({"table": r.table, "key": r.key, "attr": attr, "region": r.region,
                              "view": r.view, "read": got, "final": r.final})
    return {"wrong_counters": wrong, "below_zero": below, "oversold": oversold}


def check_regions(ledger: Ledger) -> dict[str, list]:
    items: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for r in ledger.reads:
        if r.final:
            items[(r.table, r.key)][f"{r.region}/{r.view}"] = _plain(r.item)
    diverged = [{"table": t, "key": k, "items": seen} for (t, k), seen in sorted(items.items())
                if len({repr(v) for v in seen.values()}) > 1]
    touched = ({(w.table, w.key) for w in ledger.writes}
               | {(o.table, o.key) for o in ledger.counter_ops})
    unread = [{"table": t, "key": k} for t, k in sorted(touched - set(items))]
    return {"diverged": diverged, "unread": unread}


RULES: dict[str, Callable[[Ledger], dict[str, list]]] = {
    "writes": check_writes, "counters": check_counters, "regions": check_regions}


def check(ledger: Ledger) -> dict[str, Any]:
    """The verdict: ``valid`` (True, False, or "unknown" if a rule crashed), each rule's
    findings, and counts of what was checked."""
    out: dict[str, Any] = {"valid": True, "errors": {}}
    for name, rule in RULES.items():
        try:
            found = rule(ledger)
        except Exception as exc:  # a checker's crash is "unknown", never "valid"
            out["errors"][name] = repr(exc)
            if out["valid"] is True:
                out["valid"] = "unknown"
            continue
        out.update(found)
        if any(found.values()):
            out["valid"] = False
    out["stats"] = stats(ledger)
    return out


def stats(ledger: Ledger) -> dict[str, int]:
    acked = [w for w in ledger.writes if w.acknowledged]
    return {"writes": len(acked), "unknown_writes": len(ledger.writes) - len(acked),
            "deletes": sum(1 for w in acked if w.op == "delete"),
            "plain_writes": sum(1 for w in acked if w.writer == "plain"),
            "counter_ops": sum(1 for o in ledger.counter_ops if o.acknowledged),
            "keys": len({(w.table, w.key) for w in ledger.writes}
                        | {(o.table, o.key) for o in ledger.counter_ops}),
            "feed_entries": len(ledger.feed),
            "reads": len(ledger.reads)}


def history(ledger: Ledger, table: str, key: str) -> list[dict[str, Any]]:
    """Every write and counter operation on one item, in acknowledgement order (diagnosis)."""
    rows: Iterable[dict[str, Any]] = (
        [asdict(w) for w in ledger.writes if (w.table, w.key) == (table, key)]
        + [asdict(o) for o in ledger.counter_ops if (o.table, o.key) == (table, key)])
    return sorted(rows, key=lambda r: r.get("ack_seq", 0))


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _plain(value: Any) -> Any:
    """Numbers as ints (a Decimal from one view equals an int from another), for comparing."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    try:
        n = int(value)
        return n if n == value else str(value)
    except (TypeError, ValueError):
        return repr(value)


def _finding(scope: Scope, **kw: Any) -> dict[str, Any]:
    table, key, attr = scope
    return {"table": table, "key": key, "attr": attr, **kw}
