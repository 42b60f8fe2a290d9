"""Invariant 4 of ARCHITECTURE.md for the crdt policy, as a generated program: a CRDT's entry for
a region only grows, and only that region's own writes grow it, whatever georep writes, plain
AWS client writes (changes, removals, values that cannot merge), deletes (georep's and plain)
and merges (in any order, replayed) do to an item. Three replicas hold real versions (metadata
included) and merge them with the real policy, as the replicators would.

Also checked: the bounded counter never reads below zero anywhere, and after every version has
reached every replica they all hold the same item.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from georep.core.crdt import ItemState
from georep.core.crdt_policy import CRDTs, apply_ops, values_of
from georep.core.hlc import HybridClock
from georep.core.meta import Version, stamp
from georep.core.records import stamp_plain

from ..support.crdt_adapters import ACTORS, assert_only_grew, assert_owned, entries

TYPES = {"balance": "bcounter", "visits": "pncounter", "tags": "orset", "status": "mvregister"}
POLICY = CRDTs(TYPES)
KEY = {"id": {"S": "k"}}

BOUNDED = (
    settings(max_examples=100, deadline=None, stateful_step_count=30)
    if settings.get_current_profile_name() in ("default", "bounded")
    else settings(deadline=None)
)

replica = st.integers(0, len(ACTORS) - 1)
amount = st.integers(1, 4)
ops = st.lists(
    st.tuples(st.just("balance"), st.sampled_from(["+=", "-="]), amount)
    | st.tuples(st.just("balance"), st.just("rights"),
                st.tuples(st.sampled_from(ACTORS), amount))
    | st.tuples(st.just("visits"), st.sampled_from(["+=", "-="]), amount)
    | st.tuples(st.just("tags"), st.sampled_from(["+=", "-="]), st.sampled_from(["a", "b"]))
    | st.tuples(st.just("status"), st.just("="), st.sampled_from(["x", "y"]))
    | st.tuples(st.sampled_from(["name", "note"]), st.just("="), st.sampled_from(["p", "q"])),
    min_size=1, max_size=3)
# what a plain client does to one attribute: set a value (a register's, or a counter's, which is
# refused), or remove the attribute
plain_changes = st.dictionaries(
    st.sampled_from(["name", "note", "balance", "visits", "tags"]),
    st.none() | st.sampled_from([{"S": "p"}, {"S": "z"}, {"N": "99"}, {"N": "1.5"}]),
    min_size=1, max_size=3)


class Items(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store: list[Version | None] = [None] * len(ACTORS)
        self.entries: list[dict] = [{} for _ in ACTORS]
        self.clocks = [HybridClock() for _ in ACTORS]
        self.now = 1_000_000
        self.seq = 0

    def _state(self, i: int) -> ItemState:
        v = self.store[i]
        return POLICY.state(v)[0] if v is not None else ItemState.new()

    def _georep(self, i: int, change) -> None:
        base = self.store[i]
        self.now += 3
        seen = base.meta.timestamp if base is not None else None
        ts = (self.clocks[i].observe(seen, self.now) if seen is not None
              else self.clocks[i].now(self.now))
        try:
            state = change(self._state(i), ts.pack())
        except ValueError:
            return  # refused (insufficient rights): nothing written
        attrs = values_of(state, KEY)
        v = stamp(attrs, base.meta if base else None, origin=ACTORS[i], ts=ts,
                  tombstone=not state.exists())
        self.store[i] = Version(attrs, replace(v.meta, crdt=state.encode()))

    @rule(i=replica, chosen=ops)
    def georep_write(self, i: int, chosen) -> None:
        self._georep(i, lambda s, ts: apply_ops(s, chosen, actor=ACTORS[i], ts=ts, types=TYPES))

    @rule(i=replica)
    def georep_delete(self, i: int) -> None:
        self._georep(i, lambda s, ts: s.delete(ACTORS[i], ts))

    def _plain(self, i: int, attrs, tombstone: bool = False) -> None:
        base = self.store[i]
        self.now += 3
        self.seq += 1
        # stamped from its record, then written back: the region's item is that version
        self.store[i] = stamp_plain(attrs, base.meta if base else None, origin=ACTORS[i],
                                    record_ms=self.now, seq=self.seq, tombstone=tombstone,
                                    crdt=True)

    @rule(i=replica, changes=plain_changes)
    def plain_write(self, i: int, changes) -> None:
        base = self.store[i]
        attrs = dict(base.attrs) if base is not None and not base.meta.tombstone else dict(KEY)
        for attr, av in changes.items():
            if av is None:
                attrs.pop(attr, None)
            else:
                attrs[attr] = av
        self._plain(i, attrs)

    @precondition(lambda self: any(v is not None for v in self.store))
    @rule(i=replica)
    def plain_delete(self, i: int) -> None:
        if self.store[i] is not None and not self.store[i].meta.tombstone:
            self._plain(i, dict(KEY), tombstone=True)

    @rule(src=replica, dst=replica, replay=st.booleans())
    def replicate(self, src: int, dst: int, replay: bool) -> None:
        incoming = self.store[src]
        if src == dst or incoming is None:
            return
        for _ in range(2 if replay else 1):
            m = POLICY.merge(self.store[dst], incoming)
            if m.write is not None:
                self.store[dst] = m.write

    @invariant()
    def entries_only_grow_and_only_their_region_grows_them(self) -> None:
        states = [self._state(i) for i in range(len(ACTORS))]
        # An LWW register's clearing stamp is not a region's entry, and a chain of plain writes
        # records only each attribute's latest change: an older clearing stamp, below that
        # change's and so hidden by it, may be missing from the chain's own state (the merge of
        # any two regions' states restores it). Every other entry, and each stamp, only grows.
        now = [{k: n for k, n in entries(s).items() if k[-1] != "cleared"} for s in states]
        for before, after in zip(self.entries, now, strict=True):
            assert_only_grew(before, after)
        assert_owned(states)
        self.entries = now

    @invariant()
    def the_bounded_counter_never_reads_below_zero(self) -> None:
        for i in range(len(ACTORS)):
            balance = self._state(i).get("balance")
            if balance is not None:
                assert balance.value() >= 0
                assert all(balance.rights(a) >= 0 for a in ACTORS)

    def teardown(self) -> None:
        for _ in range(2):
            for src in range(len(ACTORS)):
                for dst in range(len(ACTORS)):
                    self.replicate(src, dst, replay=False)
        written = [v for v in self.store if v is not None]
        if written:
            first = written[0]
            for v in self.store:
                assert v is not None and v.attrs == first.attrs
                assert v.meta.tombstone == first.meta.tombstone
                assert POLICY.state(v)[0] == POLICY.state(first)[0]
        self.entries_only_grow_and_only_their_region_grows_them()


Items.TestCase.settings = BOUNDED
TestItems = Items.TestCase
