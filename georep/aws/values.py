"""DynamoDB JSON <-> Python values, via boto3's TypeSerializer and TypeDeserializer.

Place in the data flow: at the edges only. The write path turns user values into attribute
values; reads, events and reports turn them back into JSON-friendly Python values. The
replication hot path never converts.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ..core.meta import META
from ..errors import LabError

_ser = TypeSerializer()
_de = TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3 Binary
        return value.value.hex()
    return value


def to_python(attrs: Mapping[str, Any], *, keep_meta: bool = False) -> dict[str, Any]:
    """Attribute values to JSON-friendly Python (numbers as int/float, sets as sorted lists)."""
    return {
        k: _plain(_de.deserialize(v)) for k, v in attrs.items() if keep_meta or k != META
    }


def _encodable(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _encodable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    return value


def to_dynamo(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to attribute values (floats go through Decimal, as DynamoDB requires).
    LabError, naming the attribute, for a value DynamoDB cannot hold (a number beyond 38
    digits or its range, an infinity, an object of another type)."""
    out = {}
    for k, v in values.items():
        try:
            out[k] = _ser.serialize(_encodable(v))
        except (TypeError, ValueError, ArithmeticError) as exc:
            why = type(exc).__name__ if isinstance(exc, ArithmeticError) else str(exc)
            raise LabError(f"attribute {k!r}: {str(v)[:60]} cannot be stored in DynamoDB "
                           f"({why}; numbers have at most 38 significant digits)") from None
    return out
