"""``georep replicator kill`` and ``start``: one link's replicator process in the live lab.
Front end only: the supervisor signals and spawns (control API).
"""

from __future__ import annotations

import typer

from .connect import control
from .shared import HomeOpt, out

app = typer.Typer(name="replicator", help="Kill or start one link's replicator process.",
                  no_args_is_help=True)


@app.command("kill")
def replicator_kill(src: str, dst: str, home: HomeOpt = None) -> None:
    """SIGKILL the SRC→DST replicator process: a real crash. It stays dead until started."""
    pid = control(home).call("POST", "/replicator/kill", {"src": src, "dst": dst})
    out.print(f"killed replicator {src} → {dst} (pid {pid['killed']})")


@app.command("start")
def replicator_start(src: str, dst: str, home: HomeOpt = None) -> None:
    """Start the SRC→DST replicator process; it resumes from its checkpoint."""
    pid = control(home).call("POST", "/replicator/start", {"src": src, "dst": dst})
    out.print(f"started replicator {src} → {dst} (pid {pid['started']})")
