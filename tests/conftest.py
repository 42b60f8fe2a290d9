"""Suite-wide fixtures. The lab fixtures themselves ship with georep (georep.testing)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import settings

from georep.config import load

from .support.helpers import LAB, region_toml

ROOT = Path(__file__).resolve().parent.parent

# Property tests take their budget from a profile: "bounded" keeps the default run fast,
# `HYPOTHESIS_PROFILE=long` (make test-long) runs twenty times as many examples.
settings.register_profile("bounded", max_examples=100, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "bounded"))


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    """A valid two-region lab in a tmp folder (the config tests')."""
    (tmp_path / "a.toml").write_text(region_toml("alpha", "us-east-1", 9001))
    (tmp_path / "b.toml").write_text(region_toml("beta", "eu-west-1", 9002))
    (tmp_path / "lab.toml").write_text(LAB)
    return tmp_path


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "chaos: the chaos test (about a minute; `make chaos` runs it for ten)")


@pytest.fixture
def georep_regions():
    return ROOT / "regions"


@pytest.fixture
def georep_config(georep_regions):
    """The repo's lab with short request timeouts, so partitions are noticed in half a second."""
    cfg = load(georep_regions)
    fast = replace(cfg.replicator, connect_timeout_s=0.5, read_timeout_s=0.5, retry_cap_ms=200,
                   unstamped_wait_s=2.0, breaker_cooldown_s=1.0)
    return replace(cfg, replicator=fast)


@pytest.fixture
def lab(tmp_path):
    """A live lab (`georep up`) on free ports in a temporary home, always torn down."""
    from .support.live import running_lab

    with running_lab(tmp_path) as home:
        yield home


@pytest_asyncio.fixture(params=["embedded", "live"])
async def any_lab(request, tmp_path, georep_config):
    """One test body, two runtimes: an embedded lab (``georep_config``), then a client of a
    live lab (`georep up` in a temporary home); both torn down."""
    from georep.runtime.embedded import Lab
    from georep.runtime.live import LiveLab

    from .support.live import running_lab

    if request.param == "embedded":
        async with Lab.embedded(georep_config, run_dir=tmp_path / "runs", seed=7) as lab:
            yield lab
        return
    with running_lab(tmp_path) as home:
        async with LiveLab.connect(home) as lab:
            yield lab
