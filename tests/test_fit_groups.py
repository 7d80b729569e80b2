"""Spectra measured over different windows in one batch: each window group is fitted as
it would be alone (fastfit.fitting._groups), and the grouping itself."""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from fastfit._batch import as_batch
from fastfit.fitting import _groups
from fastfit.fitting._groups import window_groups
from fastfit.synthetic import add_noise

ARCS = ff.Circuit("R0-p(R1,CPE1)-p(R2,CPE2)")
F_A = np.logspace(6, -1, 61)          # 1 MHz - 0.1 Hz
F_B = np.logspace(4, -3, 61)          # 10 kHz - 1 mHz


def _batch(freq, mask=None):
    Z = np.ones(freq.shape, complex)
    return as_batch(freq, Z, mask)


def test_a_shared_grid_is_one_group():
    groups = window_groups(_batch(np.tile(F_A, (5, 1))))
    assert len(groups) == 1 and np.array_equal(groups[0], np.arange(5))


def test_masks_that_drop_a_few_end_points_keep_one_group():
    mask = np.ones((6, 61), bool)
    mask[1, :3] = False                # highest three points dropped (0.35 decade)
    mask[2, -2:] = False               # lowest two
    mask[3, [0, 30, 60]] = False
    b = _batch(np.tile(F_A, (6, 1)), mask)
    assert not b.shared_freq
    assert len(window_groups(b)) == 1


def test_other_windows_are_other_groups_in_order_of_first_row():
    freq = np.stack([F_B, F_A, F_B, F_A, F_A])
    groups = window_groups(_batch(freq))
    assert [g.tolist() for g in groups] == [[0, 2], [1, 3, 4]]


def test_too_many_windows_widen_the_tolerance(monkeypatch):
    freq = np.stack([np.logspace(6 - k, -1 - k, 61) for k in range(4)])   # 1-decade steps
    assert len(window_groups(_batch(freq))) == 4
    monkeypatch.setattr(_groups, "MAX_GROUPS", 2)
    groups = window_groups(_batch(freq))
    assert len(groups) <= 2
    assert sorted(np.concatenate(groups).tolist()) == [0, 1, 2, 3]


@pytest.fixture(scope="module")
def two_windows():
    """Three two-arc spectra over each of two windows, interleaved."""
    rng = np.random.default_rng(20261206)
    p = np.array([[5.0, 300.0, 2e-7, 0.9, 800.0, 5e-4, 0.8],
                  [2.0, 1000.0, 1e-8, 0.95, 200.0, 1e-3, 0.75],
                  [10.0, 50.0, 1e-6, 0.85, 3000.0, 2e-4, 0.7]])
    freq = np.stack([F_A, F_B, F_A, F_B, F_A, F_B])
    Z0 = np.stack([ARCS.impedance(f, p[k // 2]) for k, f in enumerate(freq)])
    return freq, add_noise(Z0, 0.005, rng)


def test_a_mixed_batch_fits_each_window_as_alone(two_windows, monkeypatch):
    """Every spectrum's result in the mixed batch equals its result in a batch of its
    own window only; one plan over both windows (the grouping switched off) gives other
    results -- the scan and relocation grids then span 10 mHz - 1 MHz for all."""
    freq, Z = two_windows
    mixed = ff.fit(freq, Z, ARCS)
    for rows in ([0, 2, 4], [1, 3, 5]):
        alone = ff.fit(freq[rows[0]], Z[rows], ARCS)
        np.testing.assert_allclose(mixed.params[rows], alone.params, rtol=1e-12)
        np.testing.assert_allclose(mixed.chi2[rows], alone.chi2, rtol=1e-12)
        assert np.array_equal(mixed.status[rows], alone.status)
    monkeypatch.setattr("fastfit.fitting._driver.window_groups",
                        lambda batch: [np.arange(batch.n_spectra)])
    one_plan = ff.fit(freq, Z, ARCS)
    assert not np.allclose(one_plan.params, mixed.params, rtol=1e-9, atol=0)


def test_progress_counts_every_spectrum_once_across_groups(two_windows):
    freq, Z = two_windows
    seen = []
    ff.fit(freq, Z, ARCS, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (6, 6)
    assert all(t == 6 for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_moved_rows_counts_gains_and_far_moves():
    """A basin change is a chi2 gain above TWIN_GAIN, or any gain above MOVE_GAIN with a
    free parameter moved by more than MOVE_DX; a fixed parameter's move does not count."""
    from fastfit.kernels._lm import LMState
    from fastfit.kernels._moves import MOVE_DX, moved_rows

    cost0 = np.ones(5)
    x0 = np.zeros((5, 2))
    x = np.zeros((5, 2))
    cost = np.array([1 - 2e-4, 1 - 1e-6, 1 - 1e-6, 1.0, 1 - 1e-6])
    x[1, 0] = x[3, 0] = 2 * MOVE_DX        # row 3: moved, no gain
    x[4, 1] = 2 * MOVE_DX                  # row 4: only the fixed parameter moved
    st = LMState(x=x, cost=cost, A=None, g=None, mu=None, nu=None, n_iter=None, status=None)
    rows = moved_rows(cost0, x0, st, np.array([True, False]))
    assert rows.tolist() == [0, 1]


def test_a_spectrum_on_a_shared_grid_fits_as_alone_at_any_row(data_dir):
    """On one grid nothing of a spectrum's fit depends on its batch-mates or its row: the
    plan, the attainable chi2 and the random restarts' draws (keyed by the spectrum's
    data) are the same in any batch.  Real spectra with a circuit that does not describe
    them, so that every one escalates to the random restarts."""
    s = ff.read(data_dir / "hybriddrt_Sample2_PEIS_AtRest.csv")[[9, 5, 0]]
    circuit = "R0-p(R1-W1,CPE1)"
    batch = ff.fit(s, circuit)
    assert batch.escalated.all()
    for i in range(3):
        alone = ff.fit(s[[i]], circuit)
        np.testing.assert_allclose(batch.params[i], alone.params[0], rtol=1e-12)
        np.testing.assert_allclose(batch.chi2[i], alone.chi2[0], rtol=1e-12)
