"""The chaos checker (georep.core.ledger) on hand-made ledgers: it passes a good run and fails
each kind of bad one."""

from __future__ import annotations

from decimal import Decimal

from georep.core.ledger import CounterOp, Ledger, Read, Write, check, history

REGIONS = ("us-east", "eu-west")
COUNTERS = {"accounts": {"stock": "bcounter", "hits": "pncounter"}}


def final(table: str, key: str, item: dict | None, regions=REGIONS) -> list[Read]:
    return [Read(r, table, key, view, None if item is None else dict(item))
            for r in regions for view in ("georep", "plain")]


def good_ledger() -> Ledger:
    """us-east writes a, eu-west reads a and writes b; a concurrent c from us-east loses to b and
    is named in the feed; d is written, deleted, and the delete is final. Counters add up."""
    writes = [
        Write("us-east", "georep", "users", "k", "put", "a", None, hlc=10, read_seq=1,
              ack_seq=2),
        Write("eu-west", "plain", "users", "k", "update", "b", "a", read_seq=3, ack_seq=4),
        Write("us-east", "plain", "users", "k", "put", "c", "a", read_seq=3, ack_seq=5),
        Write("us-east", "georep", "users", "j", "put", "d", None, hlc=20, read_seq=1,
              ack_seq=2),
        Write("eu-west", "georep", "users", "j", "delete", "del-1", "d", hlc=30, read_seq=5,
              ack_seq=6),
    ]
    ops = [CounterOp("us-east", "accounts", "s", "stock", 10),
           CounterOp("us-east", "accounts", "s", "stock", -4),
           CounterOp("eu-west", "accounts", "s", "hits", 3),
           CounterOp("us-east", "accounts", "s", "hits", -5)]
    feed = [{"table": "users", "key": {"id": "k"}, "region": "us-east",
             "winner": {"region": "eu-west", "value": {"id": "k", "v": "b"}},
             "losers": [{"region": "us-east", "hlc": 11, "tombstone": False,
                         "value": {"id": "k", "v": "c"}}], "siblings": []}]
    reads = [*final("users", "k", {"id": "k", "v": "b"}), *final("users", "j", None),
             *final("accounts", "s", {"id": "s", "stock": Decimal(6), "hits": -2}),
             Read("eu-west", "accounts", "s", "georep", {"stock": 10}, final=False)]
    return Ledger(writes, ops, reads, feed, COUNTERS)


def test_a_good_run_is_valid():
    result = check(good_ledger())
    assert result["valid"] is True, result
    assert result["stats"]["writes"] == 5 and result["stats"]["counter_ops"] == 4


def test_a_write_neither_final_nor_named_nor_read_is_lost():
    ledger = good_ledger()
    ledger.feed.clear()  # c's loss is no longer named
    result = check(ledger)
    assert result["valid"] is False
    assert [(w["value"], w["region"]) for w in result["lost"]] == [("c", "us-east")]
    assert result["lost"][0]["final"] == {"us-east/georep": "b", "us-east/plain": "b",
                                          "eu-west/georep": "b", "eu-west/plain": "b"}


def test_a_write_replaced_by_a_write_that_never_read_it_is_lost():
    ledger = good_ledger()
    # b claims to have replaced nothing: then nobody read a.
    ledger.writes[1] = Write("eu-west", "plain", "users", "k", "update", "b", None)
    ledger.writes[2] = Write("us-east", "plain", "users", "k", "put", "c", "b")
    ledger.feed.clear()
    ledger.reads[:] = [r for r in ledger.reads if r.key != "k"] + final(
        "users", "k", {"id": "k", "v": "c"})
    assert [w["value"] for w in check(ledger)["lost"]] == ["a"]


def test_a_delete_with_no_evidence_of_deletion_is_lost():
    ledger = good_ledger()
    ledger.reads[:] = [r for r in ledger.reads if r.key != "j"] + final(
        "users", "j", {"id": "j", "v": "d"})
    result = check(ledger)
    assert [(w["op"], w["value"]) for w in result["lost"]] == [("delete", "del-1")]
    # named in the feed as a tombstone loser, it is accounted for
    ledger.feed.append({"table": "users", "key": {"id": "j"}, "losers": [
        {"region": "eu-west", "hlc": 30, "tombstone": True, "value": {"id": "j"}}]})
    assert check(ledger)["valid"] is True


def test_a_value_nobody_wrote_is_a_phantom():
    ledger = good_ledger()
    ledger.reads[:] = [r for r in ledger.reads if r.key != "k"] + final(
        "users", "k", {"id": "k", "v": "zz"})
    result = check(ledger)
    assert {p["value"] for p in result["phantoms"]} == {"zz"}
    assert {w["value"] for w in result["lost"]} == {"b"}


def test_a_wrong_counter_is_reported_per_region_and_view():
    ledger = good_ledger()
    ledger.reads[:] = [r for r in ledger.reads if r.key != "s" or not r.final] + [
        Read(r, "accounts", "s", v, {"id": "s", "stock": 6, "hits": -2 if r == "us-east" else 1})
        for r in REGIONS for v in ("georep", "plain")]
    result = check(ledger)
    assert result["valid"] is False
    assert {(w["region"], w["attr"], w["read"], w["expected"])
            for w in result["wrong_counters"]} == {("eu-west", "hits", 1, -2)}
    assert result["diverged"][0]["key"] == "s"


def test_an_unknown_outcome_widens_the_counter_bounds():
    ledger = good_ledger()
    ledger.counter_ops.append(CounterOp("eu-west", "accounts", "s", "hits", 7,
                                        acknowledged=False))
    assert check(ledger)["valid"] is True  # -2 is within [-2, 5]
    ledger.reads[:] = [Read(r.region, r.table, r.key, r.view, {"hits": 6, "stock": 6})
                       if r.key == "s" and r.final else r for r in ledger.reads]
    assert [w["expected"] for w in check(ledger)["wrong_counters"]] == [[-2, 5]] * 4


def test_an_oversold_bounded_counter_fails_even_if_it_reads_right():
    ledger = good_ledger()
    # two decrements of 5 on a balance of 5, both acknowledged; the item reads 0 (lost one)
    ledger.counter_ops[:] = [CounterOp("us-east", "accounts", "b", "stock", 5),
                             CounterOp("us-east", "accounts", "b", "stock", -5),
                             CounterOp("us-east", "accounts", "b", "stock", -5)]
    ledger.reads[:] = [r for r in ledger.reads if r.key != "s"] + final(
        "accounts", "b", {"id": "b", "stock": 0})
    result = check(ledger)
    assert result["oversold"] == [{"table": "accounts", "key": "b", "attr": "stock",
                                   "increments": 5, "decrements": 10}]
    assert {w["read"] for w in result["wrong_counters"]} == {0}  # want -5


def test_a_bounded_counter_read_below_zero_fails_even_mid_run():
    ledger = good_ledger()
    ledger.reads.append(Read("eu-west", "accounts", "s", "plain", {"stock": -1}, final=False))
    result = check(ledger)
    assert result["valid"] is False
    assert result["below_zero"] == [{"table": "accounts", "key": "s", "attr": "stock",
                                     "region": "eu-west", "view": "plain", "read": -1,
                                     "final": False}]


def test_diverged_regions_fail():
    ledger = good_ledger()
    ledger.reads[:] = [Read(r.region, r.table, r.key, r.view, {"id": "k", "v": "c"})
                       if r.key == "k" and r.region == "eu-west" else r for r in ledger.reads]
    result = check(ledger)
    assert [d["key"] for d in result["diverged"]] == ["k"]
    assert result["valid"] is False


def test_a_tombstone_a_plain_client_can_see_diverges_from_georeps_view():
    ledger = good_ledger()
    ledger.reads[:] = [Read(r.region, r.table, r.key, r.view, {"id": "j"})
                       if r.key == "j" and r.view == "plain" else r for r in ledger.reads]
    assert [d["key"] for d in check(ledger)["diverged"]] == ["j"]


def test_an_item_without_final_reads_is_unread():
    ledger = good_ledger()
    ledger.reads[:] = [r for r in ledger.reads if r.key != "j"]
    assert check(ledger)["unread"] == [{"table": "users", "key": "j"}]


def test_a_crashing_rule_makes_the_verdict_unknown():
    ledger = good_ledger()
    ledger.feed.append({"table": "users"})  # no key: the write rule cannot read it
    result = check(ledger)
    assert result["valid"] == "unknown" and "writes" in result["errors"]


def test_history_lists_an_items_operations_in_order():
    rows = history(good_ledger(), "users", "k")
    assert [r["value"] for r in rows] == ["a", "b", "c"]


def test_one_read_of_a_deleted_item_vouches_for_one_delete_only():
    # a is deleted in both regions; one later write read "no item": one delete is unaccounted
    writes = [Write("us-east", "georep", "users", "k", "put", "a", None, read_seq=1, ack_seq=2),
              Write("us-east", "plain", "users", "k", "delete", "d1", "a", read_seq=3,
                    ack_seq=4),
              Write("eu-west", "plain", "users", "k", "delete", "d2", "a", read_seq=3,
                    ack_seq=5),
              Write("eu-west", "plain", "users", "k", "put", "b", None, read_seq=6, ack_seq=7)]
    ledger = Ledger(writes, reads=final("users", "k", {"id": "k", "v": "b"}))
    lost = check(ledger)["lost"]
    assert [(w["op"], w["value"]) for w in lost] == [("delete", "d1")]
    assert lost[0]["next"] is None  # us-east wrote nothing after it


def _tomb(region: str, hlc: int) -> dict:
    return {"region": region, "hlc": hlc, "tombstone": True, "value": {"id": "k"}}


def test_deletes_are_vouched_by_the_best_assignment_of_evidence():
    """A seen 3-region chaos run: an early plain delete in eu-west was also vouched by a later
    read, and a late one only by the feed. Taking evidence greedily in delete order gave the
    feed's loser to the early one and reported the late one lost; any assignment of distinct
    evidence that covers every delete proves none was lost."""
    writes = [Write("eu-west", "plain", "users", "k", "put", "a", None, read_seq=1, ack_seq=2),
              Write("eu-west", "plain", "users", "k", "delete", "d1", "a", read_seq=3,
                    ack_seq=4),
              Write("eu-west", "plain", "users", "k", "put", "b", None, read_seq=5, ack_seq=6),
              Write("eu-west", "plain", "users", "k", "delete", "d2", "b", read_seq=7,
                    ack_seq=8),
              Write("us-east", "georep", "users", "k", "put", "c", None, read_seq=7, ack_seq=9)]
    feed = [{"table": "users", "key": {"id": "k"}, "losers": [_tomb("eu-west", 50)]}]
    ledger = Ledger(writes, reads=final("users", "k", {"id": "k", "v": "c"}), feed=feed)
    assert check(ledger)["valid"] is True
    # without the feed entry the late delete has no evidence: a read at 5 precedes it
    ledger = Ledger(writes, reads=final("users", "k", {"id": "k", "v": "c"}))
    assert [(w["op"], w["value"]) for w in check(ledger)["lost"]] == [("delete", "d2")]


def test_one_feed_loser_vouches_for_one_delete_of_its_region_and_stamp():
    writes = [Write("eu-west", "plain", "users", "k", "put", "a", None, read_seq=1, ack_seq=2),
              Write("eu-west", "plain", "users", "k", "delete", "d1", "a", read_seq=3,
                    ack_seq=4),
              Write("us-east", "georep", "users", "k", "delete", "d2", "a", read_seq=3,
                    ack_seq=5, hlc=70),
              Write("us-east", "georep", "users", "k", "put", "c", "a", read_seq=3, ack_seq=9)]
    reads = final("users", "k", {"id": "k", "v": "c"})
    # a us-east loser with another stamp vouches for neither delete; an eu-west one for d1
    feed = [{"table": "users", "key": {"id": "k"}, "losers": [_tomb("us-east", 71)]}]
    lost = check(Ledger(writes, reads=reads, feed=feed))["lost"]
    assert sorted(w["value"] for w in lost) == ["d1", "d2"]
    feed[0]["losers"].append(_tomb("eu-west", 12))
    assert [w["value"] for w in check(Ledger(writes, reads=reads, feed=feed))["lost"]] == ["d2"]
    feed[0]["losers"].append(_tomb("us-east", 70))
    assert check(Ledger(writes, reads=reads, feed=feed))["valid"] is True
