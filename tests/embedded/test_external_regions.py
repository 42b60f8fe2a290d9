"""Regions georep does not start (issue 17): moto servers started apart from the lab, one of
them behind TLS with a self-signed certificate, reached by the ``endpoint`` of their region
files. Every link to them passes a link proxy in tunnel mode (botocore's HTTP proxy setting;
TLS end to end), so partitions, one-way cuts and heals work on them as on lab regions."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from botocore.exceptions import SSLError

from georep.aws.clients import sync_client
from georep.config import load
from georep.runtime.embedded import Lab
from georep.testing import wait_for

from ..support.external import external_regions

pytestmark = pytest.mark.asyncio

A, TLS, PLAIN = "us-east", "eu-west", "ap-south"


@pytest_asyncio.fixture
async def lab(tmp_path):
    with external_regions(tmp_path, tls=True, plain=True) as regions:
        cfg = load(regions)
        fast = replace(cfg.replicator, connect_timeout_s=0.5, read_timeout_s=0.5,
                       retry_cap_ms=200, unstamped_wait_s=2.0, breaker_cooldown_s=1.0)
        async with Lab.embedded(replace(cfg, replicator=fast), run_dir=tmp_path / "runs",
                                seed=1) as lab:
            yield lab


async def everywhere(lab, key: str, want: dict) -> None:
    for region in (A, TLS, PLAIN):
        assert await lab.get(region, "users", key) == want, region


async def heal_and_converge(lab) -> None:
    """After the heal, both writes are everywhere and reconcile proves it."""
    lab.heal()
    await lab.settle()
    await everywhere(lab, "a", {"id": "a", "v": 1})
    await everywhere(lab, "t", {"id": "t", "v": 2})
    assert (await lab.reconcile())["verified"]


async def test_writes_replicate_every_way_between_a_lab_region_and_external_ones(lab):
    assert not lab.config.region(TLS).local and lab.endpoints[TLS].url.startswith("https://")
    assert lab.link_state()[f"{A}>{TLS}"] == "open"  # an external link has its proxy
    for region in (A, TLS, PLAIN):
        await lab.put(region, "users", f"from-{region}", {"v": region})
    lab.client(TLS).put_item(TableName="users", Item={"id": {"S": "plain"}, "v": {"S": "p"}})
    await lab.settle()
    for region in (A, TLS, PLAIN):
        await everywhere(lab, f"from-{region}", {"id": f"from-{region}", "v": region})
    await everywhere(lab, "plain", {"id": "plain", "v": "p"})
    tunnelled = lab.proxies[(A, TLS)]
    assert tunnelled.tunnel and tunnelled.upstream == (
        "localhost", urlsplit(lab.endpoints[TLS].url).port)
    # TLS is real: a client that does not trust the region file's ca_bundle is refused
    with pytest.raises(SSLError):
        sync_client("dynamodb", replace(lab.endpoints[TLS], verify=None)).list_tables()
    assert (await lab.reconcile())["verified"]


async def test_a_partition_of_the_tls_link_holds_writes_until_the_heal(lab):
    lab.partition(A, TLS)
    await lab.put(A, "users", "a", {"v": 1})
    await lab.put(TLS, "users", "t", {"v": 2})
    await wait_for(lambda: lab.proxies[(A, TLS)].dropped_bytes > 0
                   and lab.proxies[(TLS, A)].dropped_bytes > 0, timeout=20,
                   what="both directions of the TLS link blackholed")
    await wait_for(lambda: lab.get(PLAIN, "users", "t"), timeout=20, what="t at ap-south")
    assert await lab.get(TLS, "users", "a") is None
    assert await lab.get(A, "users", "t") in (None, {"id": "t", "v": 2})  # via ap-south
    await heal_and_converge(lab)


async def test_a_one_way_cut_of_the_tls_link_drops_each_direction_where_it_should(lab):
    """us-east's bytes to eu-west are dropped: its requests on its own link, its responses on
    eu-west's. eu-west's requests still arrive, but an apply reads before it writes and that
    read is never answered (nor, through TLS, is a new connection's handshake), so nothing
    crosses until the heal."""
    lab.partition(A, PLAIN)  # only the TLS link could carry a write between the two
    lab.partition(PLAIN, TLS)
    lab.partition(A, TLS, one_way=True)
    assert lab.link_state()[f"{A}>{TLS}"] == "cut"
    assert lab.link_state()[f"{TLS}>{A}"] == "responses dropped"
    await lab.put(A, "users", "a", {"v": 1})
    await lab.put(TLS, "users", "t", {"v": 2})
    await wait_for(lambda: lab.proxies[(A, TLS)].dropped_bytes > 0
                   and lab.proxies[(TLS, A)].dropped_bytes > 0, timeout=20,
                   what="us-east's requests and its responses dropped")
    assert await lab.get(TLS, "users", "a") is None
    await heal_and_converge(lab)


async def test_the_tunnel_refuses_any_destination_but_its_own(lab):
    """The proxy in front of an external region is an HTTP proxy for that region only: never
    an open proxy for whoever reaches 127.0.0.1."""
    import asyncio

    proxy = lab.proxies[(A, TLS)]
    for request in (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                    b"GET http://127.0.0.1:22/ HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(request)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert status.startswith(b"HTTP/1.1 403"), (request, status)
