"""Parsing ``attr=value`` arguments of the CLI into attribute values (pure, no I/O).

Place in the data flow: the first step of ``georep put``; what it returns goes to georep's
write path. The syntax (the one httpie uses):

    name=Alice            a string (always: ``n=5`` is the string "5")
    n:=5                  raw JSON: a number
    ok:=true              raw JSON: a boolean (true/false), or null
    tags:='["a","b"]'     raw JSON: a list
    addr:='{"city":"Oslo"}'  raw JSON: a map

Anything else before the ``=`` that looks like an operator (``a*=2``, ``a+=1`` for put) is
refused rather than read as part of an attribute name. Numbers must fit DynamoDB's: at most 38
significant digits, magnitude 1E-130 to 9.9999999999999999999999999999999999999E+125.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT

from .config import Table
from .core.crdt_policy import register_value
from .core.meta import META
from .errors import GeorepError

_MAX = Decimal("1E126")
_MIN = Decimal("1E-130")
NUMBERS = ("at most 38 significant digits, magnitude 1E-130 to "
           "9.9999999999999999999999999999999999999E+125")
# Characters that end a name only by mistake: "balance*=2" means an operator, not "balance*".
OPERATOR_MARKS = "+-*/%^&|!<>?~@:"


class BadArgument(GeorepError):
    """A command-line value that cannot be parsed; the message names it."""


def _json(text: str, arg: str) -> Any:
    try:
        value = json.loads(text, parse_float=Decimal, parse_int=Decimal,
                           parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except ValueError as exc:
        raise BadArgument(f"{arg!r}: the value after ':=' is not valid JSON ({exc})") from None
    return value


def _fits(value: Decimal) -> bool:
    """A DynamoDB number: boto3's own context (38 digits, no rounding) and DynamoDB's range."""
    try:
        DYNAMODB_CONTEXT.create_decimal(value)
    except ArithmeticError:
        return False
    return value.is_finite() and (value == 0 or _MIN <= abs(value) < _MAX)


def _check_numbers(value: Any, arg: str) -> None:
    if isinstance(value, Decimal) and not _fits(value):
        raise BadArgument(f"{arg!r}: {value} is not a DynamoDB number ({NUMBERS})")
    if isinstance(value, dict):
        for v in value.values():
            _check_numbers(v, arg)
    if isinstance(value, list):
        for v in value:
            _check_numbers(v, arg)


def _split(arg: str, eq: int, supported: tuple[str, ...], hint: str) -> tuple[str, str]:
    """``arg[:eq]`` as (attribute name, operator): the operator is the run of operator marks
    before the first '=', plus it (``balance*=2`` -> ``*=``)."""
    head = arg[:eq]
    name = head.rstrip(OPERATOR_MARKS)
    op = head[len(name):] + "="
    if op not in supported:
        raise BadArgument(f"{arg!r}: unsupported operator {op!r} ({hint})")
    if not name:
        raise BadArgument(f"{arg!r}: the attribute name is empty")
    return name, op


def parse_assignments(args: list[str], table: Table) -> dict[str, Any]:
    """``["name=Alice", "n:=5"]`` -> ``{"name": "Alice", "n": Decimal(5)}``."""
    out: dict[str, Any] = {}
    for arg in args:
        eq = arg.find("=")
        if eq < 0:
            raise BadArgument(f"{arg!r}: expected attr=value (a string) or attr:=json")
        # The first '=' decides: note=a:=b is a string.
        name, op = _split(arg, eq, ("=", ":="), "attr=string or attr:=json; counters and sets "
                          "change with `georep update` on a crdt table")
        raw, text = op == ":=", arg[eq + 1:]
        if name == META:
            raise BadArgument(f"{arg!r}: {META} is reserved for georep's metadata")
        if name in table.key_names:
            raise BadArgument(f"{arg!r}: {name} is the table's key; give it as the KEY argument")
        if name in out:
            raise BadArgument(f"{arg!r}: attribute {name} is given twice")
        value = _json(text, arg) if raw else text
        _check_numbers(value, arg)
        out[name] = value
    return out


def parse_key(text: str, table: Table) -> Any:
    """The KEY argument as the hash key's type (S: as is; N: a number; B: hex)."""
    kind = table.hash_key.type
    if table.range_key is not None:
        raise BadArgument(f"table {table.name} has a sort key; the CLI handles hash keys only")
    if kind == "S":
        if not text:
            raise BadArgument("the key is empty")
        return text
    if kind == "N":
        try:
            n = Decimal(text)
        except ArithmeticError:
            raise BadArgument(f"key {text!r}: table {table.name} has a number key") from None
        if not _fits(n):
            raise BadArgument(f"key {text!r}: not a DynamoDB number ({NUMBERS})")
        return n
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise BadArgument(f"key {text!r}: table {table.name} has a binary key; give it in hex") \
            from None


COUNTER_TYPES = ("gcounter", "pncounter", "bcounter")
UPDATE_OPS = "+=, -=, = or :="


def check_count(n: int, what: str) -> None:
    """A whole amount for a counter (``what`` names it in the error): it must fit a DynamoDB
    number."""
    if len(str(abs(n))) > 38:
        raise BadArgument(f"{what}: {len(str(abs(n)))} digits; a counter's amount must fit a "
                          f"DynamoDB number ({NUMBERS})")


def parse_ops(args: list[str], table: Table) -> list[tuple[str, str, Any]]:
    """CRDT operations for ``georep update``: ``balance-=500``, ``tags+=vip``, ``name=Ann``,
    ``score:=3`` (a register assigned raw JSON)."""
    ops = []
    for arg in args:
        eq = arg.find("=")
        if eq <= 0:
            raise BadArgument(f"{arg!r}: expected attr+=n, attr-=n, attr=value or attr:=json")
        name, op = _split(arg, eq, ("+=", "-=", "=", ":="), f"supported: {UPDATE_OPS}")
        text = arg[eq + 1:]
        if name == META or name in table.key_names:
            raise BadArgument(f"{arg!r}: {name} cannot be updated")
        kind = table.crdt.get(name, "lwwregister")
        if op in ("+=", "-=") and kind in COUNTER_TYPES:
            try:
                value: Any = int(text)
            except ValueError:
                raise BadArgument(f"{arg!r}: {name} is a counter; {op} takes a whole "
                                  "number") from None
            check_count(value, repr(arg))
        elif op == ":=":
            value = _json(text, arg)
            _check_numbers(value, arg)
            value = register_value(value)
            op = "="
        else:
            value = text
        ops.append((name, op, value))
    return ops


