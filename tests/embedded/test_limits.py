"""DynamoDB's limits checked before georep writes (georep.core.limits): a key or an item that
the region, or a replica carrying georep's metadata, could not store is refused with one line,
and nothing is written."""

from __future__ import annotations

from dataclasses import replace

import pytest

from georep.config import KeyAttr, Table
from georep.core.limits import ITEM_MAX, META_ROOM, LimitError, check_write, item_size
from georep.errors import LabError

USERS = Table("users", KeyAttr("id", "S"))
ORDERS = Table("orders", KeyAttr("id", "S"), KeyAttr("sk", "B"))
COUNTERS = Table("counters", KeyAttr("id", "S"), policy="crdt")
KID = '{"id": {"S": "k"}}'  # what georep.engine.apply.key_id makes of the key {"id": "k"}


def s(text: str) -> dict:
    return {"S": text}


def test_sizes_follow_dynamodb_rules() -> None:
    assert item_size({"ab": s("é")}) == 2 + 2  # names and strings: UTF-8 bytes
    assert item_size({"n": {"N": "-12.5"}}) == 1 + 5  # numbers: at least DynamoDB's count
    assert item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3
    assert item_size({"t": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    assert item_size({"l": {"L": [s("ab"), {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"m": {"M": {"k": s("v")}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"ss": {"SS": ["a", "bc"]}}) == 2 + 3


def test_a_hash_key_over_2048_bytes_is_refused() -> None:
    key = {"id": s("k" * 3000)}
    with pytest.raises(LimitError, match=r"users: hash key 'id' is 3,000 bytes; DynamoDB "
                                         r"allows at most 2,048"):
        check_write(USERS, key, {}, KID)


def test_a_range_key_over_1024_bytes_is_refused() -> None:
    key = {"id": s("k"), "sk": {"B": b"\x00" * 1025}}
    with pytest.raises(LimitError, match=r"range key 'sk' is 1,025 bytes; DynamoDB allows at "
                                         r"most 1,024"):
        check_write(ORDERS, key, {}, KID)


def test_a_key_too_long_for_georeps_own_rows_is_refused() -> None:
    """2,040 bytes fit DynamoDB's hash key, but not the id of the tombstone row georep keeps
    for the key once it is deleted ("tomb|users|" + the key as JSON)."""
    text = "k" * 2040
    kid = '{"id": {"S": "' + text + '"}}'
    with pytest.raises(LimitError, match=r"as the id of its tombstone row it takes "
                                         r"2,\d{3} bytes, at most 2,048 \(shorten it by"):
        check_write(USERS, {"id": s(text)}, {}, kid)


def test_an_item_over_400_kb_is_refused() -> None:
    values = {f"a{i}": s("x" * 120_000) for i in range(4)}
    with pytest.raises(LimitError, match=r"users: the item is 480,0\d\d bytes; DynamoDB holds "
                                         r"at most 400,000 .*metadata"):
        check_write(USERS, {"id": s("k")}, values, KID)


def test_the_budget_leaves_room_for_the_metadata() -> None:
    budget = ITEM_MAX - META_ROOM
    key = {"id": s("k")}
    fill = budget - item_size({**key, "v": s("")})
    check_write(USERS, key, {"v": s("x" * fill)}, KID)  # exactly the budget: accepted
    with pytest.raises(LimitError):
        check_write(USERS, key, {"v": s("x" * (fill + 1))}, KID)


def test_a_crdt_table_counts_each_value_twice() -> None:
    """A crdt item keeps every value in its attributes and again in its CRDT state."""
    half = (ITEM_MAX - META_ROOM) // 2
    with pytest.raises(LimitError, match=r"crdt table .* twice"):
        check_write(COUNTERS, {"id": s("k")}, {"v": s("x" * (half + 10))}, KID)
    check_write(COUNTERS, {"id": s("k")}, {"v": s("x" * (half - 1000))}, KID)


def test_limit_errors_are_lab_errors() -> None:
    assert issubclass(LimitError, LabError)


# -- the write path refuses before writing (embedded lab) --------------------------------------

@pytest.mark.asyncio
async def test_lab_put_and_update_refuse_an_item_over_400_kb(georep_lab):
    lab = georep_lab
    values = {f"a{i}": "x" * 120_000 for i in range(4)}
    with pytest.raises(LabError, match="at most 400,000"):
        await lab.put("us-east", "users", "big", values)
    with pytest.raises(LabError, match="at most 400,000"):
        await lab.update("us-east", "users", "big", values)
    assert await lab.get("us-east", "users", "big") is None


@pytest.mark.asyncio
async def test_lab_put_refuses_a_key_over_2048_bytes(georep_lab):
    with pytest.raises(LabError, match="hash key 'id' is 3,000 bytes"):
        await georep_lab.put("us-east", "users", "k" * 3000, {"v": "x"})


@pytest.mark.asyncio
async def test_404890_bytes_that_no_replica_could_hold_are_refused(georep_lab):
    """404,890 bytes fit a region's limit with a few dozen bytes to spare for the metadata.
    The metadata grows as other regions write the key (its version vector): the next write of
    the key elsewhere, or the replicated copy of a concurrent one, no longer fits (it failed,
    or went to the dead-letter queue)."""
    with pytest.raises(LabError, match="404,890 bytes"):  # "id", "k", "v" and the value
        await georep_lab.put("us-east", "users", "k", {"v": "x" * 404_886})
    assert await georep_lab.get("us-east", "users", "k") is None


@pytest.mark.asyncio
async def test_an_item_at_the_budget_is_written_and_replicated(georep_lab):
    lab = georep_lab
    fill = ITEM_MAX - META_ROOM - item_size({"id": s("full"), "v": s("")})
    await lab.put("us-east", "users", "full", {"v": "x" * fill})
    await lab.settle()
    assert len((await lab.get("eu-west", "users", "full"))["v"]) == fill


@pytest.mark.asyncio
@pytest.mark.parametrize("value", [10**38 + 1, float("inf"), object()],
                         ids=["39-digits", "infinity", "object"])
async def test_lab_put_refuses_a_value_dynamodb_cannot_hold_in_one_line(georep_lab, value):
    with pytest.raises(LabError, match=r"attribute 'n': .* cannot be stored in DynamoDB"):
        await georep_lab.put("us-east", "users", "k", {"n": value})
    assert await georep_lab.get("us-east", "users", "k") is None



@pytest.mark.asyncio
async def test_a_crdt_state_too_large_for_its_item_is_refused_before_writing(georep_lab):
    """An OR-set keeps a dot per element: its state, inside the metadata string, is about four
    times its values, more than the estimate before the read allows for. The write path
    measures the encoded item and refuses it with one line."""
    lab = georep_lab
    table = replace(lab.config.tables[0], policy="crdt", crdt={"tags": "orset"})
    ops = [("tags", "+=", f"element-{i:06d}") for i in range(7_000)]
    check_write(table, {"id": s("k")}, {"tags": {"SS": [o[2] for o in ops]}}, KID)  # passes
    lab.config = replace(lab.config, tables=(table, *lab.config.tables[1:]))
    with pytest.raises(LimitError, match=r"with its CRDT state is [\d,]+ bytes.*at most 398,976"):
        await lab.crdt("us-east", "users", "k", ops)
    assert await lab.get("us-east", "users", "k") is None
