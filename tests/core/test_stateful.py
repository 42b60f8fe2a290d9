"""A generated program of writes, partitions, heals and deliveries over three replicas, for
each policy (Hypothesis RuleBasedStateMachine). The replicas run the real policies and the real
metadata in memory; the network is a set of per-link queues that a partition stops.

Invariant after heal and quiescence: every replica holds the same version, and no write
vanished silently: each was seen by a later write, survives, or is named in the conflict feed.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from georep.core.crdt import CRDTMap
from georep.core.crdt_policy import CRDTs, apply_ops, values_of
from georep.core.hlc import HybridClock
from georep.core.meta import Version, stamp
from georep.core.policies import policy_named

REGIONS = ("a", "b", "c")
KEY = {"id": {"S": "k"}}
regions = st.sampled_from(REGIONS)


class Replicas(RuleBasedStateMachine):
    policy_name = "lww"

    def __init__(self) -> None:
        super().__init__()
        options = {"types": {"n": "pncounter"}} if self.policy_name == "crdt" else {}
        self.policy = policy_named(self.policy_name, **options)
        self.store: dict[str, Version | None] = {r: None for r in REGIONS}
        self.queues = {(s, d): [] for s in REGIONS for d in REGIONS if s != d}
        self.cut: set[tuple[str, str]] = set()
        self.clocks = {r: HybridClock() for r in REGIONS}
        self.now = 1_000_000
        self.writes: list[Version] = []
        self.increments = 0
        self.feed = []
        self.quiesced = 0

    def _write(self, region: str, value: int) -> Version:
        base = self.store[region]
        self.now += 7
        ts = (self.clocks[region].observe(base.meta.timestamp, self.now) if base
              else self.clocks[region].now(self.now))
        if self.policy_name == "crdt":
            state = CRDTs(types={"n": "pncounter"}).state(base)[0] if base else CRDTMap.new()
            state = apply_ops(state, [("n", "+=", 1), ("v", "=", value)], actor=region,
                              ts=ts.pack(), types={"n": "pncounter"})
            attrs = values_of(state, KEY)
            v = stamp(attrs, base.meta if base else None, origin=region, ts=ts)
            from dataclasses import replace

            return Version(attrs, replace(v.meta, crdt=state.encode()))
        return stamp({**KEY, "v": {"N": str(value)}}, base.meta if base else None,
                     origin=region, ts=ts)

    @rule(region=regions, value=st.integers(0, 99))
    def write(self, region, value):
        v = self._write(region, value)
        self.store[region] = v
        self.writes.append(v)
        self.increments += 1
        for link in self.queues:
            if link[0] == region:
                self.queues[link].append(v)

    @rule(a=regions, b=regions)
    def partition(self, a, b):
        if a != b:
            self.cut |= {(a, b), (b, a)}

    @rule()
    def heal(self):
        self.cut.clear()

    def _deliver(self, link, v) -> None:
        m = self.policy.merge(self.store[link[1]], v)
        if m.write is not None:
            self.store[link[1]] = m.write
        if m.conflict is not None:
            self.feed.append(m.conflict)

    @rule(src=regions, dst=regions, replay=st.booleans())
    def replicate(self, src, dst, replay):
        link = (src, dst)
        if src == dst or link in self.cut or not self.queues[link]:
            return
        v = self.queues[link].pop(0)
        self._deliver(link, v)
        if replay:  # at-least-once: the same version again must change nothing
            before = self.store[dst]
            self._deliver(link, v)
            assert self.store[dst] == before

    @rule(data=st.data())
    def heal_and_quiesce(self, data):
        """Heal, then deliver everything in a random order (with a replay now and then)."""
        self.cut.clear()
        while any(self.queues.values()):
            link = data.draw(st.sampled_from(sorted(k for k, q in self.queues.items() if q)))
            self.replicate(*link, replay=data.draw(st.booleans()))
        self.quiesced += 1

    @invariant()
    def after_heal_and_quiescence_all_agree_and_nothing_vanished(self):
        if self.cut or any(self.queues.values()):
            return
        stores = {r: self.store[r] for r in REGIONS}
        written = [s for s in stores.values() if s is not None]
        if not written:
            return
        first = written[0]
        assert all(s is not None and s.attrs == first.attrs and s.meta.vv == first.meta.vv
                   for s in stores.values()), stores
        if self.policy_name == "crdt":
            assert first.attrs["n"] == {"N": str(self.increments)}  # no increment lost
            return
        survivors = {(s.dot, s.origin) for s in first.siblings()}
        named = {(v.meta.dot, v.meta.origin) for c in self.feed for v in c.losers}
        for w in self.writes:
            ident = (w.meta.dot, w.meta.origin)
            seen = any(o is not w and o.meta.vv.get(w.meta.origin, (0, 0)) >= w.meta.dot
                       for o in self.writes)
            assert seen or ident in survivors or ident in named, f"{ident} vanished"


class LWWReplicas(Replicas):
    policy_name = "lww"


class VClockReplicas(Replicas):
    policy_name = "vclock"


class CRDTReplicas(Replicas):
    policy_name = "crdt"


SETTINGS = settings(stateful_step_count=40, deadline=None)
TestLWW = LWWReplicas.TestCase
TestLWW.settings = SETTINGS
TestVClock = VClockReplicas.TestCase
TestVClock.settings = SETTINGS
TestCRDT = CRDTReplicas.TestCase
TestCRDT.settings = SETTINGS
