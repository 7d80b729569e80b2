"""The twins of a vanished Warburg or resistor in a Randles branch with an open anomalous
Warburg (fastfit.fitting._randles.revive_branch): the maps checked in closed form, which
circuits and fixed parameters get them, and spectra whose default fit without them ends
above the truth's optimum (issue 17: Woa in other circuits)."""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
import fastfit.fitting._driver as driver
from fastfit.fitting import _twins
from fastfit.fitting._randles import (REVIVE_N, REVIVE_PLACE, REVIVE_R, REVIVE_SHARE,
                                      VANISH_SHARE, revive_branch, shape_grid,
                                      vanished_resistor, vanished_warburg)
from trap_spectra import assert_trap_ab, stored_traps

RANDLES_WOA = "R0-p(R1-Woa1,CPE1)"


def test_a_vanished_warburg_gets_a_share_of_the_branch_at_each_place():
    """Columns R, R_w, tau, n, Q, n_q.  Where R_w < VANISH_SHARE x R: for every share s and
    place (in that order) R_w = s (R + R_w), R = (1 - s)(R + R_w), w_lo tau = 10^place,
    n = REVIVE_N, the CPE kept; elsewhere (also just above the share, or R_w vanished
    towards R's role instead) the result itself.  Four columns (Wo: no n) work too."""
    p = np.array([[300.0, 1e-4, 1e-7, 0.65, 1e-6, 0.8],          # vanished
                  [300.0, 0.99 * VANISH_SHARE * 300.0, 1e-3, 0.4, 1e-6, 0.8],   # just below
                  [300.0, 1.01 * VANISH_SHARE * 300.0, 1e-3, 0.4, 1e-6, 0.8],   # just above
                  [1e-300, 500.0, 0.02, 0.6, 1e-6, 0.8]])        # R gone, not the Warburg
    w_lo = np.array([2 * np.pi * 1e-3, 1.0, 1.0, 1.0])
    out = vanished_warburg(p, w_lo)
    combos = [(s, pl) for s in REVIVE_SHARE for pl in REVIVE_PLACE]
    assert len(out) == len(combos) >= 4
    gone = np.array([True, True, False, False])
    R_tot = p[:, 0] + p[:, 1]
    for q, (s, pl) in zip(out, combos):
        np.testing.assert_array_equal(q[~gone], p[~gone])
        np.testing.assert_allclose(q[gone, 1], s * R_tot[gone], rtol=1e-14)
        np.testing.assert_allclose(q[gone, 0] + q[gone, 1], R_tot[gone], rtol=1e-14)
        np.testing.assert_allclose(q[gone, 2] * w_lo[gone], 10.0 ** pl, rtol=1e-14)
        np.testing.assert_allclose(q[gone, 3], REVIVE_N)
        np.testing.assert_array_equal(q[:, 4:], p[:, 4:])
    wo = vanished_warburg(np.delete(p, 3, axis=1), w_lo)
    np.testing.assert_allclose(wo[0][0, :3], out[0][0, :3])
    assert vanished_warburg(p) == []


@pytest.mark.parametrize("twin", [revive_branch, shape_grid])
def test_which_branches_and_fixed_parameters_get_the_twins(twin):
    """A Randles branch with a Woa only (its columns R1, Woa1..., CPE1); none where the user
    fixed the Warburg's tau or n.  The same for both late twins of that branch: the
    revival of a vanished Warburg or resistor, and the Warburg's shape grid
    (``_randles.shape_grid``)."""
    from fastfit.fitting._problem import prepare

    freq = np.logspace(6, -3, 40)
    p = [5.0, 20.0, 500.0, 0.02, 0.6, 4e-4, 0.77]

    def late(circuit, q, **kw):
        Zc = ff.Circuit(circuit).impedance(freq, q)
        return [cols for cols, fn in driver.late_twins(prepare(freq, Zc, circuit, **kw))
                if fn is twin]

    assert late(RANDLES_WOA, p) == [(1, 2, 3, 4, 5, 6)]
    assert late("R0-p(R1-Wsa1,CPE1)", p) == []
    assert late("R0-p(R1-Wo1,CPE1)", p[:4] + p[5:]) == []
    assert late("R0-p(R1,CPE1)-Woa1", [5.0, 20.0, 4e-4, 0.77, 500.0, 0.02, 0.6]) == []
    for name in ("Woa1_tau", "Woa1_n"):
        assert late(RANDLES_WOA, p, p0=p, fixed=[name]) == []


def test_a_vanished_resistor_gets_a_share_of_the_branch():
    """Where R < VANISH_SHARE x R_w: for every share s, R = s (R + R_w), R_w = (1 - s)(R +
    R_w), the rest kept; elsewhere the result itself.  ``revive_branch`` is both maps."""
    p = np.array([[1e-300, 500.0, 0.02, 0.6, 1e-6, 0.8],          # R gone
                  [0.99 * VANISH_SHARE * 500.0, 500.0, 0.02, 0.6, 1e-6, 0.8],
                  [1.01 * VANISH_SHARE * 500.0, 500.0, 0.02, 0.6, 1e-6, 0.8],
                  [300.0, 1e-4, 1e-7, 0.65, 1e-6, 0.8]])           # the Warburg gone
    w_lo = np.ones(4)
    out = vanished_resistor(p, w_lo)
    assert len(out) == len(REVIVE_R) >= 1
    gone = np.array([True, True, False, False])
    R_tot = p[:, 0] + p[:, 1]
    for q, s in zip(out, REVIVE_R):
        np.testing.assert_array_equal(q[~gone], p[~gone])
        np.testing.assert_allclose(q[gone, 0], s * R_tot[gone], rtol=1e-14)
        np.testing.assert_allclose(q[gone, 1], (1 - s) * R_tot[gone], rtol=1e-14)
        np.testing.assert_array_equal(q[:, 2:], p[:, 2:])
    both = revive_branch(p, w_lo)
    assert len(both) == len(vanished_warburg(p, w_lo)) + len(out)
    np.testing.assert_array_equal(both[-1], out[-1])
    assert vanished_resistor(p) == []


@pytest.fixture(scope="module")
def woa_traps():
    # four Woa-in-Randles spectra of benchmarks/bench_elements.py's CONTEXT generator
    # (1 MHz - 1 mHz; tests/synthetic/README.md) whose default fit without the twins ends
    # 1.4 % - 5.1x above the truth's optimum: two with R_w -> 0 (SINGULAR), two that pass
    # through it and end, after escalation, with R1 -> 0 (AT_BOUND)
    return stored_traps("randles_woa_vanished", RANDLES_WOA)


@pytest.mark.parametrize("revived", [True, False])
def test_woa_in_a_randles_branch_revived(woa_traps, monkeypatch, revived):
    """With the twins every fit reaches the chi2 of the fit from the truth; without them
    all four stay more than 1 % above it (and without the branch revival, which reaches
    the two that end with R1 -> 0 from the series resistor, ``_vanished.branch_revival``)."""
    freq, Z, ref = woa_traps
    if not revived:
        monkeypatch.setitem(_twins.LATE_TAIL_TWINS, "Woa", None)
        monkeypatch.delitem(_twins.LATE_TAIL_TWINS, "Woa")
        monkeypatch.setattr("fastfit.fitting._driver.RANDOM_RESTARTS", 0)   # reaches one
        monkeypatch.setattr(_twins, "branch_revivals", lambda tree: [])
    assert_trap_ab(ff.fit(freq, Z, RANDLES_WOA).chi2, ref, revived, len(ref), 0.01)


@pytest.mark.parametrize("name", ["randles_woa_no_r_context", "randles_woa_no_r_family"])
@pytest.mark.parametrize("revived", [True, False])
def test_woa_in_a_randles_branch_with_its_resistor_revived(monkeypatch, name, revived):
    """Two spectra (the CONTEXT generator's, seed 3: spectrum 16; the family benchmark's,
    seed 41: 980; tests/synthetic/README.md) whose default fit with the vanished-Warburg
    twins only ends with R1 -> 0 (AT_BOUND) 1.2 / 2.6 % above the truth's optimum; with
    the vanished-resistor twins it reaches it."""
    freq, Z, ref = stored_traps(name, RANDLES_WOA)
    if not revived:
        monkeypatch.setitem(_twins.LATE_TAIL_TWINS, "Woa", vanished_warburg)
    r = ff.fit(freq, Z, RANDLES_WOA)
    assert_trap_ab(r.chi2, ref, revived, len(ref), 0.01)
    if not revived:
        assert np.all(r.params[:, 1] < 1e-3 * r.params[:, 2])
