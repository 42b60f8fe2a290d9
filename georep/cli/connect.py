"""The CLI's connection to a running live lab: its home folder, the control API and a
:class:`~georep.runtime.live.LiveLab` client. The one place where a command finds the lab.

Place in the data flow: front end. Command modules call these; the lab itself is the
supervisor (:mod:`georep.runtime.supervisor`) behind the control API and the regions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from ..config import LabConfig, load
from ..errors import LabError
from ..runtime.control import ControlClient
from ..runtime.home import LabHome
from ..runtime.live import LiveLab
from .shared import parse_link

T = TypeVar("T")


def lab_home(home: Path | None) -> LabHome:
    """The lab home; once its lab has a token, item metadata is authenticated with that lab's
    secret in this process (data commands, reconcile and redrive write georep metadata)."""
    h = LabHome(home)
    if h.token_file.is_file():
        with contextlib.suppress(LabError):  # a corrupt token: the command says so itself
            h.use_meta_secret()
    return h


def control(home: Path | None) -> ControlClient:
    """The running lab's control API (LabError if no lab runs in the home)."""
    return ControlClient(lab_home(home))


def live_config(home: Path | None) -> tuple[LabHome, dict, LabConfig]:
    """The home, its running lab's state file and the lab's configuration."""
    h = lab_home(home)
    state = h.state()
    return h, state, load(state["regions_dir"])


def live(home: Path | None) -> LiveLab:
    """A client of the running lab (not yet connected: see :func:`run`)."""
    return LiveLab(lab_home(home))


def run(lab: LiveLab, fn: Callable[[LiveLab], Awaitable[T]]) -> T:
    """Connect to the lab's regions, run ``fn(lab)``, disconnect."""
    async def go() -> T:
        async with lab:
            return await fn(lab)

    return asyncio.run(go())


def on_link(home: Path | None, link: str, fn: Callable[[object], Awaitable[T]]) -> T:
    """Run ``fn(replicator)`` with the ``SRC:DST`` link's replicator code built in this process
    (:meth:`LiveLab.link_replicator`: the source's stream and DLQ, applies through the proxy)."""
    lab = live(home)
    src, dst = parse_link(link, lab.config)

    async def go(lab: LiveLab) -> T:
        async with lab.link_replicator(src, dst) as rep:
            return await fn(rep)

    return run(lab, go)
