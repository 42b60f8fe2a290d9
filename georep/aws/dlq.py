"""The dead-letter queue of a link: an SQS queue in the source region (moto's SQS in the lab).

Place in the data flow: the replicator sends a stream record here when its delivery gave up
(retries exhausted, the breaker open, or a non-retriable error), then moves its checkpoint on;
the redriver (:mod:`georep.engine.redrive`) reads the messages back and applies them.

A message body is JSON (never pickled, never evaluated)::

    {"v": 1, "link": "us-east>eu-west", "table": "users", "reason": "...", "error": "...",
     "retriable": true, "attempts": 5, "first_failure": 1.0, "last_failure": 2.0,
     "record": {the original stream record},
     "version": {the version as stamped and shipped: the item, metadata included}}

Binary attribute values travel as ``{"$b64": "..."}`` and the record's creation time as epoch
seconds. The redrive ships ``version`` as it was first shipped: a plain write's stamp depends on
what the replicator knew when it read the record (the key's previous plain write), which a
re-interpretation of the record alone could not repeat. A message too large for SQS (256 KiB)
loses the record's OldImage, then ``version``, and if still too large keeps only the record's
keys (``"truncated": true``): the redrive then ships the source's current item, which is at
least as new.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_BODY = 256 * 1024
FORMAT = 1


def queue_name(link: str) -> str:
    return "georep-dlq-" + link.replace(">", "-to-")


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$b64": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _hook(d: dict) -> Any:
    if len(d) == 1 and "$b64" in d and isinstance(d["$b64"], str):
        return base64.b64decode(d["$b64"])
    return d


def encode(message: dict[str, Any]) -> str:
    body = json.dumps(message, default=_default, separators=(",", ":"))
    if len(body.encode()) <= MAX_BODY:
        return body
    record = dict(message["record"])
    record["dynamodb"] = {k: v for k, v in record["dynamodb"].items() if k != "OldImage"}
    body = json.dumps({**message, "record": record}, default=_default, separators=(",", ":"))
    if len(body.encode()) <= MAX_BODY:
        return body
    message = {k: v for k, v in message.items() if k != "version"}
    body = json.dumps({**message, "record": record}, default=_default, separators=(",", ":"))
    if len(body.encode()) <= MAX_BODY:
        return body
    record["dynamodb"] = {k: v for k, v in record["dynamodb"].items()
                          if k in ("Keys", "SequenceNumber", "ApproximateCreationDateTime")}
    return json.dumps({**message, "record": record, "truncated": True}, default=_default,
                      separators=(",", ":"))


class MalformedMessage(ValueError):
    pass


def decode(body: str) -> dict[str, Any]:
    try:
        message = json.loads(body, object_hook=_hook)
    except (json.JSONDecodeError, ValueError, TypeError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("v") != FORMAT:
        raise MalformedMessage("not a georep DLQ message (no format version 1)")
    for field in ("link", "table", "record"):
        if field not in message:
            raise MalformedMessage(f"missing field {field!r}")
    record = message["record"]
    if not isinstance(record, dict) or "dynamodb" not in record or "Keys" not in record.get(
            "dynamodb", {}):
        raise MalformedMessage("field 'record' is not a stream record")
    return message


@dataclass
class Message:
    id: str
    receipt: str
    body: str
    sent_at: float | None

    def decoded(self) -> dict[str, Any]:
        return decode(self.body)


class DeadLetterQueue:
    def __init__(self, client, link: str) -> None:
        self.client = client
        self.link = link
        self.name = queue_name(link)
        self._url: str | None = None

    async def url(self) -> str:
        if self._url is None:
            resp = await self.client.create_queue(QueueName=self.name)
            self._url = resp["QueueUrl"]
        return self._url

    async def send(self, messages: list[dict[str, Any]]) -> list[str]:
        """Send the messages; returns their SQS message ids."""
        url = await self.url()
        ids: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            entries = [{"Id": str(i), "MessageBody": encode(m)} for i, m in enumerate(chunk)]
            resp = await self.client.send_message_batch(QueueUrl=url, Entries=entries)
            if resp.get("Failed"):
                failed = resp["Failed"][0]
                raise RuntimeError(f"SQS refused a DLQ message: {failed.get('Message')}")
            ids += [ok["MessageId"] for ok in resp.get("Successful", [])]
        return ids

    async def depth(self) -> int:
        resp = await self.client.get_queue_attributes(
            QueueUrl=await self.url(),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        a = resp.get("Attributes", {})
        return int(a.get("ApproximateNumberOfMessages", 0)) + int(
            a.get("ApproximateNumberOfMessagesNotVisible", 0))

    async def receive(self, visibility_s: int = 30, limit: int = 10) -> list[Message]:
        resp = await self.client.receive_message(
            QueueUrl=await self.url(), MaxNumberOfMessages=limit, VisibilityTimeout=visibility_s,
            WaitTimeSeconds=0, AttributeNames=["SentTimestamp"])
        out = []
        for m in resp.get("Messages", []):
            sent = m.get("Attributes", {}).get("SentTimestamp")
            out.append(Message(m["MessageId"], m["ReceiptHandle"], m["Body"],
                               int(sent) / 1000 if sent else None))
        return out

    async def delete(self, message: Message) -> None:
        await self.client.delete_message(QueueUrl=await self.url(),
                                         ReceiptHandle=message.receipt)

    async def delete_many(self, messages: list[Message]) -> None:
        """Delete ``messages``, ten to a request (SQS's limit); a message SQS would not delete
        is an error naming it."""
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            resp = await self.client.delete_message_batch(
                QueueUrl=await self.url(),
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt} for i, m in enumerate(chunk)])
            failed = resp.get("Failed") or []
            if failed:
                f = failed[0]
                raise RuntimeError(f"{self.link} DLQ: message {chunk[int(f['Id'])].id} was not "
                                   f"deleted: {f.get('Code')} {f.get('Message', '')}".rstrip())

    async def release(self, message: Message) -> None:
        """Make a received message visible again at once."""
        await self.client.change_message_visibility(
            QueueUrl=await self.url(), ReceiptHandle=message.receipt, VisibilityTimeout=0)

    async def all(self, limit: int = 10_000) -> list[Message]:
        """Every message (up to ``limit``), left in the queue and visible again."""
        seen: dict[str, Message] = {}
        try:
            while len(seen) < limit:
                batch = await self.receive(visibility_s=30)
                fresh = [m for m in batch if m.id not in seen]
                if not fresh:
                    break
                for m in fresh:
                    seen[m.id] = m
        finally:
            for m in seen.values():
                await self.release(m)
        return list(seen.values())

    async def purge(self) -> int:
        n = await self.depth()
        await self.client.purge_queue(QueueUrl=await self.url())
        return n
