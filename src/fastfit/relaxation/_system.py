"""The discretised DRT problem of one frequency grid: options, tau grid, system matrices."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._batch import as_batch
from ..errors import DataError, ShapeError

__all__ = ["DRTSystem", "drt_system", "build_system", "check_options", "check_extras", "check_lam",
           "fastfit_tau", "pydrttools_tau", "LAM_GRID", "TAU_PAD", "FWHM_GAUSS"]

FWHM_GAUSS = 2.0 * np.sqrt(np.log(2.0))   # full width at half maximum of exp(-x^2)
# default tau grid: pyDRTtools' collocation span [1/f_max, 1/f_min] widened by TAU_PAD mean
# ln-f point spacings on each side (the reach of its outermost Gaussians, FWHM = 2 spacings);
# see the docstring of fastfit.relaxation for how the value was measured
TAU_PAD = 1.4
LAM_GRID = np.logspace(-10, 0, 41)        # default lambda grid for lam_select (4/decade)
_PARTS = ("both", "real", "imag")
_BASES = ("gaussian", "piecewise_linear")
_SELECT = (None, "gcv", "lcurve", "re-im")
_DISC = ("fastfit", "pydrttools")


@dataclass(frozen=True, eq=False)
class DRTSystem:
    """The discretised problem on one frequency grid.

    A : (2F, T+2) rows [Re; Im] (weighted), columns [R_inf, L, x_1..x_T]
    M : (T+2, T+2) penalty (zero for R_inf and L);  free : (T+2,) bool fitted columns
    log_tau : (T,) basis centres ln(tau/s);  eps : RBF shape factor (0 for hats)
    weight : (T,) integral of each basis function over ln tau (R_pol = weight @ x)
    freq : (F,) Hz, the grid in the order of the rows of A
    """

    A: np.ndarray
    M: np.ndarray
    free: np.ndarray
    log_tau: np.ndarray
    eps: float
    weight: np.ndarray
    freq: np.ndarray
    basis: str

    def evaluate(self, tau_out) -> np.ndarray:
        """(T_out, T) matrix E with gamma(tau_out) = E @ x."""
        from fastfit.kernels import gaussian_eval, pwl_eval

        lt = np.log(np.asarray(tau_out, np.float64))
        if self.basis == "gaussian":
            return np.asarray(gaussian_eval(lt, self.log_tau, self.eps))
        return np.asarray(pwl_eval(lt, self.log_tau))


# ----------------------------------------------------------------------------- checks
def check_options(o: dict) -> None:
    """Raise DataError for an invalid option of :func:`drt` (``o``: option name -> value)."""
    if o["part"] not in _PARTS:
        raise DataError(f"part must be one of {_PARTS}, got {o['part']!r}")
    if o["basis"] not in _BASES:
        raise DataError(f"basis must be one of {_BASES}, got {o['basis']!r}")
    if o["lam_select"] not in _SELECT:
        raise DataError(f"lam_select must be one of {_SELECT}, got {o['lam_select']!r}")
    if o["discretisation"] not in _DISC:
        raise DataError(f"discretisation must be one of {_DISC}, got {o['discretisation']!r}")
    if o["derivative"] not in (0, 1, 2) or isinstance(o["derivative"], bool):
        raise DataError(f"derivative must be 0, 1 or 2, got {o['derivative']!r}")
    if o["discretisation"] == "pydrttools" and o["derivative"] == 0:
        raise DataError("discretisation='pydrttools' has 1st and 2nd derivative penalties only")
    n = o["n_tau"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise DataError(f"n_tau must be an integer >= 3, got {n!r}")
    r = o["rbf_shape"]
    if not (np.isscalar(r) and np.isfinite(r) and r > 0):
        raise DataError(f"rbf_shape must be a positive number (FWHM coefficient), got {r!r}")
    if o["tau_range"] is not None:
        tr = np.asarray(o["tau_range"], np.float64)
        if tr.shape != (2,) or not np.all(np.isfinite(tr)) or tr[0] <= 0 or tr[1] <= tr[0]:
            raise DataError(f"tau_range must be (tau_min, tau_max) in s with 0 < tau_min < "
                            f"tau_max, got {o['tau_range']!r}")
    if o["part"] == "real" and o["lam_select"] == "re-im":
        raise DataError("lam_select='re-im' needs both parts (part='both')")


def check_extras(o: dict) -> None:
    """Raise DataError for an invalid tail, band or misfit option of :func:`drt`."""
    from ._tail import check_tail

    check_tail(o["tail"], o["tail_grid"])
    lv = o["bands"]
    if lv is not None and (isinstance(lv, bool) or not np.isscalar(lv)
                           or not np.isfinite(lv) or not 0 < lv < 1):
        raise DataError(f"bands must be a credible level in (0, 1) (e.g. 0.95) or None, "
                        f"got {lv!r}")
    n = o["n_samples"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 10:
        raise DataError(f"n_samples must be an integer >= 10, got {n!r}")
    m = o["max_misfit"]
    if isinstance(m, bool) or not np.isscalar(m) or not np.isfinite(m) or m <= 0:
        raise DataError(f"max_misfit must be a positive number, got {m!r}")


def check_lam(lam, B: int) -> np.ndarray:
    """(B,) float64 lambda from a scalar or (B,) array, checked finite and > 0."""
    lam = np.asarray(lam, np.float64)
    if lam.ndim == 0:
        lam = np.full(B, float(lam))
    if lam.shape != (B,):
        raise ShapeError(f"lam must be a scalar or have one value per spectrum ({B}), "
                         f"got shape {lam.shape}")
    bad = np.nonzero(~(np.isfinite(lam) & (lam > 0)))[0]
    if bad.size:
        raise DataError(f"spectrum {bad[0]}: lam = {lam[bad[0]]!r}; lam must be finite and > 0")
    return lam


# ----------------------------------------------------------------------- discretise
def fastfit_tau(freq, mask, o):
    """Log-spaced tau grid for the whole batch (freq, mask: (B, F))."""
    if o["tau_range"] is not None:
        lo, hi = np.log(np.asarray(o["tau_range"], np.float64))
    else:
        used = freq[mask]
        n = mask.sum(axis=1)
        fmax = np.where(mask, freq, 0.0).max(axis=1)
        fmin = np.where(mask, freq, np.inf).min(axis=1)
        # mean ln-f spacing of the spectra (median over the batch)
        step = float(np.median(np.log(fmax / fmin) / np.maximum(n - 1, 1)))
        lo = np.log(1.0 / used.max()) - TAU_PAD * step
        hi = np.log(1.0 / used.min()) + TAU_PAD * step
    log_tau = np.linspace(lo, hi, o["n_tau"])
    eps = o["rbf_shape"] * FWHM_GAUSS / (log_tau[1] - log_tau[0])
    return log_tau, eps


def pydrttools_tau(freq_desc, o):
    """pyDRTtools: tau = 1/f (frequencies in its native descending order)."""
    log_tau = -np.log(freq_desc)
    d = np.diff(log_tau)
    eps = o["rbf_shape"] * FWHM_GAUSS / abs(np.mean(d)) if o["basis"] == "gaussian" else 0.0
    toeplitz = o["basis"] == "gaussian" and np.std(d) / np.mean(d) < 0.01
    return log_tau, eps, bool(toeplitz)


def build_system(freq, weight_row, log_tau, eps, o, tau_out=None, toeplitz=False):
    """(DRTSystem, (A_re, A_im, w_re, w_im), E) for one grid, from one compiled call.

    ``weight_row`` (F,) is 1 for used points and 0 for masked ones; ``E`` (T_out, T)
    evaluates gamma at ``tau_out`` (default: the basis centres).
    """
    from fastfit.kernels import drt_matrices

    freq = np.asarray(freq, np.float64)
    part = o["part"]
    w_re = np.asarray(weight_row, np.float64) * (part != "imag")
    w_im = np.asarray(weight_row, np.float64) * (part != "real")
    fit_R = bool(o["fit_R_inf"] and part != "imag")
    fit_L = bool(o["fit_L"] and part != "real")
    gauss = o["basis"] == "gaussian"
    n_nodes = 281 if (not gauss or eps >= 0.25) else int(281 * 0.25 / eps) | 1
    lt_out = log_tau if tau_out is None else np.log(np.asarray(tau_out, np.float64))
    # pad frequencies (zero weight) and output taus to multiples of 16: grids of similar
    # size share one compiled assembly
    # (and, for RBFs, whose entries depend on pairs only, the basis too)
    F, To, T = freq.size, lt_out.size, log_tau.size
    Fp, Tp = -(-F // 16) * 16, -(-To // 16) * 16
    Tb = -(-T // 16) * 16 if gauss else T
    lw = np.log(2 * np.pi * freq)
    pad = lambda a, n, v: np.concatenate([a, np.full(n - a.size, v)])
    r = drt_matrices(pad(lw, Fp, lw[-1]), pad(log_tau, Tb, log_tau[-1]),
                     pad(lt_out, Tp, lt_out[-1]),
                     float(eps) if gauss else 1.0, pad(w_re, Fp, 0.0), pad(w_im, Fp, 0.0),
                     basis=o["basis"],
                     style="pydrttools" if o["discretisation"] == "pydrttools" else "integral",
                     derivative=int(o["derivative"]), toeplitz_trick=False, fit_R_inf=fit_R,
                     fit_L=fit_L, n_nodes=n_nodes)
    A, A_re, A_im, M, E, weight = (np.asarray(v) for v in r)
    A = np.concatenate([A[:F, :T + 2], A[Fp:Fp + F, :T + 2]])
    A_re, A_im, E = A_re[:F, :T], A_im[:F, :T], E[:To, :T]
    M, weight = M[:T, :T], weight[:T]
    if toeplitz:
        A_re, A_im, M = _toeplitz_rebuild(A, A_re, A_im, M, w_re, w_im)
    Mf = np.zeros((T + 2, T + 2))
    Mf[2:, 2:] = M
    free = np.ones(T + 2, bool)
    free[0], free[1] = fit_R, fit_L
    system = DRTSystem(A=A, M=Mf, free=free, log_tau=log_tau, eps=float(eps),
                       weight=weight, freq=freq, basis=o["basis"])
    return system, (A_re, A_im, w_re, w_im), E


def _toeplitz_rebuild(A, A_re, A_im, M, w_re, w_im):
    """pyDRTtools rebuilds nearly log-spaced grids from row/column 0 (A updated in place)."""
    from fastfit.kernels import toeplitz as tp

    F = A_re.shape[0]
    A_re, A_im, M = (np.asarray(tp(X[:, 0], X[0, :])) for X in (A_re, A_im, M))
    A[:F, 2:] = A_re * w_re[:, None]
    A[F:, 2:] = A_im * w_im[:, None]
    return A_re, A_im, M


def drt_system(freq, *, n_tau=200, tau_range=None, derivative=2, part="both",
               basis="gaussian", rbf_shape=0.5, fit_R_inf=True, fit_L=True, mask=None,
               discretisation="fastfit") -> DRTSystem:
    """The matrices :func:`drt` solves with, for one frequency grid ``freq`` (F,) Hz.

    Useful to build an independent reference: the exact optimum is
    ``scipy.optimize.nnls([A; sqrt(lam) R], [Re Z; Im Z; 0])`` with ``R^T R = M``
    (restricted to ``free`` columns).  For ``discretisation="pydrttools"`` the rows are in
    descending frequency order (``system.freq``) and masked points are dropped.
    """
    o = dict(n_tau=n_tau, tau_range=tau_range, derivative=derivative, part=part, basis=basis,
             rbf_shape=rbf_shape, fit_R_inf=fit_R_inf, fit_L=fit_L, lam_select=None,
             discretisation=discretisation)
    check_options(o)
    f = np.asarray(freq, np.float64)
    m = np.ones(f.shape, bool) if mask is None else np.asarray(mask, bool)
    as_batch(f, np.ones(f.shape, complex), m, min_points=3)
    if discretisation == "fastfit":
        log_tau, eps = fastfit_tau(f[None], m[None], o)
        return build_system(f, m.astype(float), log_tau, eps, o)[0]
    fd = np.sort(f[m])[::-1]
    log_tau, eps, toep = pydrttools_tau(fd, o)
    return build_system(fd, np.ones(fd.size), log_tau, eps, o, toeplitz=toep)[0]
