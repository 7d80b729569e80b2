"""fastfit.profile (issue 20): profile-likelihood intervals, checked against a scipy
profile (least_squares with the parameter held, brentq for the crossing), a model that is
linear in its parameters (closed form: the linearised interval) and a parameter at its
bound (one-sided interval)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import brentq, least_squares

import fastfit as ff
from fastfit.errors import DataError, FastfitError, ShapeError
from fastfit.inference import ProfileResult
from fastfit.synthetic import NESTED_CIRCUITS, nested_candidates

from inference_ref import rcpe_model

C2 = NESTED_CIRCUITS[1]


@pytest.fixture(scope="module")
def data():
    f, Z, labels, params = nested_candidates(n_per=8, seed=11)
    Z16 = Z[labels < 2]                   # the batch of test_compare / test_bootstrap
    return f, Z16, ff.fit(f, Z16, C2)


def scipy_profile_chi2(f, z, p_hat, k, value):
    """min chi2 over the other parameters with parameter k held at ``value`` (modulus
    weights, log parameters, CPE exponents in (0, 1]), from the fit's optimum."""
    logm = np.ones(p_hat.size, bool)
    logm[3::3] = False
    free = np.arange(p_hat.size) != k
    w = 1.0 / np.abs(z)

    def res(x):
        p = p_hat.copy()
        p[free] = np.where(logm[free], np.exp(x), x)
        p[k] = value
        d = (rcpe_model(p, f, 2) - z) * w
        return np.concatenate([d.real, d.imag])

    x0 = np.where(logm, np.log(p_hat), np.minimum(p_hat, 1 - 1e-12))[free]
    hi = np.where(logm, np.inf, 1.0)[free]
    s = least_squares(res, x0, bounds=(-np.inf, hi), method="trf", xtol=1e-14, ftol=1e-14,
                      gtol=1e-14, max_nfev=5000)
    return 2 * s.cost


def test_interval_matches_a_scipy_profile(data):
    f, Z, r = data
    rr = r[8:]
    pr = ff.profile(rr, f, Z[8:], "R2", level=0.95)
    assert isinstance(pr, ProfileResult) and pr.param == "R2" and pr.unit == "ohm"
    assert np.all(pr.ok) and not pr.open_lo.any() and not pr.open_hi.any()
    k = r.circuit.param_index("R2")
    for b in (1, 6):
        p_hat, chi2_min = rr.params[b], rr.chi2[b]
        c = rr.chi2_red[b] * stats.t.ppf(0.975, rr.dof[b]) ** 2
        np.testing.assert_allclose(pr.threshold[b], c, rtol=1e-9)

        def g(v):
            return scipy_profile_chi2(f, Z[8 + b], p_hat, k, v) - chi2_min - c

        se = rr.stderr[b, k]
        lo = brentq(g, p_hat[k] - 6 * se, p_hat[k], xtol=1e-10 * se)
        hi = brentq(g, p_hat[k], p_hat[k] + 6 * se, xtol=1e-10 * se)
        assert abs(pr.lo[b] - lo) < 2e-3 * (p_hat[k] - lo), (b, pr.lo[b], lo)
        assert abs(pr.hi[b] - hi) < 2e-3 * (hi - p_hat[k]), (b, pr.hi[b], hi)
        # every visited point of the profile is scipy's profile there
        grid, d = pr.grid[b], pr.delta_chi2[b]
        for j in np.nonzero(np.isfinite(grid))[0][1::4]:
            ref = scipy_profile_chi2(f, Z[8 + b], p_hat, k, grid[j]) - chi2_min
            assert abs(d[j] - ref) < 1e-6 * chi2_min, (j, d[j], ref)
    # identifiable spectra: close to the linearised interval
    llo, lhi = pr.linear_ci()
    np.testing.assert_allclose(pr.hi - pr.lo, lhi - llo, rtol=0.15)
    df = pr.to_dataframe()
    assert list(df.columns[:3]) == ["value", "lo", "hi"] and len(df) == 8
    assert "R2" in pr.summary()


def test_linear_model_gives_the_linearised_interval():
    """Z = R0 + j w L is linear in (R0, L), so chi2 is exactly quadratic: the profile
    interval of R0 is R0 +- t(dof) se (Bates & Watts 6.1.2)."""
    rng = np.random.default_rng(5)
    f = np.logspace(5, 0, 30)
    Z = 10.0 + 2j * np.pi * f * 1e-5 + 0.02 * (rng.standard_normal((3, 30))
                                              + 1j * rng.standard_normal((3, 30)))
    r = ff.fit(f, Z, "R0-L1", weight="unit")
    assert np.all(r.ok)
    for level in (0.68, 0.95):
        pr = ff.profile(r, f, Z, "R0", level=level)
        t = stats.t.ppf(0.5 + level / 2, r.dof)
        np.testing.assert_allclose(pr.lo, r.params[:, 0] - t * r.stderr[:, 0], rtol=1e-7)
        np.testing.assert_allclose(pr.hi, r.params[:, 0] + t * r.stderr[:, 0], rtol=1e-7)
    pa = ff.profile(r, f, Z, "R0", absolute_sigma=True)          # chi2_1 quantile
    np.testing.assert_allclose(pa.threshold, stats.chi2.ppf(0.95, 1), rtol=1e-9)


def test_parameter_at_a_bound_gives_a_one_sided_interval(data):
    """Second arcs made ideal (CPE2_n = 1): where the fit puts CPE2_n at its bound 1 (no
    linearised error), the profile is open at 1 and closed below.  A second arc fitted
    to a one-arc spectrum (merged arcs) has a flat profile: open on both sides."""
    f, Z, r = data
    truth = nested_candidates(n_per=8, seed=11)[3][1].copy()
    truth[:, 6] = 1.0
    rng = np.random.default_rng(2)
    Zi = np.stack([rcpe_model(p, f, 2) for p in truth])
    Zi = Zi + 0.005 * np.abs(Zi) * (rng.standard_normal(Zi.shape)
                                    + 1j * rng.standard_normal(Zi.shape)) / np.sqrt(2)
    Z16 = np.concatenate([Z[:8], Zi])                   # the shape of the other fits
    ri = ff.fit(f, Z16, C2)
    at = 8 + np.nonzero((ri.params[8:, 6] >= 1.0) & (ri.status[8:] > 0))[0]
    merged = np.nonzero((r.params[:8, 3] >= 1.0) & (r.status[:8] > 0))[0]
    assert at.size and merged.size, (ri.params[8:, 6], r.params[:8, 3])
    assert np.all(np.isnan(ri.stderr[at, 6]))
    pr = ff.profile(ri[at], f, Z16[at], "CPE2_n")
    assert np.all(pr.open_hi & (pr.hi == 1.0) & ~pr.open_lo & (pr.lo < 1.0) & pr.ok)
    assert np.all(pr.lo > 0.9), pr.lo                    # n of a clean arc: well determined
    assert "≥1" in pr.summary()
    pm = ff.profile(r[merged[:1]], f, Z[merged[:1]], "CPE1_n")
    assert pm.ok[0] and pm.open_hi[0] and pm.open_lo[0]


@pytest.mark.parametrize("kwargs, err, needle", [
    (dict(), ShapeError, "param is required"),
    (dict(param="R7"), FastfitError, "R7"),
    (dict(param="R2", level=0.0), DataError, "level"),
    (dict(param="R2", steps=[2.0, 1.0]), DataError, "steps"),
])
def test_bad_input_names_the_argument(data, kwargs, err, needle):
    f, Z, r = data
    with pytest.raises(err, match=needle):
        ff.profile(r[:2], f, Z[:2], **kwargs)


def test_fixed_parameter_cannot_be_profiled(data):
    f, Z, r = data
    fixed = np.zeros(7, bool)
    fixed[3] = True
    rf = dataclasses.replace(r[:2], fixed=fixed)
    with pytest.raises(DataError, match="CPE1_n was fixed"):
        ff.profile(rf, f, Z[:2], "CPE1_n")
