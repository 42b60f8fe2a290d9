"""The one wait-with-deadline helper: its value, its deadline and its message."""

from __future__ import annotations

import pytest

from georep.testing import wait_for, wait_until


def test_wait_until_returns_the_first_truthy_value():
    values = iter([0, None, "", {"k": 1}, 2])
    assert wait_until(lambda: next(values), timeout=5, poll=0.001) == {"k": 1}


def test_wait_until_names_what_it_waited_for_when_time_is_up():
    with pytest.raises(TimeoutError, match=r"^timed out after 0.05s waiting for the moon$"):
        wait_until(lambda: False, timeout=0.05, what="the moon", poll=0.01)


async def test_wait_for_awaits_a_coroutine_predicate_and_returns_its_value():
    calls = []

    async def ready():
        calls.append(1)
        return len(calls) >= 3 and "ready"

    assert await wait_for(ready, timeout=5, poll=0.001) == "ready"
    assert len(calls) == 3


async def test_wait_for_tries_once_more_after_the_last_pause_then_fails():
    calls = []
    with pytest.raises(TimeoutError, match=r"^timed out after 0.05s waiting for condition$"):
        await wait_for(lambda: calls.append(1), timeout=0.05, poll=0.01)
    assert len(calls) >= 2
