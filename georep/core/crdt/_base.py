"""What every CRDT module shares: errors, argument checks and the version-tagged encoding.

Place in the data flow: each CRDT encodes its state through these helpers into the attribute the
write path stores, and decodes it with them when the replicator merges an arriving version.

An encoded state is a DynamoDB map ``{"M": {"t": {"S": TYPE}, "v": {"N": "1"}, ...fields}}``.
Decoding is strict (no missing or extra field, integers only where integers belong) because a
state that decodes loosely would re-encode differently and break the round-trip law.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

FORMAT = 1
# DynamoDB numbers hold at most 38 significant digits; a longer int would be refused on write.
MAX_INT = 10**38 - 1
_INTEGER = re.compile(r"-?[0-9]+")


class CRDTDecodeError(ValueError):
    """An AttributeValue is not the encoding of the CRDT it was decoded as."""


# -- argument checks -------------------------------------------------------------------------


def check_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor:
        raise ValueError(f"an actor is a non-empty region name, not {actor!r}")
    return actor


def check_amount(n: object) -> int:
    # bool is an int in Python; increment(actor, True) is a bug, not an amount
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"an amount is an int >= 1, not {n!r}")
    return n


def check_same_type(left: object, right: object) -> None:
    if type(left) is not type(right):
        raise TypeError(f"cannot merge {type(left).__name__} with {type(right).__name__}")


def pointwise_max(left: Mapping[Any, int], right: Mapping[Any, int]) -> dict[Any, int]:
    out = dict(left)
    for key, n in right.items():
        if n > out.get(key, 0):
            out[key] = n
    return out


# -- JSON values as AttributeValues ----------------------------------------------------------


def to_av(value: Any) -> dict[str, Any]:
    """A JSON-able value (None, bool, int, str, list, dict with str keys) as an AttributeValue."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: bool is an int subclass
        return {"BOOL": value}
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"{value} has more digits than a DynamoDB number holds")
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [to_av(x) for x in value]}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"map keys must be str, not {key!r}")
        return {"M": {k: to_av(x) for k, x in value.items()}}
    kinds = "None, bool, int, str, list or dict"
    raise TypeError(f"cannot store {type(value).__name__} {value!r}: store {kinds}")


def from_av(av: Any) -> Any:
    kind, inner = only_item(av, "value")
    if kind == "NULL" and inner is True:
        return None
    if kind == "BOOL" and isinstance(inner, bool):
        return inner
    if kind == "N":
        return integer(av, "value")
    if kind == "S" and isinstance(inner, str):
        return inner
    if kind == "L" and isinstance(inner, list):
        return [from_av(x) for x in inner]
    if kind == "M" and isinstance(inner, dict):
        return {k: from_av(x) for k, x in inner.items()}
    raise CRDTDecodeError(f"unsupported value AttributeValue {av!r}")


def canonical(value: Any) -> str:
    """A stable text form: orders values deterministically and tells True from 1."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def copy_value(value: Any) -> Any:
    """A private deep copy of a JSON-able value, checked to be storable (TypeError if not)."""
    return from_av(to_av(value))


# -- the envelope ----------------------------------------------------------------------------


def envelope(type_name: str, **fields: dict[str, Any]) -> dict[str, Any]:
    return {"M": {"t": {"S": type_name}, "v": {"N": str(FORMAT)}, **fields}}


def type_tag(av: Any) -> str:
    """The ``t`` tag of an encoded state, for dispatch; checks nothing else."""
    if not isinstance(av, dict) or not isinstance(av.get("M"), dict):
        raise CRDTDecodeError(f"a CRDT state is a map AttributeValue, not {_short(av)}")
    tag = av["M"].get("t")
    if not isinstance(tag, dict) or not isinstance(tag.get("S"), str):
        raise CRDTDecodeError(f"CRDT state without a string type tag 't': {_short(av)}")
    return tag["S"]


def open_envelope(
    av: Any, type_name: str, fields: Iterable[str], optional: Iterable[str] = ()
) -> dict[str, Any]:
    """The fields of an encoded ``type_name`` state, after checking its tag, version and keys.

    ``optional`` fields are written only when they hold something (a reset baseline, say), so
    a state that never used them encodes exactly as it did before they existed."""
    found = type_tag(av)
    if found != type_name:
        raise CRDTDecodeError(f"expected a {type_name!r} state, found type tag {found!r}")
    m = av["M"]
    version = m.get("v")
    if version != {"N": str(FORMAT)}:
        raise CRDTDecodeError(f"unsupported {type_name} format version {version!r}, expected 1")
    expected = {"t", "v", *fields}
    if missing := expected - m.keys():
        raise CRDTDecodeError(f"{type_name} state lacks field(s) {sorted(missing)}")
    if extra := m.keys() - expected - set(optional):
        raise CRDTDecodeError(f"{type_name} state has unknown field(s) {sorted(extra)}")
    return m


# -- stamps (packed HLC, actor) --------------------------------------------------------------


def encode_stamp(stamp: tuple[int, str] | None) -> dict[str, Any]:
    if stamp is None:
        return {"NULL": True}
    ts, actor = stamp
    return {"L": [{"N": str(ts)}, {"S": actor}]}


def decode_stamp(av: Any, what: str) -> tuple[int, str] | None:
    if av == {"NULL": True}:
        return None
    ts_av, actor_av = kind_of(av, "L", what)
    return (integer(ts_av, f"{what}.ts", minimum=0), check_actor(kind_of(actor_av, "S", what)))


def check_ts(ts: object) -> int:
    if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
        raise ValueError(f"ts is a packed HLC (an int >= 0), not {ts!r}")
    return ts


def later(left: tuple[int, str] | None, right: tuple[int, str] | None) -> tuple[int, str] | None:
    """The greater of two optional stamps (None is below every stamp)."""
    if left is None:
        return right
    if right is None:
        return left
    return max(left, right)


@contextmanager
def decoding(type_name: str) -> Iterator[None]:
    """Turn any shape error met while decoding into a CRDTDecodeError naming the type."""
    try:
        yield
    except CRDTDecodeError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise CRDTDecodeError(f"malformed {type_name} state: {exc!r}") from exc


def only_item(av: Any, what: str) -> tuple[str, Any]:
    if not isinstance(av, dict) or len(av) != 1:
        raise CRDTDecodeError(f"{what}: expected a one-key AttributeValue, found {_short(av)}")
    ((kind, inner),) = av.items()
    return kind, inner


def kind_of(av: Any, kind: str, what: str) -> Any:
    """The payload of an AttributeValue that must be of ``kind`` (``M``, ``L``, ``S``...)."""
    found, inner = only_item(av, what)
    expected_type = {"M": dict, "L": list, "S": str, "N": str, "BOOL": bool}[kind]
    if found != kind or not isinstance(inner, expected_type):
        raise CRDTDecodeError(f"{what}: expected a {kind} AttributeValue, found {_short(av)}")
    return inner


def integer(av: Any, what: str, minimum: int | None = None) -> int:
    text = kind_of(av, "N", what)
    if not _INTEGER.fullmatch(text):
        raise CRDTDecodeError(f"{what}: expected an integer, found {text!r}")
    n = int(text)
    if minimum is not None and n < minimum:
        raise CRDTDecodeError(f"{what}: expected an integer >= {minimum}, found {n}")
    return n


def encode_counts(counts: Mapping[str, int]) -> dict[str, Any]:
    return {"M": {actor: {"N": str(n)} for actor, n in sorted(counts.items())}}


def decode_counts(av: Any, what: str) -> dict[str, int]:
    """Per-actor non-negative totals; zero entries are dropped, as the types never store them."""
    out = {}
    for actor, n_av in kind_of(av, "M", what).items():
        n = integer(n_av, f"{what}[{actor}]", minimum=0)
        if n:
            out[check_actor(actor)] = n
    return out


def _short(av: Any) -> str:
    text = repr(av)
    return text if len(text) <= 80 else text[:77] + "..."
