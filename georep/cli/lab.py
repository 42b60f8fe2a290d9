"""``georep up``, ``down`` and ``status``: the live lab's life. Front end only: ``up`` starts the
supervisor (:mod:`georep.runtime.supervisor`) as a detached process and waits until it is ready;
``down`` and ``status`` talk to its control API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ..config import load
from ..errors import LabError
from ..runtime.control import ControlClient
from ..runtime.home import pid_alive, private_fd
from .connect import control, lab_home
from .shared import HomeOpt, JsonOpt, RegionsOpt, err, fail, out, seconds_option, styled

app = typer.Typer()


@app.command()
def up(regions: RegionsOpt = Path("regions"), home: HomeOpt = None,
       timeout: Annotated[float, seconds_option("Seconds to wait for the lab.")] = 60,
       adopt: Annotated[bool, typer.Option(
           "--adopt", help="Use tables that already exist in an external region, after "
           "checking their key schema and that their stream shows NEW_AND_OLD_IMAGES "
           "(without it, an existing table is refused).")] = False) -> None:
    """Start a live lab in the background and return once every region answers.

    Each lab region (`port` in its file) is a moto server process on that port; an external
    region (`endpoint`: real AWS or another DynamoDB-compatible service) is checked and its
    tables created, or adopted with --adopt. Each directed link has a proxy (faults apply to
    external links too) and a replicator process; a control API on 127.0.0.1 takes `georep`
    commands from any terminal. Prints each region's endpoint, usable with
    `aws --endpoint-url` and boto3. georep never deletes a table; `georep down` leaves
    external regions' data alone.
    """
    h = lab_home(home)
    if h.running():
        pid = h.supervisor_pid()
        fail(f"a lab is already running in {h.path}" + (f" (pid {pid})" if pid else "")
             + "; `georep down` stops it", 1)
    h.check_files()
    if h.stale():
        err.print(f"note: {h.path}: {h.leftover() or 'a stale state file'}; the new lab "
                  "removes it", highlight=False, soft_wrap=True)
    load(regions)  # config errors are reported here, before anything starts
    h.prepare()
    # The supervisor takes the home's lock and only then clears what a crashed lab left.
    with os.fdopen(private_fd(h.logs / "supervisor.log"), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "georep.runtime.supervisor", "--home", str(h.path.resolve()),
             "--regions", str(regions), *(["--adopt"] if adopt else [])],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout
    with out.status("starting regions, proxies and replicators…"):
        while True:
            state = h.read_json(h.state_file) or {}
            if state.get("pid") != proc.pid:
                state = {}  # a crashed lab's leftover, not yet cleared
            if state.get("ready"):
                break
            if state.get("error") or proc.poll() is not None:
                proc.wait(10)
                fail(state.get("error") or _last_line(h.logs / "supervisor.log"), 1)
            if time.monotonic() > deadline:
                # our own child: stopped before we return, so a new `up` finds no lab running
                # (a supervisor still waiting on a region would otherwise live on for its
                # timeout); its regions die with it
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
                fail(f"the lab did not start within {timeout:.0f}s; see {h.logs}", 1)
            time.sleep(0.1)
    state = h.state()  # checked
    table = Table(title=f"georep lab up (home {h.path}, run {state['run_id']})")
    table.add_column("region")
    table.add_column("endpoint")
    shown = state.get("shown") or state["regions"]
    for name in state["regions"]:
        table.add_row(name, shown[name])
    out.print(table)
    config = load(regions)
    local = [r for r in config.regions if r.local]
    if local:
        out.print(f"aws cli: AWS_ACCESS_KEY_ID=georep AWS_SECRET_ACCESS_KEY=georep aws dynamodb "
                  f"--endpoint-url {state['regions'][local[0].name]} --region "
                  f"{local[0].aws_region} list-tables", highlight=False)


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return "the lab's supervisor exited"
    # The supervisor prints its own errors as "error: ..."; fail() adds the prefix once.
    return lines[-1].removeprefix("error: ") if lines else "the lab's supervisor exited"


@app.command()
def down(home: HomeOpt = None,
         timeout: Annotated[float, seconds_option("Seconds to wait.")] = 30) -> None:
    """Stop the lab: replicators, proxies and regions. Afterwards no lab process remains.

    Only a process verified to be this home's supervisor is ever signalled: a pid file that
    names another process is reported and that process left alone.
    """
    h = lab_home(home)
    if not h.running():
        found = h.leftover()
        if found or h.stale():
            h.check_files()
            h.clear()
            out.print(f"no lab is running in {h.path}: {found or 'a stale state file'}; "
                      "nothing was signalled, the stale files were removed",
                      highlight=False, soft_wrap=True)
            return
        fail(f"no lab is running in {h.path}", 1)
    pid = h.supervisor_pid()
    try:
        state = h.read_state() or {}
    except LabError:
        state = {}
    try:
        ControlClient(h).call("POST", "/down")  # answers only with this lab's token
    except LabError as exc:
        if pid is None:
            fail(f"the lab in {h.path} did not answer ({exc}), and no process is verified to "
                 "be its supervisor; nothing was signalled", 1)
        os.kill(pid, signal.SIGTERM)
    regions = list(state.get("region_pids", {}).values())
    deadline = time.monotonic() + timeout
    while h.running() or any(pid_alive(p) for p in regions):
        if time.monotonic() > deadline:
            fail(f"the lab in {h.path} still runs after {timeout:.0f}s (supervisor pid "
                 f"{pid or '?'}, regions {[p for p in regions if pid_alive(p)]})", 1)
        time.sleep(0.05)
    h.clear()
    out.print("lab stopped")


@app.command()
def status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Regions (up, items per table), links (open, cut or responses dropped), the active faults
    (cuts, latency, flaps, clock skew) and replicators (alive, lag, pending, applied, suppressed
    duplicates, retries)."""
    s = control(home).call("GET", "/status")
    if as_json:
        print(json.dumps(s))
        return
    t = Table(title=f"regions (run {s['run_id']})")
    for col in ("region", "up", "endpoint", "items"):
        t.add_column(col)
    for name, r in s["regions"].items():
        items = ", ".join(f"{k}={'?' if v is None else v}" for k, v in r["items"].items())
        t.add_row(name, "up" if r["up"] else styled("[red]down[/red]"), r["url"], items)
    out.print(t)
    t = Table(title="links")
    for col in ("link", "state", "dropped bytes"):
        t.add_column(col)
    for name, link in s["links"].items():
        state = link["state"]
        t.add_row(name.replace(">", " → "), state if state == "open" else styled(f"[red]{state}"),
                  str(link["dropped_bytes"]))
    out.print(t)
    _show_faults(s.get("faults") or {})
    t = Table(title="replicators")
    for col in ("link", "alive", "lag ms", "pending", "applied", "suppressed", "retries",
                "conflicts", "unreplicable", "foreign", "breaker", "dlq"):
        t.add_column(col)
    for name, r in s["replicators"].items():
        def show(v: Any) -> str:
            return "-" if v is None else (f"{v:.0f}" if isinstance(v, float) else str(v))
        alive = "yes" if r["alive"] else styled(f"[red]dead[/red] (exit {show(r['exit_code'])})")
        pending = show(r["pending"]) + ("+" if r.get("pending_capped") else "")
        t.add_row(name.replace(">", " → "), alive, show(r["lag_ms"]), pending,
                  show(r["applied"]), show(r["suppressed"]), show(r["retries"]),
                  show(r["conflicts"]), show(r.get("unreplicable")), show(r.get("foreign")),
                  show(r["breaker"]),
                  show(r["dlq_depth"]))
    out.print(t)
    for name, r in s["replicators"].items():
        if r.get("stopped"):
            src, dst = name.split(">", 1)
            out.print(Text.assemble((f"{src} → {dst} stopped", "red"),
                                    f": {r['stopped']} (`georep checkpoint reset {src}:{dst}`, "
                                    f"then `georep replicator start {src} {dst}`)"),
                      highlight=False, soft_wrap=True)


def _show_faults(f: dict[str, Any]) -> None:
    """The active faults, one line each; nothing when the lab runs clean."""
    lines = []
    if f.get("cuts") and f["cuts"] != "no cuts":
        lines.append(f"cuts: {f['cuts']}")
    for d in f.get("latency", []):
        jitter = f" ± {d['jitter']:g}" if d.get("jitter") else ""
        lines.append(f"latency {d['from']} → {d['to']}: {d['ms']:g}{jitter} ms")
    for fl in f.get("flaps", []):
        now = "cut" if fl.get("cutting") else "healed"
        lines.append(f"flapping {fl['a']} ↔ {fl['b']} every {fl['period']:g} s (now {now})")
    for region, ms in sorted((f.get("skew_ms") or {}).items()):
        lines.append(f"clock skew {region}: {ms:+d} ms")
    for line in lines:
        out.print(Text.assemble(("fault", "yellow"), f" {line}"), highlight=False)
