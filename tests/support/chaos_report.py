"""What a chaos run hands back, and how a failure reads: the seed, what ran, each rule's
findings with a few examples, and the ledger's history around the first lost writes.

Place in the data flow: after :func:`tests.support.chaos.run_chaos` has checked the ledger.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from georep.core.ledger import Ledger, history

if TYPE_CHECKING:
    from .chaos import ChaosOptions

RULES = ("lost", "phantoms", "wrong_counters", "below_zero", "oversold", "diverged", "unread")


@dataclass
class ChaosRun:
    opts: ChaosOptions
    ledger: Ledger
    result: dict[str, Any]
    counts: dict[str, int]
    reconcile: dict[str, Any]
    seconds: dict[str, float]
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return self.result["valid"] is True and self.reconcile.get("verified") is True

    def explain(self, limit: int = 4) -> str:
        return explain(self, limit)

    def write(self, path: Path, **extra: Any) -> None:
        """The whole run as JSON: options, verdict, counts, ledger and ``extra``."""
        self.report = path
        path.write_text(json.dumps(
            {"options": {**asdict(self.opts), "off": sorted(self.opts.off)},
             "result": self.result, "counts": self.counts, "reconcile": self.reconcile,
             "seconds": self.seconds, "ledger": asdict(self.ledger), **extra},
            indent=1, default=str))


def explain(run: ChaosRun, limit: int = 4) -> str:
    """A failure message: the seed, what ran, each rule's findings with a few examples, and
    the ledger's history of the first lost keys."""
    r, o = run.result, run.opts
    lines = [f"chaos: CHAOS_SEED={o.seed} regions={o.regions} seconds={o.seconds:.0f} "
             f"off={sorted(o.off)} valid={r['valid']} reconcile={run.reconcile}",
             f"  stats {r['stats']} counts {run.counts} time {run.seconds}",
             f"  report {run.report}"]
    for rule in RULES:
        found = r.get(rule, [])
        if found:
            lines.append(f"  {rule}: {len(found)}")
            lines.extend(f"    {_lost(f) if rule == 'lost' else _json(f)}"
                         for f in found[:limit])
    lines.extend(f"  rule {k} crashed: {v}" for k, v in r.get("errors", {}).items())
    for f in r.get("lost", [])[:2]:
        rows = history(run.ledger, f["table"], f["key"])
        at = next(i for i, h in enumerate(rows) if h.get("value") == f["value"])
        lines.append(f"  {f['table']}/{f['key']} around {f['value']} (* the lost write):")
        lines.extend(f"   {'*' if i == at else ' '}{_row(h)}"
                     for i, h in enumerate(rows) if at - 5 <= i <= at + 5)
    return "\n".join(lines)


def _row(h: dict[str, Any]) -> str:
    if "delta" in h:
        return f"{h['ack_seq']:>6} {h['region']} {h['attr']} {h['delta']:+d}"
    hlc = f" hlc={h['hlc']}" if h["hlc"] else ""
    return (f"{h['read_seq']:>6}-{h['ack_seq']:<6} {h['region']} {h['writer']} {h['op']} "
            f"{h['value']} (replaced {h['replaced']}){hlc}")


def _json(f: dict[str, Any]) -> str:
    return json.dumps(f, default=str)[:400]


def _lost(f: dict[str, Any]) -> str:
    """A lost write, its final values, and what its region's next write found instead."""
    final = sorted({repr(v) for v in f["final"].values()})
    nxt, then = f.get("next"), "no later write in its region"
    if nxt:
        then = (f"its region's next write (read at {nxt['read_seq']}) found {nxt['found']}"
                + (f" from {nxt['written_in']}" if nxt["written_in"] else "")
                + (", an OLDER value" if nxt["older"] else ""))
    return (f"{f['table']}/{f['key']} {f['op']} {f['value']} by {f['writer']} in {f['region']}"
            f" (replaced {f['replaced']}, seq {f['read_seq']}-{f['ack_seq']}); final "
            f"{', '.join(final)}; {then}")
