"""The run's plan (georep.core.plan): the same seed gives the same operations and faults."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from georep.core.plan import NEMESES, WORKLOADS, make_plan

REGIONS = ["us-east", "eu-west", "ap-south"]
LINKS = [(a, b) for a in REGIONS for b in REGIONS if a != b]


def plan(**kw):
    args = {"seed": 7, "workload": "register", "nemeses": ["partition"], "regions": REGIONS[:2],
            "links": LINKS[:1] + LINKS[2:3], "duration": 20.0, "rate": 10.0, "concurrency": 4}
    args.update(kw)
    return make_plan(**args)


def dump(p) -> str:
    return json.dumps(p.to_dict(), sort_keys=True)


@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(WORKLOADS)),
       st.lists(st.sampled_from(sorted(NEMESES)), min_size=1, max_size=4))
def test_the_same_options_give_the_same_plan_byte_for_byte(seed, workload, nemeses):
    a = plan(seed=seed, workload=workload, nemeses=nemeses, regions=REGIONS, links=LINKS)
    b = plan(seed=seed, workload=workload, nemeses=nemeses, regions=REGIONS, links=LINKS)
    assert dump(a) == dump(b)


def test_another_seed_gives_another_plan():
    assert dump(plan(seed=7)) != dump(plan(seed=8))


def test_adding_a_nemesis_changes_no_client_operation():
    assert plan(nemeses=["partition"]).ops == plan(nemeses=["partition", "kill", "skew"]).ops


def test_adding_a_nemesis_of_another_family_leaves_the_partitions_alone():
    alone = [w for w in plan(nemeses=["partition"]).faults]
    mixed = [w for w in plan(nemeses=["partition", "kill"]).faults if w.kind == "partition"]
    assert alone == mixed


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_every_operation_is_planned_within_the_run_at_about_the_rate(workload):
    p = plan(workload=workload, duration=30.0, rate=10.0)
    assert all(0 < op.at < 30.0 for op in p.ops)
    assert 200 < len(p.ops) < 400  # 300 expected (a Poisson process per client)
    assert [op.at for op in p.ops] == sorted(op.at for op in p.ops)


def test_register_values_are_unique_so_a_value_names_its_write():
    values = [op.value["value"] for op in plan(duration=60).ops if op.f == "write"]
    assert len(values) == len(set(values)) > 100


def test_windows_of_one_family_never_overlap_and_end_within_the_run():
    p = plan(nemeses=["partition", "one-way", "isolate", "flap", "latency"], duration=60,
             regions=REGIONS, links=LINKS)
    net = sorted((w for w in p.faults), key=lambda w: w.start)
    assert len(net) >= 3 and {w.kind for w in net} <= set(NEMESES)
    for before, after in itertools.pairwise(net):
        assert before.stop <= after.start
    assert all(0 < w.start < w.stop <= 60 for w in net)


def test_faults_name_real_regions_and_links():
    p = plan(nemeses=list(NEMESES), duration=120, regions=REGIONS, links=LINKS)
    for w in p.faults:
        for field in ("a", "b", "region"):
            if field in w.target:
                assert w.target[field] in REGIONS
        if "src" in w.target:
            assert (w.target["src"], w.target["dst"]) in LINKS


def test_orders_retry_in_another_region_and_some_replies_are_lost():
    ops = plan(workload="orders", duration=60).ops
    retried = [op for op in ops if op.retry is not None]
    assert retried and all(op.retry != op.region for op in retried)
    assert any(op.lose_reply for op in retried)
    assert not any(op.lose_reply for op in ops if op.retry is None)


@pytest.mark.parametrize(("kw", "message"), [
    ({"workload": "queue"}, "unknown workload 'queue'"),
    ({"nemeses": ["meteor"]}, "unknown nemesis 'meteor'"),
    ({"regions": ["us-east"]}, "at least two regions"),
    ({"rate": 0}, "must be positive"),
    ({"rate": 1e7}, "about 200000000 operations"),  # would take minutes and gigabytes to draw
    ({"duration": 1e9, "rate": 1e-6}, "at most 86400 s"),  # as many fault windows
])
def test_bad_options_are_one_line_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        plan(**kw)
