"""The CLI as a user runs it: subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from ..conftest import ROOT


def georep(*args: str, cwd=ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "georep", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_demo_json_converges_and_names_the_overwritten_write(tmp_path):
    proc = georep("demo", "--json", "--run-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["policy"] == "lww"
    assert report["converged"] is True
    assert report["winner"] == "eu-west"
    [lost] = report["overwritten"]
    assert lost["region"] == "us-east"
    assert lost["value"]["status"] == "active-premium"
    expected = {"id": "user_123", "name": "Alice", "status": "inactive"}
    assert report["regions"] == {"us-east": expected, "eu-west": expected}
    assert report["retries"] >= 2
    events = (tmp_path / report["run_id"] / "events.jsonl").read_text().splitlines()
    kinds = {json.loads(line)["kind"] for line in events}
    assert {"write", "apply", "retry", "partition", "heal", "conflict"} <= kinds


def test_demo_renders_the_verdict(tmp_path):
    proc = georep("demo", "--run-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "converged" in proc.stdout
    assert "overwritten" in proc.stdout
    assert "active-premium" in proc.stdout


def test_missing_regions_folder_is_one_line_error(tmp_path):
    proc = georep("demo", "--regions", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "regions directory not found" in lines[0]


def test_broken_region_file_names_file_and_field(tmp_path):
    regions = tmp_path / "regions"
    regions.mkdir()
    for f in ("lab.toml", "eu-west.toml"):
        (regions / f).write_text((ROOT / "regions" / f).read_text())
    (regions / "us-east.toml").write_text(
        'name = "us-east"\naws_region = "us-east-1"\nport = "x"\n')
    proc = georep("demo", "--regions", str(regions))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "us-east.toml" in proc.stderr and "'port'" in proc.stderr


def test_help_explains_the_demo():
    proc = georep("demo", "--help")
    assert proc.returncode == 0
    assert "--json" in proc.stdout and "partition" in proc.stdout


def test_demo_under_vclock_keeps_both_values_as_siblings(tmp_path):
    proc = georep("demo", "--policy", "vclock", "--json", "--run-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["policy"] == "vclock" and report["converged"] is True
    assert report["overwritten"] == []  # nothing lost
    for values in report["siblings"].values():
        assert sorted(v["status"] for v in values) == ["active-premium", "inactive"]
    assert report["conflicts"] and all(c["policy"] == "vclock" for c in report["conflicts"])


def test_demo_under_crdt_loses_no_increment(tmp_path):
    proc = georep("demo", "--policy", "crdt", "--json", "--run-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["policy"] == "crdt" and report["converged"] is True
    expected = report["counters"]["expected"]
    assert expected == {"balance": 500, "logins": 2}
    assert report["counters"]["us-east"] == report["counters"]["eu-west"] == expected
    for item in report["regions"].values():
        assert item["status"] == ["active-premium", "inactive"]  # both kept
    assert report["overwritten"] == []
