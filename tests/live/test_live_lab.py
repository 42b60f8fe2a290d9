"""The live lab driven as a user drives it: `georep` subprocesses, plain boto3, raw HTTP."""

from __future__ import annotations

import json
import re
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from georep.runtime.events import read_events
from georep.runtime.home import pid_alive
from georep.runtime.moto import port_free  # as a server binds: TIME_WAIT is fine
from georep.testing import wait_until

from ..support.live import (
    ROOT,
    force_down,
    georep,
    item,
    make_regions,
    ok,
    plain_client,
    state,
    status,
)


def test_the_readme_session(lab):
    home = lab
    ok(home, "put", "us-east", "users", "user_123", "status=active")
    wait_until(lambda: item(home, "eu-west", "user_123"), what="the first write to replicate")
    ok(home, "partition", "us-east", "eu-west")
    ok(home, "put", "eu-west", "users", "user_123", "status=inactive", "visits:=3")
    s = wait_until(lambda: (st := status(home))["replicators"]["eu-west>us-east"]["pending"]
                   and st, what="a pending record on the cut link")
    assert s["links"]["us-east>eu-west"]["state"] == "cut"
    assert s["links"]["eu-west>us-east"]["state"] == "cut"
    assert s["replicators"]["eu-west>us-east"]["pending"] == 1
    assert s["replicators"]["eu-west>us-east"]["lag_ms"] > 0
    assert item(home, "us-east", "user_123")["status"] == "active"  # not delivered
    ok(home, "heal")
    expected = {"id": "user_123", "status": "inactive", "visits": 3}
    wait_until(lambda: item(home, "us-east", "user_123") == expected, what="convergence")
    assert item(home, "eu-west", "user_123") == expected
    # Any AWS client sees the same item at the region's endpoint.
    raw = plain_client(home, "us-east", "us-east-1").get_item(
        TableName="users", Key={"id": {"S": "user_123"}})["Item"]
    assert raw["status"] == {"S": "inactive"} and raw["visits"] == {"N": "3"}
    # eu-west's write had seen us-east's: a causal successor, not a conflict.
    assert json.loads(ok(home, "conflicts", "--json")) == []
    s = status(home)
    assert s["regions"]["us-east"]["items"] == {"users": 1}
    assert all(link["state"] == "open" for link in s["links"].values())
    assert s["replicators"]["eu-west>us-east"]["retries"] >= 1


def test_down_leaves_no_process_and_frees_the_ports(tmp_path):
    home = tmp_path / "home"
    regions = make_regions(tmp_path)
    ok(home, "up", "--regions", str(regions))
    st = state(home)
    s = status(home)
    pids = [st["pid"], *st["region_pids"].values(),
            *(r["pid"] for r in s["replicators"].values())]
    ports = [int(url.rsplit(":", 1)[1]) for url in st["regions"].values()]
    ports += [st["control_port"], *st["links"].values()]
    assert all(pid_alive(p) for p in pids)
    ok(home, "down")
    assert not any(pid_alive(p) for p in pids)
    assert all(port_free(p) for p in ports)
    assert georep(home, "status").returncode != 0


def test_second_up_is_a_clear_error(lab, tmp_path):
    home = lab
    (tmp_path / "other").mkdir()
    again = georep(home, "up", "--regions", str(make_regions(tmp_path / "other")))
    assert again.returncode != 0 and "already running" in again.stderr
    assert "Traceback" not in again.stderr


def test_stale_pid_file_from_a_crashed_lab(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "supervisor.pid").write_text("999999")  # no such process
    proc = georep(home, "status")
    assert proc.returncode != 0 and "stale pid file" in proc.stderr
    assert "Traceback" not in proc.stderr
    regions = make_regions(tmp_path)
    try:
        up = georep(home, "up", "--regions", str(regions))
        assert up.returncode == 0, up.stderr
        assert "stale pid file" in up.stderr
    finally:
        force_down(home)


def test_port_in_use_is_named(tmp_path):
    regions = make_regions(tmp_path)
    port = int((regions / "us-east.toml").read_text().split("port = ")[1])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        home = tmp_path / "home"
        try:
            proc = georep(home, "up", "--regions", str(regions))
        finally:
            force_down(home)
    assert proc.returncode != 0
    assert f"port {port} is already in use" in proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and proc.stderr.count("error:") == 1


@pytest.mark.parametrize("args,needle", [
    (("put", "mars", "users", "k", "a=1"), "unknown region 'mars'"),
    (("put", "us-east", "nope", "k", "a=1"), "unknown table 'nope'"),
    (("put", "us-east", "users", "k", "novalue"), "expected attr=value"),
    (("put", "us-east", "users", "k", "n:={oops"), "not valid JSON"),
    (("partition", "us-east", "mars"), "unknown region 'mars'"),
    (("replicator", "kill", "us-east", "us-east"), "two different regions"),
])
def test_bad_input_is_one_line_and_writes_nothing(lab, args, needle):
    proc = georep(lab, *args)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert status(lab)["regions"]["us-east"]["items"] == {"users": 0}


def test_commands_without_a_lab_say_so(tmp_path):
    for args in (("status",), ("heal",), ("get", "us-east", "users", "k")):
        proc = georep(tmp_path / "nothing", *args)
        assert proc.returncode != 0
        assert "no lab is running" in proc.stderr and "Traceback" not in proc.stderr


def test_control_api_refuses_requests_without_the_token(lab):
    st = state(lab)
    base = f"http://127.0.0.1:{st['control_port']}"
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        for path, method in (("/status", "GET"), ("/metrics", "GET"), ("/down", "POST")):
            req = urllib.request.Request(base + path, method=method, headers=headers,
                                         data=b"{}" if method == "POST" else None)
            with pytest.raises(urllib.error.HTTPError) as exc:
                urllib.request.urlopen(req, timeout=5)
            assert exc.value.code == 401
    assert (lab / "token").stat().st_mode & 0o777 == 0o600
    assert status(lab)["regions"]["us-east"]["up"]  # the refused /down stopped nothing


class Writer(threading.Thread):
    """Plain boto3 puts to one region, about 100 a second, until stopped."""

    def __init__(self, client, prefix: str) -> None:
        super().__init__(daemon=True)
        self.client, self.prefix, self.done = client, prefix, threading.Event()
        self.written: list[str] = []

    def run(self) -> None:
        i = 0
        while not self.done.is_set():
            key = f"{self.prefix}{i:05d}"
            self.client.put_item(TableName="users", Item={"id": {"S": key}, "n": {"N": str(i)}})
            self.written.append(key)
            i += 1
            self.done.wait(0.01)  # a steady stream (~100 writes/s), not a flood

    def stop(self) -> list[str]:
        self.done.set()
        self.join(10)
        return self.written


def keys_in(home, region) -> set[str]:
    return {i["id"] for i in json.loads(ok(home, "scan", region, "users", "--json"))}


def test_partition_from_another_terminal_while_writes_run(lab):
    writer = Writer(plain_client(lab, "us-east", "us-east-1"), "w")
    writer.start()
    wait_until(lambda: len(writer.written) > 20, what="writes to start")
    ok(lab, "partition", "us-east", "eu-west")
    wait_until(lambda: status(lab)["replicators"]["us-east>eu-west"]["retries"],
               what="the replicator to notice the partition")
    ok(lab, "heal", "us-east", "eu-west")
    written = set(writer.stop())
    assert len(written) > 40
    wait_until(lambda: keys_in(lab, "eu-west") == written, timeout=60, what="every write")


def test_killed_replicator_loses_no_write(lab):
    writer = Writer(plain_client(lab, "us-east", "us-east-1"), "k")
    writer.start()
    wait_until(lambda: len(writer.written) > 20, what="writes to start")
    ok(lab, "replicator", "kill", "us-east", "eu-west")
    s = status(lab)["replicators"]["us-east>eu-west"]
    assert s["alive"] is False and s["exit_code"] == -9
    dead_at = len(writer.written)  # writes keep landing in us-east while the replicator is dead
    wait_until(lambda: len(writer.written) > dead_at + 20, what="writes while it is dead")
    ok(lab, "replicator", "start", "us-east", "eu-west")
    written = set(writer.stop())
    wait_until(lambda: keys_in(lab, "eu-west") == written, timeout=60, what="every write")
    items = {i["id"]: i["n"] for i in json.loads(ok(lab, "scan", "eu-west", "users", "--json"))}
    assert items == {k: int(k[1:]) for k in written}  # exactly as written


def test_metrics_cover_the_alert_rules(lab):
    ok(lab, "put", "us-east", "users", "m", "a=1")
    wait_until(lambda: item(lab, "eu-west", "m"), what="replication")
    st = state(lab)
    req = urllib.request.Request(f"http://127.0.0.1:{st['control_port']}/metrics",
                                 headers={"Authorization": f"Bearer {(lab / 'token').read_text()}"})
    text = urllib.request.urlopen(req, timeout=5).read().decode()
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
                if line and not line.startswith("#")}
    assert 'georep_applied_total{link="us-east>eu-west"} 1.0' in text
    assert 'georep_link_up{link="us-east>eu-west"} 1.0' in text
    rules = yaml.safe_load((ROOT / "monitoring" / "georep-alerts.yml").read_text())
    used = set()
    for rule in rules["groups"][0]["rules"]:
        used |= set(re.findall(r"georep_[a-z_]+", rule["expr"]))
    assert used, "the rules use no georep metric"
    assert used <= exported, f"rules use metrics nobody exports: {used - exported}"


def test_breaker_and_dlq_in_status_during_a_partition_and_after_heal(lab):
    ok(lab, "partition", "us-east", "eu-west")
    for i in range(3):
        ok(lab, "put", "us-east", "users", f"d{i}", f"n:={i}")

    def opened():
        r = status(lab)["replicators"]["us-east>eu-west"]
        return r if r["breaker"] == "open" and r["dlq_depth"] else None

    r = wait_until(opened, timeout=30, what="the breaker to open and the DLQ to fill")
    assert r["dlq_depth"] >= 1
    listed = json.loads(ok(lab, "dlq", "list", "us-east:eu-west", "--json"))
    assert listed and all(m["reason"] in ("breaker open", "attempts exhausted",
                                          "time budget exhausted") for m in listed)
    ok(lab, "heal")

    def recovered():
        r = status(lab)["replicators"]["us-east>eu-west"]
        return r if r["breaker"] == "closed" and r["dlq_depth"] == 0 else None

    wait_until(recovered, timeout=30, what="the breaker to close and the DLQ to drain")
    wait_until(lambda: keys_in(lab, "eu-west") == {"d0", "d1", "d2"}, what="every write")
    # A manual redrive now finds nothing; purge needs --yes.
    assert "0 received" in ok(lab, "dlq", "redrive", "us-east:eu-west")
    refused = georep(lab, "dlq", "purge", "us-east:eu-west")
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert "purged 0" in ok(lab, "dlq", "purge", "us-east:eu-west", "--yes")
    events = read_events(Path(state(lab)["run_path"]) / "events.jsonl")
    assert [e["removed"] for e in events if e["kind"] == "dlq-purge"] == [0]
    bad = georep(lab, "dlq", "list", "us-east-eu-west")
    assert bad.returncode != 0 and "SRC:DST" in bad.stderr
