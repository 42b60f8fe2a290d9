"""The analysis series (georep.analysis.series) on hand-made events: divergence under each
policy, DLQ depth, breaker states, time to converge after a heal, the phase of a write."""

from __future__ import annotations

from georep.core.divergence import (
    breaker_series,
    convergence_times,
    divergence_series,
    dlq_depth_series,
    phase_of,
)

T0 = 100.0
R = ["a", "b"]


def write(t, region, key, hlc):
    return {"time": T0 + t, "kind": "write", "region": region, "table": "t", "key": key,
            "hlc": hlc}


def apply(t, src, dst, key, hlc, kind="apply"):
    return {"time": T0 + t, "kind": kind, "link": f"{src}>{dst}", "table": "t",
            "key": {"id": key}, "hlc": hlc}


def concurrent_writes_crossing_one_way_then_the_other():
    """a writes 10, b writes 11 (concurrently); 11 reaches a at t=3, 10 reaches b at t=5."""
    return [write(1, "a", "k", 10), write(2, "b", "k", 11),
            apply(3, "b", "a", "k", 11), apply(5, "a", "b", "k", 10, kind="suppress")]


def test_lww_regions_are_alike_once_the_newest_write_is_everywhere():
    events = concurrent_writes_crossing_one_way_then_the_other()
    assert divergence_series(events, R, T0, "lww") == [(1, 1), (3, 0)]


def test_vclock_and_crdt_regions_are_alike_only_when_both_sides_writes_crossed():
    events = concurrent_writes_crossing_one_way_then_the_other()
    for policy in ("vclock", "crdt"):
        assert divergence_series(events, R, T0, policy) == [(1, 1), (5, 0)]


def test_a_later_write_carries_what_its_region_had_seen():
    """a writes 10 then 12 (12 has seen 10); only 12 is delivered (10 was superseded in the
    batch): b has seen both through 12."""
    events = [write(1, "a", "k", 10), write(2, "a", "k", 12), apply(3, "a", "b", "k", 12)]
    assert divergence_series(events, R, T0, "vclock") == [(1, 1), (3, 0)]


def test_a_version_never_delivered_keeps_the_key_divergent_and_a_repair_ends_it():
    events = [write(1, "a", "k", 10), write(2, "b", "k", 11), apply(3, "b", "a", "k", 11)]
    assert divergence_series(events, R, T0, "vclock") == [(1, 1)]
    repaired = [*events, {"time": T0 + 6, "kind": "reconcile-repair", "table": "t",
                          "region": "b", "key": {"id": "k"}, "hlc": 11}]
    assert divergence_series(repaired, R, T0, "vclock") == [(1, 1), (6, 0)]


def test_a_plain_write_counts_from_its_stamp():
    events = [{"time": T0 + 1, "kind": "write", "op": "plain-put", "region": "a",
               "table": "t", "key": "k", "hlc": None},
              {"time": T0 + 2, "kind": "stamp", "link": "a>b", "region": "a", "table": "t",
               "key": {"id": "k"}, "hlc": 7},
              apply(3, "a", "b", "k", 7)]
    assert divergence_series(events, R, T0, "lww") == [(1, 1), (3, 0)]


def test_dlq_depth_rises_per_dead_letter_and_falls_by_what_a_redrive_removed():
    events = [{"time": T0 + t, "kind": "dlq", "link": "a>b"} for t in (1, 2, 3)]
    events += [{"time": T0 + 4, "kind": "redrive", "link": "a>b", "removed": 2},
               {"time": T0 + 5, "kind": "dlq", "link": "b>a"},
               {"time": T0 + 6, "kind": "redrive", "link": "a>b", "delivered": 1,
                "suppressed": 0},  # a log from before `removed`
               {"time": T0 + 7, "kind": "dlq-purge", "link": "b>a", "removed": 1}]
    assert dlq_depth_series(events, T0) == [(1, "a>b", 1), (2, "a>b", 2), (3, "a>b", 3),
                                            (4, "a>b", 1), (5, "b>a", 1), (6, "a>b", 0),
                                            (7, "b>a", 0)]


def test_breaker_series_lists_each_transition():
    events = [{"time": T0 + 1, "kind": "breaker", "link": "a>b", "old": "closed",
               "new": "open"},
              {"time": T0 + 4, "kind": "breaker", "link": "a>b", "old": "open",
               "new": "half-open"}]
    assert breaker_series(events, T0) == [(1, "a>b", "open"), (4, "a>b", "half-open")]


def test_time_to_converge_after_each_heal():
    series = [(1.0, 2), (4.0, 1), (6.0, 0), (8.0, 1)]
    # heal at 3: zero at 6 (3 s); heal at 7: nothing divergent then (0 s);
    # heal at 9: still 1 when the series ends (None); heal at 5 with a fault at 5.5: None
    assert convergence_times(series, [3.0, 7.0, 9.0], []) == [(3.0, 3.0), (7.0, 0.0),
                                                               (9.0, None)]
    assert convergence_times(series, [5.0], [5.5]) == [(5.0, None)]


def test_phase_of_a_write():
    cuts = [(2.0, 4.0), (6.0, 8.0)]
    assert [phase_of(t, cuts) for t in (1, 2, 5, 7, 9)] == ["before", "during", "after",
                                                            "during", "after"]
    assert phase_of(5, []) == "before"


def test_two_regions_writing_one_hlc_made_two_versions():
    """A version is its HLC *and* its origin (georep ranks by HLC, tie, origin): a and b both
    write HLC 10 (two clocks on the same millisecond, or a skewed one), each holds only its
    own until the other's crosses."""
    events = [write(1, "a", "k", 10), write(2, "b", "k", 10), apply(3, "b", "a", "k", 10),
              apply(5, "a", "b", "k", 10)]
    assert divergence_series(events, R, T0, "lww") == [(1, 1), (3, 0)]  # (10, b) wins
    for policy in ("vclock", "crdt"):
        assert divergence_series(events, R, T0, policy) == [(1, 1), (5, 0)]


def test_a_repair_brings_the_version_of_its_hlc_that_wins():
    events = [write(1, "a", "k", 10), write(2, "b", "k", 10),
              {"time": T0 + 4, "kind": "reconcile-repair", "table": "t", "region": "a",
               "key": {"id": "k"}, "hlc": 10}]
    assert divergence_series(events, R, T0, "lww") == [(1, 1), (4, 0)]


def plain_write(t, region, key):
    return {"time": T0 + t, "kind": "write", "op": "plain-put", "region": region, "table": "t",
            "key": key, "hlc": None}


def read(t, src, dst, *keys):
    return {"time": T0 + t, "kind": "read", "link": f"{src}>{dst}", "table": "t",
            "records": len(keys), "keys": [{"id": k} for k in keys]}


def stamp(t, src, dst, key, hlc):
    return {"time": T0 + t, "kind": "stamp", "link": f"{src}>{dst}", "region": src,
            "table": "t", "key": {"id": key}, "hlc": hlc, "on": "store"}


def test_a_stamp_carries_what_its_region_held_at_the_plain_write_not_at_the_stamp():
    """a's plain write is read by the link a>b, then a moves on (a put, 12), then the link
    stamps the plain write (7): 7 has not seen 12, so b, given 7 alone, still lacks 12. A
    second link's stamp of the same write (three regions: one per outgoing link) does not
    change what 7 had seen."""
    events = [plain_write(1, "a", "k"), read(1.5, "a", "b", "k"), write(2, "a", "k", 12),
              stamp(3, "a", "b", "k", 7), apply(4, "a", "b", "k", 7), apply(6, "a", "b", "k", 12)]
    for policy in ("lww", "vclock"):
        assert divergence_series(events, R, T0, policy) == [(1, 1), (6, 0)], policy
    three = ["a", "b", "c"]
    events = [plain_write(1, "a", "k"), read(1.5, "a", "b", "k"), read(1.6, "a", "c", "k"),
              stamp(2, "a", "b", "k", 7), write(3, "a", "k", 12), stamp(4, "a", "c", "k", 7),
              apply(5, "a", "b", "k", 7), apply(6, "a", "c", "k", 7),
              apply(7, "a", "b", "k", 12), apply(8, "a", "c", "k", 12)]
    assert divergence_series(events, three, T0, "vclock") == [(1, 1), (8, 0)]


def test_a_batch_stamps_the_last_of_its_plain_writes_of_a_key():
    """Two plain writes of k in one batch: the replicator stamps the second only (it has seen
    the first); given it, b has seen both."""
    events = [plain_write(1, "a", "k"), plain_write(2, "a", "k"), read(3, "a", "b", "k", "k"),
              stamp(3, "a", "b", "k", 7), apply(4, "a", "b", "k", 7)]
    for policy in ("lww", "vclock"):
        assert divergence_series(events, R, T0, policy) == [(1, 1), (4, 0)], policy


def test_dlq_depth_is_not_clamped_a_log_missing_dead_letters_shows_negative():
    events = [{"time": T0 + 1, "kind": "dlq", "link": "a>b"},
              {"time": T0 + 2, "kind": "redrive", "link": "a>b", "removed": 3}]
    assert dlq_depth_series(events, T0) == [(1, "a>b", 1), (2, "a>b", -2)]
