"""The persistent tree's store (issue 16, item 5): a replayed record changes nothing, records
read again from an earlier point end at the latest image, and a page that fails half-way leaves
neither its changes nor its position behind."""

from __future__ import annotations

import pytest

from georep.config import KeyAttr, Table
from georep.core.merkle import differing_leaves
from georep.core.meta import key_id
from georep.engine.treestore import TreeBusy, TreeStore, change_of


def record(seq: int, key: str, value: str | None, event: str = "MODIFY") -> dict:
    body = {"Keys": {"id": {"S": key}}, "SequenceNumber": str(seq)}
    if value is not None:
        body["NewImage"] = {"id": {"S": key}, "v": {"S": value}}
    return {"eventName": event if value is not None else "REMOVE", "dynamodb": body}


@pytest.fixture
def table():
    return Table(name="users", hash_key=KeyAttr("id", "S"))


def tree_of(store: TreeStore, depth: int = 4):
    return store.tree(depth)


def test_replaying_records_from_an_earlier_point_ends_at_the_latest_image(tmp_path, table):
    records = [record(1, "a", "1"), record(2, "b", "1"), record(3, "a", "2"),
               record(4, "b", None), record(5, "c", "1")]
    once, twice = TreeStore(tmp_path / "once.db"), TreeStore(tmp_path / "twice.db")
    once.apply([change_of(r, table) for r in records], "s", "5", False)
    twice.apply([change_of(r, table) for r in records[:4]], "s", "4", False)
    twice.apply([change_of(r, table) for r in records[1:]], "s", "5", False)  # from seq 2 again
    twice.apply([change_of(r, table) for r in records[4:]], "s", "5", False)  # the last again
    (a, n), (b, m) = tree_of(once), tree_of(twice)
    assert n == m == 2 and differing_leaves([a, b]) == []
    assert twice.positions() == {"s": ("5", False)}


def test_a_page_that_fails_half_way_leaves_nothing_behind(tmp_path, table):
    store = TreeStore(tmp_path / "t.db")
    store.apply([change_of(record(1, "a", "1"), table)], "s", "1", False)

    def changes():
        yield change_of(record(2, "b", "1"), table)
        raise KeyError("a record without keys")

    with pytest.raises(KeyError):
        store.apply(changes(), "s", "2", False)
    assert store.positions() == {"s": ("1", False)}
    assert store.tree(4)[1] == 1


def test_a_store_is_trusted_only_once_sealed_and_only_for_its_stream(tmp_path):
    store = TreeStore(tmp_path / "t.db")
    assert store.trusted_for("arn-1") == "no tree built by a full scan yet"
    store.reset("arn-1")
    assert store.trusted_for("arn-1") == "no tree built by a full scan yet"
    store.seal({"s": (None, False)})
    assert store.trusted_for("arn-1") is None
    assert store.trusted_for("arn-2") == "the table's stream changed since the tree was built"
    store.distrust()
    assert store.trusted_for("arn-1") is not None


def test_one_reconcile_at_a_time_holds_a_store(tmp_path):
    first = TreeStore(tmp_path / "t.db")
    with pytest.raises(TreeBusy, match="another reconcile is using"):
        TreeStore(tmp_path / "t.db")
    first.close()
    TreeStore(tmp_path / "t.db").close()


def test_a_records_key_comes_from_its_image(tmp_path):
    """moto base64-encodes a binary key twice in a record's ``Keys``; its images hold it right,
    and a REMOVE record still has its old image."""
    table = Table(name="orders", hash_key=KeyAttr("id", "S"), range_key=KeyAttr("sk", "B"))
    key = {"id": {"S": "k"}, "sk": {"B": b"\x00\xff"}}
    wrong = {"id": {"S": "k"}, "sk": {"B": b"AP8="}}
    put = {"eventName": "INSERT", "dynamodb": {"Keys": wrong, "NewImage": {**key, "v": {"S": "x"}}}}
    gone = {"eventName": "REMOVE", "dynamodb": {"Keys": wrong, "OldImage": {**key}}}
    assert change_of(put, table)[0] == change_of(gone, table)[0] == key_id(key)
