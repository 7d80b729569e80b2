"""fit_series: warm starts and parameters shared across a series."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

import fastfit as ff
from fastfit.synthetic import add_noise, log_freq

C = ff.Circuit("R0-p(R1,CPE1)-p(R2,CPE2)")


@pytest.fixture(scope="module")
def drifting():
    rng = np.random.default_rng(31)
    f = log_freq(7e6, 10.0)
    B = 12
    P = np.tile([20.0, 100.0, 3e-9, 0.88, 300.0, 2e-8, 0.8], (B, 1))
    P[:, 4] *= 1 + 0.03 * np.arange(B)
    Z = add_noise(C.impedance(f, P), 0.003, rng)
    return f, Z, P


def test_warm_start_never_worse(drifting):
    f, Z, P = drifting
    r0 = ff.fit(f, Z, C)
    r = ff.fit_series(f, Z, C)
    assert np.all(r.chi2 <= r0.chi2 * (1 + 1e-9))
    assert r.ok.all()


SHARED = ["R0", "CPE1_n", "CPE2_n"]
SH, LOC = [0, 3, 6], [1, 2, 4, 5]
LOGM = np.array([1, 1, 1, 0, 1, 1, 0], bool)


@pytest.fixture(scope="module")
def joint(drifting):
    f, Z, _ = drifting
    return ff.fit_series(f, Z, C, shared=SHARED)


def _unpack(x, B):
    p = np.empty((B, 7))
    p[:, SH] = x[:3]
    p[:, LOC] = x[3:].reshape(B, 4)
    return np.where(LOGM, np.exp(p), p)


def scipy_joint(f, Z, p_start, w):
    """Independent reference: scipy least_squares ('lm', tight) on the stacked joint
    problem (shared R0, CPE exponents; weights ``w`` (B, F)), from ``p_start`` (B, 7).
    Residuals [Re of all spectra; Im of all spectra].  Returns the OptimizeResult."""
    B = len(Z)

    def resid(x):
        d = (C.impedance(f, _unpack(x, B)) - Z) * w
        return np.concatenate([d.real.ravel(), d.imag.ravel()])

    x0 = np.where(LOGM, np.log(p_start), p_start)
    x0 = np.concatenate([x0[0, SH], x0[:, LOC].ravel()])
    return least_squares(resid, x0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)


def test_shared_parameters_joint_optimum(drifting, joint):
    f, Z, P = drifting
    shared, sh, loc, lm, r = SHARED, SH, LOC, LOGM, joint
    assert np.all(r.params[:, 0] == r.params[0, 0]) and np.all(r.params[:, 3] == r.params[0, 3])
    B = len(Z)
    # independent reference: scipy on the stacked joint problem, started at fastfit's result
    s = scipy_joint(f, Z, r.params, 1 / np.abs(Z))
    assert r.chi2.sum() <= 2 * s.cost * (1 + 1e-6)
    p_ref = _unpack(s.x, B)
    np.testing.assert_allclose(r.params, p_ref, rtol=1e-4)
    # joint stderr of a shared parameter from the stacked Jacobian
    J = s.jac
    cov = np.linalg.inv(J.T @ J) * (2 * s.cost) / (J.shape[0] - J.shape[1])
    se_n1 = np.sqrt(cov[1, 1])   # CPE1_n is linear (not log)
    assert r.stderr[0, 3] == pytest.approx(se_n1, rel=1e-2)
    # the whole per-spectrum covariance (local, shared and local-shared blocks) against
    # the same stacked-Jacobian covariance, mapped to physical units
    for b in (0, 7):
        idx = np.array([0, 1, 2] + [3 + 4 * b + i for i in range(4)])   # positions in s.x
        order = np.array(sh + loc)
        p_b = r.params[b, order]
        d = np.where(lm[order], p_b, 1.0)
        ref = np.zeros((7, 7))
        ref[np.ix_(order, order)] = cov[np.ix_(idx, idx)] * d[:, None] * d[None, :]
        scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
        np.testing.assert_allclose(r.cov[b] / scale, ref / scale, atol=2e-2)
        corr = ref / scale
        assert np.abs(corr[np.ix_(loc, sh)]).max() > 0.1   # the cross terms matter here
    assert r.options["shared"] == shared and r.ok.all()


def test_shared_and_fixed_conflict(drifting):
    f, Z, _ = drifting
    with pytest.raises(ff.errors.DataError, match="fixed and shared"):
        ff.fit_series(f, Z, C, shared=["R0"], fixed={"R0": 20.0})


def test_bootstrap_of_a_joint_fit_refits_the_series_jointly(drifting, joint):
    """bootstrap of a fit_series(shared=...) result: each resample of the series is one
    joint fit (shared values equal across the spectra of a resample, and the optimum of
    the stacked problem by scipy on the same resample); the leverages are the diagonal of
    the stacked problem's hat matrix."""
    from fastfit.inference import leverages, resample

    f, Z, _ = drifting
    r, B = joint, len(Z)
    w = 1 / np.abs(Z)
    bs = ff.bootstrap(r, f, Z, n=5, seed=2)
    assert bs.samples.shape == (5, B, 7) and np.all(bs.status > 0)
    for k in SH:
        assert np.all(bs.samples[:, :, k] == bs.samples[:, :1, k])
    assert np.ptp(bs.samples[:, 0, 0]) > 0                 # the shared R0 is refitted
    for i in (0, 3):
        Zs = resample(r, f, Z, index=i, seed=2)
        s = scipy_joint(f, Zs, r.params, w)
        d = (C.impedance(f, bs.samples[i]) - Zs) * w
        assert np.sum(np.abs(d) ** 2) <= 2 * s.cost * (1 + 1e-6)
        np.testing.assert_allclose(bs.samples[i], _unpack(s.x, B), rtol=1e-4)
    # leverages: hat-matrix diagonal of the stacked Jacobian at the joint optimum
    J = scipy_joint(f, Z, r.params, w).jac
    hat = np.einsum("ij,ji->i", J, np.linalg.solve(J.T @ J, J.T))
    h = leverages(r, f, w, w)
    ref = np.stack([hat[: B * f.size].reshape(B, -1), hat[B * f.size:].reshape(B, -1)], axis=1)
    np.testing.assert_allclose(h, ref, atol=1e-4)
    assert h.sum() == pytest.approx(3 + 4 * B, rel=1e-4)
