"""Label impedance arcs as bulk / grain boundary / interface by their capacitance.

The classic guide is Table 1 of J. T. S. Irvine, D. C. Sinclair, A. R. West, "Electroceramics:
characterization by impedance spectroscopy", Adv. Mater. 2 (1990) 132,
doi:10.1002/adma.19900020304.  Its capacitances are in F **for a cell constant
L/A = 1 cm⁻¹**, i.e. they compare with ``C * L / A`` in F cm⁻¹ (see
:func:`fastfit.analysis.specific_capacitance`):

=========================  ===================
phenomenon                 C (F, L/A = 1 cm⁻¹)
=========================  ===================
bulk                       1e-12
minor second phase         1e-11
grain boundary             1e-11 – 1e-8
bulk ferroelectric         1e-10 – 1e-9
surface layer              1e-9 – 1e-7
sample–electrode interface 1e-7 – 1e-5
electrochemical reaction   1e-4
=========================  ===================

The ranges overlap and are order-of-magnitude guides, not physics.  The default bins
below make them contiguous: bulk < 1e-11 <= grain boundary < 1e-8 <= interface < 1e-3
(surface layers, electrode interfaces and reactions all count as "interface").

Caveat, measured on the reference study (Na|NZSP0.4|Na, L = 0.2 cm, A = 0.283 cm²): its
interface arc, 34 nF cm⁻², is 6.8e-9 F cm⁻¹ after cell-constant normalisation, i.e. in
Irvine's grain-boundary/surface-layer overlap.  A current-constriction interface of a
metal electrode is not a double layer with full contact, so its capacitance can be small;
use frequency order (interface below grain boundary) or custom ``ranges`` for such cells.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..errors import DataError
from ._common import as_float, check_finite_or_nan, positive

__all__ = ["DEFAULT_RANGES", "assign_process"]

#: Default capacitance bins, F cm⁻¹ (capacitance times L/A), [low, high); first match wins.
DEFAULT_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType({
    "bulk": (1e-14, 1e-11),
    "grain_boundary": (1e-11, 1e-8),
    "interface": (1e-8, 1e-3),
})

UNASSIGNED = "unassigned"


def _check_ranges(ranges) -> list[tuple[str, float, float]]:
    out = []
    try:
        items = list(ranges.items())
    except AttributeError:
        raise DataError("ranges must be a mapping label -> (low, high)") from None
    if not items:
        raise DataError("ranges is empty")
    for label, bounds in items:
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise DataError(f"ranges[{label!r}] must be a (low, high) pair of numbers; "
                            f"got {bounds!r}") from None
        if not (0 <= lo < hi) or np.isnan(lo) or np.isnan(hi):
            raise DataError(f"ranges[{label!r}] must satisfy 0 <= low < high; got {bounds!r}")
        out.append((str(label), lo, hi))
    return out


def assign_process(C_F, *, thickness_cm=None, area_cm2=None, ranges=None,
                   basis: str = "per_length"):
    """Label arcs by effective capacitance.

    Parameters
    ----------
    C_F : float or array, F — effective capacitances (e.g. ``RCPEDerived.C_eff``)
    thickness_cm, area_cm2 : float, cm and cm² — sample thickness and electrode area,
        required for ``basis="per_length"``
    ranges : mapping label -> (low, high), optional
        Bins in the units of ``basis``, [low, high); the first matching label (in mapping
        order) wins.  Default :data:`DEFAULT_RANGES` (Irvine et al. 1990, F cm⁻¹).
    basis : {"per_length", "areal", "absolute"}
        What ``ranges`` compare with: ``C L / A`` in F cm⁻¹ (Irvine's normalisation,
        default), ``C / A`` in F cm⁻² (needs ``area_cm2``) or ``C`` in F.

    Returns
    -------
    labels : str or array of str (same shape as ``C_F``); "unassigned" outside every bin
        or where ``C_F`` is NaN.

    Examples
    --------
    >>> # reference study: grain boundary 4.5 nF/cm^2 on 0.283 cm^2, 2 mm pellet
    >>> str(assign_process(4.5e-9 * 0.283, thickness_cm=0.2, area_cm2=0.283))
    'grain_boundary'
    """
    C = check_finite_or_nan("C_F", as_float("C_F", C_F))
    if np.any(C <= 0):
        raise DataError("C_F must be > 0")
    if basis == "per_length":
        if thickness_cm is None or area_cm2 is None:
            raise DataError("basis='per_length' (Irvine's C*L/A) needs thickness_cm and "
                            "area_cm2; or pass basis='areal'/'absolute' with matching ranges")
        x = C * positive("thickness_cm", thickness_cm, allow_nan=False) / positive(
            "area_cm2", area_cm2, allow_nan=False)
    elif basis == "areal":
        if area_cm2 is None:
            raise DataError("basis='areal' needs area_cm2")
        x = C / positive("area_cm2", area_cm2, allow_nan=False)
    elif basis == "absolute":
        x = C
    else:
        raise DataError(f"basis must be 'per_length', 'areal' or 'absolute'; got {basis!r}")
    if ranges is None:
        if basis != "per_length":
            raise DataError(f"the default ranges are in F/cm (basis='per_length'); give "
                            f"ranges= in the units of basis={basis!r}")
        ranges = DEFAULT_RANGES
    bins = _check_ranges(ranges)
    width = max(len(UNASSIGNED), *(len(b[0]) for b in bins))
    out = np.full(x.shape, UNASSIGNED, dtype=f"<U{width}")
    done = np.zeros(x.shape, bool)
    for label, lo, hi in bins:
        hit = (~done) & (x >= lo) & (x < hi)
        out[hit] = label
        done |= hit
    return out[()] if out.ndim == 0 else out
