"""fastfit.kk(representation=...): lin-KK on the admittance (parallel RC ladder with a
parallel capacitance) against a separate scipy least-squares fit, blocking electrodes,
"auto" on every real spectrum of tests/data."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import lstsq

import fastfit as ff
from fastfit.errors import DataError
from test_kk import real  # noqa: F401  (module fixture: every real spectrum, padded)

F71 = np.logspace(6, -1, 71)


def blocking(n, seed, noise=0.002):
    """R0-p(R1,CPE1)-CPE2 (no low-frequency intercept): R0 1-100 ohm, R1 0.1-10 kohm,
    arc apex 1-100 kHz, CPE exponents 0.75-0.95, Q2 1e-7..1e-5, proportional noise."""
    rng = np.random.default_rng(seed)
    jw = 2j * np.pi * F71[None, :]
    R0, R1 = 10 ** rng.uniform(0, 2, (n, 1)), 10 ** rng.uniform(2, 4, (n, 1))
    n1, n2 = rng.uniform(0.75, 0.95, (n, 1)), rng.uniform(0.8, 0.95, (n, 1))
    Q1 = (1 / (2 * np.pi * 10 ** rng.uniform(3, 5, (n, 1)))) ** n1 / R1
    Q2 = 10 ** rng.uniform(-7, -5, (n, 1))
    Z = R0 + R1 / (1 + R1 * Q1 * jw ** n1) + 1 / (Q2 * jw ** n2)
    return ff.synthetic.add_noise(Z, noise, rng)


@pytest.fixture(scope="module")
def blocked():
    Z = blocking(64, seed=4)
    return Z, {rep: ff.kk(F71, Z, representation=rep)
               for rep in ("impedance", "admittance", "auto")}


def maxwell_reference(f, Z, M):
    """The admittance model at fixed M written out: columns 1, j w, 1/(j w) and
    j w tau_k / (1 + j w tau_k) on impedance.py's tau grid, Re and Im rows weighted by
    1/|Y|, solved by scipy's lstsq.  Returns (G0, G_k, C_p, Z_fit)."""
    w = 2 * np.pi * f
    Y = 1 / Z
    tau = np.logspace(np.log10(1 / w.max()), np.log10(1 / w.min()), M)
    cols = [np.ones_like(w) + 0j, 1j * w, 1 / (1j * w)] + [1j * w * t / (1 + 1j * w * t)
                                                           for t in tau]
    A = np.stack(cols, axis=1) / np.abs(Y)[:, None]
    b = Y / np.abs(Y)
    x = lstsq(np.vstack([A.real, A.imag]), np.concatenate([b.real, b.imag]))[0]
    Y_fit = np.stack(cols, axis=1) @ x
    return x[0], x[3:], x[1], 1 / Y_fit


def test_admittance_at_fixed_M_equals_scipy_least_squares(blocked):
    Z, _ = blocked
    for M in (5, 17):
        r = ff.kk(F71, Z, representation="admittance", c=None, max_M=M)   # one program
        assert (r.representation == "admittance").all() and (r.M == M).all()
        for i in range(6):
            G0, G, C_p, Z_fit = maxwell_reference(F71, Z[i], M)
            scale = np.abs(G).max()
            np.testing.assert_allclose(r.G[i], G, atol=1e-7 * scale)
            assert abs(r.G0[i] - G0) < 1e-7 * scale
            assert abs(r.C_par[i] - C_p) * 2 * np.pi * F71.max() < 1e-7 * scale   # w C_p in S
            np.testing.assert_allclose(r.Z_fit[i], Z_fit, rtol=1e-8)
            mu = 1 - np.abs(G[G < 0]).sum() / np.abs(G[G >= 0]).sum()
            assert abs(r.mu[i] - mu) < 1e-6
        assert np.isnan(r.R0).all() and np.isnan(r.R).all()


def test_blocking_electrodes_auto_chooses_admittance_and_passes(blocked):
    Z, res = blocked
    auto = res["auto"]
    assert (auto.representation == "admittance").all()
    assert auto.valid.all() and auto.mask.all()
    assert np.nanmax(auto.max_residual) < 0.05
    assert not res["impedance"].valid.any()            # no series C: the Voigt chain fails
    # the admittance parameters are physical: positive branch conductances dominate and
    # the DC conductance of a blocking electrode is ~0 (next to 1/R0)
    assert np.all(np.abs(auto.G0) < 0.05 / np.abs(Z[:, 0]))


def test_auto_never_worse_than_either_representation_on_real_data(real):  # noqa: F811
    names, S = real
    rz = ff.kk(S, representation="impedance")
    ry = ff.kk(S, representation="admittance")
    ra = ff.kk(S, representation="auto")
    best = np.minimum(rz.pseudo_chi2, np.where(np.isfinite(ry.pseudo_chi2), ry.pseudo_chi2,
                                               np.inf))
    assert np.all(ra.pseudo_chi2 <= best * (1 + 1e-12)), names
    pick = ra.representation == "admittance"
    np.testing.assert_array_equal(ra.M, np.where(pick, ry.M, rz.M))
    np.testing.assert_array_equal(ra.mask, np.where(pick[:, None], ry.mask, rz.mask))
    assert set(ra.representation) <= {"impedance", "admittance"}
    assert np.isnan(ra.R0[pick]).all() and np.isnan(ra.G0[~pick]).all()
    sub = ra[np.nonzero(pick)[0]]
    assert (sub.representation == "admittance").all() and len(sub) == pick.sum()
    assert "representation" in ra.to_dataframe()


def test_default_stays_impedance_and_bad_representation_raises(blocked):
    Z, res = blocked
    r = ff.kk(F71, Z)
    assert (r.representation == "impedance").all()
    np.testing.assert_array_equal(r.M, res["impedance"].M)
    with pytest.raises(DataError, match="representation"):
        ff.kk(F71, Z[:3], representation="Y")


def test_kernel_per_spectrum_start_equals_separate_runs(blocked):
    """lin_kk(min_M=(B,)) -- what the admittance reruns use -- gives each spectrum the
    result of a run with its own scalar min_M; min_M > max_M skips a spectrum."""
    from fastfit.kernels import lin_kk

    Z, _ = blocked
    w = np.ones(Z.shape)
    def run(m):     # the arguments exactly as kk passes them: its compiled program
        return lin_kk(2 * np.pi * F71, Z, w, 0.85, max_M=50,
                      min_M=np.broadcast_to(np.asarray(m, np.int64), (64,)), fixed=False,
                      mode=0, add_cap=False, add_ind=True, width=50, chunk=64)
    start = np.tile([1, 4, 9, 51], 16)
    mixed = run(start)
    for m in (1, 4, 9):
        sep = run(m)
        sel = start == m
        np.testing.assert_array_equal(np.asarray(mixed.M)[sel], np.asarray(sep.M)[sel])
        np.testing.assert_allclose(np.asarray(mixed.coef)[sel], np.asarray(sep.coef)[sel],
                                   rtol=1e-12, atol=1e-12)
    assert (np.asarray(mixed.M)[start == 51] == 0).all()
    assert (np.asarray(run(4).M) >= 4).all()
