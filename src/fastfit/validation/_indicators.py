"""Drift indicators of swept series from their spectra and lin-KK residuals (numpy).

The computation behind :func:`fastfit.validation.drift` once a :class:`KKResult` exists:
:func:`drift_inputs` validates the spectra and their times, :func:`drift_indicators`
computes every indicator.  Vectorised over spectra (loops run over series groups only).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._batch import as_batch
from ._result import RATIO_THRESHOLD, DriftResult
from ._timing import group_ids, point_times, series_groups

__all__ = ["DriftInputs", "drift_inputs", "drift_indicators", "PAIR_THRESHOLD"]

PAIR_THRESHOLD = 4.0       # two-spectrum series: change / KK noise level above this


class DriftInputs(NamedTuple):
    """Validated spectra of a drift test: freq, Z, mask (N, F); series index ``gid`` (N,);
    acquisition time of every point ``t_pts`` (N, F), s (sweep index without times)."""

    freq: np.ndarray
    Z: np.ndarray
    mask: np.ndarray
    gid: np.ndarray
    t_pts: np.ndarray


def drift_inputs(freq, Z=None, *, mask=None, time=None, time_end=None, groups=None,
                 point_time=None) -> DriftInputs:
    """The arguments of :func:`~fastfit.validation.drift`, checked; a SpectrumSeries
    supplies ``time``, ``time_end``, ``points["t"]`` and its series labels by default."""
    series = freq if (Z is None and hasattr(freq, "Z") and hasattr(freq, "mask")) else None
    batch = as_batch(freq, Z, mask, min_points=3)
    N, F = batch.Z.shape
    if series is not None:
        time = series.time if time is None else time
        time_end = series.time_end if time_end is None else time_end
        if point_time is None:
            point_time = series.points.get("t")
        if groups is None:
            groups = series_groups(series)
    gid = group_ids(groups, N, time)
    if time is None or not np.all(np.isfinite(np.asarray(time, np.float64))):
        t_pts = np.broadcast_to(np.arange(N, dtype=np.float64)[:, None], (N, F))
    else:
        t_pts = point_times(time, time_end, batch.mask, point_time)
    return DriftInputs(batch.freq, batch.Z, batch.mask, gid, t_pts)


def drift_indicators(inputs: DriftInputs, kk_result, threshold: float = RATIO_THRESHOLD
                     ) -> DriftResult:
    """Every indicator of :class:`DriftResult` from ``inputs`` and the lin-KK result of
    the same spectra (see :func:`~fastfit.validation.drift` for the definitions)."""
    f, m, gid = inputs.freq, inputs.mask, inputs.gid
    rr = np.where(m, kk_result.residuals_real, 0.0)
    ri = np.where(m, kk_result.residuals_imag, 0.0)
    n_used = m.sum(axis=1)
    # KK residual structure
    noise = np.sqrt((rr ** 2 + ri ** 2).sum(axis=1) / np.maximum(2 * n_used, 1))
    pseudo = kk_result.pseudo_chi2
    ac = 0.5 * (_autocorr(rr, m) + _autocorr(ri, m))
    lf_bias = _lf_bias(f, rr, ri, m, noise)
    chi2_ratio = pseudo / _group_median(pseudo, gid)
    # consecutive-sweep tests
    prev, nxt, size = _neighbours(gid)
    change, has = _change(inputs, prev, nxt)
    tri = size >= 3
    curvature, ratio = _line_test(inputs, prev, nxt, tri, change)
    pair = (size == 2) & has
    nonstat = np.where(tri, ratio > threshold, False)
    # two sweeps only: compare the change with the KK noise (Rayleigh median 1.665 sigma*sqrt2)
    pair_ratio = _safe_div(change, 1.665 * np.sqrt(2) * noise)
    nonstat = np.where(pair, pair_ratio > PAIR_THRESHOLD, nonstat)
    basis = np.where(tri, 2, np.where(pair, 1, 0)).astype(np.int64)
    return DriftResult(group=gid.astype(np.int64), change=change, curvature=curvature,
                       drift_ratio=ratio, pseudo_chi2=np.asarray(pseudo, np.float64),
                       chi2_ratio=chi2_ratio, lf_bias=lf_bias, autocorr=ac, noise=noise,
                       nonstationary=np.asarray(nonstat, bool), basis=basis,
                       threshold=float(threshold))


def _change(inputs: DriftInputs, prev, nxt):
    """(N,) relative change from the previous sweep (the next one for the first), and
    (N,) bool: the spectrum has a partner in its series."""
    f, Zb, m = inputs.freq, inputs.Z, inputs.mask
    N = f.shape[0]
    idx = np.arange(N)
    other = np.where(prev >= 0, prev, nxt)                      # partner for the change
    change = np.full(N, np.nan)
    has = other >= 0
    if has.any():
        i, j = idx[has], other[has]
        ok = _same_freq(f, m, i, j)
        rel = _safe_div(np.abs(Zb[i] - Zb[j]), np.abs(Zb[i]))
        change[has] = _masked_median(rel, ok & np.isfinite(rel))
    return change, has


def _line_test(inputs: DriftInputs, prev, nxt, tri, change):
    """(curvature, drift_ratio) (N,) of the spectra of series with >= 3 sweeps.

    The line runs through two other sweeps of the series: the neighbours, or at the ends
    of a series the two nearest sweeps (then it is extrapolated, lambda outside [0, 1]).
    """
    f, Zb, m, t_pts = inputs.freq, inputs.Z, inputs.mask, inputs.t_pts
    N = f.shape[0]
    idx = np.arange(N)
    h = np.where(prev < 0, nxt, np.where(nxt < 0, prev - 1, prev))
    k = np.where(prev < 0, nxt + 1, np.where(nxt < 0, prev, nxt))
    curvature = np.full(N, np.nan)
    ratio = np.full(N, np.nan)
    if tri.any():
        i, a, b = idx[tri], h[tri], k[tri]
        ok = _same_freq(f, m, i, a) & _same_freq(f, m, i, b)
        ta, ti, tb = t_pts[a], t_pts[i], t_pts[b]
        span = tb - ta
        ok &= span != 0
        lam = np.where(ok, (ti - ta) / np.where(span != 0, span, 1.0), 0.5)
        lin = (1 - lam) * Zb[a] + lam * Zb[b]
        dev = _safe_div(np.abs(Zb[i] - lin), np.abs(Zb[i]))
        ok &= np.isfinite(dev)
        gain = np.sqrt(1 + lam ** 2 + (1 - lam) ** 2)
        curvature[tri] = _masked_median(dev, ok)
        ratio[tri] = _safe_div(change[tri] / np.sqrt(2), _masked_median(dev / gain, ok))
    return curvature, ratio


def _masked_median(x, valid, axis=1):
    """Median of x over ``axis`` using only ``valid`` entries (NaN where none)."""
    xs = np.sort(np.where(valid, x, np.inf), axis=axis)
    n = valid.sum(axis=axis)
    lo = np.clip((n - 1) // 2, 0, None)
    hi = np.clip(n // 2, 0, None)
    a = np.take_along_axis(xs, lo[..., None], axis=axis)[..., 0]
    b = np.take_along_axis(xs, hi[..., None], axis=axis)[..., 0]
    return np.where(n > 0, 0.5 * (a + b), np.nan)


def _neighbours(gid):
    """prev, next indices within each group (-1 when absent), and position/size."""
    N = gid.shape[0]
    idx = np.arange(N)
    prev = np.where((idx > 0) & (np.r_[-1, gid[:-1]] == gid), idx - 1, -1)
    nxt = np.where((idx < N - 1) & (np.r_[gid[1:], -1] == gid), idx + 1, -1)
    size = np.bincount(gid)[gid]
    return prev, nxt, size


def _same_freq(f, m, i, j):
    """(len(i), F) bool: both points used and at the same frequency."""
    ok = m[i] & m[j]
    return ok & (np.abs(f[i] - f[j]) <= 1e-9 * np.abs(f[i]))


def _safe_div(a, b):
    """a / b with inf for x/0 (x > 0) and NaN for 0/0, without floating-point warnings."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    out = np.where(a > 0, np.inf, np.nan)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _autocorr(r, m):
    """Lag-1 autocorrelation along the point axis over consecutive used points."""
    both = m[:, 1:] & m[:, :-1]
    n = m.sum(axis=1)
    mean = np.where(m, r, 0.0).sum(axis=1) / np.maximum(n, 1)
    x = np.where(m, r - mean[:, None], 0.0)
    num = np.where(both, x[:, 1:] * x[:, :-1], 0.0).sum(axis=1)
    den = (x * x).sum(axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _lf_bias(f, rr, ri, m, noise):
    """z-score of the mean complex residual over the lowest-frequency quarter of points."""
    fs = np.where(m, f, np.inf)
    n = m.sum(axis=1)
    q = np.maximum(n // 4, 2)
    rank = np.argsort(np.argsort(fs, axis=1), axis=1)
    low = m & (rank < q[:, None])
    k = low.sum(axis=1)
    total = (np.where(low, rr, 0.0) + 1j * np.where(low, ri, 0.0)).sum(axis=1)
    mean = np.abs(total) / np.maximum(k, 1)
    se = noise / np.sqrt(np.maximum(k, 1))
    return np.where(se > 0, mean / np.where(se > 0, se, 1.0), np.nan)


def _group_median(x, gid):
    out = np.empty_like(np.asarray(x, np.float64))
    for g in np.unique(gid):                     # loop over series, not spectra
        sel = gid == g
        out[sel] = np.median(x[sel])
    return out
