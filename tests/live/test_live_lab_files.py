"""The live lab's own files, processes, checkpoints and metrics against hostile and broken input.

Each test starts a real `georep up` lab (slow): a garbled pid file, corrupt state and token
files, file modes, a dead replicator's metrics, and an unreadable checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import stat
import urllib.request

from georep.runtime.home import pid_alive
from georep.runtime.moto import port_free
from georep.testing import wait_until

from ..support.live import georep, item, ok, plain_client, state, status


def one_line(proc) -> str:
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def metrics(home) -> str:
    st = state(home)
    token = (home / "token").read_text()
    req = urllib.request.Request(f"http://127.0.0.1:{st['control_port']}/metrics",
                                 headers={"Authorization": f"Bearer {token}"})
    return urllib.request.urlopen(req, timeout=5).read().decode()


def sample(text: str, name: str, link: str) -> float | None:
    m = re.search(rf'^{name}{{link="{re.escape(link)}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def test_a_garbled_pid_file_does_not_unseat_a_running_lab(lab, tmp_path):
    st = state(lab)
    token = (lab / "token").read_text()
    state_text = (lab / "state.json").read_text()
    metric_files = set(os.listdir(lab / "metrics"))
    assert metric_files
    pid_text = (lab / "supervisor.pid").read_text()
    (lab / "supervisor.pid").write_text("garbage\n")
    try:
        (tmp_path / "other").mkdir()
        from ..support.live import make_regions
        again = georep(lab, "up", "--regions", str(make_regions(tmp_path / "other")))
        assert "already running" in one_line(again)
        # Nothing of the running lab was cleared or overwritten.
        assert (lab / "token").read_text() == token
        assert (lab / "state.json").read_text() == state_text
        assert metric_files <= set(os.listdir(lab / "metrics"))
        assert status(lab)["regions"]["us-east"]["up"]
        ok(lab, "down")  # finds the lab without its pid file
    except BaseException:
        (lab / "supervisor.pid").write_text(pid_text)  # so the fixture can tear it down
        raise
    ports = [int(url.rsplit(":", 1)[1]) for url in st["regions"].values()]
    ports += [st["control_port"], *st["links"].values()]
    assert not any(pid_alive(p) for p in [st["pid"], *st["region_pids"].values()])
    assert all(port_free(p) for p in ports)


def test_corrupt_state_or_token_is_named_in_one_line(lab):
    good = {name: (lab / name).read_bytes() for name in ("state.json", "token")}
    st = json.loads(good["state.json"])
    cases = [
        ("state.json", b"{garbage", "state.json is corrupt (not JSON"),
        ("state.json", b"[1, 2]", "state.json is corrupt (not a JSON object"),
        ("state.json", json.dumps({**st, "control_port": "x"}).encode(),
         "state.json is corrupt (field 'control_port'"),
        ("state.json", json.dumps({k: v for k, v in st.items() if k != "regions"}).encode(),
         "state.json is corrupt (field 'regions' is missing"),
        ("state.json", json.dumps({**st, "regions": {"us-east": 5}}).encode(),
         "state.json is corrupt (field 'regions'"),
        ("state.json", None, "state.json is corrupt (a directory"),
        ("token", b"\xff\xfe\x00", "token is corrupt"),
        ("token", b"abc\ndef", "token is corrupt"),
        ("token", None, "token is corrupt (a directory"),
    ]
    for name, content, needle in cases:
        path = lab / name
        path.unlink()
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        try:
            # Commands that read state.json (all) or the token (those using the control API).
            second = ("get", "us-east", "users", "k") if name == "state.json" else ("heal",)
            for args in (("status",), second):
                line = one_line(georep(lab, *args))
                assert needle in line, (name, content, line)
        finally:
            if path.is_dir():
                path.rmdir()
            path.write_bytes(good[name])
    assert status(lab)["regions"]["us-east"]["up"]  # the lab itself never noticed


def test_the_lab_home_and_every_file_in_it_are_private(lab):
    ok(lab, "put", "us-east", "users", "secret", "card=4111")
    wait_until(lambda: item(lab, "eu-west", "secret"), what="replication")
    wait_until(lambda: os.listdir(lab / "links"), what="link stats files")
    seen = 0
    for root, _, files in os.walk(lab):
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700, root
        for f in files:
            mode = stat.S_IMODE(os.stat(os.path.join(root, f)).st_mode)
            assert mode & 0o077 == 0, f"{root}/{f}: {oct(mode)}"
            seen += 1
    names = {f for _, _, files in os.walk(lab) for f in files}
    assert {"token", "state.json", "supervisor.pid", "events.jsonl", "supervisor.log"} <= names
    assert any(f.endswith(".db") for f in names) and seen > 10


def test_metrics_keep_a_dead_replicators_last_values(lab):
    link = "us-east>eu-west"
    ok(lab, "partition", "us-east", "eu-west")
    ok(lab, "put", "us-east", "users", "d", "n:=1")
    wait_until(lambda: sample(metrics(lab), "georep_dlq_depth", link) == 1.0, timeout=40,
               what="a dead letter in the metrics")
    ok(lab, "replicator", "kill", "us-east", "eu-west")
    text = metrics(lab)
    assert sample(text, "georep_replicator_up", link) == 0.0
    assert sample(text, "georep_dlq_depth", link) == 1.0  # the last value, kept
    assert sample(text, "georep_pending_records", link) is not None
    assert sample(text, "georep_breaker_state", link) is not None
    ok(lab, "heal")
    ok(lab, "replicator", "start", "us-east", "eu-west")

    def fresh():
        text = metrics(lab)
        return (sample(text, "georep_replicator_up", link) == 1.0
                and sample(text, "georep_breaker_state", link) == 0.0)

    wait_until(fresh, timeout=40, what="the new replicator's values to replace the dead one's")
    # A new replicator starts with a closed breaker and redrives its DLQ on its own: its
    # predecessor died before a breaker close could do it.
    wait_until(lambda: sample(metrics(lab), "georep_dlq_depth", link) == 0.0, timeout=20,
               what="the new replicator to report the emptied DLQ")
    wait_until(lambda: item(lab, "eu-west", "d"), timeout=20, what="the dead letter delivered")
    assert "0 received" in ok(lab, "dlq", "redrive", "us-east:eu-west")


def test_an_unreadable_checkpoint_stops_the_link_and_a_reset_resumes_it(lab):
    ok(lab, "put", "us-east", "users", "a", "n:=1")
    wait_until(lambda: item(lab, "eu-west", "a"), what="replication")
    ok(lab, "replicator", "kill", "us-east", "eu-west")
    ddb = plain_client(lab, "us-east", "us-east-1")
    key = {"id": {"S": "us-east>eu-west|users"}}
    row = ddb.get_item(TableName="georep_checkpoints", Key=key, ConsistentRead=True)["Item"]
    shard = next(iter(row["shards"]["M"]))
    row["shards"]["M"][shard]["M"]["seq"] = {"S": "not-a-number"}
    ddb.put_item(TableName="georep_checkpoints", Item=row)
    ok(lab, "put", "us-east", "users", "b", "n:=2")
    ok(lab, "replicator", "start", "us-east", "eu-west")

    def stopped():
        r = status(lab)["replicators"]["us-east>eu-west"]
        return r if not r["alive"] and r.get("stopped") else None

    r = wait_until(stopped, timeout=30, what="the link to stop with its reason")
    assert r["stopped"].startswith("checkpoint unreadable: ") and "not-a-number" in r["stopped"]
    assert "checkpoint unreadable" in ok(lab, "status")
    # The other link, and the lab, carry on.
    ok(lab, "put", "eu-west", "users", "c", "n:=3")
    wait_until(lambda: item(lab, "us-east", "c"), what="the other link to replicate")

    help_text = ok(lab, "checkpoint", "reset", "--help")
    assert "trim-horizon" in help_text and "latest" in help_text and "idempotent" in help_text
    running = georep(lab, "checkpoint", "reset", "eu-west:us-east")
    assert "is running" in one_line(running)
    assert "trim-horizon or latest" in one_line(
        georep(lab, "checkpoint", "reset", "us-east:eu-west", "--to", "sideways"))
    ok(lab, "checkpoint", "reset", "us-east:eu-west", "--to", "trim-horizon")
    ok(lab, "replicator", "start", "us-east", "eu-west")
    wait_until(lambda: item(lab, "eu-west", "b") == {"id": "b", "n": 2}, timeout=30,
               what="the write made while the link was stopped")

    def resumed():
        r = status(lab)["replicators"]["us-east>eu-west"]
        # "a" is replayed from the trim horizon: a suppressed duplicate, nothing changes.
        return r["alive"] and r.get("stopped") is None and (r["suppressed"] or 0) >= 1

    wait_until(resumed, what="the link to run again, replaying from the trim horizon")


def test_cli_repairs_carry_the_labs_own_metadata(lab):
    """`georep reconcile` (its DLQ redrive and repairs) runs in the CLI's process: the versions
    it writes must authenticate with the lab's secret, or every other region would take them
    for a plain client's writes (counted as `foreign`) and stamp them again."""
    ok(lab, "partition", "us-east", "eu-west")
    ok(lab, "put", "us-east", "users", "r", "n:=1")
    wait_until(lambda: status(lab)["replicators"]["us-east>eu-west"]["dead_lettered"],
               timeout=40, what="a dead letter")
    ok(lab, "heal")
    ok(lab, "reconcile")
    assert item(lab, "eu-west", "r") is not None
    back = "eu-west>us-east"
    r = wait_until(lambda: (lambda x: x if (x["skipped"] or 0) + (x["foreign"] or 0) else None)(
        status(lab)["replicators"][back]), timeout=40, what="eu-west's stream to be read")
    assert r["foreign"] == 0 and r["skipped"] >= 1
