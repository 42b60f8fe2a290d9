"""The fault mechanism over link proxies, and the proxy's latency over real sockets.

Faults drive proxies that are not started (their settings are plain attributes); the latency
tests put a real proxy in front of a tiny TCP server on 127.0.0.1 and wait on conditions with
deadlines. Timing is only ever asserted from below ("took at least").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time

import pytest

from georep.config import load
from georep.core.grudge import halves, partition
from georep.engine.faults import Faults
from georep.engine.proxy import NO_DELAY, Delay, LinkProxy
from georep.errors import GeorepError
from georep.testing import wait_for

from ..support.helpers import LAB, region_toml

A, B, C = "us-east", "eu-west", "ap-south"


def three_regions(tmp_path):
    for name, aws, port in ((A, "us-east-1", 9101), (B, "eu-west-1", 9102),
                            (C, "ap-south-1", 9103)):
        (tmp_path / f"{name}.toml").write_text(region_toml(name, aws, port))
    (tmp_path / "lab.toml").write_text(LAB)
    return load(tmp_path)


@pytest.fixture
def faults(tmp_path):
    config = three_regions(tmp_path)
    proxies = {(s, d): LinkProxy(s, d, "127.0.0.1", 1) for s, d in config.links}
    events = []
    f = Faults(config, proxies, emit=lambda kind, **kw: events.append({"kind": kind, **kw}))
    f.events = events
    return f


def drops(f: Faults) -> dict[str, tuple[bool, bool]]:
    return {p.name: (p.drop_requests, p.drop_responses) for p in f.proxies.values()
            if p.drop_requests or p.drop_responses}


def test_a_one_way_cut_drops_a_requests_on_one_link_and_a_responses_on_the_other(faults):
    faults.partition(A, B, one_way=True)
    assert drops(faults) == {f"{A}>{B}": (True, False), f"{B}>{A}": (False, True)}
    assert faults.link_state([f"{A}>{B}", f"{B}>{A}"]) == {
        f"{A}>{B}": "cut", f"{B}>{A}": "responses dropped"}
    [event] = faults.events
    assert event == {"kind": "partition", "a": A, "b": B, "one_way": True,
                     "links": faults.link_state()}
    faults.partition(B, A, one_way=True)  # cuts add up: now both ways
    assert faults.grudge == partition(A, B)
    assert drops(faults) == {f"{A}>{B}": (True, True), f"{B}>{A}": (True, True)}


def test_isolate_then_heal_one_pair_leaves_the_rest_cut(faults):
    faults.isolate(C)
    assert set(drops(faults)) == {f"{A}>{C}", f"{C}>{A}", f"{B}>{C}", f"{C}>{B}"}
    assert faults.events[-1]["kind"] == "isolate" and faults.events[-1]["region"] == C
    assert faults.heal(A, C) == [f"{A}>{C}", f"{C}>{A}"]
    assert set(drops(faults)) == {f"{B}>{C}", f"{C}>{B}"}
    assert faults.describe()["cuts"] == f"{C} ↔ {B}"  # sorted: ap-south first
    faults.heal()
    assert drops(faults) == {}
    assert faults.events[-1] == {"kind": "heal", "links": [p.name for p in
                                                          faults.proxies.values()]}


def test_latency_per_byte_flow_lands_on_both_links_and_heal_lifts_it(faults):
    faults.set_latency(A, B, 100, 20, one_way=True)
    ab, ba = faults.proxies[(A, B)], faults.proxies[(B, A)]
    assert (ab.request_delay, ab.response_delay) == (Delay(100, 20), NO_DELAY)
    assert (ba.request_delay, ba.response_delay) == (NO_DELAY, Delay(100, 20))
    faults.set_latency(B, C, 50)
    assert faults.describe()["latency"] == [  # sorted by flow
        {"from": C, "to": B, "ms": 50, "jitter": 0}, {"from": B, "to": C, "ms": 50, "jitter": 0},
        {"from": A, "to": B, "ms": 100, "jitter": 20}]
    assert faults.events[0] == {"kind": "latency", "a": A, "b": B, "ms": 100, "jitter": 20,
                                "one_way": True, "links": [f"{A}>{B}", f"{B}>{A}"]}
    faults.heal(A, B)
    assert not ab.request_delay and not ba.response_delay
    assert [d["from"] for d in faults.describe()["latency"]] == [C, B]
    faults.set_latency(B, C, 0)  # 0 lifts it
    assert faults.describe()["latency"] == []


def test_any_grudge_is_applied_by_the_same_mechanism(faults):
    faults.cut(halves([A, B, C], first=1))  # A from B and C
    assert set(drops(faults)) == {f"{A}>{B}", f"{B}>{A}", f"{A}>{C}", f"{C}>{A}"}
    assert faults.events[-1]["kind"] == "cut" and faults.events[-1]["cuts"] == (
        f"{C} ↔ {A}, {B} ↔ {A}")  # pairs sorted by name
    with pytest.raises(GeorepError, match="unknown region 'mars'"):
        faults.cut(partition(A, "mars"))


def test_skew_is_a_clock_heal_leaves_it(faults):
    assert faults.skew(B, -250.4) == -250
    faults.heal()
    assert faults.skew_ms[B] == -250
    assert faults.describe()["skew_ms"] == {B: -250}
    assert faults.events[0] == {"kind": "skew", "region": B, "offset_ms": -250}


def test_describe_is_json_data(faults):
    faults.partition(A, B)
    faults.skew(A, 5)
    assert json.loads(json.dumps(faults.describe())) == {
        "grudge": {"v": 1, "flows": [[B, A], [A, B]]}, "cuts": f"{B} ↔ {A}",
        "latency": [], "skew_ms": {A: 5}, "flaps": []}


@pytest.mark.parametrize("call, message", [
    (lambda f: f.partition(A, A), "a link joins two different regions, not us-east with itself"),
    (lambda f: f.partition(A, "mars"), "unknown region 'mars'"),
    (lambda f: f.isolate("mars"), "unknown region 'mars'"),
    (lambda f: f.set_latency(A, B, -1), "ms must not be negative, not -1"),
    (lambda f: f.set_latency(A, B, float("nan")), "ms must be a finite number of milliseconds"),
    (lambda f: f.set_latency(A, B, True), "ms must be a number of milliseconds, not True"),
    (lambda f: f.set_latency(A, B, 10, 20), r"jitter \(20 ms\) must not exceed ms \(10 ms\)"),
    (lambda f: f.set_latency(A, B, 10, one_way="yes"), "one_way must be true or false"),
    (lambda f: f.skew(A, "5"), "ms must be a number of milliseconds, not '5'"),
    (lambda f: f.heal(A), "heal takes two regions, or none"),
])
def test_bad_requests_are_one_line_errors_and_change_nothing(faults, call, message):
    with pytest.raises(GeorepError, match=message):
        call(faults)
    assert faults.events == [] and drops(faults) == {} and faults.describe()["latency"] == []


def test_a_link_without_a_proxy_cannot_be_faulted(tmp_path):
    config = three_regions(tmp_path)
    proxies = {(s, d): LinkProxy(s, d, "127.0.0.1", 1) for s, d in config.links if C not in (s, d)}
    f = Faults(config, proxies, emit=lambda *a, **k: None)
    with pytest.raises(GeorepError, match=f"link {A}>{C} goes to an external endpoint"):
        f.partition(A, C)
    with pytest.raises(GeorepError, match="goes to an external endpoint"):
        f.isolate(A)
    f.partition(A, B)


async def test_a_flap_toggles_until_its_pair_is_healed(faults):
    kinds = lambda: [e["kind"] for e in faults.events]  # noqa: E731
    faults.flap(A, B, 0.05)
    assert kinds() == ["flap", "flap-cut"]  # cut at once
    assert faults.link_state([f"{A}>{B}"]) == {f"{A}>{B}": "cut"}
    await wait_for(lambda: kinds().count("flap-heal") >= 2, what="two heals of the flap")
    assert kinds()[:5] == ["flap", "flap-cut", "flap-heal", "flap-cut", "flap-heal"]
    [flap] = faults.describe()["flaps"]
    assert flap["a"] == A and flap["b"] == B and flap["period"] == 0.05
    task = faults.flaps[frozenset((A, B))].task
    faults.heal(A, B)
    await wait_for(task.done, what="the flap's task to end")
    assert faults.describe()["flaps"] == [] and drops(faults) == {}
    with pytest.raises(GeorepError, match="period must be more than 0 seconds, not 0"):
        faults.flap(A, B, 0)
    faults.flap(A, C, 60)
    await faults.close()  # the lab stops: the flap's task goes with it
    assert faults.flaps == {}


# -- the proxy's latency, over real sockets --------------------------------------------------

class Server:
    """A TCP server on 127.0.0.1 that greets each connection, then echoes what it receives."""

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.received = bytearray()

    async def handle(self, reader, writer):
        writer.write(self.greeting)
        while data := await reader.read(65536):
            self.received += data
            writer.write(data)
            await writer.drain()
        writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()


@pytest.fixture
async def proxied():
    async def make(greeting: bytes = b""):
        server = await stack.enter_async_context(Server(greeting))
        proxy = LinkProxy("a", "b", "127.0.0.1", server.port, rng=random.Random(7))
        await proxy.start()
        stops.append(proxy.stop)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writers.append(writer)
        return server, proxy, reader, writer

    stops, writers = [], []
    async with contextlib.AsyncExitStack() as stack:
        yield make
        for w in writers:
            w.close()
        for stop in stops:
            await stop()


async def test_a_delay_holds_requests_and_responses_at_least_that_long(proxied):
    _, proxy, reader, writer = await proxied()
    proxy.set_delays(requests=Delay(150), responses=Delay(100))
    started = time.monotonic()
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 20) == b"ping"
    assert time.monotonic() - started >= 0.25


async def test_jitter_keeps_the_bytes_of_a_connection_in_order(proxied):
    server, proxy, reader, writer = await proxied()
    proxy.set_delays(requests=Delay(20, 20), responses=Delay(20, 20))
    sent = b"".join(f"{i:05d};".encode() for i in range(300))
    for i in range(0, len(sent), 60):
        writer.write(sent[i:i + 60])
        await writer.drain()
        await asyncio.sleep(0.002)  # separate reads, so chunks draw separate delays
    assert await asyncio.wait_for(reader.readexactly(len(sent)), 30) == sent
    assert bytes(server.received) == sent
    proxy.set_delays()  # 0 is off: the same connection goes on unheld
    writer.write(b"after")
    assert await asyncio.wait_for(reader.readexactly(5), 20) == b"after"


async def test_held_requests_do_not_hold_up_responses(proxied):
    server, proxy, reader, writer = await proxied(greeting=b"hello")
    proxy.set_delays(requests=Delay(60_000))
    writer.write(b"request")
    assert await asyncio.wait_for(reader.readexactly(5), 20) == b"hello"
    assert server.received == b""  # still held


async def test_held_responses_do_not_hold_up_requests(proxied):
    server, proxy, _, writer = await proxied()
    proxy.set_delays(responses=Delay(60_000))
    writer.write(b"request")
    await wait_for(lambda: server.received == b"request", timeout=20, what="the request")


async def test_lifting_a_drop_closes_the_connections_that_lost_bytes(proxied):
    server, proxy, reader, writer = await proxied()
    proxy.set_drops(requests=True, responses=False)
    writer.write(b"lost")
    await wait_for(lambda: proxy.dropped_bytes == 4, what="the bytes to be dropped")
    proxy.set_drops(requests=False, responses=False)
    assert await asyncio.wait_for(reader.read(), 20) == b""  # closed: its framing is gone
    assert server.received == b""


def test_jitter_is_drawn_from_the_seeded_rng():
    d = Delay(100, 50)
    first = [d.sample_s(random.Random(3)) for _ in range(5)]
    assert first == [d.sample_s(random.Random(3)) for _ in range(5)]
    assert all(0.05 <= s <= 0.15 for s in [d.sample_s(random.Random(i)) for i in range(50)])
    assert not Delay() and Delay(0, 1) and NO_DELAY.sample_s(random.Random()) == 0
