"""Percentile intervals of quantities derived from bootstrap samples.

A derived quantity g(θ) of bootstrap samples θ*_1..θ*_n (``fastfit.bootstrap``:
``samples`` (n, B, P)) has the samples g(θ*_i); its percentile interval at level 1 - α is
their α/2 and 1 - α/2 quantiles (Efron and Tibshirani, *An Introduction to the
Bootstrap*, Chapman & Hall 1993, ch. 13).  Resamples whose refit failed are NaN and left
out (their number is ``n_valid``'s complement).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, ShapeError

__all__ = ["SampleInterval", "sample_interval"]


@dataclass(frozen=True)
class SampleInterval:
    """A percentile interval from bootstrap samples (shape S = the samples' shape without
    the resample axis; a scalar for 1-D samples).

    Attributes
    ----------
    value : (S) float, the median of the samples (the quantity at the fit itself is the
        usual point estimate; the median is given so that an interval is self-contained)
    lo, hi : (S) float, the (1 - level)/2 and (1 + level)/2 quantiles, same units as the
        samples
    stderr : (S) float, standard deviation of the samples (ddof = 1)
    n_valid : (S) int, finite samples used (NaN = a failed resample)
    level : float
    samples : (n, S) float, the derived samples themselves
    """

    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    stderr: np.ndarray
    n_valid: np.ndarray
    level: float
    samples: np.ndarray = field(repr=False)

    def contains(self, x) -> np.ndarray:
        """(S) bool: lo <= x <= hi (False where the interval is NaN)."""
        x = np.asarray(x, np.float64)
        with np.errstate(invalid="ignore"):
            return (self.lo <= x) & (x <= self.hi)


def sample_interval(samples, level: float = 0.95, *, name: str = "samples") -> SampleInterval:
    """Percentile interval over the first axis of ``samples`` (n, ...); NaN samples are
    left out, fewer than 2 finite samples give NaN.  ``name`` is used in error messages."""
    if not 0 < float(level) < 1:
        raise DataError(f"level must lie in (0, 1); got {level!r}")
    s = np.asarray(samples, np.float64)
    if s.ndim < 1 or s.shape[0] < 2:
        raise ShapeError(f"{name} must have the resample axis first with at least 2 "
                         f"resamples; got shape {s.shape}")
    ok = np.isfinite(s)
    k = ok.sum(axis=0)
    a = 0.5 * (1.0 - float(level))
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        warnings.filterwarnings("ignore", "Degrees of freedom", RuntimeWarning)
        s_ok = np.where(ok, s, np.nan)
        lo, med, hi = np.nanquantile(s_ok, [a, 0.5, 1.0 - a], axis=0, method="median_unbiased")
        sd = np.nanstd(s_ok, axis=0, ddof=1)
    few = k < 2
    out = [np.where(few, np.nan, v) for v in (med, lo, hi, sd)]
    out = [v[()] if v.ndim == 0 else v for v in out]
    return SampleInterval(value=out[0], lo=out[1], hi=out[2], stderr=out[3],
                          n_valid=k[()] if k.ndim == 0 else k, level=float(level), samples=s)
