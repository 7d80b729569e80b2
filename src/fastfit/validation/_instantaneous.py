"""`instantaneous`: time-interpolated spectra of a swept series ("4-D analysis").

Every frequency is interpolated across consecutive sweeps to one common time per spectrum
(e.g. Stoynov & Vladikova, Differential Impedance Analysis, 2005; Sacci & Harrington, ECS
Trans. 19 (2009) 31), so that each spectrum describes one state and can be fitted honestly.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import DataError, ShapeError
from ._timing import group_ids, point_times, series_groups

__all__ = ["instantaneous"]


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
    m = series.mask
    pt_src = point_time if point_time is not None else series.points.get("t")
    t_pts = point_times(series.time, series.time_end, m, pt_src)
    if groups is None:
        groups = series_groups(series)
    gid = group_ids(groups, series.Z.shape[0], series.time)
    target = _target_times(t, t_pts, m)
    Zout, mout, extra = series.Z.copy(), m.copy(), np.zeros(m.shape, bool)
    for g in np.unique(gid):                                   # loop over series
        rows = np.nonzero(gid == g)[0]
        if rows.size >= 2:
            _interpolate_group(series, rows, t_pts, target, extrapolate, Zout, mout, extra)
    points = dict(series.points)
    points["extrapolated"] = extra
    points["t_source"] = t_pts
    meta = dict(series.meta)
    meta["instantaneous"] = True
    return replace(series, Z=Zout, mask=mout, time=target.copy(), time_end=target.copy(),
                   points=points, meta=meta)


def _target_times(t, t_pts, m) -> np.ndarray:
    """(N,) target time of every output spectrum from the ``t`` argument, s."""
    N = m.shape[0]
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
    return target


def _interpolate_group(series, rows, t_pts, target, extrapolate, Zout, mout, extra) -> None:
    """Interpolate the spectra ``rows`` of one series in place (Zout, mout, extra)."""
    m = series.mask
    f0 = series.freq[rows[0]]
    same = (np.abs(series.freq[rows] - f0) <= 1e-9 * np.abs(f0)) | ~m[rows]
    if not same.all():
        bad = rows[np.nonzero(~same.all(axis=1))[0][0]]
        raise DataError(f"spectrum {bad}: frequencies differ from spectrum {rows[0]} of the "
                        "same series; instantaneous spectra need one grid per series")
    Zg, mg, tg = series.Z[rows], m[rows], t_pts[rows]
    for j in range(series.Z.shape[1]):                         # loop over frequencies
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
