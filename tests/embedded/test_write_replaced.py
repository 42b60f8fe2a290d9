"""georep's write path reports the raw item each write replaced (``replaced=``), including a
version that landed after the caller's own read: what the chaos ledger records."""

from __future__ import annotations

from dataclasses import replace

import pytest

from georep.core.meta import split
from georep.errors import LabError

pytestmark = pytest.mark.asyncio


async def test_put_update_and_delete_report_the_item_they_replaced(georep_lab):
    lab = georep_lab
    seen: list = []
    await lab.put("us-east", "users", "k", {"v": "a"}, replaced=seen)
    assert seen == [None]
    await lab.update("us-east", "users", "k", {"v": "b"}, replaced=seen)
    assert seen[1]["v"] == {"S": "a"}
    await lab.delete("us-east", "users", "k", replaced=seen)
    assert seen[2]["v"] == {"S": "b"}
    await lab.put("us-east", "users", "k", {"v": "c"}, replaced=seen)
    assert "v" not in (seen[3] or {})  # the delete: no live value
    assert len(seen) == 4


async def test_replaced_is_the_version_the_write_read_not_the_callers(georep_lab):
    lab = georep_lab
    ddb = lab.client("us-east")
    await lab.put("us-east", "users", "k", {"v": "a"})
    # A plain write lands after the caller last looked (it saw "a"): georep's write replaces it.
    ddb.put_item(TableName="users", Item={"id": {"S": "k"}, "v": {"S": "plain"}})
    seen: list = []
    await lab.put("us-east", "users", "k", {"v": "b"}, replaced=seen)
    attrs, _ = split(seen[0])
    assert attrs["v"] == {"S": "plain"}


@pytest.fixture
def georep_config(georep_config):
    crdt = replace(georep_config.tables[0], name="accounts", policy="crdt",
                   crdt={"hits": "pncounter"})
    return replace(georep_config, tables=(*georep_config.tables, crdt))


async def test_a_crdt_write_replaces_nothing_and_says_so(georep_lab):
    with pytest.raises(LabError, match="crdt"):
        await georep_lab.update("us-east", "accounts", "k", {"note": "x"}, replaced=[])
