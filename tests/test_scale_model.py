"""The scale model's arithmetic (bench/scale_model.py), on cases small enough to work out by hand.
The model is a design tool, not a benchmark: these check that it counts what it claims to."""
from __future__ import annotations

from bench import ru
from bench.scale_model import Params, percentile, simulate


def lone(design: str, **changes) -> dict:
    """One request at a time: no contention, so every figure follows from the parameters."""
    return simulate(design, Params(instances=1, rate=0.5, seconds=20, latency_ms=5, write_ms=1,
                                   **changes))


def test_a_lone_request_today_makes_eight_round_trips_to_admit_and_none_conflicts():
    got = lone("today")
    # budget read; RPM read+replace; TPM read+replace; previous bucket read; conc read+replace:
    # 8 round trips of 5 ms, and 3 writes each holding its document 1 ms.
    assert got["admission_p50_ms"] == 43.0
    assert got["conflicts_per_request"] == 0 and got["failed"] == 0
    assert got["ops_per_request"] == 14          # and 3 read+replace at release


def test_a_lone_request_after_makes_one_round_trip_to_admit_and_one_to_release():
    got = lone("after")
    assert got["admission_p50_ms"] == 6.0        # one round trip and its write
    assert got["ops_per_request"] == 2
    assert got["ru_per_request"] == 2 * ru.op_ru("patch_item", 300, 300, indexed=False)


def test_writes_to_one_document_are_serialized():
    # 2,000 patches/s asked of one document that takes 1 ms per write: it serves 1,000/s, so
    # admissions queue up behind the releases and the tail grows far beyond a round trip.
    got = simulate("after", Params(rate=1000, projects=1, seconds=3, write_ms=1))
    assert got["admission_p99_ms"] > 100
    spread = simulate("after", Params(rate=1000, projects=1000, seconds=3, write_ms=1))
    assert spread["admission_p99_ms"] < 50


def test_racing_read_replace_cycles_conflict_and_patches_do_not():
    p = dict(instances=50, rate=100, projects=1, seconds=2, partition_ru=1e9)
    assert simulate("today", Params(**p))["conflicts_per_request"] > 1
    assert simulate("after", Params(**p))["conflicts_per_request"] == 0


def test_percentile():
    assert percentile([], 99) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(map(float, range(101))), 99) == 99.0


def test_approximate_limits_cost_one_push_per_instance_and_second_whatever_the_rate():
    for rate in (100, 1000):
        got = simulate("approx", Params(instances=10, rate=rate, projects=1, seconds=4))
        assert got["admission_p99_ms"] == 0 and got["conflicts_per_request"] == 0
        # 10 instances, each busy every second: ~10 patches a second of 5 RU each.
        assert 40 <= got["ru_per_s"] <= 55
