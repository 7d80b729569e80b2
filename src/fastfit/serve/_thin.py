"""Thinning a long series for drawing: keep the extremes of every bucket, and the ends.

A browser draws a few thousand markers with error bars at once without effort; a
100,000-spectrum run is thinned for the page, never in the API's full answers.
"""
from __future__ import annotations

import numpy as np

__all__ = ["thin_indices"]


def thin_indices(y, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` samples of ``y`` that keep its shape for drawing.

    Parameters
    ----------
    y : (N,) float or (N, K) float
        The values to draw, in drawing order (e.g. by spectrum index); NaN allowed.  With
        K columns every column keeps its own extremes (each gets ``max_points // K``).
    max_points : int, >= 4 (smaller values are raised to 4)

    Returns
    -------
    (M,) int64, sorted, unique, M <= max_points -- ``arange(N)`` when N <= max_points.

    Notes
    -----
    Half of the budget is an evenly spaced sample (so a noisy band is drawn as a band, not
    as its two edges); the other half is min/max decimation: the N samples are cut into
    consecutive buckets of (nearly) equal length, and each bucket contributes the
    positions of its smallest and largest finite value (its first position when it holds
    none).  The first and last samples are always kept.  So a single outlier -- often
    the one thing to see in a long series -- survives any amount of thinning, and the
    newest point is always drawn.
    """
    a = np.asarray(y, np.float64)
    if a.ndim == 1:
        a = a[:, None]
    n, k = a.shape
    max_points = max(int(max_points), 4)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    even = max_points // 2
    per_col = max((max_points - even) // max(k, 1), 4)
    n_buckets = max(per_col // 2 - 1, 1)
    edges = np.linspace(0, n, n_buckets + 1).round().astype(np.int64)
    starts = edges[:-1]
    picks = [np.array([0, n - 1], np.int64),
             np.linspace(0, n - 1, max(even - 2, 2)).round().astype(np.int64)]
    for j in range(k):
        col = a[:, j]
        finite = np.isfinite(col)
        lo = np.where(finite, col, np.inf)
        hi = np.where(finite, col, -np.inf)
        # reduceat over the buckets: the extreme values, then their first positions
        mins = np.minimum.reduceat(lo, starts)
        maxs = np.maximum.reduceat(hi, starts)
        bucket = np.repeat(np.arange(n_buckets), np.diff(edges))
        pos = np.arange(n)
        at_min = np.where(lo == mins[bucket], pos, n)
        at_max = np.where(hi == maxs[bucket], pos, n)
        imin = np.minimum.reduceat(at_min, starts)
        imax = np.minimum.reduceat(at_max, starts)
        # buckets without a finite value: their first position
        imin = np.where(np.isfinite(mins), imin, starts)
        imax = np.where(np.isfinite(maxs), imax, starts)
        picks += [imin, imax]
    out = np.unique(np.concatenate(picks))
    if out.size > max_points:               # K columns of extremes may overshoot a little
        keep = np.linspace(0, out.size - 1, max_points).round().astype(np.int64)
        out = out[np.unique(keep)]
    if out.size > max_points:
        out = np.append(out[:max_points - 1], n - 1)
    return out.astype(np.int64)
