"""The live lab's conflict feed, policies and reconcile, driven from the command line."""

from __future__ import annotations

import contextvars
import json
import time

import pytest

from georep.testing import wait_until

from ..support.live import force_down, georep, item, make_regions, ok, plain_client


def test_conflicting_writes_show_in_the_conflict_feed(lab):
    ok(lab, "put", "us-east", "users", "k", "v=base")
    wait_until(lambda: item(lab, "eu-west", "k"), what="replication")
    ok(lab, "partition", "us-east", "eu-west")
    ok(lab, "put", "us-east", "users", "k", "v=east")
    ok(lab, "put", "eu-west", "users", "k", "v=west")  # later in HLC order: it wins
    ok(lab, "heal")
    wait_until(lambda: item(lab, "us-east", "k") == {"id": "k", "v": "west"}, what="LWW")
    feed = wait_until(lambda: len(f := json.loads(ok(lab, "conflicts", "--table", "users",
                                                      "--key", "k", "--json"))) == 2 and f,
                      what="an entry in each region's feed")
    assert sorted(e["region"] for e in feed) == ["eu-west", "us-east"]
    for e in feed:
        assert e["policy"] == "lww" and e["winner"]["value"]["v"] == "west"
        assert [lo["value"]["v"] for lo in e["losers"]] == ["east"]
    shown = ok(lab, "conflicts")
    assert "east" in shown and "west" in shown
    bad = georep(lab, "conflicts", "--key", "k")
    assert bad.returncode != 0 and "--table" in bad.stderr


@pytest.fixture
def policy_lab(tmp_path):
    """A live lab with a vclock table and a crdt table besides users."""
    home = tmp_path / "home"
    regions = make_regions(tmp_path)
    lab_toml = regions / "lab.toml"
    lab_toml.write_text(lab_toml.read_text() + """
[tables.notes]
hash_key = { name = "id", type = "S" }
policy = "vclock"

[tables.accounts]
hash_key = { name = "id", type = "S" }
policy = "crdt"
crdt = { balance = "bcounter", tags = "orset", visits = "pncounter" }
""")
    ok(home, "up", "--regions", str(regions))
    yield home
    force_down(home)


def test_policies_from_the_command_line(policy_lab):
    home = policy_lab
    # crdt: counters, sets, rights
    ok(home, "update", "us-east", "accounts", "a1", "balance+=100", "tags+=vip", "visits+=1")
    ok(home, "rights", "transfer", "us-east", "accounts", "a1", "balance", "--to", "eu-west",
       "40")
    wait_until(lambda: georep(home, "get", "eu-west", "accounts", "a1").returncode == 0,
               what="a1 to replicate")
    refused = georep(home, "update", "eu-west", "accounts", "a1", "balance-=50")
    assert refused.returncode != 0 and "rights" in refused.stderr
    assert "Traceback" not in refused.stderr
    ok(home, "update", "eu-west", "accounts", "a1", "balance-=40", "visits+=2")
    wait_until(lambda: json.loads(ok(home, "get", "us-east", "accounts", "a1", "--json"))
               == {"id": "a1", "balance": 60, "tags": ["vip"], "visits": 3}, what="merge")
    bad = georep(home, "update", "us-east", "accounts", "a1", "balance+=lots")
    assert bad.returncode != 0 and "whole number" in bad.stderr
    # vclock: siblings, then resolve
    ok(home, "put", "us-east", "notes", "n1", "text=base")
    wait_until(lambda: georep(home, "get", "eu-west", "notes", "n1").returncode == 0,
               what="n1 to replicate")
    ok(home, "partition", "us-east", "eu-west")
    ok(home, "put", "us-east", "notes", "n1", "text=east")
    ok(home, "put", "eu-west", "notes", "n1", "text=west")
    ok(home, "heal")

    def siblings():
        got = json.loads(ok(home, "get", "us-east", "notes", "n1", "--json"))
        return got.get("_siblings") if len(got.get("_siblings", [])) == 2 else None

    sibs = wait_until(siblings, timeout=30, what="two siblings")
    assert sorted(s["text"] for s in sibs) == ["east", "west"]
    assert "2 siblings" in ok(home, "get", "us-east", "notes", "n1")
    ok(home, "resolve", "us-east", "notes", "n1", "--pick", "2")
    chosen = sibs[1]["text"]
    wait_until(lambda: json.loads(ok(home, "get", "eu-west", "notes", "n1", "--json"))
               == {"id": "n1", "text": chosen}, what="the resolution to replicate")
    both = georep(home, "resolve", "us-east", "notes", "n1")
    assert both.returncode != 0 and "--pick" in both.stderr


def test_reconcile_repairs_and_proves_the_regions_equal(lab):
    from georep.core.hlc import Timestamp
    from georep.core.meta import stamp, use_secret
    from georep.runtime.home import LabHome

    ok(lab, "put", "us-east", "users", "a", "v=1")
    wait_until(lambda: item(lab, "eu-west", "a"), what="replication")
    # A version only eu-west has, marked as replicated so that no replicator ships it.
    # Authenticated with the lab's secret (else it is a plain client's write, and replicates).
    secret = LabHome(lab).meta_secret()

    def replicated() -> dict:
        use_secret(secret)
        lost = stamp({"id": {"S": "b"}, "v": {"S": "2"}}, None, origin="us-east",
                     ts=Timestamp(int(time.time() * 1000)))
        return lost.written_by("replicator").item()

    plain_client(lab, "eu-west", "eu-west-1").put_item(
        TableName="users", Item=contextvars.copy_context().run(replicated))
    assert item(lab, "us-east", "b") is None
    dry = georep(lab, "reconcile", "--dry-run")  # names the repair, writes nothing, exits 1
    assert dry.returncode == 1 and "Traceback" not in dry.stderr
    assert "dry run: nothing written" in dry.stdout
    assert "would write {'id': 'b'} in us-east" in dry.stdout
    assert item(lab, "us-east", "b") is None
    report = json.loads(ok(lab, "reconcile", "--json"))
    assert report["verified"] is True
    [t] = report["tables"]
    assert t["keys_diverged"] == 1 and t["repaired"] == {"us-east": 1}
    assert item(lab, "us-east", "b") == {"id": "b", "v": "2"}
    again = json.loads(ok(lab, "reconcile", "--json"))
    assert again["verified"] and again["tables"][0]["keys_diverged"] == 0
    # the trees persist in the lab's home: the second reconcile read the streams, not the tables
    assert again["tables"][0]["mode"] == "incremental"
    assert again["tables"][0]["scanned"] == {"us-east": 0, "eu-west": 0}
    assert (lab / "trees" / "us-east" / "users.sqlite3").is_file()
    shown = ok(lab, "reconcile", "--full")
    assert "full scan: a full scan was asked for" in shown and "verified" in shown
    assert "incremental" in ok(lab, "reconcile")
    ok(lab, "partition", "us-east", "eu-west")
    refused = georep(lab, "reconcile", "--timeout", "2")
    assert refused.returncode != 0 and "did not catch up" in refused.stderr
    assert "Traceback" not in refused.stderr
