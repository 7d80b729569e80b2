"""The time-constant exchange of an arc and a short Warburg in series, and the role
exchange of an arc and Paasch's T (fastfit.fitting._exchange): the maps in closed form,
which pairs get them, and stored spectra whose default fit without them ends with the two
time constants (the two roles) traded (issue 17's elements in a context the element tests
do not use)."""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from trap_spectra import assert_trap_ab, stored_traps
import fastfit.fitting._driver as driver
import fastfit.kernels._pipeline as pipeline
from fastfit.fitting._arcs import SMEAR_N
from fastfit.fitting._exchange import (ROLE_A, ROLE_N, ROLE_PLACE, exchange_pairs,
                                       t_role_exchange, tau_exchange)
from fastfit.kernels import ELEMENTS

ARC_WSA = "R0-p(R1,CPE1)-Wsa1"
ARC_T = "R0-p(R1,CPE1)-T1"


def test_tau_exchange_trades_the_two_time_constants():
    """tau_arc' = tau_w and tau_w' = (R Q)^(1/n) with Q' = tau_arc'^n / R; every
    resistance and exponent kept; a row without a finite positive time constant is the
    result itself."""
    rng = np.random.default_rng(2)
    m = 12
    R, Q, n = 10 ** rng.uniform(0, 3, m), 10 ** rng.uniform(-8, -4, m), rng.uniform(0.6, 1.0, m)
    Rw, tw, nw = 10 ** rng.uniform(1, 3, m), 10 ** rng.uniform(-4, 1, m), rng.uniform(0.3, 0.6, m)
    p = np.stack([R, Q, n, Rw, tw, nw], axis=1)
    p[0, 1] = 0.0                                       # no arc time constant
    (q,) = tau_exchange(p)
    np.testing.assert_array_equal(q[0], p[0])
    k = slice(1, None)
    np.testing.assert_allclose((q[k, 0] * q[k, 1]) ** (1 / q[k, 2]), tw[k], rtol=1e-10)
    np.testing.assert_allclose(q[k, 4], (R[k] * Q[k]) ** (1 / n[k]), rtol=1e-10)
    np.testing.assert_array_equal(q[k][:, [0, 2, 3, 5]], p[k][:, [0, 2, 3, 5]])


@pytest.mark.parametrize("circuit, cols", [
    (ARC_WSA, [(1, 2, 3, 4, 5, 6)]),
    ("R0-p(R1,CPE1)-p(R2,CPE2)-Wsa1", [(1, 2, 3, 7, 8, 9), (4, 5, 6, 7, 8, 9)]),
    ("R0-p(R1-Wsa1,CPE1)", []),          # inside the arc's branch: not two terms
    ("R0-p(R1,C1)-Wsa1", []),            # not an R||CPE arc
    ("R0-p(R1,CPE1)-Ws1", []),           # measured: no miss to fix, 25 % fewer fits/s
    (ARC_T, [(1, 2, 3, 4, 5, 6, 7)]),     # the role exchange
    ("R0-p(R1,CPE1)-Wsa1-T1", [(1, 2, 3, 4, 5, 6), (1, 2, 3, 7, 8, 9, 10)]),
    ("R0-p(R1-T1,CPE1)", []),
])
def test_which_pairs_get_the_exchange(circuit, cols):
    assert [c for c, _ in exchange_pairs(ff.Circuit(circuit).tree, ELEMENTS)] == cols


def test_a_fixed_time_constant_gets_no_exchange():
    from fastfit.fitting._problem import prepare

    freq = np.logspace(5, -2, 30)
    p = [10.0, 50.0, 1e-5, 0.85, 500.0, 0.03, 0.4]
    Z = ff.Circuit(ARC_WSA).impedance(freq, p)
    assert [c for c, _ in driver._exchange_twins(prepare(freq, Z, ARC_WSA))] == [
        (1, 2, 3, 4, 5, 6)]
    for name in ("CPE1_n", "Wsa1_tau"):
        fixed = prepare(freq, Z, ARC_WSA, p0=p, fixed=[name])
        assert driver._exchange_twins(fixed) == ()
    # the role exchange moves every column of the arc and the T: any of them fixed, none
    p = [10.0, 50.0, 1e-5, 0.85, 30.0, 10.0, 2.0, 1e-2]
    Z = ff.Circuit(ARC_T).impedance(freq, p)
    assert len(driver._exchange_twins(prepare(freq, Z, ARC_T))) == 1
    for name in ("R1", "T1_B", "T1_b"):
        assert driver._exchange_twins(prepare(freq, Z, ARC_T, p0=p, fixed=[name])) == ()


def paasch_dc(A, B, a):
    """Z(w -> 0) of T = (A cosh beta + B) / (beta sinh beta), beta^2 = a + j w b."""
    return (A * np.cosh(np.sqrt(a)) + B) / (np.sqrt(a) * np.sinh(np.sqrt(a)))


def test_t_role_exchange_gives_the_arc_the_t_place_and_the_t_the_arc_resistance():
    """A smeared arc (n < SMEAR_N) and a T: the arc gets R' = Z_T(0), tau' = b / a (its
    time constant (R' Q')^(1/n') there) and n' in ROLE_N; the T gets B' = A', Z_T'(0) =
    the arc's R and b' / a' = 10^place / w_lo with a' in ROLE_A (closed forms); a sharp
    arc (n at SMEAR_N x 1.01) or a row with a value not positive is the result itself."""
    rng = np.random.default_rng(7)
    m = 16
    R, Q = 10 ** rng.uniform(0, 3, m), 10 ** rng.uniform(-6, -2, m)
    n = rng.uniform(0.2, SMEAR_N * 0.99, m)
    A, B = 10 ** rng.uniform(-3, 2, m), 10 ** rng.uniform(-3, 2, m)
    a, b = 10 ** rng.uniform(-1, 1, m), 10 ** rng.uniform(-7, -2, m)
    p = np.stack([R, Q, n, A, B, a, b], axis=1)
    p[0, 2] = SMEAR_N * 1.01                            # a sharp arc
    p[1, 4] = 0.0                                       # B not positive
    w_lo = np.full(m, 2 * np.pi * 1e-2)
    twins = t_role_exchange(p, w_lo)
    assert len(twins) == len(ROLE_N) * len(ROLE_PLACE) * len(ROLE_A)
    k = slice(2, None)
    combos = [(nn, pl, aa) for nn in ROLE_N for pl in ROLE_PLACE for aa in ROLE_A]
    for (n_new, place, a_new), q in zip(combos, twins):
        np.testing.assert_array_equal(q[:2], p[:2])
        np.testing.assert_allclose(q[k, 0], paasch_dc(A[k], B[k], a[k]), rtol=1e-10)
        np.testing.assert_allclose((q[k, 0] * q[k, 1]) ** (1 / q[k, 2]), b[k] / a[k],
                                   rtol=1e-10)
        np.testing.assert_allclose(q[k, 2], n_new)
        np.testing.assert_allclose(q[k, 5], a_new)
        np.testing.assert_allclose(q[k, 4], q[k, 3])
        np.testing.assert_allclose(paasch_dc(q[k, 3], q[k, 4], q[k, 5]), R[k], rtol=1e-10)
        np.testing.assert_allclose(w_lo[k] * q[k, 6] / q[k, 5], 10.0 ** place, rtol=1e-12)


@pytest.fixture(scope="module")
def t_roles():
    # five spectra of benchmarks/bench_elements.py's CONTEXT generator for R0-p(R1,CPE1)-T1
    # (seeds 3, 6, 7, 8, 7: spectra 212, 173, 34, 69, 156; tests/synthetic/README.md)
    return stored_traps("arc_t_roles", ARC_T)


@pytest.mark.parametrize("exchange", [True, False])
def test_arc_and_t_with_exchanged_roles(t_roles, monkeypatch, exchange):
    """With the role exchange every fit reaches the chi2 of the fit from the truth; without
    it the first four end with the T at the arc's place and the arc smeared, 1.3-6.2x
    above it (the fifth, 156, reaches it either way: see the next test)."""
    freq, Z, ref = t_roles
    if not exchange:
        monkeypatch.setattr(driver, "_exchange_twins", lambda problem: ())
    assert_trap_ab(ff.fit(freq, Z, ARC_T).chi2, ref, exchange, n_fail=4, margin=0.2)


@pytest.mark.parametrize("after", [True, False])
def test_exchanged_results_get_their_own_twins(t_roles, monkeypatch, after):
    """Spectra 69 and 156 of the stored five: the role exchange moves them to a T whose B
    vanished; its B-lift twins (run on the results an exchange moved) reach the optimum,
    without them both stay > 1 % above it."""
    freq, Z, ref = t_roles
    monkeypatch.setattr(pipeline, "TWINS_AFTER_EXCHANGE", after)
    assert_trap_ab(ff.fit(freq, Z[3:], ARC_T).chi2, ref[3:], after, n_fail=2, margin=0.01)


@pytest.fixture(scope="module")
def traded():
    # five spectra of benchmarks/bench_elements.py's CONTEXT generator for R0-p(R1,CPE1)-
    # Wsa1 (seeds 3, 11, 5, 23, 29: spectra 294, 102, 84, 267, 77; tests/synthetic/
    # README.md) whose default fit without the exchange ends with the arc at the
    # Warburg's time constant and the Warburg at the arc's, 1.02-1.18x the truth's optimum
    return stored_traps("arc_wsa_exchange", ARC_WSA)


@pytest.mark.parametrize("exchange", [True, False])
def test_arc_and_warburg_with_traded_time_constants(traded, monkeypatch, exchange):
    """With the exchange every fit reaches the chi2 of the fit from the truth; without it
    at least three of the five stay more than 1 % above it (the test can fail)."""
    freq, Z, ref = traded
    if not exchange:
        monkeypatch.setattr(driver, "_exchange_twins", lambda problem: ())
    r = ff.fit(freq, Z, ARC_WSA)
    if exchange:
        assert np.all(r.chi2 <= ref * (1 + 1e-6)), r.chi2 / ref
    else:
        assert np.sum(r.chi2 > ref * 1.01) >= 3, r.chi2 / ref


@pytest.mark.parametrize("circuit, cols", [
    (ARC_T, [(0, 4, 5, 6, 7)]),
    ("R0-T1", [(0, 1, 2, 3, 4)]),
    ("R0-R1-T1", [(0, 2, 3, 4, 5), (1, 2, 3, 4, 5)]),
    ("R0-p(R1-T1,CPE1)", []),            # the T inside a branch: no series resistor beside it
    ("p(R0,C0)-T1", []),                 # no top-level resistor
    ("R0-p(R1,CPE1)-Wsa1", []),
])
def test_revival_pairs_are_top_level_resistors_beside_a_t(circuit, cols):
    from fastfit.fitting._exchange import revival_pairs, t_revival
    from fastfit.fitting._twins import circuit_twins

    tree = ff.Circuit(circuit).tree
    assert [c for c, _ in revival_pairs(tree, ELEMENTS)] == cols
    assert [c for c, fn in circuit_twins(tree) if fn is t_revival] == cols


def test_t_revival_hands_the_series_resistance_to_a_vanished_t():
    """Where A < A_GONE x R (gate checked at +-1 %) the twins set A = R x REVIVE_A and R =
    REVIVE_R x R, B, a, b kept; every other row is the result itself."""
    from fastfit.fitting._exchange import A_GONE, REVIVE_A, REVIVE_R, t_revival

    rng = np.random.default_rng(4)
    m = 12
    R = 10 ** rng.uniform(0, 3, m)
    A = 10 ** rng.uniform(0, 3, m)
    A[:4] = R[:4] * A_GONE * np.array([0.99, 1e-3, 1e-12, 0.0])   # vanished
    A[4] = R[4] * A_GONE * 1.01                                    # just above the gate
    p = np.stack([R, A, 10 ** rng.uniform(0, 3, m), 10 ** rng.uniform(-1, 1, m),
                  10 ** rng.uniform(-5, -2, m)], axis=1)
    twins = t_revival(p)
    assert len(twins) == len(REVIVE_A)
    for q, k in zip(twins, REVIVE_A):
        np.testing.assert_array_equal(q[4:], p[4:])
        np.testing.assert_allclose(q[:4, 0], REVIVE_R * R[:4], rtol=1e-15)
        np.testing.assert_allclose(q[:4, 1], k * R[:4], rtol=1e-15)
        np.testing.assert_array_equal(q[:4, 2:], p[:4, 2:])


# pyeis_ex2.mpt (first spectrum) fitted with R0-p(R1,CPE1)-T1 inside
# benchmarks/bench_real_circuits.py's batch of 22 (session 23): the result with A gone,
# and the optimum of the best of 20 random-start scipy fits (5 significant digits)
EX2_TRAP = [859.05, 1.3330e5, 4.5402e-05, 0.47641, 8.4e-16, 1.0098e6, 32.937, 2.1571e-05]
EX2_BEST = [1e-60, 1.3307e5, 4.5385e-05, 0.47654, 9853.4, 5.8099e7, 89.622, 4.2174e-05]


def test_t_revival_reaches_the_optimum_of_a_real_spectrum(data_dir):
    """A real spectrum (pyeis_ex2.mpt) fitted with R0-p(R1,CPE1)-T1 can end with R0 = 859
    ohm and the T's A -> 0 (AT_BOUND), 2.7 % above the optimum a scipy fit reaches (R0 ->
    0, A = 9.9e3, B, a, b 1.7-57x apart).  The local fit from that result stays there;
    from either revival twin it reaches the scipy optimum (the reference: a tight bounded
    scipy trf fit, closed-form model, started from the optimum of 20 random starts); the
    default fit of the spectrum beside the one it missed with in the benchmark's batch
    reaches it too (without the twin it ended 2.7 % above it there on this host; not
    asserted: which batch neighbour leads there depends on rounding)."""
    import warnings

    from scipy.optimize import least_squares

    from fastfit.fitting._exchange import t_revival

    s = ff.read(data_dir / "pyeis_ex2.mpt")
    f, z = s.spectrum(0)
    w = 2 * np.pi * f
    c = ff.Circuit(ARC_T)

    def res(x):
        R0, R1, Q, n, A, B, a, b = np.where(lm, np.exp(x), x)
        beta = np.sqrt(a + 1j * w * b)
        zm = R0 + R1 / (1 + R1 * Q * (1j * w) ** n) + (A * np.cosh(beta) + B) / (beta * np.sinh(beta))
        d = (zm - z) / np.abs(z)
        return np.concatenate([d.real, d.imag])

    lm = np.array([True, True, True, False, True, True, True, True])
    bd = c.default_bounds
    lo = np.where(lm, np.log(np.maximum(bd[:, 0], 1e-300)), bd[:, 0])
    hi = np.where(lm, np.log(np.minimum(bd[:, 1], 1e300)), bd[:, 1])
    best = np.array(EX2_BEST)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        sol = least_squares(res, np.where(lm, np.log(best), best), bounds=(lo, hi),
                            method="trf", x_scale="jac", ftol=1e-15, xtol=1e-15, gtol=1e-15)
    ref = 2 * sol.cost
    trap = np.array(EX2_TRAP)

    def local(p0):
        return ff.fit(f, z[None], c, p0=p0[None], starts=0).chi2[0]

    assert local(trap) > 1.02 * ref
    cols = [0, 4, 5, 6, 7]
    for q in t_revival(trap[None, cols]):
        p = trap.copy()
        p[cols] = q[0]
        assert local(p) <= ref * (1 + 1e-6)
    pair = ff.SpectrumSeries.concat([s[[0]], ff.read(
        data_dir / "hybriddrt_Sample1_PEIS_EndOfDischarge.mpr")[[0]]])
    assert ff.fit(pair, c).chi2[0] <= ref * (1 + 1e-6)
