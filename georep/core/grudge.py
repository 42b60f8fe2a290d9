"""Partitions as data: a grudge is the set of directed byte flows the network drops.

Place in the data flow: the fault mechanism (:mod:`georep.engine.faults`) holds a grudge and
turns it into the link proxies' settings with :func:`proxy_drops`, the one place that knows
which proxy direction carries which byte flow. The pure builders here (:func:`partition`,
:func:`one_way`, :func:`isolate`, :func:`halves`, :func:`heal`) make grudges; ``|`` combines them.

A flow ``(x, y)`` is "the bytes region x sends to region y". The proxy on link ``src>dst``
carries two flows: src's requests to dst (``(src, dst)``) and dst's responses back
(``(dst, src)``). So a one-way cut of the flow A→B drops A's requests on the A>B link and A's
responses on the B>A link, while B's requests still reach A (ARCHITECTURE.md, one-way cuts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

Flow = tuple[str, str]  # (x, y): the bytes x sends to y
FORMAT = 1  # to_dict's version tag


@dataclass(frozen=True)
class Grudge:
    """The byte flows that are dropped. Immutable; the empty grudge cuts nothing."""

    flows: frozenset[Flow] = frozenset()

    def __post_init__(self) -> None:
        flows = frozenset(tuple(flow) for flow in self.flows)
        for flow in flows:
            if len(flow) != 2 or flow[0] == flow[1]:
                raise ValueError(f"a flow joins two different regions, not {flow!r:.80}")
        object.__setattr__(self, "flows", flows)

    def __or__(self, other: Grudge) -> Grudge:
        return Grudge(self.flows | other.flows)

    def __bool__(self) -> bool:
        return bool(self.flows)

    def cuts(self, x: str, y: str) -> bool:
        """Whether the bytes ``x`` sends to ``y`` are dropped."""
        return (x, y) in self.flows

    @property
    def regions(self) -> frozenset[str]:
        """Every region on either end of a dropped flow."""
        return frozenset(r for flow in self.flows for r in flow)

    def dropped_by(self, region: str) -> frozenset[str]:
        """The regions whose bytes ``region`` never receives (Jepsen's grudge, per node)."""
        return frozenset(x for x, y in self.flows if y == region)

    def without(self, a: str, b: str) -> Grudge:
        """This grudge with every cut between ``a`` and ``b`` lifted (both directions)."""
        return Grudge(self.flows - {(a, b), (b, a)})

    def pairs(self) -> list[tuple[str, str]]:
        """The unordered pairs of regions with a cut between them, sorted."""
        return sorted({tuple(sorted(flow)) for flow in self.flows})

    def describe(self) -> str:
        """``"a ↔ b, c → a"``: ``↔`` both directions cut, ``→`` only the bytes c sends to a."""
        parts = []
        for a, b in self.pairs():
            there, back = self.cuts(a, b), self.cuts(b, a)
            parts.append(f"{a} ↔ {b}" if there and back else
                         f"{a} → {b}" if there else f"{b} → {a}")
        return ", ".join(parts) if parts else "no cuts"

    __str__ = describe

    def to_dict(self) -> dict[str, Any]:
        return {"v": FORMAT, "flows": [list(flow) for flow in sorted(self.flows)]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grudge:
        """The grudge :meth:`to_dict` wrote; ValueError with one line if it is not one."""
        if not isinstance(data, Mapping) or data.get("v") != FORMAT:
            raise ValueError(f"not a grudge of format {FORMAT}: {data!r:.80}")
        flows = data.get("flows")
        if not isinstance(flows, list):
            raise ValueError("a grudge's 'flows' must be a list of [from, to] pairs")
        out = set()
        for flow in flows:
            if (not isinstance(flow, list) or len(flow) != 2
                    or not all(isinstance(r, str) and r for r in flow)):
                raise ValueError(f"a flow is a pair of region names, not {flow!r:.80}")
            out.add((flow[0], flow[1]))
        return cls(frozenset(out))


# -- builders ------------------------------------------------------------------------------------

def heal() -> Grudge:
    """The empty grudge: nothing cut."""
    return Grudge()


def one_way(a: str, b: str) -> Grudge:
    """Drop only the bytes ``a`` sends to ``b``."""
    return Grudge(frozenset({(a, b)}))


def partition(a: str, b: str) -> Grudge:
    """Cut ``a`` and ``b`` apart, both directions."""
    return one_way(a, b) | one_way(b, a)


def between(group: Iterable[str], other: Iterable[str]) -> Grudge:
    """Cut every region of ``group`` from every region of ``other``, both directions."""
    other = list(other)
    return Grudge(frozenset((x, y) for a in group for b in other if a != b
                            for x, y in ((a, b), (b, a))))


def isolate(region: str, regions: Iterable[str]) -> Grudge:
    """Cut ``region`` from every other region of ``regions``."""
    return between([region], [r for r in regions if r != region])


def halves(regions: Sequence[str], *, first: int | None = None,
           group: Iterable[str] | None = None) -> Grudge:
    """Split ``regions`` in two groups cut from each other.

    The groups are ``group`` and the rest if ``group`` is given; else the first ``first``
    regions in the order given and the rest (``first`` defaults to half, rounded down).
    Both groups must hold at least one region.
    """
    regions = list(dict.fromkeys(regions))
    if group is not None:
        if first is not None:
            raise ValueError("halves takes first or group, not both")
        chosen = set(group)
        unknown = chosen - set(regions)
        if unknown:
            raise ValueError(f"the group names regions not in the lab: {sorted(unknown)}")
        left = [r for r in regions if r in chosen]
    else:
        k = len(regions) // 2 if first is None else first
        left = regions[:k] if k >= 0 else []
    right = [r for r in regions if r not in left]
    if not left or not right:
        raise ValueError(f"halves needs two groups of at least one region each, not "
                         f"{left} and {right}")
    return between(left, right)


# -- the translation to link proxies: the one place that knows one-way cuts ---------------------

class ProxyDrops(NamedTuple):
    """What the proxy on one link drops: its source's requests, its destination's responses."""

    requests: bool
    responses: bool


def link_flows(src: str, dst: str) -> tuple[Flow, Flow]:
    """The byte flows the proxy on link ``src>dst`` carries: (its requests, its responses)."""
    return (src, dst), (dst, src)


def proxy_drops(grudge: Grudge, src: str, dst: str) -> ProxyDrops:
    """The proxy on ``src>dst`` drops requests iff the bytes src sends to dst are dropped, and
    responses iff the bytes dst sends to src are."""
    requests, responses = link_flows(src, dst)
    return ProxyDrops(grudge.cuts(*requests), grudge.cuts(*responses))
