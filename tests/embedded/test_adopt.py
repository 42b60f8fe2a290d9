"""`georep up --adopt` (issue 17): an existing table is used only when it fits — the same key
schema and key types, and a stream with NEW_AND_OLD_IMAGES — and each misfit is one line that
says what is wrong. Real moto tables, made the way a user would have made them."""

from __future__ import annotations

import pytest

from georep.aws.tables import create_or_adopt, table_request, unfit
from georep.config import KeyAttr, Table

pytestmark = pytest.mark.asyncio

ORDERS = Table("orders", KeyAttr("id", "S"))


def made(client, name: str, key_type: str = "S", stream: str | None = "NEW_AND_OLD_IMAGES",
         range_key: bool = False) -> None:
    request = {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
               "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": key_type}]}
    if range_key:
        request["KeySchema"].append({"AttributeName": "sk", "KeyType": "RANGE"})
        request["AttributeDefinitions"].append({"AttributeName": "sk", "AttributeType": "S"})
    if stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    client.create_table(**request)


@pytest.mark.parametrize("kw, why", [
    ({"key_type": "N"}, "its key is hash key id (N); georep needs hash key id (S)"),
    ({"range_key": True}, "its key is hash key id (S), range key sk (S); georep needs"),
    ({"stream": None}, "its stream is off; enable a stream with NEW_AND_OLD_IMAGES"),
    ({"stream": "KEYS_ONLY"}, "its stream shows KEYS_ONLY; georep needs NEW_AND_OLD_IMAGES"),
])
async def test_a_table_that_does_not_fit_is_refused_with_what_is_wrong(georep_lab, kw, why):
    made(georep_lab.client("us-east"), "orders", **kw)
    client = georep_lab.clients["us-east"]
    with pytest.raises(ValueError, match="^table orders cannot be used: " + why.replace(
            "(", r"\(").replace(")", r"\)")):
        await create_or_adopt(client, table_request(ORDERS), adopt=True)
    desc = (await client.describe_table(TableName="orders"))["Table"]
    assert unfit(desc, table_request(ORDERS)) is not None


async def test_a_fitting_empty_table_is_adopted_only_when_asked_and_never_recreated(georep_lab):
    plain = georep_lab.client("us-east")
    made(plain, "orders")
    client = georep_lab.clients["us-east"]
    with pytest.raises(ValueError, match="already exists; `georep up --adopt` uses it"):
        await create_or_adopt(client, table_request(ORDERS), adopt=False)
    assert await create_or_adopt(client, table_request(ORDERS), adopt=True) == "adopted"
    assert plain.describe_table(TableName="orders")["Table"]["TableStatus"] == "ACTIVE"
    fresh = Table("fresh", KeyAttr("id", "S"))
    assert await create_or_adopt(client, table_request(fresh), adopt=False) == "created"
    # georep's own tables, made by an earlier lab, are used without --adopt
    from georep.aws.tables import checkpoint_request

    assert await create_or_adopt(client, checkpoint_request(), adopt=False) == "existing"


async def test_a_table_holding_items_is_not_adopted_and_is_left_as_it_was(georep_lab):
    """Items written before the lab carry no metadata it can trust, and no stream record will
    ever stamp them: every replicated write to one of their keys would wait for a stamp
    forever (found by review: such keys went to the DLQ and reconcile never verified)."""
    plain = georep_lab.client("us-east")
    made(plain, "orders")
    plain.put_item(TableName="orders", Item={"id": {"S": "o1"}, "v": {"S": "old"}})
    client = georep_lab.clients["us-east"]
    with pytest.raises(ValueError, match=r"^table orders holds items; georep adopts empty "
                                         r"tables only"):
        await create_or_adopt(client, table_request(ORDERS), adopt=True)
    assert plain.get_item(TableName="orders", Key={"id": {"S": "o1"}})["Item"] == {
        "id": {"S": "o1"}, "v": {"S": "old"}}
