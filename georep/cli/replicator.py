"""``georep replicator kill | start | pause | resume``: one link's replicator process in the
live lab. Front end only: the supervisor signals and spawns (control API).
"""

from __future__ import annotations

from typing import Annotated

import typer

from .connect import control
from .shared import HomeOpt, out

app = typer.Typer(name="replicator", help="Kill, start, pause or resume one link's replicator "
                                          "process.", no_args_is_help=True)


@app.command("kill")
def replicator_kill(src: str, dst: str, home: HomeOpt = None) -> None:
    """SIGKILL the SRC→DST replicator process (and any zombie of the link): a real crash. It
    stays dead until started."""
    pid = control(home).call("POST", "/replicator/kill", {"src": src, "dst": dst})
    out.print(f"killed replicator {src} → {dst} (pid {pid['killed']})")


@app.command("start")
def replicator_start(
    src: str, dst: str, home: HomeOpt = None,
    takeover: Annotated[bool, typer.Option(
        "--takeover", help="Start one although one runs (paused or not): the new one takes "
                           "the link's lease, the old one is a zombie that the lease's epoch "
                           "must fence when it next saves a checkpoint.")] = False,
) -> None:
    """Start the SRC→DST replicator process; it resumes from its checkpoint."""
    pid = control(home).call("POST", "/replicator/start",
                             {"src": src, "dst": dst, "takeover": takeover})
    out.print(f"started replicator {src} → {dst} (pid {pid['started']})"
              + ("; the one before it is now a zombie" if takeover else ""))


@app.command("pause")
def replicator_pause(src: str, dst: str, home: HomeOpt = None) -> None:
    """SIGSTOP the SRC→DST replicator process: alive but frozen wherever it was (a long GC
    pause). `georep replicator resume` wakes it."""
    pid = control(home).call("POST", "/replicator/pause", {"src": src, "dst": dst})
    out.print(f"paused replicator {src} → {dst} (pid {pid['paused']})")


@app.command("resume")
def replicator_resume(src: str, dst: str, home: HomeOpt = None) -> None:
    """SIGCONT every paused process of SRC→DST, zombies included."""
    pids = control(home).call("POST", "/replicator/resume", {"src": src, "dst": dst})
    out.print(f"resumed {src} → {dst} (pid {', '.join(map(str, pids['resumed']))})")
