"""Shared constants and argument checks of :mod:`fastfit.analysis` (numpy only).

Every check names the argument it rejects.  NaN is *not* an error anywhere in the
analysis layer: a failed fit in a batch carries NaN parameters, and derived quantities
of that spectrum are NaN too.  Infinite values and finite values outside the allowed
domain (negative resistance, CPE exponent outside (0, 1], ...) raise
:class:`~fastfit.errors.DataError`.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError

#: Boltzmann constant in eV/K (CODATA 2018, exact since the 2019 SI redefinition).
K_B_EV = 8.617333262e-5

#: 0 °C in kelvin.
T_ZERO_C = 273.15


def as_float(name: str, x) -> np.ndarray:
    """``x`` as a float64 array; DataError naming ``name`` for non-numeric or complex input."""
    try:
        a = np.asarray(x)
    except Exception as exc:  # ragged nested sequences etc.
        raise ShapeError(f"{name} could not be converted to an array: {exc}") from None
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise DataError(f"{name} must be real numbers; got dtype {a.dtype}")
    return a.astype(np.float64)


def _first_bad(bad: np.ndarray) -> str:
    idx = np.argwhere(bad)[0]
    return "" if idx.size == 0 else f" (first at index {tuple(int(i) for i in idx)})"


def check_finite_or_nan(name: str, a: np.ndarray) -> np.ndarray:
    bad = np.isinf(a)
    if bad.any():
        raise DataError(f"{name} must be finite (NaN marks a missing value); got inf"
                        f"{_first_bad(bad)}")
    return a


def positive(name: str, x, *, allow_nan: bool = True) -> np.ndarray:
    """float64 array of ``x``, every non-NaN entry finite and > 0."""
    a = check_finite_or_nan(name, as_float(name, x))
    bad = a <= 0
    if bad.any():
        raise DataError(f"{name} must be > 0; got {a[bad].flat[0]!r}{_first_bad(bad)}")
    if not allow_nan and np.isnan(a).any():
        raise DataError(f"{name} must not contain NaN{_first_bad(np.isnan(a))}")
    return a


def nonnegative(name: str, x, *, allow_nan: bool = True) -> np.ndarray:
    """float64 array of ``x``, every non-NaN entry finite and >= 0."""
    a = check_finite_or_nan(name, as_float(name, x))
    bad = a < 0
    if bad.any():
        raise DataError(f"{name} must be >= 0; got {a[bad].flat[0]!r}{_first_bad(bad)}")
    if not allow_nan and np.isnan(a).any():
        raise DataError(f"{name} must not contain NaN{_first_bad(np.isnan(a))}")
    return a


def cpe_exponent(name: str, x) -> np.ndarray:
    """float64 array of CPE exponents, every non-NaN entry in (0, 1]."""
    a = check_finite_or_nan(name, as_float(name, x))
    bad = (a <= 0) | (a > 1)
    if bad.any():
        raise DataError(f"{name} (CPE exponent) must lie in (0, 1]; got {a[bad].flat[0]!r}"
                        f"{_first_bad(bad)}")
    return a


def broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    """Broadcast keyword arrays together; ShapeError naming all of them on mismatch."""
    try:
        return list(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise ShapeError(f"shapes do not broadcast together: {shapes}") from None


def scalar_or_array(a: np.ndarray):
    """0-d arrays -> Python-compatible numpy scalars (np.float64), else the array."""
    return a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a
