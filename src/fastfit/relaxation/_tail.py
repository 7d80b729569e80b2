"""Series tail elements solved jointly with gamma (``drt(..., tail=...)``).

A spectrum whose low-frequency end is diffusion-dominated (a 45-degree line, a blocking
capacitance) has no time constant inside the measured range for that part: a DRT piles
it at the long-tau end of the grid.  A tail element in series models it instead::

    Z(w) = R_inf + j w L + integral gamma d ln tau + a t(w; s)

with the amplitude ``a`` >= 0 a further column of the least-squares problem (no penalty)
and the shape ``s`` profiled on a grid: every grid value gives one exact solve of the
whole batch (one shared system), and each spectrum keeps the value with the smallest
objective (variable projection on a grid).  Tails, with amplitude and shape:

* ``"cpe"``: ``t = 1 / (j w)^n``, a = 1/Q (Q in F s^(n-1)), s = n (default grid
  0.30, 0.35, ..., 1.00);
* ``"warburg_short"`` (finite length, transmissive): ``t = tanh(sqrt(j w tau_W)) /
  sqrt(j w tau_W)``, a = R_W (ohm), s = tau_W (s);
* ``"warburg_open"`` (finite space, reflective): ``t = coth(sqrt(j w tau_W)) /
  sqrt(j w tau_W)``, a = R_W, s = tau_W.  Default tau_W grid for both: 4 per decade from
  0.1 / w_min to 1000 / w_min (w_min the lowest used angular frequency).

The reported shape is the best grid value (pass a finer ``tail_grid`` for a finer one).
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError

__all__ = ["TAILS", "TAIL_NAMES", "check_tail", "tail_grid", "tail_unit", "tail_params",
           "tail_column"]

TAILS = ("cpe", "warburg_short", "warburg_open")
TAIL_NAMES = {"cpe": ("Q", "n"), "warburg_short": ("R_W", "tau_W"),
              "warburg_open": ("R_W", "tau_W")}
_CPE_GRID = np.round(np.linspace(0.30, 1.0, 15), 10)


def check_tail(tail, grid) -> None:
    """DataError for an unknown tail or a bad ``tail_grid``."""
    if tail is None:
        if grid is not None:
            raise DataError("tail_grid needs a tail ('cpe', 'warburg_short', 'warburg_open')")
        return
    if tail not in TAILS:
        raise DataError(f"tail must be None or one of {TAILS}, got {tail!r}")
    if grid is None:
        return
    g = np.asarray(grid, np.float64).reshape(-1)
    if g.size < 1 or not np.all(np.isfinite(g) & (g > 0)):
        raise DataError("tail_grid must hold finite values > 0 (CPE exponents n in (0, 1] "
                        "or Warburg time constants tau_W in s)")
    if tail == "cpe" and np.any(g > 1):
        raise DataError(f"tail_grid: CPE exponents must be in (0, 1], got max {g.max()!r}")


def tail_grid(tail, grid, freq_used) -> np.ndarray:
    """Shape values tried for one group (sorted)."""
    if grid is not None:
        return np.unique(np.asarray(grid, np.float64).reshape(-1))
    if tail == "cpe":
        return _CPE_GRID.copy()
    w_min = 2 * np.pi * float(np.min(freq_used))
    return np.logspace(np.log10(0.1 / w_min), np.log10(1e3 / w_min), 17)


def tail_unit(tail, omega, shape) -> np.ndarray:
    """t(w; s): the tail's impedance per unit amplitude (complex, broadcast)."""
    omega = np.asarray(omega, np.float64)
    if tail == "cpe":
        return (1j * omega) ** (-np.asarray(shape, np.float64))
    s = np.sqrt(1j * omega * np.asarray(shape, np.float64))
    th = np.tanh(s)                      # stable for large |s| (-> 1)
    return th / s if tail == "warburg_short" else 1.0 / (th * s)


def tail_column(tail, freq, w_re, w_im, shape) -> np.ndarray:
    """(2F,) weighted column [Re t; Im t] of the least-squares system."""
    t = tail_unit(tail, 2 * np.pi * np.asarray(freq, np.float64), shape)
    return np.concatenate([t.real * w_re, t.imag * w_im])


def tail_params(tail, amplitude, shape) -> np.ndarray:
    """(B, 2) physical parameters (``TAIL_NAMES``) from amplitude and shape."""
    a = np.asarray(amplitude, np.float64)
    if tail == "cpe":
        with np.errstate(divide="ignore"):
            Q = np.where(a > 0, 1.0 / np.where(a > 0, a, 1.0), np.inf)
        return np.stack([Q, shape], axis=1)
    return np.stack([a, shape], axis=1)
