"""The lab home against hostile leftovers, without a running lab: `georep` subprocesses on a
temporary home holding a pid file or state file that is not what it claims to be."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from georep.runtime.home import LabHome

from ..support.live import force_down, georep, make_regions


@pytest.fixture
def sleeper():
    """A harmless live process that is not a georep supervisor."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait(10)


def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_down_never_signals_a_process_the_pid_file_wrongly_names(tmp_path, sleeper):
    home = tmp_path / "home"
    home.mkdir()
    (home / "supervisor.pid").write_text(str(sleeper.pid))
    proc = georep(home, "down")
    line = one_line(proc)
    assert f"pid {sleeper.pid}" in line and "not this lab's supervisor" in line, line
    assert "sleep" in line  # says what it found
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(0.5)  # alive: no SIGTERM reached it
    assert not (home / "supervisor.pid").exists()  # the stale file is gone


def test_status_does_not_take_an_unrelated_process_for_the_lab(tmp_path, sleeper):
    home = tmp_path / "home"
    home.mkdir()
    (home / "supervisor.pid").write_text(str(sleeper.pid))
    proc = georep(home, "status")
    assert proc.returncode != 0
    line = one_line(proc)
    assert "no lab is running" in line and f"pid {sleeper.pid}" in line, line
    assert sleeper.poll() is None


@pytest.mark.parametrize("name", ["state.json", "token", "supervisor.pid"])
def test_up_names_a_directory_in_place_of_a_lab_file(tmp_path, name):
    home = tmp_path / "home"
    (home / name).mkdir(parents=True)
    try:
        proc = georep(home, "up", "--regions", str(make_regions(tmp_path)))
    finally:
        force_down(home)
    assert proc.returncode != 0
    line = one_line(proc)
    assert f"{name} is a directory" in line, line
    assert (home / name).is_dir()  # left for the user to look at


def test_a_home_of_the_labs_own_is_made_private_a_shared_folder_keeps_its_mode(tmp_path):
    own, shared = tmp_path / "own", tmp_path / "shared"
    for d in (own, shared):
        d.mkdir(mode=0o755)
        os.chmod(d, 0o755)
    (own / "token").write_text("x")
    (shared / "notes.txt").write_text("the user's")
    for d in (own, shared):
        LabHome(d).prepare()
        for sub in ("logs", "runs", "links", "metrics"):
            assert stat.S_IMODE((d / sub).stat().st_mode) == 0o700
    assert stat.S_IMODE(own.stat().st_mode) == 0o700
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # `--home ~` must not lock the user out
