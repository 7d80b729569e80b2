"""The shape grid of an open anomalous Warburg in a Randles branch that is no diffusion tail
(fastfit.fitting._randles.shape_grid, a late twin): the map checked in closed form and
stored spectra whose default fit without it ends above the truth's optimum (which
circuits and fixed parameters get it: tests/test_vanished_warburg.py, with the other
late twin of the same branch)."""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from fastfit.fitting import _twins
from fastfit.fitting._randles import (SHAPE_N, SHAPE_N_RANGE, SHAPE_PLACE, TAIL_SHARE,
                                      VANISH_SHARE, shape_grid, warburg_z)
from trap_spectra import assert_trap_ab, stored_traps

RANDLES_WOA = "R0-p(R1-Woa1,CPE1)"


def test_warburg_z_is_the_element_and_its_limits():
    """``warburg_z`` against the element's own impedance (Woa, Wsa; Wo, Ws at n = 0.5), and
    its ends: tau at the bound 1e300 (R_w / u) and tau -> 0 (open: R_w / u^2 + R_w / 3,
    short: R_w)."""
    w = np.array([0.3, 2.0, 50.0])
    for sym, open_end in (("Woa", True), ("Wsa", False)):
        z = ff.Circuit(f"{sym}1").impedance(w / (2 * np.pi), [40.0, 0.7, 0.43])
        np.testing.assert_allclose(warburg_z(40.0, 0.7, 0.43, w, open_end), z, rtol=1e-12)
    for sym, open_end in (("Wo", True), ("Ws", False)):
        z = ff.Circuit(f"{sym}1").impedance(w / (2 * np.pi), [40.0, 0.7])
        np.testing.assert_allclose(warburg_z(40.0, 0.7, 0.5, w, open_end), z, rtol=1e-12)
    u = (1j * 1.0 * 1e300) ** 0.4
    assert np.isclose(warburg_z(40.0, 1e300, 0.4, 1.0, True), 40.0 / u, rtol=1e-9)
    u = (1j * 1.0 * 1e-30) ** 0.5
    assert np.isclose(warburg_z(40.0, 1e-30, 0.5, 1.0, True), 40.0 / u ** 2 + 40.0 / 3)
    assert np.isclose(warburg_z(40.0, 1e-30, 0.5, 1.0, False), 40.0)


def test_the_grid_keeps_the_warburgs_magnitude_at_w_lo():
    """Columns R, R_w, tau, n, Q, n_q.  Rows whose exponent is outside SHAPE_N_RANGE or whose
    Warburg vanished (R_w < VANISH_SHARE x R) get, for every place and exponent (in that
    order), w_lo tau' = place, n' = exponent and R_w' with |Z_W'(w_lo)| = |Z_W(w_lo)|
    (3 % of the branch where the fitted Warburg's is not finite), R and the CPE kept; rows
    with a diffusion tail in range are the result itself."""
    lo, hi = SHAPE_N_RANGE
    p = np.array([[300.0, 20.0, 0.5, 0.5 * (lo + hi), 1e-6, 0.8],     # in range: kept
                  [300.0, 20.0, 0.5, 0.9 * lo, 1e-6, 0.8],            # below the range
                  [300.0, 20.0, 50.0, min(1.0, 1.05 * hi), 1e-6, 0.8],   # above it
                  [300.0, 0.5 * VANISH_SHARE * 300.0, 0.5, 0.5, 1e-6, 0.8],  # vanished
                  [300.0, 20.0, np.inf, 0.1, 1e-6, 0.8]])             # no magnitude
    w_lo = np.array([1.0, 2.0, 0.5, 1.0, 1.0])
    out = shape_grid(p, w_lo)
    combos = [(pl, e) for pl in SHAPE_PLACE for e in SHAPE_N]
    assert len(out) == len(combos) >= 4
    odd = np.array([False, True, True, True, True])
    mag = np.abs(warburg_z(p[:, 1], p[:, 2], p[:, 3], w_lo, True))
    mag[4] = TAIL_SHARE[-1] * (p[4, 0] + p[4, 1])
    for q, (pl, e) in zip(out, combos):
        np.testing.assert_array_equal(q[~odd], p[~odd])
        np.testing.assert_allclose(q[odd, 2] * w_lo[odd], pl, rtol=1e-14)
        np.testing.assert_allclose(q[odd, 3], e)
        got = np.abs(warburg_z(q[:, 1], q[:, 2], q[:, 3], w_lo, True))
        np.testing.assert_allclose(got[odd], mag[odd], rtol=1e-12)
        np.testing.assert_array_equal(q[:, [0, 4, 5]], p[:, [0, 4, 5]])
    # the short Warburg's magnitude (tanh) where asked
    q = shape_grid(p[1:2], w_lo[1:2], open_end=False)[0]
    np.testing.assert_allclose(np.abs(warburg_z(q[0, 1], q[0, 2], q[0, 3], w_lo[1], False)),
                               np.abs(warburg_z(20.0, 0.5, 0.9 * lo, w_lo[1], False)))
    assert shape_grid(p) == []


@pytest.mark.parametrize("grid", [True, False])
def test_woa_tails_reached_from_the_shape_grid(monkeypatch, grid):
    """Three spectra of the family benchmark's generator (seeds 11 and 13, not those the
    grid was chosen on; tests/synthetic/README.md) whose default fit without the grid ends
    0.7-3.2 % above the truth's optimum with the Warburg's exponent at 0, 1 or 0.29 (AT_BOUND);
    with it every fit reaches the truth's optimum or one below it."""
    freq, Z, ref = stored_traps("randles_woa_shape_grid", RANDLES_WOA)
    if not grid:
        monkeypatch.delitem(_twins.LATE_SHAPE_TWINS, "Woa")
    assert_trap_ab(ff.fit(freq, Z, RANDLES_WOA).chi2, ref, grid, n_fail=3, margin=5e-3)
