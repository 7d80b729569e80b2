"""Twins of a result in which a term vanished (fastfit.fitting._vanished): the maps in
closed form with their gates, which circuits get them, a real spectrum and stored
synthetic spectra whose default fit without them ends with the term switched off."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastfit as ff
import fastfit.fitting._twins as twins_mod
from fastfit.fitting._twins import circuit_twins
from fastfit.fitting._vanished import (A_GONE, R_GONE, REVIVE_A, REVIVE_R, REVIVE_SERIES,
                                       REVIVE_SPLIT, branch_revival, branch_revivals,
                                       revival_pairs, series_revival, series_revivals,
                                       t_revival)
from fastfit.kernels import ELEMENTS
from trap_spectra import assert_trap_ab, fit_stored_trap, stored_traps

ARC_T = "R0-p(R1,CPE1)-T1"


@pytest.mark.parametrize("circuit, cols", [
    (ARC_T, [(0, 4, 5, 6, 7)]),
    ("R0-T1", [(0, 1, 2, 3, 4)]),
    ("R0-R1-T1", [(0, 2, 3, 4, 5), (1, 2, 3, 4, 5)]),
    ("R0-p(R1-T1,CPE1)", []),            # the T inside a branch: no series resistor beside it
    ("p(R0,C0)-T1", []),                 # no top-level resistor
    ("R0-p(R1,CPE1)-Wsa1", []),
])
def test_revival_pairs_are_top_level_resistors_beside_a_t(circuit, cols):
    tree = ff.Circuit(circuit).tree
    assert [c for c, _ in revival_pairs(tree, ELEMENTS)] == cols
    assert [c for c, fn in circuit_twins(tree) if fn is t_revival] == cols


def test_t_revival_hands_the_series_resistance_to_a_vanished_t():
    """Where A < A_GONE x R (gate checked at +-1 %) the twins set A = R x REVIVE_A with R
    = REVIVE_R x R or R kept, B, a, b kept; every other row is the result itself."""
    rng = np.random.default_rng(4)
    m = 12
    R = 10 ** rng.uniform(0, 3, m)
    A = 10 ** rng.uniform(0, 3, m)
    A[:4] = R[:4] * A_GONE * np.array([0.99, 1e-3, 1e-12, 0.0])   # vanished
    A[4] = R[4] * A_GONE * 1.01                                    # just above the gate
    p = np.stack([R, A, 10 ** rng.uniform(0, 3, m), 10 ** rng.uniform(-1, 1, m),
                  10 ** rng.uniform(-5, -2, m)], axis=1)
    twins = t_revival(p)
    assert len(twins) == 2 * len(REVIVE_A)
    got = set()
    for q in twins:
        np.testing.assert_array_equal(q[4:], p[4:])
        np.testing.assert_array_equal(q[:4, 2:], p[:4, 2:])
        k = q[0, 1] / R[0]
        r = q[0, 0] / R[0]
        np.testing.assert_allclose(q[:4, 1], k * R[:4], rtol=1e-14)
        np.testing.assert_allclose(q[:4, 0], r * R[:4], rtol=1e-14)
        got.add((round(k, 12), round(r, 12)))
    assert got == {(k, r) for k in REVIVE_A for r in (REVIVE_R, 1.0)}


@pytest.mark.parametrize("circuit, cols", [
    ("R0-p(R1,CPE1)", [(0, 1)]),
    ("R0-p(R1,CPE1)-p(R2,CPE2)", [(0, 1, 4)]),
    ("R0-p(R1-p(R2,CPE2),CPE1)", [(0, 1, 2)]),
    ("R0-R5-p(R1,C1)", [(0, 1, 2), (1, 0, 2)]),
    ("R0-T1", []),                       # no other resistor to size it by
    ("p(R0,CPE0)-p(R1,CPE1)", []),        # no top-level resistor
])
def test_series_revivals_are_top_level_resistors(circuit, cols):
    tree = ff.Circuit(circuit).tree
    assert [c for c, _ in series_revivals(tree)] == cols
    assert [c for c, fn in circuit_twins(tree) if fn is series_revival] == cols


def test_series_revival_revives_a_vanished_resistor():
    """Where R < R_GONE x the other resistors' sum (gate at +-1 %) the twins set R to
    REVIVE_SERIES x that sum, the rest kept; elsewhere the result itself."""
    rng = np.random.default_rng(9)
    m = 10
    others = 10 ** rng.uniform(0, 4, (m, 2))
    s = others.sum(axis=1)
    R = 10 ** rng.uniform(-1, 2, m)
    R[:3] = s[:3] * R_GONE * np.array([0.99, 1e-9, 0.0])
    R[3] = s[3] * R_GONE * 1.01
    p = np.column_stack([R, others])
    out = series_revival(p)
    assert len(out) == len(REVIVE_SERIES)
    for f, q in zip(REVIVE_SERIES, out):
        np.testing.assert_allclose(q[:3, 0], f * s[:3], rtol=1e-14)
        np.testing.assert_array_equal(q[:, 1:], p[:, 1:])
        np.testing.assert_array_equal(q[3:], p[3:])


# pyeis_ex2.mpt (first spectrum) fitted with R0-p(R1,CPE1)-T1 inside
# benchmarks/bench_real_circuits.py's batch of 22 (session 23): the result with A gone,
# and the optimum of the best of 20 random-start scipy fits (5 significant digits)
EX2_TRAP = [859.05, 1.3330e5, 4.5402e-05, 0.47641, 8.4e-16, 1.0098e6, 32.937, 2.1571e-05]
EX2_BEST = [1e-60, 1.3307e5, 4.5385e-05, 0.47654, 9853.4, 5.8099e7, 89.622, 4.2174e-05]


def test_t_revival_reaches_the_optimum_of_a_real_spectrum(data_dir):
    """A real spectrum (pyeis_ex2.mpt) fitted with R0-p(R1,CPE1)-T1 can end with R0 = 859
    ohm and the T's A -> 0 (AT_BOUND), 2.7 % above the optimum a scipy fit reaches (R0 ->
    0, A = 9.9e3, B, a, b 1.7-57x apart).  The local fit from that result stays there;
    from the revival twins that hand R0 to A it reaches the scipy optimum (the reference:
    a tight bounded scipy trf fit, closed-form model, started from the optimum of 20
    random starts); the default fit of the spectrum beside the one it missed with in the
    benchmark's batch reaches it too (without the twin it ended 2.7 % above it there on
    this host; not asserted: which batch neighbour leads there depends on rounding)."""
    from scipy.optimize import least_squares

    s = ff.read(data_dir / "pyeis_ex2.mpt")
    f, z = s.spectrum(0)
    w = 2 * np.pi * f
    c = ff.Circuit(ARC_T)
    lm = np.array([True, True, True, False, True, True, True, True])

    def res(x):
        R0, R1, Q, n, A, B, a, b = np.where(lm, np.exp(x), x)
        beta = np.sqrt(a + 1j * w * b)
        zm = (R0 + R1 / (1 + R1 * Q * (1j * w) ** n)
              + (A * np.cosh(beta) + B) / (beta * np.sinh(beta)))
        d = (zm - z) / np.abs(z)
        return np.concatenate([d.real, d.imag])

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
    handed = [q for q in t_revival(trap[None, cols]) if q[0, 0] < trap[0]]
    assert len(handed) == len(REVIVE_A)
    for q in handed:
        p = trap.copy()
        p[cols] = q[0]
        assert local(p) <= ref * (1 + 1e-6)
    pair = ff.SpectrumSeries.concat([s[[0]], ff.read(
        data_dir / "hybriddrt_Sample1_PEIS_EndOfDischarge.mpr")[[0]]])
    assert ff.fit(pair, c).chi2[0] <= ref * (1 + 1e-6)


@pytest.fixture(scope="module")
def held():
    # six spectra of benchmarks/bench_elements.py's CONTEXT generator for R0-p(R1,CPE1)-T1
    # (seeds 12, 6, 11, 12, 16, 19: spectra 254, 135, 69, 221, 165, 110;
    # tests/synthetic/README.md), the misses of session 23's 4,500 spectra
    return stored_traps("arc_t_held", ARC_T)


@pytest.mark.parametrize("revive", [True, False])
def test_vanished_series_resistor_is_revived(held, monkeypatch, revive):
    """Spectrum 165 of seed 16: the default fit without the series revival ends with R0 ->
    1e-24 (AT_BOUND), 2.6x above the fit from the truth (R0 = 1.3 ohm); with it the fit
    reaches that optimum."""
    freq, Z, ref = held
    if not revive:
        monkeypatch.setattr(twins_mod, "series_revivals", lambda tree: [])
        monkeypatch.setattr("fastfit.fitting._driver.RANDOM_RESTARTS", 0)   # the last resort reaches it
    r = ff.fit(freq, Z[4:5], ARC_T)
    assert_trap_ab(r.chi2, ref[4:5], revive, n_fail=1, margin=0.5)


@pytest.mark.parametrize("revive", [True, False])
def test_vanished_t_is_revived_beside_its_resistor(held, monkeypatch, revive):
    """Spectrum 110 of seed 19: without the T revival the fit ends with A -> 1e-55
    (AT_BOUND, a = 0.025), 1.15x above the fit from the truth; the twin with A = R0 and
    R0 kept reaches it."""
    freq, Z, ref = held
    if not revive:
        monkeypatch.setattr(twins_mod, "revival_pairs", lambda tree, elements: [])
    r = ff.fit(freq, Z[5:6], ARC_T)
    assert_trap_ab(r.chi2, ref[5:6], revive, n_fail=1, margin=0.1)


@pytest.mark.parametrize("circuit, cols", [
    ("R0-p(R1,CPE1)", [(0, 1)]),
    ("R0-p(R1-Wo1,CPE1)", [(0, 1)]),
    ("R0-p(R1-p(R2,CPE2),CPE1)", [(0, 1), (0, 2)]),
    ("R0-R5-p(R1,C1)", [(0, 2), (1, 2)]),
    ("R0-T1", []),                        # no inner resistor
    ("p(R0,CPE0)-p(R1,CPE1)", []),        # no top-level resistor
])
def test_branch_revivals_pair_top_level_and_inner_resistors(circuit, cols):
    tree = ff.Circuit(circuit).tree
    assert [c for c, _ in branch_revivals(tree)] == cols
    assert [c for c, fn in circuit_twins(tree) if fn is branch_revival] == cols


def test_branch_revival_splits_the_series_resistor():
    """Where the inner R < R_GONE x R0 (gate at +-1 %) the twins set R = f R0 and R0 =
    (1 - f) R0 for every f in REVIVE_SPLIT; elsewhere (and where R0 is 0) the result
    itself."""
    rng = np.random.default_rng(29)
    m = 8
    R0 = 10 ** rng.uniform(0, 4, m)
    R = 10 ** rng.uniform(-1, 2, m)
    R[:3] = R0[:3] * R_GONE * np.array([0.99, 1e-80, 0.0])
    R[3] = R0[3] * R_GONE * 1.01
    R0[4], R[4] = 0.0, 0.0
    p = np.column_stack([R0, R])
    out = branch_revival(p)
    assert len(out) == len(REVIVE_SPLIT)
    for f, q in zip(REVIVE_SPLIT, out):
        np.testing.assert_allclose(q[:3, 1], f * R0[:3], rtol=1e-14)
        np.testing.assert_allclose(q[:3, 0], (1 - f) * R0[:3], rtol=1e-14)
        np.testing.assert_array_equal(q[3:], p[3:])


# impedance.py's Circuit3_EIS_2.z (spectrum 0) fitted with a Randles cell: the best of 40
# random-start scipy fits (session 29, 5 significant digits): R0, R1, Wo_R, Wo_tau, Q, n
RANDLES_WO = "R0-p(R1-Wo1,CPE1)"
C3_BEST = [1357.96, 150.029, 0.37849, 7.1881e-09, 2.08928e-04, 3.13781e-04]


@pytest.mark.parametrize("revive", [True, False])
def test_vanished_inner_resistor_takes_its_share_of_r0(data_dir, monkeypatch, revive):
    """Without the branch revival the default fit ends with R1 -> 1e-83 and R0 holding
    the whole series resistance (SINGULAR), 8e-5 above the scipy optimum (R1 = 150 of
    1,508 ohm); with it the fit reaches that optimum (the reference: a tight bounded scipy
    trf fit of the closed-form model from the stored best point)."""
    from scipy.optimize import least_squares

    f, z = ff.read(data_dir / "impedancepy_Circuit3_EIS_2.z").spectrum(0)
    w = 2 * np.pi * f
    lm = np.array([True, True, True, True, True, False])

    def res(x):
        R0, R1, Rw, tau, Q, n = np.where(lm, np.exp(x), x)
        u = np.sqrt(1j * w * tau)
        b = R1 + Rw / (np.tanh(u) * u)
        zq = 1.0 / (Q * (1j * w) ** n)
        d = (R0 + b * zq / (b + zq) - z) / np.abs(z)
        return np.concatenate([d.real, d.imag])

    best = np.array(C3_BEST)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        sol = least_squares(res, np.where(lm, np.log(best), best),
                            bounds=(np.where(lm, -np.inf, 0.0), np.where(lm, np.inf, 1.0)),
                            method="trf", x_scale="jac", ftol=1e-15, xtol=1e-15, gtol=1e-15)
    ref = 2 * sol.cost
    if not revive:
        monkeypatch.setattr(twins_mod, "branch_revivals", lambda tree: [])
    r = ff.fit(f, z[None], RANDLES_WO)
    assert_trap_ab(r.chi2, [ref], revive, n_fail=1, margin=2e-5)


def test_g_revival_re_shares_the_arc_and_the_gerischer():
    """Columns R, Q, n of the arc, then R_g, tau_g.  A minor Gerischer (R_g < G_MINOR x R)
    is put at each (share f of R, k x the arc's tau) of G_PLACES, the arc keeping the
    rest; a minor arc (R < ARC_MINOR x R_g) gets the share ARC_PLACE of R + R_g at k x
    tau_g, its exponent kept; a row with neither, or a value that is not finite and
    positive, keeps the result."""
    from fastfit.fitting._vanished import ARC_MINOR, ARC_PLACE, G_MINOR, G_PLACES, g_revival

    p = np.array([[1000.0, 1e-7, 0.9, 0.5 * G_MINOR * 1000.0, 1e-5],    # minor Gerischer
                  [0.5 * ARC_MINOR * 400.0, 2e-4, 0.95, 400.0, 2e-2],   # minor arc
                  [100.0, 1e-5, 0.8, 100.0, 1e-3],                      # neither
                  [1000.0, 1e-7, 0.9, 0.0, 1e-5]])                      # R_g = 0: not positive
    cands = g_revival(p)
    assert len(cands) == len(G_PLACES) + 1
    tau_arc = (p[0, 0] * p[0, 1]) ** (1 / p[0, 2])
    for q, (f, k) in zip(cands, G_PLACES):
        np.testing.assert_allclose(q[0], [(1 - f) * 1000.0, 1e-7, 0.9, f * 1000.0, k * tau_arc],
                                   rtol=1e-12)
        np.testing.assert_array_equal(q[1:], p[1:])
    q = cands[-1]
    f, k = ARC_PLACE
    total = p[1, 0] + p[1, 3]
    np.testing.assert_allclose(q[1, [0, 2, 3, 4]], [f * total, 0.95, (1 - f) * total, 2e-2],
                               rtol=1e-12)
    np.testing.assert_allclose((q[1, 0] * q[1, 1]) ** (1 / q[1, 2]), k * 2e-2, rtol=1e-12)
    np.testing.assert_array_equal(q[[0, 2, 3]], p[[0, 2, 3]])


@pytest.mark.parametrize("revive", [True, False])
def test_arc_and_gerischer_with_their_resistance_re_shared(monkeypatch, revive):
    """Stored R0-p(R1,CPE1)-G1 spectra (tests/synthetic/arc_g_shares.npz) whose fit
    without the re-sharing twins ends 1.03-1.17x above the fit from the truth, reported
    CONVERGED (the Gerischer absorbed by the arc, or holding part of it); with them every
    fit reaches that optimum."""
    import fastfit.fitting._vanished as vanished

    circuit = "R0-p(R1,CPE1)-G1"
    freq, Z, ref = stored_traps("arc_g_shares", circuit)
    if not revive:
        monkeypatch.setattr(vanished, "G_MINOR", 0.0)
        monkeypatch.setattr(vanished, "ARC_MINOR", 0.0)
    r = ff.fit(freq, Z, circuit)
    assert_trap_ab(r.chi2, ref, revive, n_fail=len(ref) - 1, margin=0.02)
    if not revive:
        assert np.sum(r.status == ff.FitStatus.CONVERGED) >= len(ref) - 1


def test_wsa_takeover_hands_the_branch_to_a_flat_minor_warburg():
    """Columns R, R_w, tau, n, Q, n_q of a Randles branch with Wsa.  A minor (R_w < R),
    flat (n > WSA_FLAT_N) Warburg gets each share s of WSA_TAKE of R + R_w at w_lo tau =
    WSA_TAKE_PLACE with n = WSA_TAKE_N, the CPE and the branch's DC resistance kept; a
    row that is not both, or has a value that is not finite and positive, keeps the
    result; without w_lo there are no twins."""
    from fastfit.fitting._vanished import (WSA_FLAT_N, WSA_TAKE, WSA_TAKE_N, WSA_TAKE_PLACE,
                                           wsa_takeover)

    p = np.array([[446.0, 84.0, 0.1, 0.5 * (1 + WSA_FLAT_N), 1e-2, 0.72],   # minor and flat
                  [446.0, 84.0, 0.1, 0.6, 1e-2, 0.72],                       # a real tail
                  [20.0, 500.0, 0.2, 0.97, 1e-2, 0.72],                      # not minor
                  [446.0, 84.0, 0.1, 0.97, 0.0, 0.72]])                      # Q = 0
    w_lo = np.full(4, 2 * np.pi * 0.1)
    assert wsa_takeover(p) == []
    cands = wsa_takeover(p, w_lo)
    assert len(cands) == len(WSA_TAKE)
    for q, s in zip(cands, WSA_TAKE):
        np.testing.assert_allclose(q[0], [(1 - s) * 530.0, s * 530.0, WSA_TAKE_PLACE / w_lo[0],
                                          WSA_TAKE_N, 1e-2, 0.72], rtol=1e-12)
        np.testing.assert_array_equal(q[1:], p[1:])
    cols = [c for c, fn in circuit_twins(ff.Circuit("R0-p(R1-Wsa1,CPE1)").tree)
            if fn.__name__ == "wsa_takeover"]
    assert cols == [] and "Wsa" in twins_mod.LATE_SHAPE_TWINS   # a late twin, not an early one


@pytest.mark.parametrize("take", [True, False])
def test_randles_wsa_roles_exchanged_are_handed_back(monkeypatch, take):
    """Stored R0-p(R1-Wsa1,CPE1) spectra (tests/synthetic/randles_wsa_takeover.npz, the
    Warburg 92-96 % of the branch) whose fit without the takeover twins ends with R1
    holding the branch and the Warburg a tenth of it at n -> 1, 1.03x and 1.13x the fit
    from the truth, reported CONVERGED; with them both reach that optimum."""
    if not take:
        monkeypatch.delitem(twins_mod.LATE_SHAPE_TWINS, "Wsa")
    fit_stored_trap("randles_wsa_takeover", "R0-p(R1-Wsa1,CPE1)", take, n_fail=2, margin=0.02,
                    converged_without=True)
