"""The bench's arithmetic (``scripts/benchmark.py``): sign-ins are reported against the
argon2id floor by their steady-state rate, each round against the floors right before and
after it. Synthetic timestamps and results, no server: what is checked is the counting."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "benchmark", Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py")
benchmark = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(benchmark)


def test_the_steady_rate_counts_only_the_steps_that_ended_inside_the_window():
    # Two steps during the warm-up, four inside [1, 11], three finishing after the end.
    ends = [0.4, 0.9, 1.0, 3.5, 7.2, 11.0, 11.3, 11.6, 12.0]
    assert benchmark.steady_rate(ends, window_from=1.0, stop_at=11.0) == pytest.approx(4 / 10)


def _floor(rps: float, cpu_ms: float) -> dict:
    return {"requests": 10, "rps": rps, "p50_ms": 1.0, "p99_ms": 1.0, "non_2xx": 0, "errors": 0,
            "server_cpu_ms": cpu_ms}


def _signins(rps: float, whole: float, cpu_ms: float) -> dict:
    return {**_floor(rps, cpu_ms), "rps_whole_run": whole, "database_cpu_ms": 0.0}


def test_each_round_is_divided_by_the_floors_around_it_and_the_run_reports_their_means():
    floors = iter([_floor(10.0, 100.0), _floor(8.0, 120.0), _floor(10.0, 100.0)])
    rounds = iter([_signins(8.1, 7.2, 120.0), _signins(8.1, 8.1, 125.0)])
    result = benchmark.signin_rounds(2, lambda: next(floors), lambda: next(rounds))
    signin = result["complete sign-in"]
    # Round 1 against (10 + 8) / 2, round 2 against (8 + 10) / 2: both floors 9/s, 110 ms.
    assert [r["of_argon2_floor"] for r in signin["rounds"]] == pytest.approx([0.9, 0.9])
    assert [r["of_argon2_floor_whole_run"] for r in signin["rounds"]] == pytest.approx([0.8, 0.9])
    assert [r["of_argon2_floor_cpu"] for r in signin["rounds"]] == pytest.approx([110 / 120, 110 / 125])
    # The run's figures are the rounds' means, not the first round's.
    assert signin["of_argon2_floor"] == pytest.approx(0.9)
    assert signin["of_argon2_floor_whole_run"] == pytest.approx(0.85)
    assert signin["of_argon2_floor_cpu"] == pytest.approx((110 / 120 + 110 / 125) / 2)
