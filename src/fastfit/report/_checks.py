"""Report sections of the tests and the DRT: lin-KK (indicators, residuals), Z-HIT runs
(read from the store), DRT heat map and credible bands (stored or recomputed)."""
from __future__ import annotations

import html

import numpy as np

from ._page import MAX_POINTS, picks

__all__ = ["kk_section", "zhit_section", "drt_section"]


def kk_section(page, store, run, kk, times, tag):
    from ..plot import params_vs_time, validation_residuals
    from ..validation import kk as lin_kk

    step = max(1, kk["M"].size // MAX_POINTS)
    vals = np.c_[kk["M"], kk["mu"], kk["pseudo_chi2"]][::step]
    page.p(f"lin-KK: {int(kk['valid'].sum())} of {kk['valid'].size} spectra valid")
    page.figure(params_vs_time(vals, ["M", "mu", "pseudo_chi2"], time=times[::step],
                               status=np.where(kk["valid"], 1, 0)[::step],
                               flag_label="not valid", title=f"{run}: lin-KK"), f"{tag}_kk")
    rows = picks(kk["spectrum"])
    if not rows:
        return
    spectra = [int(kk["spectrum"][r]) for r in rows]
    series = store.spectra(spectra)
    opts = store.run_info(run).get("options", {})
    limit = opts.get("max_rel_residual") or opts.get("kk_threshold") or 0.05
    rep = opts.get("representation")
    rk = lin_kk(series.freq, series.Z, mask=series.mask, max_rel_residual=float(limit),
                representation=rep if rep in ("impedance", "admittance", "auto") else "impedance")
    rz, source = _zhit_for(store, run, spectra, series)
    how = (f"stored in run {html.escape(source)!r}" if source is not None
           else "recomputed with the default threshold: the store has no Z-HIT run of "
                "these spectra")
    page.p(f"Residuals of the lin-KK test (recomputed) and the Z-HIT test ({how}; "
           f"{int(rz.valid.sum())} of {len(rz)} shown spectra valid)")
    figs: list[str] = []
    for i, s in enumerate(spectra):
        page.figure(validation_residuals(rk, rz, i, title=f"{run}: spectrum #{s}"),
                    f"{tag}_residuals_{s}", figs)
    page.parts.append(f"<div class='figs'>{''.join(figs)}</div>")


def _fit_width(a: np.ndarray, width: int, fill) -> np.ndarray:
    """Rows of a stored (n, F') table column cut or padded to the spectra's width F."""
    if a.shape[1] >= width:
        return a[:, :width]
    return np.concatenate([a, np.full((a.shape[0], width - a.shape[1]), fill, a.dtype)], 1)


def _stored_zhit(store, run, spectra, series):
    """The ZHITResult of ``spectra`` stored in ``run`` (None unless all are there)."""
    from ..validation import ZHITResult

    t = store.results(run, "zhit", spectra=spectra)
    if sorted(t["spectrum"].tolist()) != sorted(spectra):
        return None
    order = np.searchsorted(t["spectrum"], spectra)
    F = series.freq.shape[1]
    col = {k: _fit_width(t[k][order], F, fill)
           for k, fill in (("modulus", np.nan), ("residuals", np.nan), ("decision", np.nan),
                           ("tolerance", np.nan), ("mask", False))}
    return ZHITResult(modulus=col["modulus"], residuals=col["residuals"],
                      valid=t["valid"][order], mask=col["mask"] & series.mask,
                      decision=col["decision"], tolerance=col["tolerance"],
                      noise=t["noise"][order], phase=np.angle(series.Z),
                      reference=np.zeros(series.mask.shape, bool), freq=series.freq,
                      used=series.mask.copy(),
                      options=store.run_info(run).get("options", {}))


def _zhit_for(store, run, spectra, series):
    """(ZHITResult, run it was stored in) for ``spectra``: the run itself, else the
    newest Z-HIT run holding all of them; else a recomputation and None."""
    from ..validation import zhit

    runs = [run] + [r for r in reversed(store.runs())
                    if r != run and store.run_info(r).get("kind") == "zhit"]
    for r in runs:
        if store.run_info(r).get("n_zhit"):
            found = _stored_zhit(store, r, spectra, series)
            if found is not None:
                return found, r
    return zhit(series.freq, series.Z, mask=series.mask), None


def zhit_section(page, store, run, zt, times, tag):
    """A Z-HIT run: pass count, largest residual and noise over time, and the stored
    residuals of the first, middle and last spectrum."""
    from ..plot import params_vs_time, validation_residuals

    n = zt["valid"].size
    opts = store.run_info(run).get("options", {})
    page.p(f"Z-HIT: {int(zt['valid'].sum())} of {n} spectra valid"
           + (f" (max_rel_residual {opts['max_rel_residual']})"
              if opts.get("max_rel_residual") is not None else ""))
    if n == 0:
        return
    step = max(1, n // MAX_POINTS)
    with np.errstate(invalid="ignore"):
        worst = np.nanmax(np.abs(zt["residuals"]), axis=1, initial=0.0)
    page.figure(params_vs_time(np.c_[100 * worst, 100 * zt["noise"]][::step],
                               ["max |residual| (%)", "noise (%)"], time=times[::step],
                               status=np.where(zt["valid"], 1, 0)[::step],
                               flag_label="not valid", title=f"{run}: Z-HIT"), f"{tag}_zhit")
    spectra = [int(zt["spectrum"][r]) for r in picks(zt["spectrum"])]
    series = store.spectra(spectra)
    rz = _stored_zhit(store, run, spectra, series)
    figs: list[str] = []
    for i, s in enumerate(spectra):
        page.figure(validation_residuals(zhit=rz, index=i, title=f"{run}: spectrum #{s}"),
                    f"{tag}_zhit_residuals_{s}", figs)
    page.parts.append(f"<div class='figs'>{''.join(figs)}</div>")


def drt_section(page, store, run, drt, times, tag):
    from ..plot import drt_heatmap

    tau = drt["tau"][0]
    if drt["tau"].shape[0] > 1 and not np.allclose(drt["tau"], tau[None, :], equal_nan=True):
        page.p("DRT: the τ grids differ between spectra; heat map not drawn")
        return
    step = max(1, drt["gamma"].shape[0] // 2000)
    page.figure(drt_heatmap(times[::step], tau, np.nan_to_num(drt["gamma"][::step]),
                            title=f"{run}: DRT"), f"{tag}_drt")
    _drt_bands(page, store, run, drt, tag)


def _drt_bands(page, store, run, drt, tag):
    """The first, middle and last DRT of a run with a credible band: the stored band
    when the run has one, else a 95 % band recomputed with the run's options."""
    from ..plot import drt_band
    from ..relaxation import drt as solve_drt

    rows = picks(drt["spectrum"])
    lam = np.asarray(drt["lam"], float)
    if not rows or not np.all(np.isfinite(lam[rows]) & (lam[rows] > 0)):
        return
    spectra = [int(drt["spectrum"][r]) for r in rows]
    info = store.run_info(run)
    opts = info.get("options", {})
    band = store.results(run, "drt_band", spectra=spectra) if info.get("n_drt_band") else None
    if band is not None and sorted(band["spectrum"].tolist()) != spectra:
        band = None
    level = float(opts.get("band") or 0.95) if band is not None else 0.95
    series = store.spectra(spectra)
    tr = opts.get("tau_range")
    sign = opts.get("sign") if opts.get("sign") in ("nonnegative", "free", "auto") else None
    d = solve_drt(series.freq, series.Z, mask=series.mask, lam=lam[rows],
                  tau_range=None if tr is None else tuple(tr), sign=sign, bands=level,
                  n_samples=100)
    peaks = d.peaks()
    if band is None:
        page.p("DRT band: recomputed at 95 % with the run's options (the run stores no "
               "band; <code>fastfit drt --band 0.95</code> stores one)")
        curves = [(d.tau, d.gamma[i], d.gamma_lo[i], d.gamma_hi[i], True)
                  for i in range(len(spectra))]
    else:
        page.p(f"DRT band: the stored {100 * level:g} % band; peak intervals from a "
               "recomputation with the run's options, drawn where it reproduces the "
               "stored DRT")
        curves = []
        for i, r in enumerate(rows):
            g = drt["gamma"][r]
            same = (d.tau.size == g.size and np.allclose(d.tau, drt["tau"][r], rtol=1e-9)
                    and np.allclose(d.gamma[i], g, rtol=1e-6,
                                    atol=1e-6 * np.nanmax(np.abs(g), initial=0.0)))
            curves.append((drt["tau"][r], g, band["gamma_lo"][i], band["gamma_hi"][i], same))
    figs: list[str] = []
    for i, (s, (tau, g, lo, hi, with_peaks)) in enumerate(zip(spectra, curves)):
        page.figure(drt_band(tau, g, lo, hi, peaks=peaks.spectrum(i) if with_peaks else None,
                             level=level, title=f"{run}: DRT of spectrum #{s}"),
                    f"{tag}_drt_band_{s}", figs)
    page.parts.append(f"<div class='figs'>{''.join(figs)}</div>")
