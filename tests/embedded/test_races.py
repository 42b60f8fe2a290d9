"""N regions form a full mesh (races between local and replicated writes: test_no_silent_loss)."""

from __future__ import annotations

import shutil

import pytest

from georep import Lab
from georep.config import load

from ..conftest import ROOT

pytestmark = pytest.mark.asyncio


async def test_three_regions_replicate_as_a_full_mesh(tmp_path):
    regions = tmp_path / "regions"
    shutil.copytree(ROOT / "regions", regions)
    (regions / "ap-south.toml").write_text(
        'name = "ap-south"\naws_region = "ap-south-1"\nport = 8103\n')
    config = load(regions)
    async with Lab.embedded(config, run_dir=tmp_path / "runs") as lab:
        assert len(lab.replicators) == 6
        for r in ("us-east", "eu-west", "ap-south"):
            await lab.put(r, "users", f"from-{r}", {"origin": r})
        await lab.settle()
        for r in ("us-east", "eu-west", "ap-south"):
            items = sorted(i["id"] for i in await lab.scan(r, "users"))
            assert items == ["from-ap-south", "from-eu-west", "from-us-east"]
        assert await lab.diverged("users") == {}
        # Each write crossed every link from its origin exactly once: no relaying, no echo.
        assert all(s["applied"] == 1 for s in lab.stats().values())
