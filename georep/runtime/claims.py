"""One lab per external region at a time: a claim row the lab keeps fresh while it runs.

Place in the data flow: taken by the live lab's supervisor (and the embedded lab) for every
external region, after its tables are ready and before any replicator starts; renewed every
``RENEW_S`` while the lab runs; released when it stops. A lab region is the lab's own and needs
none.

Why: a link's checkpoint and lease rows, its DLQ and the tombstone and stamp rows are named by
the link (``eu-west>us-east``), not by the lab. A second lab using the same external region
would take the first one's leases (fencing its replicators) and read its items as foreign
writes. The claim (``id = "claim"`` in the region's ``georep_checkpoints``: owner, home, run,
renewed) turns that into one line at the second ``georep up``. A claim not renewed for
``EXPIRE_S`` (a lab that crashed, or a machine whose clock is far off) is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

from botocore.exceptions import ClientError

from ..aws.tables import CHECKPOINT_TABLE
from ..errors import LabError

RENEW_S = 10.0
EXPIRE_S = 45.0
KEY = {"id": {"S": "claim"}}


def _ccf(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Claim:
    """This lab's claim on one external region (``where``: how errors name it)."""

    def __init__(self, client, where: str, home: str, run: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.where, self.home, self.run = client, where, home, run
        self.owner = uuid.uuid4().hex
        self.clock = clock

    async def take(self) -> None:
        """Claim the region, or LabError naming the lab that holds it."""
        resp = await self.client.get_item(TableName=CHECKPOINT_TABLE, Key=KEY,
                                          ConsistentRead=True)
        held = resp.get("Item")
        cond, values = "attribute_not_exists(#o)", {}
        if held is not None:
            age = self.clock() - float(held.get("renewed", {}).get("N", "0"))
            if age < EXPIRE_S:
                raise LabError(
                    f"{self.where} is in use by another lab (home {_s(held, 'home')}, run "
                    f"{_s(held, 'run')}, renewed {max(age, 0):.0f} s ago); one lab per external "
                    "region at a time: its links' checkpoints and leases there are named by "
                    f"link, not by lab (a claim not renewed for {EXPIRE_S:.0f} s is taken over)")
            cond, values = "#o = :prev", {":prev": held.get("owner", {"S": ""})}
        try:
            await self.client.put_item(
                TableName=CHECKPOINT_TABLE, ConditionExpression=cond,
                ExpressionAttributeNames={"#o": "owner"}, **({"ExpressionAttributeValues": values}
                                                           if values else {}),
                Item={**KEY, "owner": {"S": self.owner}, "home": {"S": self.home},
                      "run": {"S": self.run}, "renewed": {"N": f"{self.clock():.3f}"}})
        except ClientError as exc:
            if _ccf(exc):
                raise LabError(f"{self.where}: another lab claimed it at the same moment; "
                               "one lab per external region at a time") from None
            raise

    async def renew(self) -> bool:
        """Move the claim's time on; False if another lab took it over (ours had expired)."""
        try:
            await self.client.update_item(
                TableName=CHECKPOINT_TABLE, Key=KEY, UpdateExpression="SET #r = :now",
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#r": "renewed", "#o": "owner"},
                ExpressionAttributeValues={":now": {"N": f"{self.clock():.3f}"},
                                           ":me": {"S": self.owner}})
        except ClientError as exc:
            if _ccf(exc):
                return False
            raise
        return True

    async def release(self) -> None:
        """Give the claim up, if it is still ours."""
        try:
            await self.client.delete_item(
                TableName=CHECKPOINT_TABLE, Key=KEY, ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": self.owner}})
        except ClientError as exc:
            if not _ccf(exc):
                raise

    async def keep(self, on_lost: Callable[[str], None]) -> None:
        """Renew every RENEW_S until cancelled; a failed renewal is retried at the next turn,
        a claim taken over is told once through ``on_lost``."""
        lost = False
        while True:
            await asyncio.sleep(RENEW_S)
            try:
                if not await self.renew() and not lost:
                    lost = True
                    on_lost(self.where)
            except Exception:  # the region is down or cut off: renew at the next turn
                continue


def _s(item: dict, field: str) -> str:
    return str(item.get(field, {}).get("S", "?"))


class Claims:
    """A lab's claims on all its external regions, kept fresh by one task each."""

    def __init__(self) -> None:
        self.held: list[Claim] = []
        self._tasks: list[asyncio.Task] = []

    async def take(self, regions, clients: dict, home: str, run: str,
                   on_lost: Callable[[str], None]) -> None:
        """Claim every external region of ``regions`` (config Regions), or LabError."""
        from ..aws.clients import shown

        for r in regions:
            if r.local:
                continue
            claim = Claim(clients[r.name], f"region {r.name} ({shown(r)})", home, run)
            await claim.take()
            self.held.append(claim)
            self._tasks.append(asyncio.create_task(claim.keep(on_lost),
                                                   name=f"claim {r.name}"))

    async def release(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for claim in self.held:
            with contextlib.suppress(Exception):  # an unreachable region: the claim expires
                await claim.release()
        self.held.clear()
