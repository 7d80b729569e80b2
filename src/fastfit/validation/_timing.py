"""Time bookkeeping of swept series: which spectra form a series, when each point was taken."""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError

__all__ = ["group_ids", "series_groups", "point_times"]


def group_ids(groups, n, time=None):
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


def series_groups(series):
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
