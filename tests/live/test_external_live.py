"""`georep up` with one lab region and one external region (issue 17's "done when"): a moto
server started apart from the lab, behind TLS with a self-signed certificate the region file
trusts, stands in for a real DynamoDB region. Partition, one-way cut and heal work from the
CLI exactly as for two lab regions; `georep down` leaves the external region's data alone,
and a second `georep up` uses its tables only with --adopt."""

from __future__ import annotations

import json

from georep.aws.clients import external, sync_client
from georep.config import load
from georep.testing import wait_until

from ..support.external import external_regions
from ..support.live import fast_lab, force_down, georep, item, ok, status

A, B = "us-east", "eu-west"


def test_up_partition_heal_and_down_with_an_external_tls_region(tmp_path):
    with external_regions(tmp_path, lab=fast_lab()) as regions:
        home = tmp_path / "home"
        assert "https://localhost:" in ok(home, "up", "--regions", str(regions))
        try:
            s = status(home)
            assert s["regions"][B]["external"] and s["regions"][B]["up"]
            assert s["regions"][B]["pid"] is None and not s["regions"][A]["external"]
            ok(home, "put", A, "users", "k1", "v=1")
            ok(home, "put", B, "users", "k2", "v=2")
            wait_until(lambda: item(home, B, "k1") and item(home, A, "k2"), timeout=30,
                       what="both writes to cross the external link")
            assert f"{A} → {B}: cut" in ok(home, "partition", A, B)
            ok(home, "put", B, "users", "k3", "v=3")
            wait_until(lambda: status(home)["replicators"][f"{B}>{A}"]["retries"], timeout=30,
                       what="the cut link's replicator to retry")
            assert item(home, A, "k3") is None
            ok(home, "heal")
            wait_until(lambda: item(home, A, "k3"), timeout=30, what="k3 after the heal")
            ok(home, "partition", A, B, "--one-way")
            links = status(home)["links"]
            assert links[f"{A}>{B}"]["state"] == "cut"
            assert links[f"{B}>{A}"]["state"] == "responses dropped"
            ok(home, "heal")
            report = json.loads(ok(home, "reconcile", "--json"))
            assert report["verified"], report
        finally:
            force_down(home)
        plain = sync_client("dynamodb", external(load(regions).region(B)))
        got = plain.get_item(TableName="users", Key={"id": {"S": "k1"}}, ConsistentRead=True)
        assert got["Item"]["v"] == {"S": "1"}  # down left the external region's data alone
        refused = georep(home, "up", "--regions", str(regions))
        assert refused.returncode != 0 and "\n" not in refused.stderr.strip()
        assert "table users already exists; `georep up --adopt` uses it" in refused.stderr
        # the last lab's items carry its secret's metadata, which a new lab cannot trust
        refused = georep(home, "up", "--regions", str(regions), "--adopt")
        assert refused.returncode != 0 and "\n" not in refused.stderr.strip()
        assert "table users holds items; georep adopts empty tables only" in refused.stderr
        assert plain.get_item(TableName="users", Key={"id": {"S": "k1"}})["Item"]["v"] == {
            "S": "1"}


def test_up_adopts_an_empty_table_that_fits(tmp_path):
    with external_regions(tmp_path, lab=fast_lab()) as regions:
        plain = sync_client("dynamodb", external(load(regions).region(B)))
        plain.create_table(
            TableName="users", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        home = tmp_path / "home"
        ok(home, "up", "--regions", str(regions), "--adopt")
        try:
            ok(home, "put", A, "users", "k", "v=1")
            wait_until(lambda: item(home, B, "k"), timeout=30, what="k in the adopted table")
            events = (home / "runs").glob("*/events.jsonl")
            kinds = [json.loads(line)["kind"] for f in events for line in f.open()]
            assert "table-adopted" in kinds
        finally:
            force_down(home)
