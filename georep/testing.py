"""pytest fixtures for partition regression tests, shipped with georep (a pytest11 plugin).

Place in the data flow: a front end. Fixtures start an embedded lab on real moto servers. A test
file, run with ``pytest`` from a folder holding ``regions/``:

```python pytest
import pytest

from georep.testing import wait_for


@pytest.mark.asyncio
async def test_a_write_made_during_a_partition_arrives_after_the_heal(georep_lab):
    lab = georep_lab
    lab.partition("us-east", "eu-west")
    await lab.put("us-east", "users", "k", {"v": 1})
    lab.heal()
    await wait_for(lambda: lab.get("eu-west", "users", "k"), timeout=30, what="k at eu-west")
    await lab.settle()
    assert not await lab.diverged("users")
```

``georep_regions`` (override it in your conftest) names the regions folder, ``regions`` in the
working directory by default; ``georep_lab`` writes its run under pytest's tmp_path. Needs
pytest-asyncio: mark each test ``@pytest.mark.asyncio``, or set ``asyncio_mode = "auto"``.

For histories of your own operations, checked by the same checkers as ``georep test``:
the ``georep_history`` fixture (a :class:`~georep.harness.user.History`: ``op``,
``final_reads``, ``check``) and ``partitioned(lab, a, b)`` (partition on entering, heal and
settle on leaving). The README's "Regression tests" section has a complete example.

Wait on a condition, never for a fixed time: ``await wait_for(predicate, timeout=..., what=...)``
in a coroutine, ``wait_until(...)`` in plain code (:mod:`georep.runtime.waits`). Both return
the predicate's first truthy value or raise TimeoutError "timed out after Ns waiting for WHAT".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .config import LabConfig, load
from .harness.user import History as History
from .harness.user import partitioned as partitioned
from .runtime.embedded import Lab
from .runtime.waits import wait_for as wait_for
from .runtime.waits import wait_until as wait_until


@pytest.fixture
def georep_history(tmp_path) -> History:
    """A :class:`~georep.harness.user.History` of your own operations, written to
    ``tmp_path/history.jsonl`` (``georep check`` reads it); ``.check()`` gives the verdict."""
    history = History(tmp_path / "history.jsonl")
    yield history
    history.close()


@pytest.fixture
def georep_regions() -> Path | LabConfig:
    """The lab definition the fixtures use: a regions folder or a LabConfig."""
    return Path("regions")


@pytest.fixture
def georep_config(georep_regions) -> LabConfig:
    return georep_regions if isinstance(georep_regions, LabConfig) else load(georep_regions)


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the lab fixture needs pytest-asyncio
    pytest_asyncio = None

if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def georep_lab(georep_config, tmp_path):
        """A running embedded lab, torn down after the test."""
        async with Lab.embedded(georep_config, run_dir=tmp_path / "runs", seed=1) as lab:
            yield lab
