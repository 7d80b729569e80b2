"""Validation and DRT-band figures (fastfit.plot) and their place in `fastfit report`."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import fastfit as ff
from fastfit import plot
from fastfit.errors import DataError, ShapeError
from fastfit.report import write_report
from fastfit.series import SpectrumSeries
from fastfit.store import Store

F = np.logspace(5, -2, 71)       # the grid of test_zhit / test_drt_signed: shared programs


def _spectra(n=4, seed=0):
    rng = np.random.default_rng(seed)
    Z = np.stack([5 + (100 + 20 * i) / (1 + (2j * np.pi * F * 1e-3) ** 0.9)
                  + 50 / (1 + 2j * np.pi * F * 0.3) for i in range(n)])
    return Z * (1 + 0.002 * (rng.standard_normal(Z.shape) + 1j * rng.standard_normal(Z.shape)))


def _png_ok(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    p = tmp_path / f"{name}.png"
    fig.savefig(p, dpi=50)
    assert p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 3000


def test_validation_residuals_draws_both_tests(tmp_path):
    Z = _spectra(2)
    k, z = ff.kk(F, Z), ff.zhit(F, Z)
    fig = plot.validation_residuals(k, z, 1, title="x")
    assert len(fig.axes) == 2
    re = fig.axes[0].lines[1].get_ydata()                 # after the zero line
    np.testing.assert_allclose(re, 100 * k.residuals_real[1][k.mask[1]])
    zr = fig.axes[1].lines[1].get_ydata()
    np.testing.assert_allclose(zr, 100 * z.residuals[1][z.used[1]])
    _png_ok(fig, tmp_path, "res")
    assert len(plot.validation_residuals(zhit=z).axes) == 1
    with pytest.raises(DataError):
        plot.validation_residuals()
    with pytest.raises(ShapeError):
        plot.validation_residuals(k, index=5)


def test_drt_band_figure(tmp_path):
    d = ff.drt(F, _spectra(1), lam=1e-4, bands=0.9, n_samples=16)
    p = d.peaks().spectrum(0)
    fig = plot.drt_band(d.tau, d.gamma[0], d.gamma_lo[0], d.gamma_hi[0], peaks=p, level=0.9)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.collections) >= 1       # the band
    np.testing.assert_allclose(ax.lines[1].get_ydata(), d.gamma[0][np.argsort(d.tau)])
    _png_ok(fig, tmp_path, "band")
    with pytest.raises(ShapeError):
        plot.drt_band(d.tau, d.gamma[0][:-1])


def test_report_shows_residuals_and_drt_bands(tmp_path):
    Z = _spectra(4)
    series = SpectrumSeries.from_spectra([(F, z) for z in Z], time=np.arange(4) * 60.0,
                                         meta={"source": "synthetic"},
                                         info={"index": np.arange(4)})
    path = tmp_path / "v.h5"
    with Store(path) as st:
        idx = st.append_spectra(series)
        st.write_kk("kk", idx, ff.kk(series), options={"max_rel_residual": 0.05})
        st.write_drt("drt", idx, ff.drt(series, lam=1e-4, sign="auto"),
                     options={"lam": 1e-4, "sign": "auto"})
    html = write_report(path, tmp_path / "rep").read_text()
    names = sorted(p.name for p in (tmp_path / "rep").glob("*.png"))
    assert [n for n in names if n.startswith("kk_residuals_")] == [
        "kk_residuals_0.png", "kk_residuals_2.png", "kk_residuals_3.png"]
    assert len([n for n in names if n.startswith("drt_drt_band_")]) == 3
    assert "Z-HIT" in html and html.count("data:image/png;base64,") == len(names)
