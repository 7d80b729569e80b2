"""Cell geometry: electrode area, area-specific resistance and capacitance, conductivity.

Units (fixed, no guessing): lengths in **cm** unless a keyword says ``_mm``, areas in
**cm²**, resistances in Ω, area-specific resistances in Ω cm², capacitances in F,
area-normalised capacitances in F cm⁻², conductivities in S cm⁻¹.  All functions take
scalars or arrays and broadcast; NaN propagates (a failed fit stays NaN).

Because every conversion here is a multiplication by an exact geometric factor, a
standard error converts with the same function as its value (``to_area_specific(R_err,
A)`` is the standard error of ``to_area_specific(R, A)``), ignoring geometric
uncertainty.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from ._common import broadcast, nonnegative, positive, scalar_or_array

__all__ = [
    "area_from_diameter",
    "to_area_specific",
    "from_area_specific",
    "areal_capacitance",
    "conductivity",
    "resistance_from_conductivity",
    "specific_capacitance",
]


def area_from_diameter(d_cm=None, *, d_mm=None):
    """Area of a circular electrode, cm².

    Give the diameter either in cm (``d_cm``, positional) or in mm (``d_mm=``, keyword),
    never both.

    Parameters
    ----------
    d_cm : float or array, cm
    d_mm : float or array, mm (keyword only)

    Returns
    -------
    area : float or array, cm² — ``pi d² / 4``

    Examples
    --------
    >>> round(float(area_from_diameter(d_mm=6)), 4)   # the reference study's electrodes
    0.2827
    >>> round(float(area_from_diameter(0.6)), 4)
    0.2827
    """
    if (d_cm is None) == (d_mm is None):
        raise DataError("give the diameter exactly once: area_from_diameter(d_cm) or "
                        "area_from_diameter(d_mm=...)")
    d = positive("d_cm", d_cm) if d_mm is None else positive("d_mm", d_mm) / 10.0
    return scalar_or_array(np.pi * d * d / 4.0)


def to_area_specific(R_ohm, area_cm2):
    """Area-specific resistance (ASR) in Ω cm²: ``R * A``.

    Parameters
    ----------
    R_ohm : float or array, Ω (>= 0; NaN passes through)
    area_cm2 : float or array, cm² (> 0), broadcast against ``R_ohm``
    """
    R = nonnegative("R_ohm", R_ohm)
    A = positive("area_cm2", area_cm2, allow_nan=False)
    R, A = broadcast(R_ohm=R, area_cm2=A)
    return scalar_or_array(R * A)


def from_area_specific(R_ohm_cm2, area_cm2):
    """Resistance in Ω from an area-specific resistance: ``ASR / A``.

    Parameters
    ----------
    R_ohm_cm2 : float or array, Ω cm² (>= 0)
    area_cm2 : float or array, cm² (> 0)
    """
    R = nonnegative("R_ohm_cm2", R_ohm_cm2)
    A = positive("area_cm2", area_cm2, allow_nan=False)
    R, A = broadcast(R_ohm_cm2=R, area_cm2=A)
    return scalar_or_array(R / A)


def areal_capacitance(C_F, area_cm2):
    """Area-normalised capacitance in F cm⁻²: ``C / A``.

    This is how the reference study reports capacitances (e.g. 4.5 nF cm⁻² for the grain
    boundaries of Na|NZSP0.4|Na with a 0.283 cm² electrode).

    Parameters
    ----------
    C_F : float or array, F (>= 0)
    area_cm2 : float or array, cm² (> 0)
    """
    C = nonnegative("C_F", C_F)
    A = positive("area_cm2", area_cm2, allow_nan=False)
    C, A = broadcast(C_F=C, area_cm2=A)
    return scalar_or_array(C / A)


def specific_capacitance(C_F, thickness_cm, area_cm2):
    """Capacitance normalised by the cell constant, F cm⁻¹: ``C * L / A``.

    For a bulk (dielectric) response this equals ``eps0 * eps_r`` (eps0 = 8.854e-14
    F cm⁻¹).  It is the normalisation behind the capacitance ranges of Irvine, Sinclair &
    West (Adv. Mater. 2 (1990) 132, which quote capacitances in F for a cell constant
    L/A = 1 cm⁻¹) used by :func:`fastfit.analysis.assign_process`.

    Parameters
    ----------
    C_F : float or array, F
    thickness_cm : float or array, cm (> 0)
    area_cm2 : float or array, cm² (> 0)
    """
    C = nonnegative("C_F", C_F)
    L = positive("thickness_cm", thickness_cm, allow_nan=False)
    A = positive("area_cm2", area_cm2, allow_nan=False)
    C, L, A = broadcast(C_F=C, thickness_cm=L, area_cm2=A)
    return scalar_or_array(C * L / A)


def conductivity(R_ohm, thickness_cm, area_cm2):
    """Conductivity in S cm⁻¹ of a slab of thickness ``L`` and area ``A``: ``L / (R A)``.

    Its standard error is ``sigma * R_err / R`` (relative errors are equal).

    Parameters
    ----------
    R_ohm : float or array, Ω (> 0)
    thickness_cm : float or array, cm (> 0)
    area_cm2 : float or array, cm² (> 0)

    Examples
    --------
    >>> # 36.4 ohm cm^2 across a 2 mm pellet -> 5.5 mS/cm
    >>> round(float(conductivity(36.4 / 0.2827, 0.2, 0.2827)) * 1e3, 2)
    5.49
    """
    R = positive("R_ohm", R_ohm)
    L = positive("thickness_cm", thickness_cm, allow_nan=False)
    A = positive("area_cm2", area_cm2, allow_nan=False)
    R, L, A = broadcast(R_ohm=R, thickness_cm=L, area_cm2=A)
    return scalar_or_array(L / (R * A))


def resistance_from_conductivity(sigma_S_cm, thickness_cm, area_cm2):
    """Resistance in Ω of a slab with conductivity ``sigma`` (S cm⁻¹): ``L / (sigma A)``."""
    s = positive("sigma_S_cm", sigma_S_cm)
    L = positive("thickness_cm", thickness_cm, allow_nan=False)
    A = positive("area_cm2", area_cm2, allow_nan=False)
    s, L, A = broadcast(sigma_S_cm=s, thickness_cm=L, area_cm2=A)
    return scalar_or_array(L / (s * A))
