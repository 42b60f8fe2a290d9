"""Records kept in one home region: claimed with a conditional PutItem, from any region.

Place in the data flow: used by the scenarios whose fix is an idempotency record in a home region
(``atm``, ``ecommerce``). A claim from region r goes to the home region through the lab's link
r>home (its proxy: a partition cuts it), as a plain AWS client's write beside georep: it is
recorded as a ``plain-put`` write event and stamped by the home region's replicators. The first
claim of a key wins; a later one gets the winner's record back. A claim that cannot reach home
raises :class:`HomeUnreachable`, one line, after the client's short timeout.
"""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

from ..aws.clients import async_client
from ..errors import LabError

CONNECT_S, READ_S = 0.5, 1.0


class HomeUnreachable(LabError):
    """The home region did not answer a claim: the request is refused, try again later."""


class HomeRecords:
    """Use as ``async with HomeRecords(lab, table, home) as records``."""

    def __init__(self, lab: Any, table: str, home: str) -> None:
        self.lab, self.table, self.home = lab, table, home
        self._stack = contextlib.AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self.hash_key = lab.config.table(table).hash_key.name

    async def __aenter__(self) -> HomeRecords:
        session = AioSession()
        for r in self.lab.config.regions:
            self._clients[r.name] = await self._stack.enter_async_context(async_client(
                session, "dynamodb", self.lab.route(r.name, self.home),
                connect_s=CONNECT_S, read_s=READ_S))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.aclose()

    async def claim(self, region: str, key: str, record: dict[str, str]) -> dict[str, str] | None:
        """Claim ``key`` for ``record`` (string attributes) from ``region``: None when this
        claim won, else the record the key holds (every string attribute)."""
        client, hk = self._clients[region], self.hash_key
        with self._calling(region):
            try:
                await client.put_item(
                    TableName=self.table, ConditionExpression="attribute_not_exists(#k)",
                    ExpressionAttributeNames={"#k": hk},
                    Item={hk: {"S": key}, **{a: {"S": v} for a, v in record.items()}})
            except client.exceptions.ConditionalCheckFailedException:
                got = await client.get_item(TableName=self.table, Key={hk: {"S": key}},
                                            ConsistentRead=True)
                item = got.get("Item", {})
                return {a: v["S"] for a, v in item.items() if a != hk and "S" in v}
        self.lab.plain_write("put", self.home, self.table, key, record)
        return None

    async def settle(self, region: str, key: str, was: str, now: str) -> bool:
        """Move the record's ``status`` from ``was`` to ``now`` (conditional): whether it
        moved (False: another claimer moved it first)."""
        client, hk = self._clients[region], self.hash_key
        with self._calling(region):
            try:
                await client.update_item(
                    TableName=self.table, Key={hk: {"S": key}},
                    UpdateExpression="SET #s = :now", ConditionExpression="#s = :was",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":now": {"S": now}, ":was": {"S": was}})
            except client.exceptions.ConditionalCheckFailedException:
                return False
        self.lab.plain_write("update", self.home, self.table, key, {"status": now})
        return True

    @contextlib.contextmanager
    def _calling(self, region: str):
        """A call that got no answer (a timeout, a refused or broken connection) is
        HomeUnreachable; a region's refusal (a ClientError) is a LabError naming it."""
        try:
            yield
        except ClientError as exc:
            raise LabError(f"home region {self.home} refused the call from {region}: "
                           f"{exc.response.get('Error', {}).get('Code', exc)}") from None
        except (TimeoutError, BotoCoreError, aiohttp.ClientError, OSError) as exc:
            raise HomeUnreachable(f"home region {self.home} unreachable from {region}: "
                                  f"{type(exc).__name__}") from None
