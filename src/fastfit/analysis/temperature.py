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

from ..errors import DataError
from ._common import (K_B_EV, T_ZERO_C, as_float, broadcast, check_finite_or_nan,
                      nonnegative, positive, scalar_or_array)
from ._interpolate import interpolate_temperature
from ._thermocouple import TemperatureLog, read_thermocouple_csv
from .arrhenius import ArrheniusResult, law_T_power

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
