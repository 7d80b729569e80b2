"""Temperature correction of time series: thermocouple logs, interpolation to spectrum
times, and correction of resistances to a reference temperature.

Model
-----
A resistance with activation energy Ea follows ``R(T) ∝ T^m exp(Ea / (k_B T))`` with
``m = 1`` for the ``"sigma_T"`` law (sigma T = A exp(-Ea/k_B T), the default) and ``m = 0``
for ``"inv_R"`` (1/R = A exp(-Ea/k_B T)).  The resistance at the reference temperature is

    R_ref = R (T_ref / T)^m exp[(Ea / k_B) (1/T_ref - 1/T)]

The reference study (Ortmann et al., Na|NZSP0.4, glovebox series) corrected its
5-minute impedance series this way with the activation energies of bulk and grain
boundary from a separate temperature series, and logged the temperature next to the
cell once a minute.

Uncertainty (first order in ln R_ref):

    var(ln R_ref) = (s_R/R)² + (∂ln R_ref/∂T)² s_T² + ((1/T_ref - 1/T)/k_B)² s_Ea²
    ∂ln R_ref/∂T = Ea/(k_B T²) - m/T

The Ea term is *systematic*: one Ea error shifts every corrected point of a series in
a correlated way (it vanishes at T = T_ref), so it is reported separately.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, ShapeError
from ._common import (K_B_EV, T_ZERO_C, as_float, broadcast, check_finite_or_nan,
                      nonnegative, positive, scalar_or_array)
from .arrhenius import ArrheniusResult, law_T_power
from ._thermocouple import TemperatureLog, read_thermocouple_csv

__all__ = [
    "TemperatureLog",
    "read_thermocouple_csv",
    "interpolate_temperature",
    "CorrectedResistance",
    "correct_to_reference",
    "temperature_from_resistance",
    "to_kelvin",
    "to_celsius",
]


def to_kelvin(T_C):
    """°C -> K (adds 273.15)."""
    return scalar_or_array(check_finite_or_nan("T_C", as_float("T_C", T_C)) + T_ZERO_C)


def to_celsius(T_K):
    """K -> °C (subtracts 273.15)."""
    return scalar_or_array(positive("T_K", T_K) - T_ZERO_C)


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


@dataclass(frozen=True)
class CorrectedResistance:
    """Resistances corrected to a reference temperature (:func:`correct_to_reference`).

    All fields have the broadcast shape of the inputs.

    Attributes
    ----------
    R_ref : float or array — resistance at T_ref (units of the input R)
    stderr : float or array — total standard error of R_ref
    stderr_random : float or array — part from R's and T's standard errors (independent
        point to point)
    stderr_Ea : float or array — part from Ea's standard error (systematic: common to a
        whole series, zero at T = T_ref)
    factor : float or array — R_ref / R
    """

    R_ref: np.ndarray
    stderr: np.ndarray
    stderr_random: np.ndarray
    stderr_Ea: np.ndarray
    factor: np.ndarray


def _activation(Ea_eV, Ea_stderr, law):
    if isinstance(Ea_eV, ArrheniusResult):
        res = Ea_eV
        if law is not None and law_T_power(law) != law_T_power(res.law):
            raise DataError(f"law={law!r} disagrees with the Arrhenius fit's law {res.law!r}")
        return (np.float64(res.Ea_eV), np.float64(res.Ea_stderr_eV if Ea_stderr is None
                                                   else Ea_stderr), res.law)
    law = "sigma_T" if law is None else law
    law_T_power(law)
    Ea = nonnegative("Ea_eV", Ea_eV)
    se = np.float64(0.0) if Ea_stderr is None else nonnegative("Ea_stderr", Ea_stderr)
    return Ea, se, law


def correct_to_reference(R, T_K, T_ref_K, Ea_eV, Ea_stderr=None, law: str | None = None, *,
                         R_stderr=None, T_stderr_K=None) -> CorrectedResistance:
    """Correct resistances measured at ``T_K`` to the reference temperature ``T_ref_K``.

    Parameters
    ----------
    R : float or array, Ω or Ω cm² (> 0; NaN passes through)
    T_K : float or array, K — temperature of each measurement (e.g. from
        :func:`interpolate_temperature`)
    T_ref_K : float, K
    Ea_eV : float or array, eV, or an :class:`ArrheniusResult`
        Activation energy (an array broadcasts, e.g. one Ea per process column).  An
        ArrheniusResult supplies Ea, its standard error and its law.
    Ea_stderr : float or array, eV, optional
    law : {"sigma_T", "inv_R", "sigma"}, optional — default "sigma_T" (or the law of the
        ArrheniusResult)
    R_stderr : float or array, optional — standard errors of R
    T_stderr_K : float or array, K, optional — standard errors of the temperatures

    Returns
    -------
    CorrectedResistance

    Examples
    --------
    >>> c = correct_to_reference(100.0, 300.0, 300.0, 0.3)
    >>> float(c.R_ref)
    100.0
    """
    Ea, Ea_se, law = _activation(Ea_eV, Ea_stderr, law)
    m = law_T_power(law)
    Rv = positive("R", R)
    T = positive("T_K", T_K)
    Tr = positive("T_ref_K", T_ref_K, allow_nan=False)
    sR = np.float64(0.0) if R_stderr is None else nonnegative("R_stderr", R_stderr)
    sT = np.float64(0.0) if T_stderr_K is None else nonnegative("T_stderr_K", T_stderr_K)
    Rv, T, Tr, Ea, Ea_se, sR, sT = broadcast(R=Rv, T_K=T, T_ref_K=Tr, Ea_eV=Ea,
                                             Ea_stderr=Ea_se, R_stderr=sR, T_stderr_K=sT)
    dEa = (1.0 / Tr - 1.0 / T) / K_B_EV
    log_factor = m * np.log(Tr / T) + Ea * dEa
    factor = np.exp(log_factor)
    R_ref = Rv * factor
    dT = Ea / (K_B_EV * T**2) - m / T
    rel_random = np.sqrt((sR / Rv) ** 2 + (dT * sT) ** 2)
    rel_Ea = np.abs(dEa) * Ea_se
    s = scalar_or_array
    return CorrectedResistance(R_ref=s(R_ref), stderr=s(R_ref * np.hypot(rel_random, rel_Ea)),
                               stderr_random=s(R_ref * rel_random), stderr_Ea=s(R_ref * rel_Ea),
                               factor=s(factor))


def temperature_from_resistance(R, R_ref, T_ref_K, Ea_eV, law: str = "sigma_T"):
    """Invert the Arrhenius law: the temperature at which the resistance is ``R``, given
    ``R_ref`` at ``T_ref_K`` — the electrolyte as its own thermometer.

    Solves ``ln(R/R_ref) = m ln(T/T_ref) + (Ea/k_B)(1/T - 1/T_ref)`` for T (closed form
    for m = 0, Newton on u = 1/T for m = 1; the root is unique while Ea > m k_B T).
    A standard error s_R of R maps to ``s_T = (s_R/R) / |Ea/(k_B T²) - m/T|``.

    Parameters
    ----------
    R, R_ref : float or array, same units (> 0)
    T_ref_K : float or array, K
    Ea_eV : float or array, eV (> 0)
    law : {"sigma_T", "inv_R", "sigma"}

    Returns
    -------
    T_K : float or array, K
    """
    m = law_T_power(law)
    Rv = positive("R", R)
    Rr = positive("R_ref", R_ref)
    Tr = positive("T_ref_K", T_ref_K)
    Ea = positive("Ea_eV", Ea_eV)
    Rv, Rr, Tr, Ea = broadcast(R=Rv, R_ref=Rr, T_ref_K=Tr, Ea_eV=Ea)
    b = Ea / K_B_EV
    lr = np.log(Rv / Rr)
    u = 1.0 / Tr + lr / b                       # exact for m = 0
    if m:
        for _ in range(50):
            g = -m * np.log(u * Tr) + b * (u - 1.0 / Tr) - lr
            step = g / (b - m / u)
            u = u - step
            if np.all(~np.isfinite(step) | (np.abs(step) <= 1e-15 * np.abs(u))):
                break
    T = 1.0 / u
    if np.any(np.isfinite(T) & (T <= 0)):
        raise DataError("no positive temperature reproduces R (is Ea too small for this law?)")
    return scalar_or_array(T)
