"""Temperature of spectra from a temperature log: interpolation, or the mean over a sweep."""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError
from ._common import T_ZERO_C, as_float, check_finite_or_nan, scalar_or_array

__all__ = ["interpolate_temperature"]


def _log_arrays(log_time, log_T_C):
    t = check_finite_or_nan("log_time", as_float("log_time", log_time))
    T = check_finite_or_nan("log_T_C", as_float("log_T_C", log_T_C))
    if t.ndim != 1 or T.shape != t.shape:
        raise ShapeError(f"log_time and log_T_C must be 1-D of equal length; got "
                         f"{t.shape} and {T.shape}")
    if np.isnan(t).any() or np.isnan(T).any():
        raise DataError("log_time / log_T_C contain NaN; drop those rows first")
    if t.size < 2:
        raise DataError(f"the temperature log needs at least 2 points; got {t.size}")
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise DataError(f"log_time must be strictly increasing; entry {i} ({t[i]!r}) is not "
                        f"after entry {i - 1} ({t[i - 1]!r})")
    if np.any(T <= -T_ZERO_C):
        raise DataError("log_T_C has values at or below absolute zero; is it in °C?")
    return t, T


def _integral(t, T, x):
    """∫_{t[0]}^{x} of the piecewise-linear log (x inside [t[0], t[-1]])."""
    seg = np.diff(t)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (T[1:] + T[:-1]) * seg)])
    k = np.clip(np.searchsorted(t, x, side="right") - 1, 0, t.size - 2)
    slope = (T[k + 1] - T[k]) / seg[k]
    d = x - t[k]
    return cum[k] + d * T[k] + 0.5 * slope * d * d


def interpolate_temperature(t_spectra, log_time, log_T_C, *, t_end=None, out: str = "K",
                            outside: str = "raise"):
    """Temperature of each spectrum from a thermocouple log.

    Parameters
    ----------
    t_spectra : (N,) float, s — spectrum (start) times, same clock as ``log_time``
    log_time : (M,) float, s — strictly increasing log times
    log_T_C : (M,) float, °C — logged temperatures
    t_end : (N,) float, s, optional
        Spectrum end times.  When given, each spectrum gets the *mean* temperature over
        ``[t, t_end]`` (exact integral of the linearly interpolated log), which is what a
        slow sweep actually sees; otherwise the value at ``t``.
    out : {"K", "C"} — unit of the result (kelvin by default)
    outside : {"raise", "clip", "nan"}
        Spectra outside the log's time span: DataError naming the first one (default),
        hold the end value, or NaN.

    Returns
    -------
    T : (N,) float, K (or °C with ``out="C"``); a scalar for scalar ``t_spectra``
    """
    t, T = _log_arrays(log_time, log_T_C)
    ts = check_finite_or_nan("t_spectra", as_float("t_spectra", t_spectra))
    if out not in ("K", "C"):
        raise DataError(f"out must be 'K' or 'C'; got {out!r}")
    if outside not in ("raise", "clip", "nan"):
        raise DataError(f"outside must be 'raise', 'clip' or 'nan'; got {outside!r}")
    te = None
    if t_end is not None:
        te = check_finite_or_nan("t_end", as_float("t_end", t_end))
        if te.shape != ts.shape:
            raise ShapeError(f"t_end must have the shape of t_spectra {ts.shape}; got {te.shape}")
        if np.any(te < ts):
            i = int(np.flatnonzero((te < ts).ravel())[0])
            raise DataError(f"t_end is before t_spectra for spectrum {i}")
    lo_t = ts if te is None else np.fmin(ts, te)
    hi_t = ts if te is None else np.fmax(ts, te)
    off = (lo_t < t[0]) | (hi_t > t[-1])
    if outside == "raise" and off.any():
        i = int(np.flatnonzero(off.ravel())[0])
        raise DataError(f"spectrum {i} (t = {ts.ravel()[i]!r} s) lies outside the temperature "
                        f"log ({t[0]!r} .. {t[-1]!r} s); pass outside='clip' or 'nan'")
    a = np.clip(ts, t[0], t[-1])
    if te is None:
        val = np.interp(a, t, T)
    else:
        b = np.clip(te, t[0], t[-1])
        width = b - a
        safe = np.where(width > 0, width, 1.0)
        mean = (_integral(t, T, b) - _integral(t, T, a)) / safe
        val = np.where(width > 0, mean, np.interp(a, t, T))
    if outside == "nan":
        val = np.where(off, np.nan, val)
    val = np.where(np.isnan(ts), np.nan, val)
    if out == "K":
        val = val + T_ZERO_C
    return scalar_or_array(val)
