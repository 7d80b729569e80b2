"""fastfit.compare (issue 20): information criteria, the choice per spectrum, weights,
F-tests of nested pairs -- checked against scipy (least_squares optimum, F distribution,
Gaussian log-likelihood) and against known-truth synthetic spectra.

Small batches of the two smallest nested candidates keep compile time low; the
acceptance-size model choice (4 x 1,000 spectra, four candidates) is in
benchmarks/bench_inference.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

import fastfit as ff
from fastfit.errors import DataError, FastfitError, ShapeError
from fastfit.inference import (Comparison, information_criteria, is_nested, nested_pairs,
                               residual_correlation)
from fastfit.synthetic import NESTED_CIRCUITS, nested_candidates

from inference_ref import rcpe_model, scipy_refit

C1, C2 = NESTED_CIRCUITS[:2]          # one and two R||CPE arcs


@pytest.fixture(scope="module")
def data():
    f, Z, labels, params = nested_candidates(n_per=8, seed=11)
    keep = labels < 2
    return f, Z[keep], labels[keep], params[:2]


@pytest.fixture(scope="module")
def cmp(data):
    f, Z, _, _ = data
    return ff.compare(f, Z, [C1, C2])


def test_picks_the_generating_circuit(cmp, data):
    labels = data[2]
    assert isinstance(cmp, Comparison) and len(cmp) == labels.size
    assert np.array_equal(cmp.best_index, labels)
    assert list(cmp.best) == [[C1, C2][k] for k in labels]
    assert np.all(cmp.ok) and not cmp.excluded.any()
    assert cmp.counts() == {C1: 8, C2: 8, "none": 0}
    assert cmp.message[0].startswith(C1 + " (weight ") and len(cmp.message) == 16
    # BIC, weights exp(-d/2) normalised (Burnham & Anderson 2.9), from the table itself
    bic = np.stack([r.bic for r in cmp.results], axis=1)
    np.testing.assert_allclose(cmp.scores, bic)
    w = np.exp(-0.5 * (bic - bic.min(axis=1, keepdims=True)))
    np.testing.assert_allclose(cmp.weights, w / w.sum(axis=1, keepdims=True), atol=1e-12)
    assert np.all(cmp.weights[np.arange(len(cmp)), cmp.best_index] > 0.5)


def test_each_candidate_is_at_its_optimum(cmp, data):
    """scipy least_squares started at fastfit's optimum finds nothing better."""
    f, Z, _, _ = data
    for m, arcs in ((0, 1), (1, 2)):
        r = cmp.results[m]
        for b in (0, 2, 9):
            _, chi2 = scipy_refit(f, Z[b], r.params[b], arcs)
            assert r.chi2[b] <= chi2 * (1 + 1e-7), (m, b, r.chi2[b], chi2)
            assert r.chi2[b] >= chi2 * (1 - 1e-6)


def test_criteria_against_gaussian_log_likelihood(cmp, data):
    """AIC/BIC = -2 ln L + penalty, L the Gaussian likelihood at the ML variance chi2/n
    (scipy.stats.norm), up to a constant shared by all candidates of a spectrum."""
    for b in (0, 12):
        consts = []
        for r in cmp.results:
            e = np.concatenate([r.residuals[b].real, r.residuals[b].imag])[
                np.tile(r.mask[b], 2)]
            n, k = e.size, r.n_free
            ll = stats.norm.logpdf(e, scale=np.sqrt(np.sum(e ** 2) / n)).sum()
            ic = information_criteria(r[b])
            consts.append([ic["aic"][0] - (-2 * ll + 2 * k),
                           ic["bic"][0] - (-2 * ll + k * np.log(n)),
                           ic["aicc"][0] - (-2 * ll + 2 * k + 2 * k * (k + 1) / (n - k - 1))])
        consts = np.array(consts)
        np.testing.assert_allclose(consts, consts[:1].repeat(len(consts), 0), atol=1e-8)
        n = 2 * cmp.results[0].n_points[b]
        np.testing.assert_allclose(consts[0], -n * (1 + np.log(2 * np.pi)), rtol=1e-12)


def test_f_test_matches_scipy(cmp):
    assert cmp.pairs == ((0, 1),)
    small, big = cmp.results
    n = 2 * big.n_points
    d1, d2 = big.n_free - small.n_free, n - big.n_free
    F = ((small.chi2 - big.chi2) / d1) / (big.chi2 / d2)
    ref = stats.f.sf(F, d1, d2)
    np.testing.assert_allclose(cmp.p_value(C1, C2), ref, rtol=1e-9, atol=1e-300)
    # two-arc spectra: the second arc is real (tiny p); one-arc: no evidence for it
    labels = cmp.best_index
    assert np.all(cmp.p_values[labels == 1, 0] < 1e-6)
    assert np.median(cmp.p_values[labels == 0, 0]) > 0.01


def test_dataframe_and_indexing(cmp):
    df = cmp.to_dataframe()
    B, M = len(cmp), 2
    assert list(df.columns[:9]) == ["spectrum", "circuit", "n_params", "chi2", "chi2_red",
                                    "aic", "aicc", "bic", "status"]
    assert len(df) == B * M
    row = df[(df.spectrum == 3) & (df.circuit == C2)].iloc[0]
    assert row.n_params == 7 and row.chi2 == cmp.results[1].chi2[3]
    assert df.groupby("spectrum").weight.sum().round(12).eq(1).all()
    assert df.best.sum() == B
    sub = cmp[4:9]
    assert isinstance(sub, Comparison) and len(sub) == 5
    np.testing.assert_array_equal(sub.best_index, cmp.best_index[4:9])
    np.testing.assert_array_equal(sub.results[1].params, cmp.results[1].params[4:9])
    assert len(cmp[3]) == 1 and cmp[3].best[0] == cmp.best[3]
    assert "chosen" in cmp.summary() and len(cmp.f_tests()) == B


def test_series_input_same_choice(cmp, data):
    f, Z, _, _ = data
    series = ff.SpectrumSeries(freq=np.broadcast_to(f, Z.shape).copy(), Z=Z,
                               mask=np.ones(Z.shape, bool), time=np.arange(len(Z)) * 60.0)
    again = ff.compare(series, circuits=[C1, C2])
    np.testing.assert_array_equal(again.best_index, cmp.best_index)
    np.testing.assert_allclose(again.results[1].chi2, cmp.results[1].chi2, rtol=1e-9)


def test_residual_correlation_shows_a_missing_arc(cmp, data):
    """One arc fitted to two-arc spectra leaves runs of one sign (lag-1 correlation near
    1); the right circuit leaves white noise (rho ~ N(-1/N, 1/(2N)), |rho| < 0.3)."""
    f, _, labels, _ = data
    one = cmp.results[0]
    rho = residual_correlation(one, f)
    e = np.concatenate([one.residuals[3].real, one.residuals[3].imag])
    ref = np.sum(one.residuals[3].real[1:] * one.residuals[3].real[:-1]
                 + one.residuals[3].imag[1:] * one.residuals[3].imag[:-1]) / np.sum(e ** 2)
    assert abs(rho[3] - ref) < 1e-12
    assert np.all(rho[labels == 1] > 0.5) and np.all(np.abs(rho[labels == 0]) < 0.3)


def test_nesting_from_the_circuit_strings():
    c1, c2, c3, cw = NESTED_CIRCUITS
    assert is_nested(c1, c2) and is_nested(c2, c3) and is_nested(c1, cw) and is_nested(c2, cw)
    assert not is_nested(c2, c1) and not is_nested(c3, cw) and not is_nested(cw, c3)
    assert is_nested("R0-p(R1,CPE1)", "p(CPE1,R1)-R0-p(R2,CPE2)")     # order-free
    assert not is_nested("R0-p(R1,C1)", "R0-p(R1,CPE1)")              # other elements
    assert is_nested("R0-CPE1", "R0-p(R1,CPE1)")                       # R1 -> infinity
    assert nested_pairs(NESTED_CIRCUITS) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)]


@pytest.mark.parametrize("kwargs, err, needle", [
    (dict(circuits=[C1]), ShapeError, "circuits"),
    (dict(circuits=C1), ShapeError, "circuits"),
    (dict(circuits=[C1, "R0-p(R1, CPE1)"]), DataError, "twice"),
    (dict(circuits=[C1, C2], criterion="hqic"), DataError, "criterion"),
    (dict(circuits=[C1, C2], starts_per_arc=3), DataError, "starts_per_arc"),
    (dict(circuits=[C1, C2], p0=[1.0, 2.0]), ShapeError, "p0"),
    (dict(circuits=[C1, C2], fixed={"R9": 1.0}), DataError, "R9"),
    (dict(circuits=[C1, C2], nested=[(1, 0)]), DataError, "nested"),
    (dict(circuits=[C1, C2], nested=[(0, 5)]), ShapeError, "nested"),
    (dict(circuits=[C1, "R0-p(R1,XQ1)"]), FastfitError, "XQ"),
])
def test_bad_input_names_the_argument(data, kwargs, err, needle):
    f, Z, _, _ = data
    with pytest.raises(err, match=needle):
        ff.compare(f, Z[:2], **kwargs)


def test_stats_helpers_match_scipy():
    from fastfit.inference._stats import betainc, f_ppf, f_sf, t_ppf_two_sided

    a = np.array([0.5, 1.0, 3.5, 40.0, 80.0])[:, None]
    b = np.array([0.5, 2.0, 7.0, 60.0])[None, :, None]
    x = np.linspace(0.0, 1.0, 23)[None, None, :]
    np.testing.assert_allclose(betainc(a[..., None], b, x), special.betainc(a[..., None], b, x),
                               rtol=1e-10, atol=1e-14)
    F = np.array([0.0, 0.3, 1.0, 2.5, 9.0, 60.0])
    for d1, d2 in ((1, 5), (3, 150), (6, 40)):
        np.testing.assert_allclose(f_sf(F, d1, d2), stats.f.sf(F, d1, d2), rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(f_ppf(0.95, d1, d2), stats.f.ppf(0.95, d1, d2), rtol=1e-9)
    np.testing.assert_allclose(t_ppf_two_sided(0.95, np.array([3.0, 150.0])),
                               stats.t.ppf(0.975, [3, 150]), rtol=1e-9)
