"""Exponent restarts (fastfit.kernels._restarts), the fit pipeline's last move.

References: the best of 20 random-start bounded scipy fits of closed-form numpy models
(multistart_reference), on real bundled spectra the round was not tuned on beyond the
three cases its docstring names.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from fastfit.kernels._restarts import RESTART_GRID, exponent_columns, restart_candidates
from multistart_reference import best_of_random_starts, randles_woa


def test_candidates_reset_each_exponent_and_swap_each_pair():
    lo = np.array([-50.0, 0.0, -50.0, 0.2])
    hi = np.array([50.0, 1.0, 50.0, 1.0])
    cols = exponent_columns((True, False, True, False), np.ones(4, bool), lo, hi)
    assert cols.tolist() == [1, 3]
    assert exponent_columns((True, False, True, False), np.array([1, 0, 1, 1], bool),
                            lo, hi).tolist() == [3]
    assert exponent_columns((True, False, True, False), np.ones(4, bool), lo,
                            np.array([50.0, 1.0, 50.0, np.inf])).tolist() == [1]
    p = np.array([[1.0, 0.9, 2.0, 0.3], [3.0, 0.1, 4.0, 0.7]])
    c = np.stack(restart_candidates(p, cols, lo, hi), axis=1)
    G = len(RESTART_GRID)
    assert c.shape == (2, 2 * G + 1, 4)
    np.testing.assert_allclose(c[:, :G, 1], np.broadcast_to(RESTART_GRID, (2, G)))
    np.testing.assert_allclose(c[:, G:2 * G, 3], np.broadcast_to(
        [0.2 + 0.8 * g for g in RESTART_GRID], (2, G)))
    # the swap, clipped to the receiving column's bounds (0.1 -> 0.2 for column 3)
    np.testing.assert_allclose(c[:, -1, [1, 3]], [[0.3, 0.9], [0.7, 0.2]])
    # everything else is the result itself
    np.testing.assert_array_equal(c[:, :, [0, 2]], np.broadcast_to(p[:, None, [0, 2]],
                                                                    (2, 2 * G + 1, 2)))
    assert restart_candidates(p, np.array([], int), lo, hi) == []


def _nested(p, w):
    """R0-p(R1-p(R2,CPE2),CPE1)"""
    zq2 = 1.0 / (p[3] * (1j * w) ** p[4])
    inner = p[1] + p[2] * zq2 / (p[2] + zq2)
    zq1 = 1.0 / (p[5] * (1j * w) ** p[6])
    return p[0] + inner * zq1 / (inner + zq1)


@pytest.mark.parametrize("fname, circuit, model, kinds, stuck", [
    # the outer CPE's exponent must cross from ~0.8 to ~0.2: 3.4x above without the round
    ("hybriddrt_Sample1_PEIS_EndOfDischarge.mpr", "R0-p(R1-p(R2,CPE2),CPE1)", _nested,
     "RRRQnQn", 2.0),
    # the Warburg and the CPE exchange their exponents (0.17 <-> 0.81)
    ("pyeis_ex3.txt", "R0-p(R1-Woa1,CPE1)", randles_woa, "RRRtnQn", 1.0005),
])
def test_exponent_restarts_reach_the_best_of_many_scipy_starts(data_dir, monkeypatch, fname,
                                                               circuit, model, kinds, stuck):
    import fastfit.fitting._driver as driver
    import fastfit.fitting._twins as _twins

    c = ff.Circuit(circuit)
    s = ff.read(data_dir / fname)[[0]]
    f, z = s.spectrum(0)
    ref = best_of_random_starts(model, 2 * np.pi * f, z, c.default_bounds, kinds, 20,
                                np.random.default_rng(20261206))
    r = ff.fit(s, c)
    assert r.chi2[0] <= ref * (1 + 1e-6), r.chi2[0] / ref
    assert r.escalated[0]
    monkeypatch.setattr(driver, "RESTARTS", False)
    monkeypatch.setattr(driver, "RANDOM_RESTARTS", 0)   # the last resort reaches some
    # the Warburg's shape grid (_randles.shape_grid) reaches the Randles one too
    monkeypatch.delitem(_twins.LATE_SHAPE_TWINS, "Woa", raising=False)
    # without the round: stuck above both (20 scipy starts of another draw do not find the
    # EndOfDischarge optimum either: 0.178 against fastfit's 0.053)
    assert ff.fit(s, c).chi2[0] > stuck * min(ref, r.chi2[0])


def test_every_exponent_restart_runs_the_whole_budget(data_dir, monkeypatch):
    """The exponent restarts' candidates run for the whole LM budget, not a short trip:
    a restarted exponent crosses its range slowly, and 40 + 40 iterations (the random
    restarts' trip, which a scripted edit once gave these too) lost their fixes."""
    import inspect

    import fastfit.kernels._restarts as restarts

    calls = []
    real = restarts.tournament

    def spy(tree, cfg, st, idx, make_cands, short, *args, **kwargs):
        if inspect.stack()[1].function == "restart_exponents":
            budget = cfg.iter_stage1 + cfg.iter_stage2 + cfg.iter_stage3
            calls.append((short, args[3] if len(args) > 3 else kwargs.get("mid", 0), budget))
        return real(tree, cfg, st, idx, make_cands, short, *args, **kwargs)

    monkeypatch.setattr(restarts, "tournament", spy)
    s = ff.read(data_dir / "pyeis_ex3.txt")[[0]]
    ff.fit(s, "R0-p(R1-Woa1,CPE1)")
    assert calls, "the exponent restarts did not run"
    for short, mid, budget in calls:
        assert (short, mid) == (budget, 0)
