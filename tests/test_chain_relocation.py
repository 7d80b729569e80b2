"""The arc relocation of arc chains (fastfit.fitting._arcs.arc_relocation): the map
checked in closed form, which circuits and fixed parameters get it, and three-arc and
two-arc + CPE-tail spectra whose default fit without it ends with an arc elsewhere
(issue 16)."""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
import fastfit.fitting._driver as driver
from fastfit.fitting._arcs import (CHAIN_ARC_N, CHAIN_ARC_PLACE, MIN_CHAIN_ARCS,
                                   MIN_CHAIN_TERMS, RUNAWAY_R, arc_relocation,
                                   chain_relocations)
from trap_spectra import assert_trap_ab, stored_traps

THREE_ARCS = "L0-R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)"


def test_an_arc_is_put_at_each_place_with_its_resistance_kept():
    """Columns R, Q, n, then the other DC resistances.  Every row gets, for every place and
    exponent (in that order), n' and Q' = tau'^n' / R' with tau' = 10^place / w_lo:
    (R' Q')^(1/n') = tau'; R' = R, or the sum of the other columns where R is above
    RUNAWAY_R x that sum (just above: revived; just below: kept); the other columns kept.
    A row without a lowest frequency gets nothing."""
    p = np.array([[5.0, 1e-6, 0.8, 10.0, 500.0, 300.0],         # a small arc
                  [100.0, 1e-5, 0.9, 1.0, 150.0, 120.0],       # a large one
                  [RUNAWAY_R * 100.0 * 1.01, 1e-5, 0.9, 100.0, 0.0, 0.0],   # run off
                  [RUNAWAY_R * 100.0 * 0.99, 1e-5, 0.9, 100.0, 0.0, 0.0]])
    w_lo = np.array([2 * np.pi * 0.1, 2 * np.pi * 1.0, 1.0, 3.0])
    out = arc_relocation(p, w_lo)
    combos = [(pl, n) for pl in CHAIN_ARC_PLACE for n in CHAIN_ARC_N]
    assert len(out) == len(combos) >= 6
    R = np.array([5.0, 100.0, 100.0, RUNAWAY_R * 100.0 * 0.99])
    for q, (place, n) in zip(out, combos):
        np.testing.assert_array_equal(q[:, 3:], p[:, 3:])
        np.testing.assert_array_equal(q[:, 0], R)
        np.testing.assert_allclose(q[:, 2], n)
        tau = (q[:, 0] * q[:, 1]) ** (1 / n)
        np.testing.assert_allclose(tau, 10.0 ** place / w_lo, rtol=1e-12)
    assert arc_relocation(p) == []


@pytest.mark.parametrize("circuit, cols", [
    (THREE_ARCS, [(2, 3, 4, 1, 5, 8), (5, 6, 7, 1, 2, 8), (8, 9, 10, 1, 2, 5)]),
    ("p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)-p(R4,CPE4)",
     [(0, 1, 2, 3, 6, 9), (3, 4, 5, 0, 6, 9), (6, 7, 8, 0, 3, 9), (9, 10, 11, 0, 3, 6)]),
    ("R0-p(R1,CPE1)-p(R2,CPE2)", []),                    # two arcs: measured no gain
    ("R0-p(R1,CPE1)-p(R2,CPE2)-CPE3", [(1, 2, 3, 0, 4), (4, 5, 6, 0, 1)]),
    ("R0-p(R1,CPE1)-CPE2", []),                          # one arc
    ("R0-p(R1-p(R2,CPE2),CPE1)", []),                    # nested: its own relocation
    ("R0-p(R1,CPE1)-p(R2,C2)-p(R3,CPE3)", []),           # an R||C is no R||CPE arc
])
def test_which_chains_get_the_relocation(circuit, cols):
    assert (MIN_CHAIN_TERMS, MIN_CHAIN_ARCS) == (3, 2)
    assert [c for c, _ in chain_relocations(ff.Circuit(circuit).tree)] == cols


def test_an_arc_whose_q_or_n_is_fixed_gets_no_relocation():
    from fastfit.fitting._problem import prepare

    p0 = [1e-6, 10.0, 100.0, 1e-6, 0.9, 300.0, 1e-4, 0.8, 50.0, 1e-2, 0.7]
    freq = np.logspace(5, -1, 30)
    Z = ff.Circuit(THREE_ARCS).impedance(freq, p0)

    def relocated(**kw):
        return [c[0] for c, fn in driver._late_twins(prepare(freq, Z, THREE_ARCS, **kw))
                if fn is arc_relocation]

    assert relocated() == [2, 5, 8]
    assert relocated(p0=p0, fixed=["CPE2_n"]) == [2, 8]
    assert relocated(p0=p0, fixed=["CPE3_Q", "R1"]) == [2, 5]


@pytest.fixture(scope="module")
def small_arcs_astray():
    # nine three-arc spectra of benchmarks/bench_circuit_families.py (seeds 41, 43;
    # tests/synthetic/README.md) whose default fit without the small-arc relocation ends
    # 0.2-99 % above the truth's optimum
    return stored_traps("three_arc_small_arc", THREE_ARCS)


@pytest.mark.parametrize("relocated", [True, False])
def test_three_arcs_small_arc_found_by_the_relocation(small_arcs_astray, monkeypatch,
                                                      relocated):
    """With the relocation every fit reaches the chi2 of the fit from the truth; without
    it at least seven of the nine stay more than 0.5 % above it."""
    freq, Z, ref = small_arcs_astray
    if not relocated:
        monkeypatch.setattr(driver, "chain_relocations", lambda tree: [])
    assert_trap_ab(ff.fit(freq, Z, THREE_ARCS).chi2, ref, relocated, 7, 0.005)


TWO_ARCS_TAIL = "R0-p(R1,CPE1)-p(R2,CPE2)-CPE3"


@pytest.mark.parametrize("relocated", [True, False])
def test_two_arcs_and_a_tail_arc_found_by_the_relocation(monkeypatch, relocated):
    """Seven two-arc + CPE-tail spectra (tests/synthetic/README.md): an arc over the other
    arc with the tail smeared (7.3x), an arc's R run off (1.23x), arcs elsewhere.  With the
    relocation every fit reaches the chi2 of the fit from the truth; without it (chains of
    three or more arcs only, as before session 22) at least five stay more than 0.5 %
    above it."""
    freq, Z, ref = stored_traps("two_arc_tail_relocation", TWO_ARCS_TAIL)
    if not relocated:
        monkeypatch.setattr(driver, "chain_relocations", lambda tree: [])
    assert_trap_ab(ff.fit(freq, Z, TWO_ARCS_TAIL).chi2, ref, relocated, 5, 0.005)
