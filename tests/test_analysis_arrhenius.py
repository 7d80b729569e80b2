"""fastfit.analysis.arrhenius against scipy (linregress, curve_fit) and closed forms."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from fastfit import analysis as fa
from fastfit.errors import DataError, ShapeError

KB = 8.617333262e-5
T = np.arange(-40.0, 41.0, 10.0) + 273.15


def _sigma(T, Ea, A=1e4, law="sigma_T"):
    if law == "sigma_T":
        return A / T * np.exp(-Ea / (KB * T))
    if law == "sigma":
        return A * np.exp(-Ea / (KB * T))
    return 1.0 / (A * np.exp(-Ea / (KB * T)))          # inv_R: a resistance


@pytest.mark.parametrize("law", ["sigma_T", "inv_R", "sigma"])
def test_exact_data_recovers_parameters_and_predict(law):
    v = _sigma(T, 0.36, 2.5e4, law)
    r = fa.arrhenius(T, v, law=law)
    assert r.Ea_eV == pytest.approx(0.36, abs=1e-10)
    assert r.prefactor == pytest.approx(2.5e4, rel=1e-8)
    assert r.r2 == pytest.approx(1.0, abs=1e-12)
    assert r.n == 9 and r.dof == 7 and r.law == law
    np.testing.assert_allclose(r.predict(T), v, rtol=1e-9)
    assert np.ndim(r.predict(300.0)) == 0
    assert "Ea" in r.summary()


def test_unweighted_matches_scipy_linregress(rng):
    y_noise = 0.01 * rng.standard_normal(T.size)
    s = _sigma(T, 0.26) * np.exp(y_noise)
    r = fa.arrhenius(T, s)
    lr = scipy.stats.linregress(1 / T, np.log(s * T))
    assert r.Ea_eV == pytest.approx(-lr.slope * KB, rel=1e-10)
    assert r.Ea_stderr_eV == pytest.approx(lr.stderr * KB, rel=1e-8)
    assert r.ln_prefactor == pytest.approx(lr.intercept, rel=1e-10)
    assert r.r2 == pytest.approx(lr.rvalue**2, rel=1e-10)
    tq = scipy.stats.t.ppf(0.975, T.size - 2)
    assert r.ci95[0] == pytest.approx(r.Ea_eV - tq * r.Ea_stderr_eV, rel=1e-10)
    assert r.ci95[1] == pytest.approx(r.Ea_eV + tq * r.Ea_stderr_eV, rel=1e-10)
    np.testing.assert_allclose(r.residuals, np.log(s * T) - (lr.intercept + lr.slope / T),
                               atol=1e-10)


@pytest.mark.parametrize("absolute", [True, False])
def test_weighted_matches_scipy_curve_fit(rng, absolute):
    rel = rng.uniform(0.002, 0.03, T.size)
    s = _sigma(T, 0.37) * np.exp(rel * rng.standard_normal(T.size))
    r = fa.arrhenius(T, s, sigma_err=rel * s, absolute_sigma=absolute)

    def line(x, lnA, Ea):
        return lnA - Ea * x

    popt, pcov = scipy.optimize.curve_fit(line, 1 / (KB * T), np.log(s * T), p0=[5, 0.3],
                                          sigma=rel, absolute_sigma=absolute)
    assert r.Ea_eV == pytest.approx(popt[1], rel=1e-7)
    assert r.Ea_stderr_eV == pytest.approx(np.sqrt(pcov[1, 1]), rel=1e-5)
    assert r.prefactor_stderr == pytest.approx(r.prefactor * np.sqrt(pcov[0, 0]), rel=1e-5)
    assert r.absolute_sigma is absolute
    q = 1.959963984540054 if absolute else scipy.stats.t.ppf(0.975, T.size - 2)
    assert r.ci95[1] - r.Ea_eV == pytest.approx(q * r.Ea_stderr_eV, rel=1e-9)


def test_confidence_interval_coverage_monte_carlo():
    """With correct input errors, ci95 covers the truth ~95 % of the time."""
    rng = np.random.default_rng(7)
    hits = []
    for _ in range(400):
        rel = 0.01
        s = _sigma(T, 0.3) * np.exp(rel * rng.standard_normal(T.size))
        r = fa.arrhenius(T, s, sigma_err=rel * s)
        hits.append(r.ci95[0] <= 0.3 <= r.ci95[1])
        r2 = fa.arrhenius(T, s)                      # t-based, unweighted
        hits.append(r2.ci95[0] <= 0.3 <= r2.ci95[1])
    assert 0.92 <= np.mean(hits) <= 0.98


def test_nan_points_dropped():
    s = _sigma(T, 0.3)
    s[3] = np.nan
    r = fa.arrhenius(T, s)
    assert r.n == 8 and r.Ea_eV == pytest.approx(0.3)
    assert r.T_K.shape == (8,)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(sigma=-np.ones(9)), DataError, "sigma must be > 0"),
    (dict(sigma=-np.ones(9), law="inv_R"), DataError, "R must be > 0"),
    (dict(sigma=np.ones(8)), ShapeError, "sigma must have the shape"),
    (dict(T_K=T - 400), DataError, "T_K must be > 0"),
    (dict(T_K=np.full(9, 300.0)), DataError, "temperatures are equal"),
    (dict(law="ln"), DataError, "law must be one of"),
    (dict(sigma_err=np.zeros(9)), DataError, "sigma_err must be > 0"),
    (dict(sigma_err=np.ones(3)), ShapeError, "sigma_err"),
    (dict(T_K=T[:1], sigma=np.ones(1)), DataError, "at least 2"),
    (dict(T_K=np.ones((3, 3)) * 300, sigma=np.ones((3, 3))), ShapeError, "1-D"),
])
def test_bad_input(kwargs, err, match):
    args = dict(T_K=T, sigma=_sigma(T, 0.3))
    args.update(kwargs)
    with pytest.raises(err, match=match):
        fa.arrhenius(**args)


def test_plot_draws_data_and_line():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = fa.arrhenius(T, _sigma(T, 0.26), sigma_err=0.01 * _sigma(T, 0.26))
    ax = r.plot()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(ax.lines) >= 2 and any("Ea = 0.260" in t for t in texts)
    plt.close(ax.figure)
