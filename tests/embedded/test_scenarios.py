"""The scenarios on the embedded lab: each outcome table is the documented one, and the evidence
backs it (balances per region, the conflict feed's overwritten write, the duplicates checker's
verdict on the recorded history)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from georep.scenarios import get
from georep.scenarios.base import expect
from georep.scenarios.run import run

from ..support.live import ROOT, make_regions


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    return make_regions(tmp_path_factory.mktemp("scenarios"))


def rows(outcome) -> dict:
    return {r.variant: r for r in outcome.rows}


def test_atm_from_the_cli_reports_the_four_outcomes_with_balances_and_evidence(regions, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "georep", "scenario", "run", "atm", "--json",
                           "--expect", "--regions", str(regions), "--run-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["differences"] == [] and out["claim"] == "no duplicate withdrawal occurred"
    got = {r["variant"]: r for r in out["rows"]}
    assert list(got) == ["lww-balance", "pn-counter", "bounded-counter", "home-idempotency"]
    lww, pn, bc, home = (got[v] for v in got)
    # a plain LWW balance: money out twice, the primary's debit overwritten, named in the feed
    assert (lww["holds"], lww["measured"]["paid_out"], lww["measured"]["overwritten"]) == \
        (False, 1000, 1)
    [lost] = lww["evidence"]["overwritten"]
    assert lost["region"] == "us-east" and lost["value"]["balance"] == 500
    # a PN-counter applies both debits: the $600 account overdraws
    assert pn["measured"]["low_balance"] == -400
    assert set(pn["evidence"]["balances"]["acct_1002"].values()) == {-400}
    # the bounded counter never goes below zero: the backup serves from its own rights, the
    # $600 account's requests are refused for want of local rights
    assert bc["measured"]["low_balance"] == 600 and bc["measured"]["balance"] == 0
    refused = [r for r in bc["evidence"]["requests"] if r["result"] == "refused"]
    assert any("holds only 300 right(s)" in r["error"] for r in refused)
    # a home-region record: the failover is refused, the retry recognised, $500 out once
    assert home["holds"] and home["measured"]["balance"] == 500
    results = [(r["region"], r["result"]) for r in home["evidence"]["requests"]
               if r["account"] == "acct_1001"]
    assert results == [("us-east", "debited"), ("eu-west", "refused"), ("us-east", "recognised")]
    assert all(set(b.values()) == {b["us-east"]} for v in got.values()
               for b in v["evidence"]["balances"].values())


async def test_ecommerce_two_orders_locally_one_with_a_home_record(regions, tmp_path):
    scenario = get("ecommerce")
    outcome = await run(scenario, regions_dir=regions, run_dir=tmp_path)
    assert expect(scenario, outcome) == []
    local, home = rows(outcome)["local"], rows(outcome)["home"]
    assert local.evidence["orders"] == ["order_abc123-local", "order_abc124-local"]
    dup = local.evidence["checker"]
    assert dup["valid"] is False and dup["duplicates"][0]["key"] == "checkout-42"
    assert home.evidence["orders"] == ["order_abc123-home"]
    assert home.evidence["checker"]["valid"] is True
    history = home.evidence["history"]
    fails = [op for op in history if op["type"] == "fail"]
    assert len(fails) == 1 and "home region us-east unreachable from eu-west" in fails[0]["error"]
    last = [op for op in history if op["f"] == "order" and op["type"] == "ok"][-1]
    assert last["value"]["order"] == "order_abc123-home" and last["value"]["deduplicated"]


async def test_global_tables_lww_names_the_lost_write_vclock_and_crdt_keep_both(regions,
                                                                               tmp_path):
    scenario = get("global-tables")
    outcome = await run(scenario, regions_dir=regions, run_dir=tmp_path)
    assert expect(scenario, outcome) == []
    lww, vclock, crdt = (rows(outcome)[v] for v in ("lww", "vclock", "crdt"))
    [lost] = lww.evidence["overwritten"]
    assert (lost["region"], lost["value"]["status"]) == ("us-east", "active-premium")
    assert sorted(s["status"] for s in vclock.evidence["siblings"]) == \
        ["active-premium", "inactive"]
    assert crdt.measured["status"] == ["active-premium", "inactive"]
    assert [s["t_ms"] for s in outcome.timeline] == sorted(s["t_ms"] for s in outcome.timeline)


def test_a_different_outcome_is_named_by_expect():
    from georep.scenarios.base import Outcome, Row

    scenario = get("ecommerce")
    wrong = Outcome("ecommerce", "", "", "embedded", "r", rows=[
        Row("local", True, "", {"orders": 1, "charges": 2, "charged": "$599.98",
                                "duplicates_found": True, "retry_during_partition": "ok",
                                "converged": False})], variants=["local", "home"])
    assert expect(scenario, wrong) == ["home: no outcome",
                                       "local: the claim held, documented: fails",
                                       "local: orders = 1, documented 2",
                                       "local: converged = False, documented True"]


async def test_payment_gateway_breaker_fails_fast_and_the_dlq_drains(regions, tmp_path):
    scenario = get("payment-gateway")
    outcome = await run(scenario, regions_dir=regions, run_dir=tmp_path)
    assert expect(scenario, outcome) == []
    breaker, none = rows(outcome)["breaker"], rows(outcome)["no-breaker"]
    m = breaker.measured
    # opened after its three timeouts (about 1 s each), long before the story's T+30s
    assert 2.5 < m["gateway_breaker_open_s"] < 10 and m["fail_fast_ms_max"] < 50
    refused = [p for p in breaker.evidence["payments"] if p["result"] == "refused"]
    assert refused and all(p["error"].startswith("circuit open") for p in refused)
    assert not set(p["payment"] for p in refused) & {
        k.split("-")[0] for k in breaker.evidence["ledger"]}  # refused: never charged
    assert m["link_breaker_open_s"] is not None and m["dlq_after"] == 0
    # without a breaker every payment in the partition waited for its timeout, uncertain
    assert none.measured["uncertain"] >= 6 and none.measured["timeout_ms_mean"] >= 900
    assert none.measured["refused_fast"] == 0 and not none.holds


async def test_a_zombie_replicator_is_fenced_and_applies_nothing_twice(regions, tmp_path):
    scenario = get("zombie-replicator")
    outcome = await run(scenario, regions_dir=regions, run_dir=tmp_path)
    assert expect(scenario, outcome) == []
    [row] = outcome.rows
    first, second = row.evidence["leases"]
    assert second["epoch"] == first["epoch"] + 1 and second["owner"] != first["owner"]
    assert "zombie" in row.evidence["fenced"][0]["error"]
    assert row.measured["zombie_suppressed"] >= 1  # it did try its stale batch
    assert list(row.evidence["final"].values()) == [3, 3, 3, 2, 2]
    cps = row.evidence["checkpoints"]
    assert cps["after the zombie woke"] == cps["after takeover"]


async def test_a_home_record_never_pays_out_a_transaction_that_was_refused(regions, tmp_path,
                                                                           monkeypatch):
    from georep.scenarios import atm

    # $400 cannot cover $500: the first request is refused at home, and its retry after the
    # heal must be judged again (and refused), not "recognised" and paid
    monkeypatch.setitem(atm.ACCOUNTS, "acct_1002", 400)
    outcome = await run(get("atm"), policy="home-idempotency", regions_dir=regions,
                        run_dir=tmp_path)
    [row] = outcome.rows
    low = [(r["region"], r["result"], r["paid_out"]) for r in row.evidence["requests"]
           if r["account"] == "acct_1002"]
    assert low == [("us-east", "refused", 0), ("eu-west", "refused", 0),
                   ("us-east", "refused", 0)]
    assert row.measured["low_balance"] == 400 and row.measured["low_paid_out"] == 0


def test_a_region_refusing_a_claim_is_not_called_unreachable():
    from botocore.exceptions import ClientError, ReadTimeoutError

    from georep.errors import LabError
    from georep.scenarios.home import HomeRecords, HomeUnreachable

    records = HomeRecords.__new__(HomeRecords)
    records.home = "us-east"
    refused = ClientError({"Error": {"Code": "ValidationException"}}, "PutItem")
    refusal = pytest.raises(LabError, match="us-east refused the call from eu-west: "
                                            "ValidationException")
    with refusal as got, records._calling("eu-west"):
        raise refused
    assert not isinstance(got.value, HomeUnreachable)
    silence = pytest.raises(HomeUnreachable, match="unreachable from eu-west: ReadTimeoutError")
    with silence, records._calling("eu-west"):
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1")
