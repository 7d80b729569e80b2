"""Nonstationarity of swept impedance series: drift indicators and instantaneous spectra.

A sweep takes time; if the cell changes while it runs (GEIS during metal dissolution,
relaxation after a current step), every point belongs to a different system state and the
spectrum is neither Kramers-Kronig consistent nor a snapshot of one state.

* :func:`drift` -- per-spectrum indicators and a ``nonstationary`` flag for a time series.
  The flag rests on a noise-free-of-assumptions test: at each frequency, the change from the
  previous sweep is compared with the deviation from the straight line through the two
  neighbouring sweeps.  Without drift both are noise (their ratio, normalised, is ~1);
  with a drift that is smooth over three sweeps the change is large and the deviation stays
  at the noise level.  KK-residual indicators (pseudo chi^2 and its trend, low-frequency
  residual bias, residual autocorrelation) are reported alongside.
* :func:`instantaneous` -- "4-D analysis" (interpolate every frequency across consecutive
  sweeps to one common time per spectrum; e.g. Stoynov & Vladikova, Differential Impedance
  Analysis, 2005, and Sacci & Harrington, ECS Trans. 19 (2009) 31), so that each
  spectrum describes one state and can be fitted honestly.

Plain numpy, vectorised over spectra (loops run over frequencies or series groups only).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ._validate import as_batch
from .errors import DataError, ShapeError

__all__ = ["DriftResult", "drift", "instantaneous", "point_times"]

_RATIO_THRESHOLD = 3.0      # drift_ratio above this -> nonstationary (stationary: ~1 +- 0.15)
_PAIR_THRESHOLD = 4.0       # two-spectrum series: change / KK noise level above this


@dataclass(frozen=True, eq=False)
class DriftResult:
    """Drift indicators of N spectra that form one or more time series.

    Attributes
    ----------
    group : (N,) int, series index (consecutive spectra with equal ``groups`` labels)
    change : (N,) float, median over frequency of |Z_i - Z_prev| / |Z_i| (relative change
        from the previous sweep of the series; the first sweep uses the next one)
    curvature : (N,) float, median over frequency of |Z_i - Z_lin| / |Z_i|, with Z_lin the
        straight line in time through the two neighbouring sweeps (the first and last
        sweeps use the two nearest ones)
    drift_ratio : (N,) float, (change / sqrt 2) / (curvature / s), s the noise gain of the
        line (sqrt 1.5 for equal spacing): ~1 without drift, >> 1 with drift; NaN for
        series of fewer than 3 sweeps
    pseudo_chi2 : (N,) float, lin-KK pseudo chi^2 (Boukamp 1995)
    chi2_ratio : (N,) float, pseudo_chi2 / median pseudo_chi2 of its series (its trend)
    lf_bias : (N,) float, |mean complex KK residual| over the lowest-frequency quarter of
        the points divided by its standard error (from the residual scatter)
    autocorr : (N,) float, lag-1 autocorrelation of the KK residuals along frequency
        (Re and Im averaged); white noise ~0, structured misfit -> 1
    noise : (N,) float, KK residual rms per component (relative to |Z|)
    nonstationary : (N,) bool, drift_ratio > threshold (series of >= 3 sweeps), or for a
        two-sweep series change / (1.67 sqrt 2 noise) > pair_threshold; False for single
        spectra (no evidence)
    basis : (N,) int, 2 three-sweep test, 1 two-sweep test, 0 no test possible
    threshold : float
    """

    group: np.ndarray
    change: np.ndarray
    curvature: np.ndarray
    drift_ratio: np.ndarray
    pseudo_chi2: np.ndarray
    chi2_ratio: np.ndarray
    lf_bias: np.ndarray
    autocorr: np.ndarray
    noise: np.ndarray
    nonstationary: np.ndarray
    basis: np.ndarray
    threshold: float = _RATIO_THRESHOLD

    def __len__(self) -> int:
        return self.group.shape[0]

    def __getitem__(self, key) -> "DriftResult":
        """Rows ``key`` as a new DriftResult (the indicators are not recomputed)."""
        from .kk import _take_rows

        return _take_rows(self, key)

    def to_dict(self) -> dict:
        """Per-spectrum columns (for ``KKResult.to_dataframe``)."""
        return dict(group=self.group, change=self.change, curvature=self.curvature,
                    drift_ratio=self.drift_ratio, chi2_ratio=self.chi2_ratio,
                    lf_bias=self.lf_bias, autocorr=self.autocorr,
                    nonstationary=self.nonstationary)

    def __repr__(self) -> str:
        return f"DriftResult({len(self)} spectra, {int(self.nonstationary.sum())} nonstationary)"


# ----------------------------------------------------------------------------- helpers
def _masked_median(x, valid, axis=1):
    """Median of x over ``axis`` using only ``valid`` entries (NaN where none)."""
    xs = np.sort(np.where(valid, x, np.inf), axis=axis)
    n = valid.sum(axis=axis)
    lo = np.clip((n - 1) // 2, 0, None)
    hi = np.clip(n // 2, 0, None)
    a = np.take_along_axis(xs, lo[..., None], axis=axis)[..., 0]
    b = np.take_along_axis(xs, hi[..., None], axis=axis)[..., 0]
    return np.where(n > 0, 0.5 * (a + b), np.nan)


def _group_ids(groups, n, time=None):
    """Series index per spectrum: a new series starts where the label changes or where
    the time goes backwards (series joined end to end, each starting at its own t = 0)."""
    new = np.zeros(n, bool)
    new[0] = True
    if groups is not None:
        g = np.asarray(groups).reshape(-1)
        if g.shape != (n,):
            raise ShapeError(f"groups has {g.size} entries for {n} spectra")
        new[1:] |= g[1:] != g[:-1]
    if time is not None:
        t = np.asarray(time, np.float64).reshape(-1)
        if t.shape == (n,):
            new[1:] |= t[1:] < t[:-1]
    return np.cumsum(new) - 1


def _series_groups(series):
    """Default series labels of a SpectrumSeries: info['series'], else info['source_id']."""
    for key in ("series", "source_id"):
        if key in series.info:
            return series.info[key]
    return None


def point_times(time, time_end, mask, points_t=None):
    """(N, F) acquisition time of every point, s.

    ``points_t`` (N, F) when the file records it; otherwise linear in point order between
    each spectrum's ``time`` (first used point) and ``time_end`` (last used point).
    """
    mask = np.asarray(mask, bool)
    N, F = mask.shape
    if points_t is not None:
        pt = np.asarray(points_t, np.float64)
        if pt.shape != (N, F):
            raise ShapeError(f"point times have shape {pt.shape}, expected {(N, F)}")
        if np.all(np.isfinite(pt) | ~mask):
            return pt
    t0 = np.asarray(time, np.float64).reshape(-1)
    t1 = t0 if time_end is None else np.asarray(time_end, np.float64).reshape(-1)
    if t0.shape != (N,) or t1.shape != (N,):
        raise ShapeError(f"time/time_end need {N} entries")
    if not (np.all(np.isfinite(t0)) and np.all(np.isfinite(t1))):
        raise DataError("spectrum times are not all finite; pass time=/time_end= or point times")
    order = np.cumsum(mask, axis=1) - 1                      # rank among used points
    n = mask.sum(axis=1)
    frac = np.where(n[:, None] > 1, order / np.maximum(n[:, None] - 1, 1), 0.0)
    return t0[:, None] + frac * (t1 - t0)[:, None]


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


# ------------------------------------------------------------------------------- drift
def drift(freq, Z=None, *, mask=None, time=None, time_end=None, groups=None, point_time=None,
          kk_result=None, threshold: float = _RATIO_THRESHOLD, **kk_options) -> DriftResult:
    """Drift indicators and nonstationarity flag of a series of swept spectra.

    Parameters
    ----------
    freq : (F,) or (N, F) Hz, or a :class:`~fastfit.SpectrumSeries` (then ``Z`` is omitted;
        its ``time``, ``time_end``, ``points["t"]`` and ``info["series"]`` are used unless
        given here)
    Z : (N, F) complex, ohm; consecutive rows are consecutive sweeps
    mask : optional (N, F) bool
    time, time_end : optional (N,) s, first/last point of each sweep (default: sweep index)
    groups : optional (N,) labels; consecutive equal labels form one series (default for a
        SpectrumSeries: ``info["series"]``, else ``info["source_id"]``); a series also ends
        where the time goes backwards
    point_time : optional (N, F) s, acquisition time of every point
    kk_result : optional :class:`~fastfit.KKResult` of the same spectra (else :func:`fastfit.kk`
        is run with ``kk_options``)
    threshold : float, drift_ratio above which a spectrum is flagged

    Returns
    -------
    DriftResult

    Notes
    -----
    For sweep i with neighbours h < i < j (same series) at one frequency, with times
    t_h, t_i, t_j and lambda = (t_i - t_h) / (t_j - t_h)::

        change_i    = median_f |Z_i - Z_h| / |Z_i|
        curvature_i = median_f |Z_i - (1 - lambda) Z_h - lambda Z_j| / |Z_i|
        drift_ratio = (change_i / sqrt 2) / median_f(|Z_i - Z_lin| / (|Z_i| g)),
        g = sqrt(1 + lambda^2 + (1 - lambda)^2)   (noise gain of the line)

    With independent noise of equal size on every point both numerator and denominator
    estimate the same noise scale (ratio ~1, +-0.15 for ~50 points); a drift that is
    locally linear in time enters the change but cancels in the curvature.  The test needs
    no noise model and no equivalent circuit.
    """
    series = freq if (Z is None and hasattr(freq, "Z") and hasattr(freq, "mask")) else None
    batch = as_batch(freq, Z, mask, min_points=3)
    N, F = batch.Z.shape
    f, Zb, m = batch.freq, batch.Z, batch.mask
    if series is not None:
        time = series.time if time is None else time
        time_end = series.time_end if time_end is None else time_end
        if point_time is None:
            point_time = series.points.get("t")
        if groups is None:
            groups = _series_groups(series)
    gid = _group_ids(groups, N, time)
    if time is None or not np.all(np.isfinite(np.asarray(time, np.float64))):
        t_pts = np.broadcast_to(np.arange(N, dtype=np.float64)[:, None], (N, F))
    else:
        t_pts = point_times(time, time_end, m, point_time)
    if kk_result is None:
        from .kk import kk as _kk

        kk_result = _kk(f, Zb, mask=m, **kk_options)
    elif len(kk_result) != N:
        raise ShapeError(f"kk_result has {len(kk_result)} spectra, the data {N}")
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
    idx = np.arange(N)
    other = np.where(prev >= 0, prev, nxt)                      # partner for the change
    change = np.full(N, np.nan)
    has = other >= 0
    if has.any():
        i, j = idx[has], other[has]
        ok = _same_freq(f, m, i, j)
        rel = _safe_div(np.abs(Zb[i] - Zb[j]), np.abs(Zb[i]))
        change[has] = _masked_median(rel, ok & np.isfinite(rel))
    # line through two other sweeps of the series: the neighbours, or at the ends of a
    # series the two nearest sweeps (then the line is extrapolated, lambda outside [0, 1])
    tri = size >= 3
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
    pair = (size == 2) & has
    nonstat = np.where(tri, ratio > threshold, False)
    # two sweeps only: compare the change with the KK noise (Rayleigh median 1.665 sigma*sqrt2)
    pair_ratio = _safe_div(change, 1.665 * np.sqrt(2) * noise)
    nonstat = np.where(pair, pair_ratio > _PAIR_THRESHOLD, nonstat)
    basis = np.where(tri, 2, np.where(pair, 1, 0)).astype(np.int64)
    return DriftResult(group=gid.astype(np.int64), change=change, curvature=curvature,
                       drift_ratio=ratio, pseudo_chi2=np.asarray(pseudo, np.float64),
                       chi2_ratio=chi2_ratio, lf_bias=lf_bias, autocorr=ac, noise=noise,
                       nonstationary=np.asarray(nonstat, bool), basis=basis,
                       threshold=float(threshold))


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


# ------------------------------------------------------------------------ instantaneous
def instantaneous(series, t=None, *, point_time=None, groups=None, extrapolate: bool = True):
    """Time-interpolated ("instantaneous") spectra of a swept series.

    Every frequency is interpolated linearly in time across consecutive sweeps of the
    same series to one common time per spectrum, so that each output spectrum describes
    the cell at one moment (4-D analysis).

    Parameters
    ----------
    series : :class:`~fastfit.SpectrumSeries` with finite ``time`` (and ``time_end``) or
        ``points["t"]``; consecutive spectra of one series must share their frequencies
    t : optional (N,) s, target time of each output spectrum, or "start", "mid" (default:
        the middle of each sweep, which needs the least extrapolation), "end"
    point_time : optional (N, F) s, acquisition time of every point; default
        ``series.points["t"]``, else linear in point order between ``time`` and ``time_end``
    groups : optional (N,) labels of separate series (default ``info["series"]``, else
        ``info["source_id"]``); a series also ends where the time goes backwards
    extrapolate : bool
        Points whose target time lies outside the span of the series at that frequency
        (first/last sweep) are extrapolated linearly from the two nearest sweeps when True,
        masked out when False.

    Returns
    -------
    SpectrumSeries
        Same frequencies; ``Z`` interpolated; ``time`` = ``time_end`` = target times;
        ``points["extrapolated"]`` (N, F) bool; ``points["t_source"]`` the original point
        times; ``meta["instantaneous"]`` True.  A single-sweep series is returned unchanged.

    Raises
    ------
    DataError
        no usable times, target times not finite, spectra of one series on different
        frequency grids.
    """
    if not (hasattr(series, "Z") and hasattr(series, "mask") and hasattr(series, "time")):
        raise DataError("instantaneous() needs a SpectrumSeries (build one with "
                        "SpectrumSeries(freq, Z, mask, time, time_end))")
    N, F = series.Z.shape
    m = series.mask
    pt_src = point_time if point_time is not None else series.points.get("t")
    t_pts = point_times(series.time, series.time_end, m, pt_src)
    if groups is None:
        groups = _series_groups(series)
    gid = _group_ids(groups, N, series.time)
    if t is None or (isinstance(t, str) and t == "mid"):
        target = 0.5 * (np.where(m, t_pts, np.inf).min(axis=1)
                        + np.where(m, t_pts, -np.inf).max(axis=1))
    elif isinstance(t, str) and t in ("start", "end"):
        target = (np.where(m, t_pts, np.inf).min(axis=1) if t == "start"
                  else np.where(m, t_pts, -np.inf).max(axis=1))
    elif isinstance(t, str):
        raise DataError(f"t must be 'start', 'mid', 'end' or an array of times, got {t!r}")
    else:
        target = np.asarray(t, np.float64).reshape(-1)
        if target.shape != (N,):
            raise ShapeError(f"t has {target.size} entries for {N} spectra")
    if not np.all(np.isfinite(target)):
        raise DataError("target times are not finite")
    Zout = series.Z.copy()
    mout = m.copy()
    extra = np.zeros((N, F), bool)
    for g in np.unique(gid):                                   # loop over series
        rows = np.nonzero(gid == g)[0]
        if rows.size < 2:
            continue
        f0 = series.freq[rows[0]]
        same = (np.abs(series.freq[rows] - f0) <= 1e-9 * np.abs(f0)) | ~m[rows]
        if not same.all():
            bad = rows[np.nonzero(~same.all(axis=1))[0][0]]
            raise DataError(f"spectrum {bad}: frequencies differ from spectrum {rows[0]} of the "
                            "same series; instantaneous spectra need one grid per series")
        Zg, mg, tg = series.Z[rows], m[rows], t_pts[rows]
        for j in range(F):                                     # loop over frequencies
            ok = mg[:, j]
            if ok.sum() < 2:
                mout[rows, j] = False
                continue
            ts, zs = tg[ok, j], Zg[ok, j]
            order = np.argsort(ts, kind="stable")
            ts, zs = ts[order], zs[order]
            tt = target[rows]
            k = np.clip(np.searchsorted(ts, tt, side="right") - 1, 0, ts.size - 2)
            t_a, t_b = ts[k], ts[k + 1]
            span = t_b - t_a
            lam = np.where(span > 0, (tt - t_a) / np.where(span > 0, span, 1.0), 0.0)
            Zout[rows, j] = (1 - lam) * zs[k] + lam * zs[k + 1]
            out = (tt < ts[0]) | (tt > ts[-1])
            extra[rows, j] = out
            mout[rows, j] = mg[:, j] if extrapolate else (mg[:, j] & ~out)
    points = dict(series.points)
    points["extrapolated"] = extra
    points["t_source"] = t_pts
    meta = dict(series.meta)
    meta["instantaneous"] = True
    return replace(series, Z=Zout, mask=mout, time=target.copy(), time_end=target.copy(),
                   points=points, meta=meta)
