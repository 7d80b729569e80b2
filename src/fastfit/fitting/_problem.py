"""`prepare`: validate what `fit` takes and return it as a `FitProblem` of numpy arrays."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

from .._batch import Batch, as_batch
from ..circuit import Circuit
from ..errors import DataError, ShapeError

__all__ = ["FitProblem", "prepare", "weights_for", "WEIGHTS"]

WEIGHTS = ("modulus", "proportional", "unit")


@dataclass(frozen=True, eq=False)
class FitProblem:
    """A validated fit problem: everything the fit kernels need, as numpy arrays.

    Attributes
    ----------
    circuit : Circuit
    batch : Batch, the spectra (B, F), padded, with their mask
    p_fixed : (B, P) float64, physical values of the fixed parameters, and the user's
        starting point ``p0`` in the other columns (the circuit defaults without one)
    have_p0 : bool, the user gave ``p0`` (tried as an extra start)
    fixed : (P,) bool, parameters held at ``p_fixed``
    lo, hi : (P,) float64, bounds in the fitted (internal) space: ln p where ``logmask``
    logmask : tuple of P bool, parameter fitted as ln p
    w_re, w_im : (B, F) float64, residual weights 1/sigma (0 where masked), 1/ohm
    weight : str, name of the weighting ("modulus", "proportional", "unit", "sigma")
    n_points : (B,) int, points used per spectrum
    n_free : int, free parameters per spectrum
    """

    circuit: Circuit
    batch: Batch
    p_fixed: np.ndarray
    have_p0: bool
    fixed: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    logmask: tuple
    w_re: np.ndarray
    w_im: np.ndarray
    weight: str
    n_points: np.ndarray
    n_free: int

    @property
    def n_spectra(self) -> int:
        return self.batch.n_spectra

    def weighted_residuals(self, Z_fit: np.ndarray) -> np.ndarray:
        """(B, F) complex, w_re dRe + j w_im dIm of the model ``Z_fit`` (0 where masked)."""
        Z = self.batch.Z
        return self.w_re * (Z_fit.real - Z.real) + 1j * self.w_im * (Z_fit.imag - Z.imag)

    def rows(self, idx) -> "FitProblem":
        """The same problem restricted to the spectra ``idx`` (int array, batch order)."""
        idx = np.asarray(idx, np.int64)
        b = self.batch
        sub = replace(b, freq=b.freq[idx], Z=b.Z[idx], mask=b.mask[idx], squeeze=False)
        return replace(self, batch=sub, p_fixed=self.p_fixed[idx], w_re=self.w_re[idx],
                       w_im=self.w_im[idx], n_points=self.n_points[idx])

    def holding(self, columns, params: np.ndarray) -> "FitProblem":
        """The same problem with ``columns`` also fixed, at their values in ``params``
        (B, P); the other free columns of ``params`` become the user start ``p0``."""
        fixed = self.fixed.copy()
        fixed[list(columns)] = True
        p = np.where(self.fixed[None, :], self.p_fixed, params)
        return replace(self, fixed=fixed, p_fixed=p, n_free=int((~fixed).sum()), have_p0=True)


def _as_circuit(circuit) -> Circuit:
    if circuit is None:
        raise ShapeError("a circuit is required, e.g. circuit='R0-p(R1,CPE1)'")
    return circuit if isinstance(circuit, Circuit) else Circuit(circuit)


def weights_for(weight, batch: Batch) -> tuple[np.ndarray, np.ndarray, str]:
    """(w_re, w_im, name): residual weights 1/sigma per point, 0 where masked.

    "modulus": sigma = |Z| for both parts; "proportional": sigma_re = |Z'|, sigma_im = |Z''|
    (floored at 1e-6 |Z|); "unit": sigma = 1; an array sigma (B, F) or (F,): real (same
    for both parts) or complex (sigma_re + j sigma_im), in ohm.
    """
    Z, m = batch.Z, batch.mask
    if isinstance(weight, str):
        if weight == "modulus":
            s_re = s_im = np.abs(Z)
        elif weight == "proportional":
            a = np.abs(Z)
            s_re, s_im = np.maximum(np.abs(Z.real), 1e-6 * a), np.maximum(np.abs(Z.imag), 1e-6 * a)
        elif weight == "unit":
            s_re = s_im = np.ones(Z.shape)
        else:
            raise DataError(f"weight must be one of {', '.join(WEIGHTS)} or an array of sigma; got {weight!r}")
        name = weight
    else:
        sig = np.asarray(weight)
        if sig.ndim == 1:
            sig = np.broadcast_to(sig, Z.shape)
        if sig.shape != Z.shape:
            raise ShapeError(f"weight (sigma) has shape {sig.shape}, expected {Z.shape}")
        s_re, s_im = (sig.real, sig.imag) if np.iscomplexobj(sig) else (sig, sig)
        bad = m & ~((s_re > 0) & (s_im > 0) & np.isfinite(s_re) & np.isfinite(s_im))
        if bad.any():
            b, k = np.argwhere(bad)[0]
            raise DataError(f"spectrum {b}: sigma at point {k} must be finite and > 0")
        name = "sigma"
    bad = m & ~((s_re > 0) & (s_im > 0))
    if bad.any():
        b, k = np.argwhere(bad)[0]
        raise DataError(f"spectrum {b}: Z = 0 at point {k} cannot be weighted by {name!r}")
    w_re = np.where(m, 1.0 / np.where(m, s_re, 1.0), 0.0)
    w_im = np.where(m, 1.0 / np.where(m, s_im, 1.0), 0.0)
    return w_re, w_im, name


def _per_param(value, circuit: Circuit, B: int, what: str, default: np.ndarray) -> np.ndarray:
    """(B, P) array from None, a (P,) / (B, P) array, or a {name: value} mapping."""
    P = circuit.n_params
    out = np.broadcast_to(default, (B, P)).astype(np.float64).copy()
    if value is None:
        return out
    if isinstance(value, Mapping):
        for name, v in value.items():
            out[:, circuit.param_index(name)] = v
        return out
    arr = np.asarray(value, np.float64)
    if arr.shape not in ((P,), (B, P)):
        raise ShapeError(f"{what} must have shape ({P},) or ({B}, {P}) for parameters "
                         f"{', '.join(circuit.param_names)}; got {arr.shape}")
    out[:] = arr
    return out


def _bounds(bounds, circuit: Circuit) -> np.ndarray:
    b = circuit.default_bounds.copy()
    if bounds is None:
        return b
    if isinstance(bounds, Mapping):
        for name, (lo, hi) in bounds.items():
            b[circuit.param_index(name)] = (lo, hi)
    else:
        arr = np.asarray(bounds, np.float64)
        if arr.shape == (circuit.n_params, 2):
            b = arr.copy()
        elif arr.shape == (2, circuit.n_params):
            b = arr.T.copy()
        else:
            raise ShapeError(f"bounds must be (P, 2) = ({circuit.n_params}, 2) or a mapping; got {arr.shape}")
    for k, (lo, hi) in enumerate(b):
        if not lo < hi:
            raise DataError(f"bounds of {circuit.param_names[k]}: lower {lo} must be < upper {hi}")
    return b


def _fixed(fixed, circuit: Circuit, p_fixed: np.ndarray, have_p0: bool) -> np.ndarray:
    P = circuit.n_params
    mask = np.zeros(P, bool)
    if fixed is None:
        return mask
    if isinstance(fixed, Mapping):
        for name, v in fixed.items():
            k = circuit.param_index(name)
            mask[k] = True
            p_fixed[:, k] = v
        return mask
    arr = np.asarray(fixed)
    if arr.dtype == bool:
        if arr.shape != (P,):
            raise ShapeError(f"fixed as a mask must have shape ({P},); got {arr.shape}")
        names = [circuit.param_names[k] for k in np.nonzero(arr)[0]]
    else:
        names = [str(n) for n in np.atleast_1d(arr)]
    for name in names:
        mask[circuit.param_index(name)] = True
    if mask.any() and not have_p0:
        raise DataError("parameters fixed by name need values: pass p0 or fixed={name: value}")
    return mask


def _check_starts_in_bounds(c: Circuit, p_fix: np.ndarray, b: np.ndarray) -> None:
    lo_b, hi_b = b[:, 0], b[:, 1]
    out = (p_fix < lo_b) | (p_fix > hi_b)
    if out.any():
        s, k = np.argwhere(out)[0]
        raise DataError(f"spectrum {s}: start/fixed value of {c.param_names[k]} = {p_fix[s, k]:g} "
                        f"is outside its bounds [{lo_b[k]:g}, {hi_b[k]:g}]")


def _check_enough_points(batch: Batch, n_free: int) -> np.ndarray:
    n_pts = batch.mask.sum(axis=1)
    few = np.nonzero(2 * n_pts <= n_free)[0]
    if few.size:
        s = few[0]
        raise DataError(f"spectrum {s}: {n_pts[s]} points (x2 real residuals) do not exceed "
                        f"{n_free} free parameters")
    return n_pts


def prepare(freq, Z=None, circuit=None, *, p0=None, bounds=None, fixed=None, weight="modulus",
            mask=None) -> FitProblem:
    """Validate everything :func:`fastfit.fit` takes (same arguments; ``freq`` may be a
    SpectrumSeries with the circuit in place of ``Z``).

    Returns
    -------
    FitProblem

    Raises
    ------
    ShapeError, DataError
        naming the argument, spectrum, point or parameter.
    """
    if circuit is None and isinstance(Z, (str, Circuit)) and hasattr(freq, "Z"):
        circuit, Z = Z, None
    c = _as_circuit(circuit)
    batch = as_batch(freq, Z, mask)
    have_p0 = p0 is not None
    p_fix = _per_param(p0, c, batch.n_spectra, "p0", c.default_values)
    fixed_mask = _fixed(fixed, c, p_fix, have_p0)
    b = _bounds(bounds, c)
    if have_p0 or fixed_mask.any():
        _check_starts_in_bounds(c, p_fix, b)
    n_free = int((~fixed_mask).sum())
    n_pts = _check_enough_points(batch, n_free)
    w_re, w_im, wname = weights_for(weight, batch)
    logmask = tuple(bool(v) for v in (c.log_scale & (b[:, 0] >= 0)))
    lo_x = np.where(logmask, np.log(np.maximum(b[:, 0], 1e-300)), b[:, 0])
    hi_x = np.where(logmask, np.log(np.minimum(b[:, 1], 1e300)), b[:, 1])
    return FitProblem(circuit=c, batch=batch, p_fixed=p_fix, have_p0=have_p0, fixed=fixed_mask,
                      lo=lo_x, hi=hi_x, logmask=logmask, w_re=w_re, w_im=w_im, weight=wname,
                      n_points=n_pts, n_free=n_free)
