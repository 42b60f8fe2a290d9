"""A region's moto server must behave like one DynamoDB: each request atomic.

``python -m moto.server`` runs requests on concurrent threads without a lock. Two conditional
UpdateItems that read the same version could then both succeed (the second overwrote a version
its condition never saw: in the 3-region chaos run a region went back to an older value of its
own), and two stream records could share a sequence number (GetRecords AFTER_SEQUENCE_NUMBER of
the duplicate returns the second copy forever: replicators that never caught up, skipping the
same record on every poll). See georep/runtime/motoserve.py.

Racy by nature, so each test tries many rounds; on an unserialised server about one round in
ten has two winners, and the stream a duplicate sequence number within a few rounds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

from georep.runtime.moto import MotoProcess, MotoRegion

WRITERS = 16
ROUNDS = 50


@pytest.fixture(params=["process", "thread"])
def server(request):
    srv = (MotoProcess("atomic", "eu-north-1") if request.param == "process"
           else MotoRegion("atomic", "eu-north-1"))
    srv.start()
    yield srv
    srv.stop()


def _clients(url: str):
    kw = {"endpoint_url": url, "region_name": "eu-north-1", "aws_access_key_id": "x",
          "aws_secret_access_key": "x",
          "config": Config(max_pool_connections=WRITERS * 2, retries={"total_max_attempts": 1})}
    return boto3.client("dynamodb", **kw), boto3.client("dynamodbstreams", **kw)


def _records(streams, arn: str, after: str | None = None) -> list[dict]:
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    kw = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after
          else {"ShardIteratorType": "TRIM_HORIZON"})
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **kw)["ShardIterator"]
    out = []
    while it:
        page = streams.get_records(ShardIterator=it, Limit=1000)
        if not page["Records"]:
            return out
        out += page["Records"]
        it = page.get("NextShardIterator")
    return out


def test_concurrent_conditional_writes_have_one_winner_and_distinct_stream_numbers(server):
    db, streams = _clients(server.url)
    arn = db.create_table(
        TableName="atomic", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    db.put_item(TableName="atomic", Item={"id": {"S": "k"}, "v": {"N": "0"}})

    def write(n: int, writer: int) -> bool:
        try:  # every writer read version n; only one may replace it
            db.update_item(TableName="atomic", Key={"id": {"S": "k"}},
                           UpdateExpression="SET v = :next, w = :w", ConditionExpression="v = :n",
                           ExpressionAttributeValues={":n": {"N": str(n)},
                                                      ":next": {"N": str(n + 1)},
                                                      ":w": {"N": str(writer)}})
            return True
        except db.exceptions.ConditionalCheckFailedException:
            return False

    with ThreadPoolExecutor(WRITERS) as pool:
        for n in range(ROUNDS):
            winners = sum(pool.map(lambda w, n=n: write(n, w), range(WRITERS)))
            assert winners == 1, f"round {n}: {winners} conditional writes passed on one version"

    records = _records(streams, arn)
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert len(records) == ROUNDS + 1
    assert len(set(seqs)) == len(seqs), "two stream records share a sequence number"
    # A reader checkpointed at the last record finds nothing more.
    assert _records(streams, arn, after=max(seqs, key=int)) == []
