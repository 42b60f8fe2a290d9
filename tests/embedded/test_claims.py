"""One lab per external region: the claim row (georep/runtime/claims.py) against a real moto
table, on a clock the test moves."""

from __future__ import annotations

import pytest

from georep.errors import LabError
from georep.runtime.claims import EXPIRE_S, Claim

pytestmark = pytest.mark.asyncio


async def test_a_fresh_claim_refuses_a_second_lab_and_an_expired_one_is_taken_over(georep_lab):
    now = [1000.0]
    client = georep_lab.clients["us-east"]
    first = Claim(client, "region x", "/home/a", "run-a", clock=lambda: now[0])
    second = Claim(client, "region x", "/home/b", "run-b", clock=lambda: now[0])
    await first.take()
    now[0] += EXPIRE_S - 1
    with pytest.raises(LabError, match=r"^region x is in use by another lab \(home /home/a, "
                                       r"run run-a, renewed 44 s ago\)"):
        await second.take()
    assert await first.renew()  # renewed: fresh again
    now[0] += EXPIRE_S - 1
    with pytest.raises(LabError, match="in use by another lab"):
        await second.take()
    now[0] += 2  # not renewed for EXPIRE_S: the first lab is gone (crashed)
    await second.take()
    assert not await first.renew()  # taken over: the first lab is told, not the second
    await first.release()  # not its claim any more: nothing happens
    with pytest.raises(LabError, match="home /home/b"):
        await Claim(client, "region x", "/home/c", "run-c", clock=lambda: now[0]).take()
    await second.release()
    await Claim(client, "region x", "/home/c", "run-c", clock=lambda: now[0]).take()
