"""Erlang B/C against textbook values and the direct (factorial) formula."""

from __future__ import annotations

import math

import pytest

from cherga.server.core.erlang import counters_needed, erlang_b, erlang_c, mean_wait_s, wait_within_share


def _erlang_c_direct(c: int, a: float) -> float:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_b_matches_textbook_values() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_b(5, 3.0) == pytest.approx(0.1101, abs=1e-4)
    assert erlang_b(10, 5.0) == pytest.approx(0.01838, abs=1e-5)


def test_two_counters_half_busy_make_a_third_of_visitors_wait() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


@pytest.mark.parametrize(("c", "a"), [(1, 0.5), (3, 2.2), (10, 8.0), (25, 21.5), (40, 30.0)])
def test_erlang_c_agrees_with_the_factorial_formula(c: int, a: float) -> None:
    assert erlang_c(c, a) == pytest.approx(_erlang_c_direct(c, a), rel=1e-9)


def test_ten_counters_at_eight_erlangs_is_the_classic_call_centre_case() -> None:
    assert erlang_c(10, 8.0) == pytest.approx(0.4092, abs=1e-3)


def test_single_counter_mean_wait_is_the_mm1_formula() -> None:
    lam, s = 1 / 600, 300.0  # rho = 0.5
    rho = lam * s
    assert mean_wait_s(1, lam, s) == pytest.approx(rho / (1 - rho) * s)


def test_an_overloaded_queue_has_no_finite_wait_and_nobody_is_on_time() -> None:
    assert erlang_c(3, 3.0) == 1.0
    assert mean_wait_s(3, 3 / 600, 600) == math.inf
    assert wait_within_share(3, 4 / 600, 600, 900) == 0.0


def test_counters_needed_is_the_smallest_count_meeting_the_target() -> None:
    lam, s = 60 / 3600, 600.0  # 60 visitors an hour, 10 minutes each: 10 Erlangs
    n = counters_needed(lam, s, target_wait_s=900, target_share=0.95)
    assert wait_within_share(n, lam, s, 900) >= 0.95
    assert wait_within_share(n - 1, lam, s, 900) < 0.95
    assert n > 10
    assert counters_needed(0.0, s, target_wait_s=900, target_share=0.95) == 0
