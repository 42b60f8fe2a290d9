"""The tables a test run uses: found in the lab's configuration, or added to it.

Place in the data flow: before a run starts. For an embedded lab, :func:`with_tables` gives a
table for each :class:`~georep.harness.clients.TableNeed` (named ``georep_test_<role>``, fresh
in every run, and the only tables of that lab); a live lab's tables were fixed by
``georep up``, so :func:`find_tables` picks the first table with the right policy and CRDT
types, or says in one line which table block to add to ``lab.toml``.
"""

from __future__ import annotations

from dataclasses import replace

from ..config import KeyAttr, LabConfig, Table
from ..errors import LabError
from .clients import TableNeed


def serves(table: Table, need: TableNeed) -> bool:
    """Whether ``table`` can hold the workload's items: the policy, a string hash key and no
    range key, and every CRDT attribute the workload uses with the same type."""
    if table.policy != need.policy or table.range_key is not None:
        return False
    if table.hash_key.type != "S":
        return False
    return all(table.crdt.get(attr) == kind for attr, kind in need.crdt.items())


def find_tables(config: LabConfig, needs: list[TableNeed]) -> dict[str, Table]:
    """role -> a distinct table of ``config`` serving it; LabError naming what to add."""
    out: dict[str, Table] = {}
    for need in needs:
        free = [t for t in config.tables if serves(t, need) and t not in out.values()]
        if not free:
            raise LabError(f"the lab has no table for the workload's {need.role} "
                           f"(policy {need.policy}{_crdt_text(need)}): add to lab.toml "
                           f"{_toml(need)!r} and restart the lab")
        out[need.role] = free[0]
    return out


def with_tables(config: LabConfig, needs: list[TableNeed]) -> tuple[LabConfig, dict[str, Table]]:
    """``config`` with a table of its own for each need, in place of the configuration's
    tables (a fresh embedded lab's would be empty, and every link would poll them for
    nothing), and the role -> table map."""
    chosen = {need.role: Table(f"georep_test_{need.role}", KeyAttr("id", "S"), None,
                               need.policy, crdt=dict(need.crdt)) for need in needs}
    return replace(config, tables=tuple(chosen.values())), chosen


def _crdt_text(need: TableNeed) -> str:
    return "" if not need.crdt else ", " + ", ".join(f"{a} {k}" for a, k in need.crdt.items())


def _toml(need: TableNeed) -> str:
    crdt = "" if not need.crdt else " crdt = { " + ", ".join(
        f'{a} = "{k}"' for a, k in need.crdt.items()) + " }"
    return (f'[tables.georep_test_{need.role}] hash_key = {{ name = "id", type = "S" }} '
            f'policy = "{need.policy}"{crdt}')
