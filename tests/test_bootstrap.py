"""fastfit.bootstrap (issue 20): resamples, refits, intervals, failure counts; the
analysis functions on bootstrap samples; FitResult.summary's disagreement flags.

References: scipy least_squares refits of the very resamples fastfit refits
(``fastfit.inference.resample``), the hat matrix of a finite-difference Jacobian for the
leverages, scipy.stats.mstats.mquantiles (Hyndman-Fan type 8) for the percentiles,
scipy.stats.linregress for the Arrhenius slope.  The acceptance-size coverage check
(92-98 % on 1,000 spectra) is in benchmarks/bench_inference.py.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats
from scipy.stats import mstats

import fastfit as ff
from fastfit import analysis as fa
from fastfit.errors import DataError, ShapeError
from fastfit.inference import BootstrapResult, leverages, resample
from fastfit.synthetic import NESTED_CIRCUITS, nested_candidates

from inference_ref import rcpe_model, scipy_refit

C2 = NESTED_CIRCUITS[1]
N_BOOT = 100


@pytest.fixture(scope="module")
def data():
    f, Z, labels, params = nested_candidates(n_per=8, seed=11)
    Z16 = Z[labels < 2]                          # the batch test_compare fits (same program)
    r = ff.fit(f, Z16, C2)[8:]                   # the eight two-arc spectra
    return f, Z16[8:], r, params[1]


@pytest.fixture(scope="module")
def bs(data):
    f, Z, r, _ = data
    # chunk=256: the refit program of that shape is the one every smaller call here uses
    return ff.bootstrap(r, f, Z, n=N_BOOT, seed=3, chunk=256)


def hat_diagonal(f, p, w):
    """(2F,) leverages h_i = [J (J^T J)^-1 J^T]_ii of the weighted residuals [Re; Im], J by
    central differences of the closed-form model in ln p (leverages do not depend on the
    parametrisation)."""
    cols = []
    for k in range(p.size):
        d = np.zeros(p.size)
        d[k] = 1e-6
        hi, lo = rcpe_model(p * np.exp(d), f, 2), rcpe_model(p * np.exp(-d), f, 2)
        g = (hi - lo) / 2e-6
        cols.append(np.concatenate([w * g.real, w * g.imag]))
    J = np.stack(cols, axis=1)
    return np.einsum("ij,ji->i", J, np.linalg.solve(J.T @ J, J.T))


def test_result_shapes_and_counts(bs, data):
    r = data[2]
    assert isinstance(bs, BootstrapResult) and len(bs) == 8
    assert bs.samples.shape == (N_BOOT, 8, 7) and bs.status.shape == (N_BOOT, 8)
    assert np.array_equal(bs.n_failed, (bs.status <= 0).sum(axis=0))
    assert np.array_equal(np.isnan(bs.samples).any(axis=2), bs.status <= 0)
    assert np.all(bs.ok) and bs.param_names == r.param_names
    sub = bs[2:5]
    assert sub.samples.shape == (N_BOOT, 3, 7)
    np.testing.assert_array_equal(sub.samples, bs.samples[:, 2:5])


def test_samples_are_the_refits_of_the_resamples(bs, data):
    """Each sample is the optimum of its resample: scipy least_squares on the same data,
    objective (weights of the fitted data) and bounds finds nothing better."""
    f, Z, r, _ = data
    for i in (0, 37):
        Zs = resample(r, f, Z, index=i, seed=3)
        assert Zs.shape == Z.shape and np.all(np.isfinite(Zs))
        for b in (0, 5):
            w = 1.0 / np.abs(Z[b])
            p_ref, chi2_ref = scipy_refit(f, Zs[b], r.params[b], 2, weight=w)
            d = (rcpe_model(bs.samples[i, b], f, 2) - Zs[b]) * w
            chi2 = np.sum(d.real ** 2 + d.imag ** 2)
            assert chi2 <= chi2_ref * (1 + 1e-8), (i, b, chi2, chi2_ref)
            np.testing.assert_allclose(bs.samples[i, b], p_ref, rtol=2e-4)


def test_leverages_are_the_hat_matrix_diagonal(data):
    f, Z, r, _ = data
    w = 1.0 / np.abs(Z)
    h = leverages(r, f, w, w)
    assert h.shape == (8, 2, f.size)
    for b in (0, 6):
        ref = hat_diagonal(f, r.params[b], w[b])
        np.testing.assert_allclose(h[b].reshape(-1), ref, atol=2e-6)
        assert abs(h[b].sum() - 7) < 1e-4               # trace of the hat matrix = P


def test_residual_resamples_draw_from_the_centred_residuals(data):
    f, Z, r, _ = data
    w = 1.0 / np.abs(Z)
    Zs = resample(r, f, Z, index=4, kind="residual", leverage=False)
    for b in (1, 7):
        e = np.concatenate([(r.Z_fit[b] - Z[b]).real, (r.Z_fit[b] - Z[b]).imag]) * np.tile(w[b], 2)
        pool = e - e.mean()
        drawn = np.concatenate([(r.Z_fit[b] - Zs[b]).real, (r.Z_fit[b] - Zs[b]).imag]) * np.tile(w[b], 2)
        dist = np.abs(drawn[:, None] - pool[None, :]).min(axis=1)
        assert dist.max() < 1e-12 * np.abs(pool).max()
        assert np.unique(drawn).size > 0.4 * drawn.size      # a resample, not a copy


@pytest.mark.parametrize("mult", ["rademacher", "mammen"])
def test_wild_resamples_multiply_each_corrected_residual(data, mult):
    f, Z, r, _ = data
    w = 1.0 / np.abs(Z)
    Zs = resample(r, f, Z, index=2, kind="wild", multipliers=mult)
    allowed = [-1.0, 1.0] if mult == "rademacher" else [-(5 ** 0.5 - 1) / 2, (5 ** 0.5 + 1) / 2]
    for b in (0, 4):
        e = np.concatenate([(r.Z_fit[b] - Z[b]).real, (r.Z_fit[b] - Z[b]).imag]) * np.tile(w[b], 2)
        e = e / np.sqrt(1 - hat_diagonal(f, r.params[b], w[b]))
        drawn = np.concatenate([(r.Z_fit[b] - Zs[b]).real, (r.Z_fit[b] - Zs[b]).imag]) * np.tile(w[b], 2)
        v = drawn / e
        assert np.min(np.abs(v[:, None] - np.array(allowed)[None, :]), axis=1).max() < 1e-5


def test_seeded_prefix(bs, data):
    f, Z, r, _ = data
    few = ff.bootstrap(r, f, Z, n=6, seed=3)
    np.testing.assert_array_equal(few.samples, bs.samples[:6])
    other = ff.bootstrap(r, f, Z, n=6, seed=4)
    assert not np.allclose(other.samples, few.samples)


def test_intervals_and_errors(bs, data):
    r, truth = data[2], data[3]
    lo, hi = bs.ci(0.9)
    for b, k in ((0, 1), (3, 4), (7, 6)):
        ref = mstats.mquantiles(bs.samples[:, b, k], [0.05, 0.95], alphap=1 / 3, betap=1 / 3)
        np.testing.assert_allclose([lo[b, k], hi[b, k]], ref, rtol=1e-12)
    np.testing.assert_allclose(bs.stderr, np.std(bs.samples, axis=0, ddof=1), rtol=1e-12)
    # identifiable two-arc spectra: bootstrap and linearised errors agree (n = 100: the
    # bootstrap sd is known to ~7 %)
    ratio = bs.stderr / r.stderr
    assert 0.8 < np.median(ratio) < 1.25 and np.all((ratio > 0.5) & (ratio < 2)), ratio
    assert not bs.disagreement().any()
    # 95 % intervals cover the truth (56 pairs: a loose bound; 1,000 spectra in benchmarks/)
    lo, hi = bs.ci(0.95)
    assert np.mean((lo <= truth) & (truth <= hi)) >= 0.85
    llo, lhi = bs.linear_ci(0.95)
    t = stats.t.ppf(0.975, r.dof)[:, None]
    np.testing.assert_allclose(lhi - llo, 2 * t * r.stderr, rtol=1e-9)
    df = bs.to_dataframe()
    assert len(df) == 8 * 7 and {"lo_boot", "hi_boot", "lo_linear", "n_failed"} <= set(df.columns)


def test_failed_resamples_are_counted_not_hidden(data):
    f, Z, r, _ = data
    failed_fit = dataclasses.replace(r, status=np.where(np.arange(8) == 2, -2, r.status))
    out = ff.bootstrap(failed_fit, f, Z, n=8, max_iter=1)
    bad = out.status <= 0
    assert bad[:, np.arange(8) != 2].any()                 # one LM step: budget exhausted
    np.testing.assert_array_equal(out.n_failed, bad.sum(axis=0))
    assert np.all(np.isnan(out.samples[bad])) and np.all(np.isfinite(out.samples[~bad]))
    assert out.n_failed[2] == 8 and not out.ok[2] and "not resampled" in out.message[2]
    lo, _ = out.ci()
    assert np.all(np.isnan(lo[2]))


def test_summary_flags_disagreeing_intervals(bs, data):
    r = data[2]
    assert "!" not in r.summary(bootstrap=bs).split("\n", 2)[2].rsplit("\n", 1)[0]
    # shrink one linearised error 5x: its intervals now disagree by 5x
    se = r.stderr.copy()
    se[4, 2] /= 5
    r5 = dataclasses.replace(r, stderr=se)
    bs5 = dataclasses.replace(bs, stderr_linear=se)
    text = r5.summary(bootstrap=bs5)
    flagged = [ln for ln in text.splitlines() if " !" in ln and not ln.startswith("!")]
    assert len(flagged) == 1 and flagged[0].lstrip().startswith("4 ")
    assert "1 of 56 parameters" in text
    with pytest.raises(ShapeError, match="bootstrap"):
        r.summary(bootstrap=bs[:3])


def test_analysis_functions_take_bootstrap_samples(bs, data):
    r = data[2]
    k = [r.circuit.param_index(n) for n in ("R2", "CPE2_Q", "CPE2_n")]
    R, Q, n = (bs.samples[..., i] for i in k)
    C = fa.effective_capacitance(R, Q, n, samples=True, level=0.9)
    ref = [fa.effective_capacitance(R[i], Q[i], n[i]) for i in range(N_BOOT)]
    np.testing.assert_allclose(C.samples, np.array(ref), rtol=1e-13)
    np.testing.assert_allclose(C.lo[3], mstats.mquantiles(C.samples[:, 3], [0.05],
                                                          alphap=1 / 3, betap=1 / 3)[0])
    assert C.lo.shape == (8,) and np.all(C.lo < C.hi) and C.level == 0.9
    C_fit = fa.effective_capacitance(*(r.params[:, i] for i in k))
    assert np.all(C.contains(C_fit))
    f_apex = fa.apex_frequency(R, Q, n, samples=True)
    assert np.all(f_apex.contains(fa.apex_frequency(*(r.params[:, i] for i in k))))
    # Arrhenius: the eight spectra as eight temperatures; Ea of every resample (unit
    # weights) is scipy's linregress slope of ln(1/R) on -1/(k_B T)
    T = np.linspace(250.0, 320.0, 8)
    res = fa.arrhenius(T, r.params[:, k[0]], law="inv_R", sigma_samples=R)
    for i in (0, 50):
        x, y = -1.0 / (fa.K_B_EV * T), np.log(1.0 / R[i])
        assert abs(res.Ea_bootstrap.samples[i] - stats.linregress(x, y).slope) < 1e-9
    assert res.Ea_bootstrap.lo < res.Ea_eV < res.Ea_bootstrap.hi
    assert "bootstrap" in res.summary()
    R_nan = R.copy()
    R_nan[5, 2] = np.nan                                  # a failed resample: left out
    res2 = fa.arrhenius(T, r.params[:, k[0]], law="inv_R", sigma_samples=R_nan)
    keep = np.arange(8) != 2
    ref = stats.linregress(-1.0 / (fa.K_B_EV * T[keep]), np.log(1.0 / R[5, keep])).slope
    assert abs(res2.Ea_bootstrap.samples[5] - ref) < 1e-9
    with pytest.raises(ShapeError, match="R_samples"):
        fa.arrhenius(T, r.params[:, k[0]], law="inv_R", sigma_samples=R[:, :3])


@pytest.mark.parametrize("kwargs, err, needle", [
    (dict(n=1), DataError, "n "),
    (dict(n=2.5), DataError, "n "),
    (dict(kind="jackknife"), DataError, "kind"),
    (dict(kind="wild", multipliers="gauss"), DataError, "multipliers"),
    (dict(weight="sigma"), DataError, "weight"),
])
def test_bad_input_names_the_argument(data, kwargs, err, needle):
    f, Z, r, _ = data
    with pytest.raises(err, match=needle):
        ff.bootstrap(r, f, Z, **kwargs)


def test_bad_data_and_result(data):
    f, Z, r, _ = data
    with pytest.raises(ShapeError, match="fit_result"):
        ff.bootstrap(r.params, f, Z)
    with pytest.raises(ShapeError, match="pass the data that was fitted"):
        ff.bootstrap(r, f, Z[:3])
    with pytest.raises(DataError, match="level"):
        ff.bootstrap(r, f, Z, n=2).ci(1.5)
    with pytest.raises(DataError, match="index"):
        resample(r, f, Z, index=-1)
