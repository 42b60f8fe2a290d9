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


async def test_an_async_client_through_a_cut_tunnel_times_out():
    """aiohttp waits for a CONNECT's answer with no timeout at all: a proxy that blackholed the
    CONNECT on a cut hung every caller until the heal (found by review). The proxy answers it
    and blackholes the handshake, so the caller's connect timeout applies."""
    import asyncio

    from aiobotocore.session import AioSession

    from georep.aws.clients import Endpoint, async_client
    from georep.engine.proxy import LinkProxy

    proxy = LinkProxy("a", "b", "localhost", 4443, tunnel=True)
    await proxy.start()
    try:
        proxy.set_drops(True, True)
        ep = Endpoint("eu-west-1", "https://localhost:4443").through(proxy.url)
        async with async_client(AioSession(), "dynamodb", ep, connect_s=0.5,
                                read_s=0.5) as client:
            with pytest.raises(Exception) as err:
                await asyncio.wait_for(client.list_tables(), 10)
            assert not isinstance(err.value, TimeoutError), "still waiting after 10 s"
    finally:
        await proxy.stop()


@pytest.mark.parametrize("both_ways", [True, False])
async def test_a_cut_tls_link_keeps_failing_and_retrying(lab, both_ways):
    """As on a lab link, the cut link's replicator sees its requests time out and retries
    (before the fix its first request hung for the whole cut)."""
    if both_ways:
        lab.partition(A, TLS)
    else:  # us-east>eu-west drops only responses: the TLS handshake's among them
        lab.partition(TLS, A, one_way=True)
        assert lab.link_state()[f"{A}>{TLS}"] == "responses dropped"
    await lab.put(A, "users", "a", {"v": 1})
    await wait_for(lambda: lab.stats()[f"{A}>{TLS}"]["retries"] >= 2, timeout=15,
                   what="the cut link's replicator retrying")


async def test_each_service_of_an_external_region_answers_where_its_file_says(tmp_path):
    """SQS at its own sqs_endpoint: the lab's clients, async and plain, go there."""
    from georep.runtime.moto import MotoProcess

    from ..support.helpers import LAB, region_toml

    regions = tmp_path / "regions"
    regions.mkdir()
    (regions / "lab.toml").write_text(LAB)
    (regions / "us-east.toml").write_text(region_toml("us-east", "us-east-1", 8101))
    db, queues = MotoProcess("ap-db", "ap-south-1"), MotoProcess("ap-sqs", "ap-south-1")
    db.start()
    try:
        queues.start()
        (regions / "ap-south.toml").write_text(
            f'name = "ap-south"\naws_region = "ap-south-1"\nendpoint = "{db.url}"\n'
            f'sqs_endpoint = "{queues.url}"\n')
        async with Lab.embedded(load(regions), run_dir=tmp_path / "runs", seed=1) as lab:
            assert lab.async_client("ap-south", "sqs").meta.endpoint_url == queues.url
            plain = lab.client("ap-south", "sqs")
            assert plain.meta.endpoint_url == queues.url
            await lab.async_client("ap-south", "sqs").create_queue(QueueName="probe")
            names = {u.rsplit("/", 1)[-1] for u in plain.list_queues()["QueueUrls"]}
            assert names == {"probe", "georep-dlq-ap-south-to-us-east"}  # its link's DLQ too
            assert lab.client("ap-south").meta.endpoint_url == db.url
    finally:
        queues.stop()
        db.stop()


def lab_and(tmp_path, eu_west: str):
    """A regions folder: lab region us-east, and eu-west as ``eu_west`` says."""
    from ..support.helpers import LAB, region_toml

    regions = tmp_path / "regions"
    regions.mkdir()
    (regions / "lab.toml").write_text(LAB)
    (regions / "us-east.toml").write_text(region_toml("us-east", "us-east-1", 8101))
    (regions / "eu-west.toml").write_text(f'name = "eu-west"\naws_region = "eu-west-1"\n{eu_west}')
    return regions


async def test_a_profile_that_does_not_exist_is_one_line_naming_the_region(tmp_path,
                                                                          monkeypatch):
    from georep.errors import GeorepError


    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-config"))
    regions = lab_and(tmp_path, 'endpoint = "aws"\nprofile = "nope"\n')
    with pytest.raises(GeorepError) as err:
        async with Lab.embedded(load(regions), run_dir=tmp_path / "runs", seed=1):
            pass
    message = str(err.value)
    assert "\n" not in message and message.startswith("region eu-west (aws (eu-west-1)): ")
    assert "nope" in message and f"field 'profile' in {regions / 'eu-west.toml'}" in message


async def test_the_deterministic_simulation_refuses_an_external_region(tmp_path):
    from georep.runtime.sim import Simulation
    from georep.runtime.simlab import SimLab


    regions = lab_and(tmp_path, 'endpoint = "http://127.0.0.1:9"\n')
    from georep.errors import LabError

    with pytest.raises(LabError, match=r"region eu-west is external .*run with --realtime"):
        async with SimLab(load(regions), sim=Simulation(1), run_dir=tmp_path, seed=1):
            pass
